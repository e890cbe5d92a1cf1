"""The run progress follows an order sent from the ticket. A ticket is a run of its own (a
one-order plan, services.execution.manual): once it went, it is the newest run, and the window
followed it only after a restart (follow_latest_run); until then the chart and the progress bar
kept the last Execute's run, and the ticket's fills showed nowhere but the blotter."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.app.conftest import run
from tests.fixtures.ib import wait_for


@pytest.mark.slow  # a preview, its Execute and a ticket against the simulator: over ~5 s alone
def test_after_a_ticket_is_sent_the_run_progress_follows_its_run(qloop, open_console, monkeypatch):
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)

    async def scenario():
        console = await open_console()
        w, controller, sim = console.window, console.controller, console.sim
        view = w.preview_view
        try:
            view.portfolio_edit.setText("100000")
            view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None and view.execute_button.isEnabled(), 15, "the preview")
            executed = controller.current_preview
            view.execute_button.click()
            await console.stack.trade.wait_done(executed.run_id, timeout=20)
            assert await controller.runner.drain(timeout=5) == []
            assert controller.trading._progress.run_id == executed.run_id  # the Execute's run, followed

            sim.set_price("AAPL", "100")
            dialog = controller.desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(6)})
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {dialog.verdict_label.text()}")
            dialog.send_button.click()
            await wait_for(lambda: dialog.verdict_label.text().startswith("Sent "), 30,
                           lambda: f"the ticket's Sent line: {dialog.verdict_label.text()}")
            ticket_run = int(re.search(r": run (\d+), order ", dialog.verdict_label.text()).group(1))
            assert ticket_run > executed.run_id
            await console.stack.trade.wait_done(ticket_run, timeout=20)
            assert await controller.runner.drain(timeout=5) == []
            await console.stack.writer.flush()

            # the ticket's run, its one order's plan, filled: 6 AAPL at the plan's price
            progress = controller.trading._progress
            assert progress.run_id == ticket_run, progress.text
            assert progress.target_notional == 600 and progress.filled_notional == 600 and progress.working == 0, progress.text
            assert view.progress.format().startswith(f"run {ticket_run}, plan "), view.progress.format()
            charts = w.charts_view
            assert not charts.no_run_label.isVisible() and charts.target_line.value() == 600
            assert list(charts.filled_curve.getData()[1])[-1] == 600
            assert controller.last_error is None, controller.last_error
        finally:
            await console.close()

    run(qloop, scenario())
