"""The run progress follows an order sent from the ticket. A ticket is a run of its own (a
one-order plan, services.execution.manual): once it went, it is the newest run, and the window
followed it only after a restart (follow_latest_run); until then the chart and the progress bar
kept the last Execute's run, and the ticket's fills showed nowhere but the blotter."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from PySide6.QtTest import QTest

from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from tests.fixtures.waiting import wait_until


async def _execute_then_send_a_ticket(console, before_ticket=None, project: str | None = None):
    """Preview and Execute the demo's snapshot, wait for its run to end, then (after
    ``before_ticket(run_id)``, the trader's doing meanwhile) send a ticket for 6 AAPL at 100 (in
    ``project``'s book, else the selected project's) and wait for its run to end; returns (the
    Execute's run, the ticket's run)."""
    w, controller, sim = console.window, console.controller, console.sim
    view = w.preview_view
    view.portfolio_edit.setText("100000")
    view.preview_button.click()
    await wait_for(lambda: controller.current_preview is not None and view.execute_button.isEnabled(), 15, "the preview")
    executed = controller.current_preview
    view.execute_button.click()
    # the Execute task first (it stores the run's orders): before it, wait_done found none working
    assert await controller.runner.drain(timeout=15) == []
    assert await console.stack.trade.wait_done(executed.run_id, timeout=20) == []
    assert controller.trading._progress.run_id == executed.run_id  # the Execute's run, followed
    if before_ticket is not None:
        await before_ticket(executed.run_id)

    sim.set_price("AAPL", "100")
    prefill = {"symbol": "AAPL", "side": "BUY", "quantity": Decimal(6)}
    dialog = controller.desk.open_ticket(prefill | ({"project": project} if project else {}))
    await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {dialog.verdict_label.text()}")
    dialog.send_button.click()
    await wait_for(lambda: dialog.verdict_label.text().startswith("Sent "), 30,
                   lambda: f"the ticket's Sent line: {dialog.verdict_label.text()}")
    ticket_run = int(re.search(r": run (\d+), order ", dialog.verdict_label.text()).group(1))
    assert ticket_run > executed.run_id
    await console.stack.trade.wait_done(ticket_run, timeout=20)
    assert await controller.runner.drain(timeout=5) == []
    await console.stack.writer.flush()
    return executed.run_id, ticket_run


@pytest.mark.slow  # a preview, its Execute and a ticket against the simulator: over ~5 s alone
def test_after_a_ticket_is_sent_the_run_progress_follows_its_run(qloop, open_console, monkeypatch):
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            _executed, ticket_run = await _execute_then_send_a_ticket(console)

            # the ticket's run, its one order's plan, filled: 6 AAPL at the plan's price
            progress = controller.trading._progress
            assert progress.run_id == ticket_run, progress.text
            assert progress.target_notional == 600 and progress.filled_notional == 600 and progress.working == 0, progress.text
            assert w.preview_view.progress.format().startswith(f"run {ticket_run}, plan "), w.preview_view.progress.format()
            charts = w.charts_view
            assert not charts.no_run_label.isVisible() and charts.target_line.value() == 600
            assert list(charts.filled_curve.getData()[1])[-1] == 600
            assert controller.last_error is None, controller.last_error
        finally:
            await console.close()

    run(qloop, scenario())


def _run_tab(w) -> str:
    """The run-progress chart's tab, as the trader reads it."""
    charts = w.charts_view
    return charts.tabs.tabText(charts.tabs.indexOf(charts.progress_plot))


@pytest.mark.slow  # as above
def test_the_trading_window_says_whose_run_its_progress_chart_follows(qloop, open_console, monkeypatch):
    """A ticket's run of another project than the one selected takes the chart (follow_sent_run):
    its tab says whose run it shows, in the monitor's words (services.console_charts.
    followed_run_caption). Before, the tab said "Run progress" alone, the Execute's run of the
    selected project and the ticket's run of another one alike."""
    from app.composition import DEMO_PROJECT

    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)
    seen: list[str] = []

    async def scenario():
        console = await open_console()
        w = console.window

        async def after_execute(run_id: int) -> None:
            seen.append(_run_tab(w))

        try:
            executed, ticket_run = await _execute_then_send_a_ticket(console, before_ticket=after_execute,
                                                                     project="Hedges")
            assert w.snapshots_view.current_project_id() is not None
            assert seen == [f"Run progress · {DEMO_PROJECT}, run {executed}"]  # the Execute's run, the selected project's
            assert console.controller.trading._progress.run_id == ticket_run
            assert _run_tab(w) == f"Run progress · Hedges, run {ticket_run}"  # the ticket's, another project's
            assert console.controller.last_error is None, console.controller.last_error
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # as above
def test_a_ticket_leaves_the_decisions_and_tca_on_the_run_the_trader_reads(qloop, open_console, monkeypatch):
    """The chart follows the ticket's run; the Decisions panel and its TCA tab keep the run the
    trader chose in the blotter's run filter. Before, the ticket's run, once filled (settled),
    took both tabs (TradingController.on_settled), as the run just executed does where its
    preview was shown: the trader reading a rebalance's decisions or its cost lost their place
    because a ticket went out (services.run_progress.settled_run_shown)."""
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        decisions, tca = w.decisions_view, w.tca_view

        async def read_the_run(run_id: int) -> None:
            # the trader picks the run in the blotter's run filter (a real combo box's choice)
            w.blotter_view.set_run_filter(run_id)
            await wait_for(lambda: decisions.title_label.text().startswith(f"Run {run_id}, ")
                           and controller.decisions.tca_run_id == run_id and tca.title_label.text().startswith(f"Run {run_id} "),
                           15, lambda: f"run {run_id}'s trail and TCA: {decisions.title_label.text()!r}, {tca.title_label.text()!r}")

        try:
            executed, ticket_run = await _execute_then_send_a_ticket(console, before_ticket=read_the_run)
            trail_title, tca_title, tca_rows = decisions.title_label.text(), tca.title_label.text(), w.tca_model.rowCount()
            # the ticket's run settled (filled, nothing working): the moment the tabs went over to it
            await wait_for(lambda: controller.trading._settled_run == ticket_run, 10, "the ticket's run settled")
            assert await controller.runner.drain(timeout=5) == []

            assert controller.trading._progress.run_id == ticket_run  # the chart follows the ticket
            assert decisions.title_label.text() == trail_title and trail_title.startswith(f"Run {executed}, ")
            assert controller.decisions.tca_run_id == executed
            assert tca.title_label.text() == tca_title and w.tca_model.rowCount() == tca_rows > 1
            assert w.blotter_view.run_combo.currentData() == executed
            assert controller.last_error is None, controller.last_error
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_tickets_resting_order_reads_its_run_progress_in_the_base_currency(qloop, open_console):
    """Seen under Xvfb in the demo: a ticket's 5 AAPL LMT resting, the run progress bar read
    "run 1, plan 1 (running): 0 of 1,144 filled · 1 working", the plan's notional read as shares.
    The bar and the chart say what they count, the run's base currency
    (services.run_progress.ProgressSnapshot.amounts)."""
    async def scenario():
        console = await open_console()
        w, controller, sim = console.window, console.controller, console.sim
        try:
            sim.set_price("AAPL", "100")
            dialog = controller.desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(5)})
            dialog.type_combo.setCurrentText("LMT")
            dialog.limit_box.clear()
            QTest.keyClicks(dialog.limit_box, "98")  # below the market: it rests
            await wait_for(lambda: dialog.send_button.text() == "Send BUY 5 AAPL", 10,
                           lambda: f"a passed verdict: {dialog.verdict_label.text()}")
            dialog.send_button.click()
            await wait_for(lambda: dialog.verdict_label.text().startswith("Sent "), 30,
                           lambda: f"the ticket's Sent line: {dialog.verdict_label.text()}")
            ticket_run = int(re.search(r": run (\d+), order ", dialog.verdict_label.text()).group(1))
            bar = w.preview_view.progress
            await wait_for(lambda: bar.format().endswith("· 1 working"), 30, lambda: f"the bar: {bar.format()!r}")
            assert re.fullmatch(rf"run {ticket_run}, plan \d+ \(running\): 0 of 500 USD filled · 1 working",
                                bar.format()), bar.format()
            said = w.charts_view.no_run_label.textItem.toPlainText()
            assert said == f"Run {ticket_run}: nothing filled yet, 1 order working (0 of 500 USD target)", said
            assert controller.last_error is None, controller.last_error
        finally:
            await console.close()

    run(qloop, scenario())


async def _send_a_resting_ticket(console, symbol: str, limit: str) -> int:
    """The trader's F2 ticket: BUY 5 ``symbol`` LMT ``limit`` (below the market: it rests,
    working); returns its run once said sent."""
    dialog = console.controller.desk.open_ticket({"symbol": symbol, "side": "BUY", "quantity": Decimal(5)})
    dialog.type_combo.setCurrentText("LMT")
    dialog.limit_box.clear()
    QTest.keyClicks(dialog.limit_box, limit)
    await wait_until(lambda: dialog.send_button.text() == f"Send BUY 5 {symbol}", 10,
                     lambda: f"a passed verdict: {dialog.verdict_label.text()}")
    dialog.send_button.click()
    await wait_until(lambda: dialog.verdict_label.text().startswith("Sent "), 30,
                     lambda: f"the ticket's Sent line: {dialog.verdict_label.text()}")
    return int(re.search(r": run (\d+), order ", dialog.verdict_label.text()).group(1))


def test_a_second_ticket_takes_the_run_progress_from_the_first_still_working(qloop, open_console):
    """Walked under Xvfb in the demo: a ticket's AAPL LMT resting (run 2), then a ticket's MSFT
    LMT (run 3): the bar stayed on "run 2, plan 4 (running) ... 1 working", and after a Preview
    said "last sent: run 2, plan 4 (canceled)"; run 3 never showed. A run still working kept the
    progress from any ticket (RunProgress.gives_way_to), a ticket's own run too: it is watched to
    its end only when it is a snapshot's plan (a rebalance filling), not one resting order."""
    async def scenario():
        console = await open_console()
        w, controller, sim = console.window, console.controller, console.sim
        bar = w.preview_view.progress
        try:
            sim.set_price("AAPL", "100")
            sim.set_price("MSFT", "400")
            first = await _send_a_resting_ticket(console, "AAPL", "90")
            await wait_until(lambda: bar.format().startswith(f"run {first}, plan ") and bar.format().endswith("· 1 working"),
                             30, lambda: f"the first ticket's run on the bar: {bar.format()!r}")
            second = await _send_a_resting_ticket(console, "MSFT", "360")
            assert second > first
            assert await controller.runner.drain(timeout=15) == []  # the follow of the second run included
            await wait_until(lambda: bar.format().startswith(f"run {second}, plan ") and bar.format().endswith("· 1 working"),
                             10, lambda: f"the second ticket's run on the bar: {bar.format()!r}")
            assert controller.trading._progress.run_id == second

            # a Preview: the bar names the last run sent beside the plan not sent
            w.preview_view.portfolio_edit.setText("100000")
            w.preview_view.preview_button.click()
            await wait_until(lambda: controller.current_preview is not None, 15, "the preview")
            assert await controller.runner.drain(timeout=15) == []
            assert f" · last sent: run {second}, plan " in bar.format(), bar.format()
            assert controller.last_error is None, controller.last_error
        finally:
            await console.close()

    run(qloop, scenario())
