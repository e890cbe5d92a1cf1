"""A project's money in the `positions` command's books table and in the window's positions tree
is said by one rule (services.console_books.sum_said and cash_said): "mixed" when its currencies
cannot be added, the amount to the cent, and, for the cash, the amount or why it is not known.
The one thing each surface words its own way is an amount no holding has a mark for: the tree
leaves the cell blank (as its lines' cells), the command's table says "no mark" (as its lines)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.core.wording import money

WHEN = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)


def _books(database) -> None:
    """Account DU1 (base USD, its rates stored without EUR): alpha holds dollars and euros
    ("mixed", no cash: no EUR rate), beta dollars with a mark, gamma dollars without one."""
    from services.books import BooksService
    from services.db.models import Position
    from services.db.repositories import ProjectRepository
    from services.db.repositories.portfolio import EquityRepository

    with database.unit_of_work() as session:
        ids = {name: ProjectRepository(session).get_or_create(name).id for name in ("alpha", "beta", "gamma")}
        for project, symbol, currency, exchange, quantity, cost, mark in (
                ("alpha", "AAPL", "USD", "NASDAQ", 10, "100", "110"), ("alpha", "SAP@IBIS:EUR", "EUR", "IBIS", 5, "200", "210"),
                ("beta", "MSFT", "USD", "NASDAQ", 4, "300", "310"), ("gamma", "KO", "USD", "NYSE", 20, "60", None)):
            for project_id in (ids[project], None):  # the project's line and the account's
                session.add(Position(project_id=project_id, project_key=project_id or 0, account="DU1", symbol=symbol,
                                     currency=currency, exchange=exchange, quantity=Decimal(quantity),
                                     average_cost=Decimal(cost), realized_pnl=Decimal(0),
                                     market_price=None if mark is None else Decimal(mark),
                                     marked_at=None if mark is None else WHEN))
        EquityRepository(session).store_rates("DU1", "USD", {}, WHEN)
    BooksService(database, "tester").set_capitals({"alpha": "5000", "beta": "2000", "gamma": "3000"})


def _command_rows(out: str) -> dict[str, list[str]]:
    lines = out[out.index("\nPROJECT  ") + 1:].splitlines()
    return {cells[0]: cells for cells in ([c.strip() for c in line.split("  ") if c.strip()]
                                          for line in lines[1:] if line and not line.startswith(" "))}


def test_a_books_money_is_said_by_one_rule_in_the_command_and_the_window(database, db_url, capsys, qtbot):
    from app.cli import main
    from services import console_queries as queries
    from services.books import project_books, stored_rates_by_account
    from services.console_books import NO_MARK, cash_said, sum_said
    from widgets.models.positions import PositionsModel
    from widgets.views.positions import ACCOUNT, BOOK, REALIZED, UNREALIZED, VALUE, PositionsView

    _books(database)
    stored = {account: rates.fx for account, rates in stored_rates_by_account(database).items()}
    books = {b.project: b for b in project_books(database, stored)}

    capsys.readouterr()
    assert main(["--db-url", db_url, "positions"]) == 0
    command = _command_rows(capsys.readouterr().out)

    names = queries.project_names(database)
    model = PositionsModel(project_names=names)
    view = PositionsView(model)
    qtbot.addWidget(view)
    model.reset(queries.positions(database))
    view.set_capitals({name: b.capital for name, b in books.items()})
    view.set_exchange_rates(stored)  # the stored rates, as the window has them before the broker's
    items = {view.tree.topLevelItem(i).text(BOOK): view.tree.topLevelItem(i) for i in range(view.tree.topLevelItemCount())}

    for name, book in books.items():
        f = book.figures
        sums = (f.market_value, f.unrealized_pnl, f.realized_pnl)
        assert command[name] == [name, money(book.capital), cash_said(f), *(sum_said(v, f, NO_MARK) for v in sums)], name
        item = items[name]
        assert [item.text(c) for c in (VALUE, UNREALIZED, REALIZED)] == [sum_said(v, f, "") for v in sums], name
        assert item.text(ACCOUNT).startswith(f"capital {money(book.capital)} · cash") and item.text(ACCOUNT).endswith(cash_said(f))

    # what the one rule says for these three books
    assert command["alpha"][2:] == ["no EUR rate", "mixed", "mixed", "mixed"]
    assert items["alpha"].text(ACCOUNT) == "capital 5,000.00 · cash: no EUR rate"
    assert command["beta"][2:] == ["800.00", "1,240.00", "40.00", "0.00"]
    assert items["beta"].text(ACCOUNT) == "capital 2,000.00 · cash 800.00"
    assert command["gamma"][2:] == ["1,800.00", "no mark", "no mark", "0.00"]
    assert [items["gamma"].text(c) for c in (VALUE, UNREALIZED, REALIZED)] == ["", "", "0.00"]
