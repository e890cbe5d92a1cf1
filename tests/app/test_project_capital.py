"""A project's capital set in the window's Settings dialog is the preview's default portfolio
value (the preview panel's portfolio field left empty), through the real window and services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services import console_queries as queries
from services.books import BooksService
from tests.app.conftest import run
from tests.fixtures.ib import wait_for


def test_project_capital_from_settings_is_the_previews_default_portfolio_value(qloop, open_console):
    async def scenario():
        console = await open_console()
        controller, w = console.controller, console.window
        try:
            name = queries.project_names(console.stack.db)[w.snapshots_view.current_project_id()]
            dialog = await controller.open_settings()
            rows = {dialog.capital_table.item(r, 0).text(): r for r in range(dialog.capital_table.rowCount())}
            dialog.capital_table.item(rows[name], 1).setText("50000")
            dialog.accept()
            await wait_for(lambda: BooksService(console.stack.db, "t").capitals()[name] == Decimal(50000), 10, "capital stored")
            w.preview_view.portfolio_edit.setText("")  # empty: the project's capital
            preview = await controller.preview(w.preview_view.params())
            assert preview.portfolio_value == Decimal(50000)
            assert preview.plan.portfolio_value == Decimal(50000)
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_preview_sized_on_the_accounts_net_liquidation_says_so_under_its_totals(qloop, open_console):
    """Walked under Xvfb: a project without a capital, the portfolio field empty, was previewed
    on the account's whole NetLiquidation and the panel said nothing of the value the orders were
    built on. The line under the totals says it; with the project's capital it says nothing."""
    async def scenario():
        console = await open_console()
        controller, w = console.controller, console.window
        try:
            name = queries.project_names(console.stack.db)[w.snapshots_view.current_project_id()]
            BooksService(console.stack.db, "t").set_capitals({name: None})
            w.preview_view.portfolio_edit.setText("")
            preview = await controller.preview(w.preview_view.params())
            assert w.preview_view.skipped_label.text().startswith(
                f"Sized on the account's NetLiquidation, {preview.portfolio_value:,.2f}"), w.preview_view.skipped_label.text()
            assert f"project {name} has no capital" in w.preview_view.skipped_label.text()
            BooksService(console.stack.db, "t").set_capitals({name: "50000"})
            await controller.preview(w.preview_view.params())
            assert "NetLiquidation" not in w.preview_view.skipped_label.text()
        finally:
            await console.close()

    run(qloop, scenario())


# end to end: a real window (or the engine) against the simulator; left out by dev.py test --quick
pytestmark = pytest.mark.slow
