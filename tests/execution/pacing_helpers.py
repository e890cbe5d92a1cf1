"""Helpers of the pacing tests: a universe of synthetic symbols, the times messages left the
client's socket, the busiest one-second window."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal


def synthetic_symbols(n: int) -> list[str]:
    from services.ibsim.model import synthetic_universe

    return list(synthetic_universe(n))


def equal_weights(symbols: list[str], gross: Decimal = Decimal("0.5")) -> dict[str, str]:
    return {s: str(gross / len(symbols)) for s in symbols}


def allow_large_runs(db) -> None:
    """Risk limits that let one run send a thousand orders (the defaults stop at 100)."""
    from services.db.repositories import SettingsRepository

    with db.unit_of_work() as session:
        repo = SettingsRepository(session)
        repo.set_risk_defaults({**repo.risk_defaults(), "max_orders_per_run": 5000, "max_daily_orders": 100000})


class SocketSends(list):
    """Loop times at which messages left the socket, with each message's id (``ids``, same
    order) so that a failing window can say what was in it."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []


def record_socket_sends(ib) -> SocketSends:
    """Loop times at which ib_async wrote an API message to the socket (after any throttling).
    The connection handshake (``API\0`` and the version range) is not a message IB counts."""
    sends = SocketSends()
    conn = ib.client.conn
    original = conn.sendMsg

    def sending(msg):
        if not msg.startswith(b"API\0"):
            sends.append(asyncio.get_running_loop().time())
            sends.ids.append(msg[4:].split(b"\0", 1)[0].decode(errors="replace"))  # after the length prefix
        return original(msg)

    conn.sendMsg = sending
    return sends


def busiest_window(times: list[float], window: float = 1.0) -> tuple[int, int]:
    """The most messages in any half-open window of ``window`` seconds, and the index (in
    time order) of the window's first message."""
    best, best_start, j = 0, 0, 0
    ordered = sorted(times)
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] < start + window - 1e-9:
            j += 1
        if j - i > best:
            best, best_start = j - i, i
    return best, best_start


def busiest_second(times: list[float], window: float = 1.0) -> int:
    return busiest_window(times, window)[0]


def describe_busiest_second(sends: SocketSends) -> str:
    """What a failing pacing assertion prints: the busiest window's messages by id and time."""
    count, start = busiest_window(sends)
    order = sorted(range(len(sends)), key=sends.__getitem__)[start:start + count]
    t0 = sends[order[0]] if order else 0.0
    ids = Counter(sends.ids[k] for k in order)
    steps = ", ".join(f"{sends.ids[k]}@{sends[k] - t0:.3f}" for k in order)
    return f"{count} messages in one second (message ids {dict(ids)}): {steps}"


def refs_at_simulator(sim) -> Counter:
    return Counter(o.order_ref for o in sim.orders())


def hold_the_second_order(stack, of=lambda contract: True) -> tuple[asyncio.Event, asyncio.Event]:
    """The run's second placeOrder (of a contract ``of`` accepts: one run's symbols, when two
    send) waits its turn (as at a busy pacing limiter) until ``turn`` is set; ``waiting`` says it
    is there. Every other message goes at once."""
    paced = stack.provider.sender
    write_at_once = paced.send
    waiting, turn = asyncio.Event(), asyncio.Event()
    placed = []

    async def send(fn, *args, check=None):
        if fn == stack.provider.ib.placeOrder and of(args[0]):
            placed.append(fn)
            if len(placed) == 2:
                waiting.set()
                await turn.wait()
        return await write_at_once(fn, *args, check=check)

    paced.send = send
    return waiting, turn
