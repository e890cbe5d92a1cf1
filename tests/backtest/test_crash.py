"""A backtest whose process died (kill -9, a reboot) is not `running` forever: whoever looks at
backtests next closes it as failed, with its runs and orders (services.backtest.closing)."""

from __future__ import annotations

import signal
import socket
from datetime import date

import pytest
from sqlalchemy import func, select

from services.backtest.requests import load_backtest
from services.db.models import Backtest, TradeOrder, TradeRun
from services.domain import TERMINAL_ORDER_STATES
from tests.execution.cli_helpers import cli_args, start
from tests.fixtures.waiting import wait_until

from .data import generated_bars, monthly_snapshots, write_prices_csv, write_snapshots_csv

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def long_files(tmp_path_factory):
    """Twenty-five years of 20 symbols rebalanced monthly: several seconds of days to kill it in."""
    folder = tmp_path_factory.mktemp("long")
    symbols = [f"K{i:02d}" for i in range(20)]
    first, last = date(2000, 1, 3), date(2024, 12, 31)
    return (write_prices_csv(folder / "bars.csv", generated_bars(symbols, first, last, seed=4)),
            write_snapshots_csv(folder / "weights.csv", monthly_snapshots(symbols, first, last, "long", seed=5)))


@pytest.mark.slow
async def test_a_backtest_killed_mid_run_is_closed_failed_by_the_next_look(database, db_url, long_files):
    """kill -9 left the row `running` forever (nothing in the process ran to close it): the row
    now names its process, and the next look (``load_backtest``) sees the process gone and
    closes the backtest as failed, its runs and orders with it."""
    prices, weights = long_files
    proc = await start(cli_args(db_url, 0, "backtest", "--prices", str(prices), "--snapshots", str(weights),
                                "--fill", "next-open", connection=False))
    try:
        def rebalanced() -> bool:  # the days have started: a rebalance's run is stored
            with database.session() as session:
                return session.scalar(select(func.count(TradeRun.id))) > 1

        await wait_until(rebalanced, 90, "the backtest's first rebalances")
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with database.session() as session:
        row = session.scalars(select(Backtest)).one()
        assert (row.status, row.pid, row.host) == ("running", proc.pid, socket.gethostname())  # as the kill left it
    with database.session() as session:  # how far it got: its last rebalance stored
        last_day = session.scalar(select(func.max(TradeRun.trade_date)))
    seen = load_backtest(database, row.id)
    assert seen.status == "failed"
    assert seen.message == (f"the process running it ended (pid {proc.pid} on {socket.gethostname()}) "
                            f"after its rebalance of {last_day.isoformat()}")
    with database.session() as session:
        statuses = set(session.scalars(select(TradeRun.status).distinct()))
        open_orders = session.scalar(select(func.count(TradeOrder.id)).where(
            TradeOrder.account.startswith(f"BACKTEST-{row.id}-"), TradeOrder.status.not_in(list(TERMINAL_ORDER_STATES))))
        assert session.get(Backtest, row.id).finished_at is not None
    assert not {"queued", "running"} & {str(s) for s in statuses}, statuses
    assert open_orders == 0
