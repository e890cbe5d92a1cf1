"""Large runs against the simulator at IB's pacing (50 messages a second, error 100 above):
100 symbols through the headless ``execute`` command on MariaDB (on SQLite the same command sends
150 in test_pacing_attacks.py, asserting more), 1,000 through the composition root. Every order
reaches the simulator exactly once, the run completes, and the client never puts more than our
budget (45) on the socket in any second. (A run of 500 through the composition root, the same
test as the 1,000 at half the size, was left out: 35 s of the suite proving nothing the 1,000
does not.)"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from services.domain import RunStatus, TradeMode
from services.execution.pacing import IB_MAX_MESSAGES_PER_SECOND

from .cli_helpers import cli_args, run
from .conftest import build_stack, make_snapshot
from .pacing_helpers import (
    allow_large_runs,
    busiest_second,
    describe_busiest_second,
    equal_weights,
    record_socket_sends,
    refs_at_simulator,
    synthetic_symbols,
)

log = logging.getLogger(__name__)


async def _large_sim(make_simulator, n: int):
    # no state file: the simulator would rewrite its whole JSON state after every fill
    sim = await make_simulator(synthetic_symbols=n, state_file=None, ledger_file=None)
    assert sim.faults.pacing_limit == 50  # IB's limit, the simulator's default
    return sim


@pytest.mark.timeout(300)
@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
# MariaDB: on SQLite test_pacing_attacks.py's execute of 150 orders proves this and more
@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)
async def test_execute_command_with_100_symbols_at_ib_pacing(db_url, database, make_simulator, tmp_path, ib_log_guard):
    ib_log_guard.allow(r"Error 100, reqId")
    sim = await _large_sim(make_simulator, 100)
    allow_large_runs(database)
    weights = equal_weights(synthetic_symbols(100))
    snapshot = tmp_path / "hundred.csv"
    snapshot.write_text("symbol,weight\n" + "".join(f"{s},{w}\n" for s, w in weights.items()))

    result = await run(cli_args(db_url, sim.port, "execute", "--snapshot", str(snapshot), "--project", "hundred",
                                "--mode", "paper", "--portfolio-value", "1000000", "--wait-seconds", "90", "--json"),
                       timeout=240)

    assert result.code == 0, result.err[-3000:]
    data = result.json
    assert data["run"]["status"] == "done" and data["run"]["failed"] == [] and data["run"]["still_working"] == []
    sent = data["run"]["sent"]
    assert len(sent) == 100
    assert {o["status"] for o in data["orders"]} == {"FILLED"}
    assert refs_at_simulator(sim) == {ref: 1 for ref in sent}  # every order reached IB exactly once


async def _large_run(db, sim, n: int, *, client_id: int) -> None:
    allow_large_runs(db)
    stack = await build_stack(db, sim, client_id=client_id, connect=False)
    sends = record_socket_sends(stack.provider.ib)
    try:
        await stack.provider.connect()
        _, snapshot_id = make_snapshot(db, f"large-{n}", equal_weights(synthetic_symbols(n)))
        run_ = await stack.service.create_run(f"large-{n}", snapshot_id, TradeMode.PAPER, {})
        result = await stack.service.execute(run_.id, portfolio_value=Decimal(1_000_000))
        assert len(result.sent) == n and result.failed == ()
        assert await stack.service.wait_done(run_.id, 120) == []
        await stack.writer.flush()
        view = await stack.service.view(run_.id)
        assert view.run.status is RunStatus.DONE
        assert refs_at_simulator(sim) == {ref: 1 for ref in result.sent}  # each order exactly once
        assert len(stack.provider.inflight) == 0
        # the messages as they left the socket: never more than our budget in any second
        assert busiest_second(sends) <= IB_MAX_MESSAGES_PER_SECOND, describe_busiest_second(sends)
        log.info("%d symbols: %d messages, %d pacing errors answered", n, len(sends), stack.provider.pacing_violations)
    finally:
        await stack.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_trade_run_with_1000_symbols_at_ib_pacing(sqlite_database, make_simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 100, reqId")
    sim = await _large_sim(make_simulator, 1000)
    await _large_run(sqlite_database, sim, 1000, client_id=32)


@pytest.fixture
def sqlite_database(tmp_path):
    """SQLite only: the large runs measure the broker side; the database matrix runs at 100."""
    from services.db import Database

    db = Database(f"sqlite:///{(tmp_path / 'large.sqlite3').as_posix()}")
    db.ensure_schema()
    yield db
    db.dispose()
