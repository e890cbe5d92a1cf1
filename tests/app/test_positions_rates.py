"""The positions tree in the real window against the simulator: a group holding dollars and
euros shows its sums in the account's base currency at the rate the broker reports (the
simulator's EUR 1.10), handed to the panel by the controller, never dollars and euros added."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import OrderType, Side
from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from widgets.views.positions import BOOK, MARKET, UNREALIZED


@pytest.mark.slow  # a window, the simulator and two fills: over ~5 s alone
def test_the_account_row_of_dollars_and_euros_is_in_dollars_at_the_brokers_rate(qloop, open_console):
    async def scenario():
        console = await open_console()
        w, sim, controller = console.window, console.sim, console.controller
        try:
            for symbol in ("AAPL", "SAP@IBIS:EUR"):
                await console.stack.actions.manual_order(symbol, Side.BUY, Decimal(10), OrderType.MKT)
            await wait_for(lambda: {p.symbol for p in w.positions_model.records() if p.project_id is None and p.quantity}
                           == {"AAPL", "SAP@IBIS:EUR"}, 10, "both positions in the panel")
            held = {p.symbol: p for p in w.positions_model.records() if p.project_id is None}
            sim.set_price("AAPL", held["AAPL"].average_cost + Decimal(5))
            sim.set_price("SAP@IBIS:EUR", held["SAP@IBIS:EUR"].average_cost + Decimal(2))
            await controller.mark_positions()  # the marks, and the rates from the account summary
            w.positions_model.flush()
            marked = {p.symbol: p for p in w.positions_model.records() if p.project_id is None}
            dollars = marked["AAPL"].unrealized_pnl + marked["SAP@IBIS:EUR"].unrealized_pnl * Decimal("1.10")
            tree = w.positions_view.tree
            account = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                           if tree.topLevelItem(i).text(BOOK).startswith("Account "))
            assert account.text(UNREALIZED) == f"{dollars:,.2f}"
            assert "sums in USD at today's rates (1 EUR = 1.1 USD)" in account.toolTip(MARKET).splitlines()
        finally:
            await console.close()

    run(qloop, scenario())
