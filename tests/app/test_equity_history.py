"""The equity chart survives a restart: the recorder the composition root starts stores equity
snapshots while connected, and a console opened again shows them (real window, demo stack)."""

from __future__ import annotations

import pytest

from services import console_queries as queries
from tests.app.conftest import run
from tests.fixtures.ib import wait_for


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_equity_chart_reads_stored_snapshots_after_a_restart(qloop, open_console):
    async def scenario():
        console = await open_console()
        try:
            assert console.stack.equity is not None  # started with the engine, not by the window
            await wait_for(lambda: len(queries.equity_history(console.stack.db)) >= 1, 10, "a stored equity snapshot")
            stored = queries.equity_history(console.stack.db)
        finally:  # stop everything but the window (closing the last window would stop the test's loop)
            console.controller.close()
            await console.controller.runner.drain(timeout=5)
            await console.stack.close()
        again = await open_console()  # same database: a restart of the console
        console.window.close()
        try:
            points = again.controller.equity_points
            assert [(t, v) for t, v, _ in points][: len(stored)] == list(stored)
            assert points[0][2] == 0  # P&L against the first stored value
            # whose equity it is: the connected account's (the chart did not say)
            account = again.stack.provider.account
            assert account and f"Equity of {account} (left)" in again.window.charts_view.equity_plot.plotItem.titleLabel.text
        finally:
            await again.close()

    run(qloop, scenario())
