"""Positions totals: the account-level rows are the total; project rows are its breakdown."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.domain import PositionRecord
from widgets.models.positions import PositionsModel
from widgets.views.positions import PositionsView

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def _position(project_id, symbol, qty, cost, mark, realized="0"):
    return PositionRecord(project_id, "DU1", symbol, Decimal(qty), Decimal(cost), Decimal(realized), NOW,
                          market_price=Decimal(mark))


def test_totals_do_not_count_a_project_breakdown_twice(qtbot):
    model = PositionsModel(project_names={1: "alpha", 2: "beta"})
    view = PositionsView(model)
    qtbot.addWidget(view)
    model.reset([
        _position(None, "AAPL", 30, 100, 110, realized="7"),  # the account: alpha 10 + beta 20
        _position(1, "AAPL", 10, 100, 110, realized="2"),
        _position(2, "AAPL", 20, 100, 110, realized="5"),
    ])
    view._update_totals()
    assert view.totals_label.text() == "1 position · unrealized 300.00 · realized 7.00"  # one holding, not three

    view.set_project_filter("beta")
    assert view.totals_label.text().startswith("1 position · ")
    assert "unrealized 200.00" in view.totals_label.text()
    assert "realized 5.00" in view.totals_label.text()


def test_the_totals_rule_is_the_services_and_needs_no_widget():
    """services.console_books.book_totals: the account rows are the total when shown; a project's
    rows alone (filtered to it) count each; a holding without a mark adds no unrealized P&L."""
    from services.console_books import CurrencyPnl, book_totals

    account = _position(None, "AAPL", 30, 100, 110, realized="7")
    alpha, beta = _position(1, "AAPL", 10, 100, 110, realized="2"), _position(2, "AAPL", 20, 100, 110, realized="5")
    assert book_totals([account, alpha, beta]) == book_totals([account])
    assert book_totals([account]).count == 1 and book_totals([account]).pnl[0].unrealized_pnl == Decimal(300)
    both = book_totals([alpha, beta])
    assert (both.count, both.pnl) == (2, (CurrencyPnl("USD", Decimal(300), Decimal(7)),))
    unmarked = PositionRecord(1, "DU1", "MSFT", Decimal(5), Decimal(10), Decimal(1), NOW)
    assert book_totals([alpha, unmarked]).pnl[0].unrealized_pnl == Decimal(100)
    assert book_totals([]) == book_totals(()) and book_totals([]).pnl == ()
    # a flat row with nothing realized is no line of the tree, and no position of the count
    flat = PositionRecord(None, "DU1", "IBM", Decimal(0), Decimal(0), Decimal(0), NOW, market_price=Decimal(50))
    closed = PositionRecord(None, "DU1", "KO", Decimal(0), Decimal(0), Decimal(3), NOW, market_price=Decimal(60))
    assert (book_totals([account, flat]).count, book_totals([account, closed]).count) == (1, 2)
    assert book_totals([account, closed]).pnl[0].realized_pnl == Decimal(10)


def test_a_euro_holding_and_a_dollar_one_are_totalled_apart(qtbot):
    """SAP on Xetra in euros beside AAPL in dollars: the totals line gives each currency its own
    P&L; before, it added 100 EUR and 300 USD into "unrealized 400.00"."""
    from dataclasses import replace

    model = PositionsModel(project_names={})
    view = PositionsView(model)
    qtbot.addWidget(view)
    sap = replace(_position(None, "SAP@IBIS:EUR", 10, 200, 210, realized="4"), currency="EUR", exchange="IBIS")
    model.reset([_position(None, "AAPL", 30, 100, 110, realized="7"), sap])
    view._update_totals()
    # each currency on a line of its own: on one line the USD P&L went past the docked panel's
    # right edge (seen under Xvfb at 1366x768), out of sight
    assert view.totals_label.text().splitlines() == ["2 positions · EUR: unrealized 100.00 · realized 4.00",
                                                     "USD: unrealized 300.00 · realized 7.00"]
    assert view.totals_label.sizeHint().height() >= 2 * view.totals_label.fontMetrics().lineSpacing()


def test_the_unassigned_rest_of_a_flat_account_is_the_positions_commands(database):
    """IB says the account is flat while project alpha still books 10 AAPL at 150, marked at
    160: the panel's unassigned line is the `positions` command's (-10 at 150, the account's
    mark, -100 unrealized). The panel dropped the account's flat row before working out the
    rest and showed -10 at 0 with no mark."""
    from services.console_books import position_tree
    from services.console_queries import position_lines
    from services.db.repositories import Repositories

    with database.unit_of_work() as session:
        alpha = Repositories(session).projects.get_or_create("alpha")
        project_id = alpha.id
    records = [
        PositionRecord(None, "DU1", "AAPL", Decimal(0), Decimal(0), Decimal(0), NOW, market_price=Decimal(160)),
        PositionRecord(project_id, "DU1", "AAPL", Decimal(10), Decimal(150), Decimal(0), NOW, market_price=Decimal(160)),
    ]
    [*_, group] = position_tree(records, {project_id: "alpha"})
    [panel] = group.lines
    assert (group.kind, panel.quantity, panel.average_cost, panel.market_price, panel.unrealized_pnl) == (
        "unassigned", Decimal(-10), Decimal(150), Decimal(160), Decimal(-100))
    _store(database, records)
    [command] = [line for line in position_lines(database) if line.project == "unassigned"]
    assert (command.quantity, command.average_cost, command.market_price) == (panel.quantity, panel.average_cost,
                                                                             panel.market_price)


def _store(database, records) -> None:
    from services.db.models import Position

    with database.unit_of_work() as session:
        for r in records:
            session.add(Position(project_id=r.project_id, project_key=r.project_id or 0, account=r.account, symbol=r.symbol,
                                 quantity=r.quantity, average_cost=r.average_cost, realized_pnl=r.realized_pnl,
                                 market_price=r.market_price, updated_at=r.updated_at))


def test_the_totals_unrealized_is_not_known_before_any_holding_has_a_mark():
    """services.console_books.book_totals: no holding of a currency marked, its unrealized P&L
    is None (the panel's "no mark"), not 0; one marked, the sum over it; flat rows only, 0."""
    from services.console_books import CurrencyPnl, book_totals

    unmarked = PositionRecord(None, "DU1", "AAPL", Decimal(10), Decimal(100), Decimal(0), NOW)
    assert book_totals([unmarked]).pnl == (CurrencyPnl("USD", None, Decimal(0)),)
    marked = _position(None, "MSFT", 5, 200, 190)
    assert book_totals([unmarked, marked]).pnl[0].unrealized_pnl == Decimal(-50)
    closed = PositionRecord(None, "DU1", "KO", Decimal(0), Decimal(0), Decimal(3), NOW)
    assert book_totals([closed]).pnl == (CurrencyPnl("USD", Decimal(0), Decimal(3)),)
    sap = PositionRecord(None, "DU1", "SAP@IBIS:EUR", Decimal(10), Decimal(200), Decimal(0), NOW, currency="EUR")
    assert [c.unrealized_pnl for c in book_totals([sap, marked]).pnl] == [None, Decimal(-50)]  # each currency apart
