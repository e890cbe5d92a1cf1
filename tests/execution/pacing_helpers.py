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


def record_socket_sends(ib) -> list[float]:
    """Loop times at which ib_async wrote an API message to the socket (after any throttling).
    The connection handshake (``API\0`` and the version range) is not a message IB counts."""
    times: list[float] = []
    conn = ib.client.conn
    original = conn.sendMsg

    def sending(msg):
        if not msg.startswith(b"API\0"):
            times.append(asyncio.get_running_loop().time())
        return original(msg)

    conn.sendMsg = sending
    return times


def busiest_second(times: list[float], window: float = 1.0) -> int:
    """The most messages in any half-open window of ``window`` seconds."""
    best, j = 0, 0
    ordered = sorted(times)
    for i, start in enumerate(ordered):
        while j < len(ordered) and ordered[j] < start + window - 1e-9:
            j += 1
        best = max(best, j - i)
    return best


def refs_at_simulator(sim) -> Counter:
    return Counter(o.order_ref for o in sim.orders())
