"""The activity log in the running console: what the controllers say (a run sent, an error) and
what the broker does (fills) land in the one log the status bar and the activity panel show."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.activity_log import Category, Level
from tests.app.conftest import run
from tests.fixtures.ib import wait_for

SNAPSHOT_CSV = "symbol,weight,price\nAAPL,0.10,230\nMSFT,0.10,418\n"


def test_a_run_its_fills_and_an_error_reach_the_activity_log(qloop, open_console, tmp_path, monkeypatch):
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)
    snapshot = tmp_path / "targets.csv"
    snapshot.write_text(SNAPSHOT_CSV)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            outcome = await controller.import_snapshot(str(snapshot), "Activity")
            assert outcome.ok
            params = w.preview_view.params()
            params["portfolio_value"] = Decimal("100000")
            await controller.preview(params)
            run_id = controller.current_run_id
            assert run_id is not None
            await controller.execute(run_id)
            await console.stack.trade.wait_done(run_id, timeout=30)
            await console.stack.writer.flush()
            await wait_for(lambda: any(e.category is Category.FILL for e in w.activity_log.entries()), 10,
                           "fills in the activity log")
            shown = [e for e in w.activity_log.entries() if e.in_status_bar]
            assert any(str(run_id) in e.text for e in shown), [e.text for e in shown]
            # The status bar shows the log's latest status entry, and the panel lists everything.
            assert w.statusBar().currentMessage() == shown[-1].text
            assert {e.seq for e in w.activity_view.visible_entries()} == {e.seq for e in w.activity_log.entries()}

            controller._show_error("Connect to IB", "connection refused")  # what a failed task reports
            last = w.activity_log.last
            assert last is not None and last.level is Level.ERROR and last.text == "Connect to IB: connection refused"
            assert w.statusBar().currentMessage() == last.text
            assert w.toast.isVisible()
        finally:
            await console.close()

    run(qloop, scenario())


# end to end: a real window (or the engine) against the simulator; left out by dev.py test --quick
pytestmark = pytest.mark.slow
