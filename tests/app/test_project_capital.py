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


# end to end: a real window (or the engine) against the simulator; left out by dev.py test --quick
pytestmark = pytest.mark.slow
