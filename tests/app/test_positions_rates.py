"""The positions tree in the real window against the simulator: a group holding dollars and
euros shows its sums in the account's base currency at the rate the broker reports (the
simulator's EUR 1.10), handed to the panel by the controller, never dollars and euros added."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import OrderType, Side
from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from widgets.views.positions import BOOK, UNREALIZED, VALUE


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
            assert "sums in USD at today's rates (1 EUR = 1.1 USD)" in account.toolTip(VALUE).splitlines()
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # a window, the simulator and a fill: over ~5 s alone
def test_a_euro_accounts_project_holding_dollars_has_its_cash_in_euros_at_the_brokers_rate(qloop, open_console):
    """The simulator as an account whose base is the euro (USD at 0.90): a project with a capital
    of 5,000 (euros) that bought 10 AAPL (dollars) shows its cash as 5,000 less the dollars'
    cost at 0.90, the base and the rate the account summary says (before it came, the panel
    said "no rates yet": tests/gui/test_positions_tree.py, no USD base taken for granted)."""
    from services.books import BooksService
    from widgets.views.positions import ACCOUNT

    async def scenario():
        console = await open_console(base_currency="EUR", fx_rates={"USD": Decimal("0.90")})
        w, controller = console.window, console.controller
        try:
            await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.MKT, project="alpha")
            await wait_for(lambda: any(p.project_id is not None and p.quantity for p in w.positions_model.records()), 10,
                           "alpha's position in the panel")
            BooksService(console.stack.db, "tester").set_capitals({"alpha": "5000"})
            await controller.monitoring.show_capitals()
            await controller.mark_positions()  # the marks, and the base and rates from the account summary
            w.positions_model.flush()
            held = next(p for p in w.positions_model.records() if p.project_id is not None)
            cash = Decimal(5000) - held.quantity * held.average_cost * Decimal("0.90") + held.realized_pnl * Decimal("0.90")
            tree = w.positions_view.tree
            alpha = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount()) if tree.topLevelItem(i).text(BOOK) == "alpha")
            assert alpha.text(ACCOUNT) == f"capital 5,000.00 · cash {cash:,.2f}"
            assert "cash in EUR at today's rates (1 USD = 0.9 EUR)" in alpha.toolTip(ACCOUNT).splitlines()
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # a window and the simulator: over ~5 s alone
def test_another_accounts_project_has_its_cash_at_that_accounts_stored_rates(qloop, open_console):
    """Connected to the simulator's dollar account, the database also holds a project of a euro
    account U7 (a capital of 5,000 euros, 10 AAPL bought at 100 dollars) with U7's rates stored:
    its cash is in euros at U7's stored USD 0.90, said as U7's stored rates, never at the
    connected account's (then 5,000 - 1,000 dollars, one for one: 4,000.00)."""
    from datetime import UTC, datetime

    from services.books import BooksService
    from services.db.models import Position
    from services.db.repositories import ProjectRepository
    from services.db.repositories.portfolio import EquityRepository
    from widgets.views.positions import ACCOUNT

    async def scenario():
        console = await open_console()
        w, controller, db = console.window, console.controller, console.stack.db
        try:
            with db.unit_of_work() as session:
                beta = ProjectRepository(session).get_or_create("beta").id
                for project_id in (beta, None):
                    session.add(Position(project_id=project_id, project_key=project_id or 0, account="U7", symbol="AAPL",
                                         currency="USD", exchange="NYSE", quantity=Decimal(10), average_cost=Decimal(100),
                                         realized_pnl=Decimal(0)))
                EquityRepository(session).store_rates("U7", "EUR", {"USD": Decimal("0.90")},
                                                      datetime(2026, 12, 4, 21, 0, tzinfo=UTC))
            BooksService(db, "tester").set_capitals({"beta": "5000"})
            await controller.monitoring.load()  # the positions, capitals and every account's stored rates
            await controller.monitoring.show_exchange_rates()  # the connected account's from the broker (load runs it apart)
            tree = w.positions_view.tree

            def beta_row():
                return next((tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                             if tree.topLevelItem(i).text(BOOK) == "beta"), None)

            await wait_for(lambda: beta_row() is not None and beta_row().text(ACCOUNT) == "capital 5,000.00 · cash 4,100.00",
                           10, "beta's cash at U7's stored 0.90")
            assert ("cash in EUR at the rates stored 2026-12-04 21:00 UTC of account U7 (1 USD = 0.9 EUR)"
                    in beta_row().toolTip(ACCOUNT).splitlines())
        finally:
            await console.close()

    run(qloop, scenario())
