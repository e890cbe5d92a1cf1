"""Three ``execute`` processes of one run (different client ids), started together or while the
first is sending, on SQLite and MariaDB: every order reaches the broker exactly once; the others
are refused naming the holder, or wait for it and then find nothing to send. And an ``execute``
whose connection dies mid-run exits 5 listing what it did not send, at once.

Three processes already have every role (a sender, one refused, one waiting) and two losers
racing for the lease's one row; four (a second refused one) proved nothing more in 36 s of the
suite's time and were left out, and so were two (a sender and one refused, or one waiting when
the refusing one took the lease: each role, and a race for the row, is in the three), about 40 s
of the suite's time on a loaded machine for the same paths."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.core.wording import counted
from services.db.models import TradeOrder
from services.db.repositories import SettingsRepository

from .cli_helpers import Result, cli_args, run, start
from .conftest import make_snapshot

pytestmark = [pytest.mark.timeout(300)]

ORDERS = 120  # sending takes a few seconds at IB's 45 messages per second


@pytest.fixture
async def wide_simulator(sim_config, tmp_path):
    """A simulator whose universe has ORDERS symbols (instant fills)."""
    from services.ibsim import IBGatewaySimulator

    universe = tmp_path / "universe.csv"
    universe.write_text("symbol,conId,primaryExchange,price,longName\n"
                        + "".join(f"S{i:03d},{9_100_000 + i},NASDAQ,50.00,STOCK {i}\n" for i in range(ORDERS)))
    sim = IBGatewaySimulator(sim_config(universe_file=universe))
    # IB's pacing limit stays on (50 messages a second, error 100 beyond): the preview's
    # qualification and market data for 120 symbols are paced like the orders (docs/ib-pacing.md)
    await sim.start(host="127.0.0.1", port=0)
    try:
        yield sim
    finally:
        await sim.stop()


def _prepare(database, project: str) -> int:
    with database.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({"max_orders_per_run": 1000, "max_daily_orders": 100_000})
    _, snapshot_id = make_snapshot(database, project, {f"S{i:03d}": "0.008" for i in range(ORDERS)})
    return snapshot_id


def _execute(db_url: str, port: int, snapshot_id: int, project: str, client_id: int, lease_wait: float) -> list[str]:
    return cli_args(db_url, port, "execute", "--snapshot", str(snapshot_id), "--project", project, "--mode", "paper",
                    "--portfolio-value", "1000000", "--wait-seconds", "30", "--lease-wait", str(lease_wait), "--json",
                    client_id=client_id)


async def _finish(proc, timeout: float = 200) -> Result:
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return Result(proc.returncode, out.decode(), err.decode())


async def _until_orders_at_broker(sim, count: int, proc, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(sim.orders()) < count:
        if proc.returncode is not None:
            result = await _finish(proc)
            raise AssertionError(f"execute ended (exit {result.code}) before sending {count} orders: {result.err[-4000:]}")
        assert loop.time() < deadline, f"only {len(sim.orders())} orders reached the simulator in {timeout} s"
        await asyncio.sleep(0.01)  # polling the simulator's books, not a synchronisation delay


def _assert_each_order_once(database, sim, *, lost_in_flight: bool = False) -> None:
    """Every order of the run at the broker exactly once and filled there as in the database.
    ``lost_in_flight``: orders sent into a connection that was just cut never arrive; they are
    closed as never received (CANCELED), never resent."""
    refs = Counter(o.order_ref for o in sim.orders())
    assert [r for r, n in refs.items() if n > 1] == [], "orders sent twice"
    with database.session() as session:
        rows = session.execute(select(TradeOrder.client_order_id, TradeOrder.status, TradeOrder.filled_quantity)).all()
    assert len(rows) == ORDERS and set(refs) <= {r[0] for r in rows}
    filled_at_sim: dict[str, Decimal] = Counter()
    for e in sim.executions():
        filled_at_sim[e.order_ref] += e.shares
    for coid, status, filled in rows:
        if coid not in refs and lost_in_flight:
            assert str(status) == "CANCELED" and filled == 0, (coid, status)
            continue
        assert coid in refs, f"{coid} never reached the broker ({status})"
        assert str(status) == "FILLED" and filled == filled_at_sim[coid], (coid, status, filled, filled_at_sim[coid])


async def _race(database, db_url, sim, processes: int, staggered: bool) -> None:
    project = f"race-{processes}-{'staggered' if staggered else 'together'}"
    snapshot_id = _prepare(database, project)
    # odd ones refuse at once, even ones wait for the holder (bounded)
    commands = [_execute(db_url, sim.port, snapshot_id, project, client_id=1 + i, lease_wait=0 if i % 2 else 120)
                for i in range(processes)]
    procs = [await start(commands[0])]
    if staggered:
        await _until_orders_at_broker(sim, 10, procs[0])  # the first is sending
    procs += [await start(c) for c in commands[1:]]
    results = [await _finish(p) for p in procs]
    pids = {p.pid: 1 + i for i, p in enumerate(procs)}

    senders = [r for r in results if r.code == 0 and r.json["run"]["sent"]]
    assert len(senders) == 1, [(r.code, r.err[-300:]) for r in results]
    assert len(senders[0].json["run"]["sent"]) == ORDERS
    for r in results:
        if r is senders[0]:
            continue
        if r.code == 4:  # refused, naming the holder: its host, process, client id and since when
            match = re.search(r"being executed by another process: host \S+, process (\d+), client id (\d+), since \d{4}-", r.err)
            assert match, r.err
            assert pids.get(int(match.group(1))) == int(match.group(2)), (r.err, pids)
        else:  # waited for the holder, then found nothing to send
            assert r.code == 0, r.err
            assert r.json["run"]["sent"] == [] and r.json["run"]["not_sent"] == [], r.json["run"]
    _assert_each_order_once(database, sim)


@pytest.mark.slow
async def test_execute_processes_started_together(database, db_url, wide_simulator):
    await _race(database, db_url, wide_simulator, 3, staggered=False)


@pytest.mark.slow
async def test_execute_processes_started_while_the_first_is_sending(database, db_url, wide_simulator):
    await _race(database, db_url, wide_simulator, 3, staggered=True)


@pytest.mark.slow
async def test_connection_killed_mid_run_exits_5_listing_unsent_then_resume_sends_each_once(database, db_url, wide_simulator):
    sim = wide_simulator
    snapshot_id = _prepare(database, "killed")
    # --wait-seconds 600: a dead connection must end the wait at once (the run() bound is 120 s)
    def command(wait: str) -> list[str]:
        return cli_args(db_url, sim.port, "execute", "--snapshot", str(snapshot_id), "--project", "killed", "--mode", "paper",
                        "--portfolio-value", "1000000", "--wait-seconds", wait, "--json")

    proc = await start(command("600"))
    await _until_orders_at_broker(sim, 10, proc)
    sim.drop_connections()
    result = await _finish(proc, timeout=120)
    assert result.code == 5, (result.code, result.err)
    data = result.json["run"]
    assert data["connection_lost"] and data["not_sent"], data
    at_broker = {o.order_ref for o in sim.orders()}
    assert at_broker.isdisjoint(data["not_sent"]) and len(data["not_sent"]) + len(at_broker) <= ORDERS
    assert "the broker connection died during the run" in result.err
    assert f"{counted(len(data['not_sent']), 'order')} not sent: {data['not_sent'][0]}" in result.err

    again = await run(command("30"), timeout=120)  # the same run, resumed
    assert again.code == 0, again.err
    assert sorted(again.json["run"]["sent"]) == sorted(data["not_sent"])
    _assert_each_order_once(database, sim, lost_in_flight=True)
