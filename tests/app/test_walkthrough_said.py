"""What a trader walking through the real window (offscreen) is told, found in a walk under
Xvfb: a file imported from the menu whose problems were listed in a panel hidden behind the
preview, a preview BLOCKED by risk whose only sign beside Execute was the button greying out,
and a project made by an import missing from the Backtest panel's list until a restart."""

from __future__ import annotations

import pytest

from services.activity_log import Level
from tests.app.conftest import run
from tests.fixtures.ib import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)]


def test_an_import_with_problems_brings_the_snapshots_panel_forward_and_says_so(qloop, open_console, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("symbol,weight\nAAPL,0.2o\nZZ$Z,0.1\n")

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            assert w.docks["snapshots"] in w.tabifiedDockWidgets(w.docks["preview"])  # this window's layout
            w.bring_forward("preview")  # where the trader works; the import comes from File
            assert w.docks["snapshots"].visibleRegion().isEmpty()
            w.snapshots_view.import_requested.emit(str(bad), "")
            await wait_for(lambda: w.snapshots_view.errors_list.count() == 2, 10, "the problems listed")
            await wait_for(lambda: not w.docks["snapshots"].visibleRegion().isEmpty(), 5, "the Snapshots panel in front")
            said = w.activity_log.last
            assert said is not None and said.level is Level.WARNING
            # the `snapshot import` command's words (services.console_queries.refused_import_line)
            assert said.text == ("broken.csv: 2 problems; nothing was stored (listed by line in the Snapshots panel)")
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_preview_blocked_by_risk_says_so_beside_execute(qloop, open_console, tmp_path):
    heavy = tmp_path / "heavy.csv"
    heavy.write_text("symbol,weight\nAAPL,0.5\n")  # half of a million: beyond the order notional limit

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            await console.controller.import_snapshot(str(heavy), "Heavy")
            w.preview_view.portfolio_edit.setText("1000000")
            w.preview_view.preview_button.click()
            await wait_for(lambda: console.controller.current_preview is not None, 15, "preview")
            preview = console.controller.current_preview
            assert preview.blocked
            await wait_for(lambda: "previewed" in w.preview_view.progress.format(), 5, "the preview said")
            assert not w.preview_view.execute_button.isEnabled()
            assert w.preview_view.progress.format() == (f"plan {preview.plan_id} (run {preview.run_id}) previewed, "
                                                       "not sent: BLOCKED by risk, see Risk results")
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_project_made_by_an_import_is_offered_by_the_backtest_panel(qloop, open_console, tmp_path):
    targets = tmp_path / "fresh.csv"
    targets.write_text("symbol,weight\nAAPL,0.1\n")

    async def scenario():
        console = await open_console()
        w = console.window
        listed = w.backtest_view.projects_list
        try:
            names = lambda: [listed.item(i).text() for i in range(listed.count())]  # noqa: E731
            assert "Fresh project" not in names()
            w.snapshots_view.import_requested.emit(str(targets), "Fresh project")
            await wait_for(lambda: "Fresh project" in names(), 10, "the new project in the Backtest panel")
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_malformed_symbol_in_the_ticket_is_said_malformed_as_the_import_says_it(qloop, open_console):
    """Walked under Xvfb: 'ZZ$Z' in a snapshot file is "malformed symbol 'ZZ$Z'"; typed in the
    order ticket it went to IB and came back "unknown contract: ZZ$Q", as if IB only did not list it."""

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            dialog.symbol_edit.setText("ZZ$Q")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: "ZZ$Q" in dialog.quote_label.text(), 10,
                           lambda: f"the ticket's word on ZZ$Q: {dialog.quote_label.text()!r}")
            assert dialog.quote_label.text().startswith("malformed symbol 'ZZ$Q'"), dialog.quote_label.text()
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_ticket_writes_a_typed_limit_as_the_blotter_shows_it(qloop, open_console):
    """Walked under Xvfb: a limit typed 405 read "LMT limit 405 DAY" in the verdict and the sent
    line, and "limit 400 is 3.50% from the reference 414.52" in a refusal, beside the
    blotter's 405.00."""

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            sim.set_price("MSFT", "414.50")
            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            dialog.symbol_edit.setText("MSFT")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: dialog.quote_label.text().startswith("MSFT:"), 10, "MSFT's quote")
            dialog.amount_edit.setText("10")
            dialog.type_combo.setCurrentText("LMT")
            dialog.limit_box.setText("405")
            await wait_for(lambda: "MSFT LMT 405" in dialog.verdict_label.text(), 10,
                           lambda: f"the verdict: {dialog.verdict_label.text()!r}")
            assert "10 MSFT LMT 405.00 DAY" in dialog.verdict_label.text(), dialog.verdict_label.text()
            dialog.limit_box.setText("400")
            await wait_for(lambda: "price_collar" in dialog.verdict_label.text(), 10,
                           lambda: f"the collar's refusal: {dialog.verdict_label.text()!r}")
            assert "MSFT: limit 400.00 is" in dialog.verdict_label.text(), dialog.verdict_label.text()
        finally:
            await console.close()

    run(qloop, scenario())
