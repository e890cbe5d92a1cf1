"""The positions panel as a tree (offscreen, real widgets): the account's totals, each project by
name, then the unassigned rest, with P&L per group; the same records give the same tree and the
same realized total whatever order they arrive in (a restart reads them back in another order)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt

from services.domain import PositionRecord
from services.execution.ib_contracts import FxRates
from widgets.models.positions import PositionsModel, pnl_colour
from widgets.views.positions import (
    ACCOUNT,
    BOOK,
    BOOK_COLUMN_CAP,
    PRICE,
    QUANTITY,
    REALIZED,
    TREE_COLUMNS,
    UNREALIZED,
    VALUE,
    PositionsView,
)

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
PANEL_AT_1366 = 490  # px: the positions panel at 1366x768 (seen under Xvfb: its tree 492 px wide)


def _position(project_id, symbol, qty, cost, mark, realized="0"):
    return PositionRecord(project_id, "DU1", symbol, Decimal(qty), Decimal(cost), Decimal(realized), NOW,
                          market_price=Decimal(mark))


RECORDS = [
    _position(None, "AAPL", 33, 100, 110, realized="9"),  # alpha 10 + beta 20 + 3 nobody owns
    _position(1, "AAPL", 10, 100, 110, realized="2"),
    _position(2, "AAPL", 20, 100, 110, realized="5"),
    _position(None, "MSFT", 5, 200, 190),
    _position(2, "MSFT", 5, 200, 190),
]


def _tree(view: PositionsView) -> list[tuple]:
    out = []
    for i in range(view.tree.topLevelItemCount()):
        item = view.tree.topLevelItem(i)
        children = [tuple(item.child(c).text(k) for k in (BOOK, QUANTITY, UNREALIZED, REALIZED))
                    for c in range(item.childCount())]
        out.append((item.text(BOOK), item.text(UNREALIZED), item.text(REALIZED), children))
    return out


def _view(qtbot, records) -> PositionsView:
    model = PositionsModel(project_names={1: "alpha", 2: "beta"})
    view = PositionsView(model)
    qtbot.addWidget(view)
    model.reset(records)
    return view


def test_tree_shows_account_totals_then_projects_by_name_then_unassigned(qtbot):
    view = _view(qtbot, RECORDS)
    assert _tree(view) == [
        ("Account DU1", "280.00", "9.00", [("AAPL", "33", "330.00", "9.00"), ("MSFT", "5", "-50.00", "0.00")]),
        ("alpha", "100.00", "2.00", [("AAPL", "10", "100.00", "2.00")]),
        ("beta", "150.00", "5.00", [("AAPL", "20", "200.00", "5.00"), ("MSFT", "5", "-50.00", "0.00")]),
        ("unassigned", "30.00", "2.00", [("AAPL", "3", "30.00", "2.00")]),
    ]
    assert "realized 9.00" in view.totals_label.text()

    view.set_project_filter("unassigned")
    assert [row[0] for row in _tree(view)] == ["unassigned"]
    assert view.totals_label.text() == "1 position · unrealized 30.00 · realized 2.00"
    view.set_project_filter("beta")
    assert [row[0] for row in _tree(view)] == ["beta"]
    assert "realized 5.00" in view.totals_label.text()


def test_same_records_in_another_order_give_the_same_tree_and_totals(qtbot):
    first = _view(qtbot, RECORDS)
    again = _view(qtbot, list(reversed(RECORDS)))  # what a restart reads back
    assert _tree(first) == _tree(again)
    assert first.totals_label.text() == again.totals_label.text()


def test_a_project_without_a_loaded_name_is_never_shown_by_its_id(qtbot):
    model = PositionsModel()
    view = PositionsView(model)
    qtbot.addWidget(view)
    model.reset([_position(None, "AAPL", 4, 100, 110), _position(7, "AAPL", 4, 100, 110)])
    labels = [row[0] for row in _tree(view)]
    assert "7" not in labels and "(project name not loaded)" in labels
    model.set_project_names({7: "gamma"})
    assert [row[0] for row in _tree(view)] == ["Account DU1", "gamma"]


USD_ACCOUNT = FxRates("USD")  # the account summary of a dollar account holding dollars only


def test_a_project_with_a_capital_shows_its_cash(qtbot):
    view = _view(qtbot, RECORDS)
    view.set_capitals({"alpha": Decimal(5000), "beta": None})
    view.set_exchange_rates(USD_ACCOUNT)
    rows = {view.tree.topLevelItem(i).text(BOOK): view.tree.topLevelItem(i).text(ACCOUNT)
            for i in range(view.tree.topLevelItemCount())}
    # alpha: 5,000 - 10 x 100 + 2 realized
    assert rows["alpha"] == "capital 5,000.00 · cash 4,002.00"
    assert rows["beta"] == "" and rows["unassigned"] == ""


def test_the_p_and_l_is_in_view_in_the_right_column_of_a_laptop_and_a_long_book_name_is_elided(qtbot):
    """The panel shares the right column (440 px on a narrow layout): what is held and its P&L
    come first, and a long book name is cut to leave them room (its row's tooltip has it whole)."""
    view = _view(qtbot, RECORDS)
    view.set_capitals({"alpha": Decimal(5000)})
    view.set_exchange_rates(USD_ACCOUNT)
    view.resize(440, 300)
    view.show()
    qtbot.waitExposed(view)
    header, viewport = view.tree.header(), view.tree.viewport().width()
    for column in (BOOK, QUANTITY, UNREALIZED, REALIZED):
        assert header.sectionViewportPosition(column) + header.sectionSize(column) <= viewport, TREE_COLUMNS[column]
    account = view.tree.topLevelItem(0)
    assert account.text(BOOK) == "Account DU1"
    assert account.toolTip(BOOK) == "Account DU1 (all projects)"  # said in full
    assert view.tree.columnWidth(BOOK) >= BOOK_COLUMN_CAP
    alpha = next(view.tree.topLevelItem(i) for i in range(view.tree.topLevelItemCount())
                 if view.tree.topLevelItem(i).text(BOOK) == "alpha")
    assert alpha.toolTip(BOOK) == "alpha · capital 5,000.00 · cash 4,002.00"


def test_a_flush_of_scattered_changes_rebuilds_the_tree_once(qtbot, monkeypatch):
    """A price tick across positions reaches the model as one flush whose changed rows are not
    next to each other: one dataChanged per run of rows. The tree is built from whole books and
    rebuilt once for the flush (it was rebuilt for each run, and once more: 20 ms each at 600
    lines), and the rebuilt tree shows the new marks."""
    records = [_position(1, f"S{i:03d}", 10, 100, 100) for i in range(40)]
    view = _view(qtbot, records)
    built = []
    fill = view._fill_tree
    monkeypatch.setattr(view, "_fill_tree", lambda: (built.append(1), fill())[1])
    ranges = []
    view.model.dataChanged.connect(lambda *_: ranges.append(1))
    view.model.upsert([_position(1, f"S{i:03d}", 10, 100, 101) for i in range(0, 40, 2)])  # every other one
    view.model.flush()
    assert len(ranges) == 20 and len(built) == 1
    alpha = next(row for row in _tree(view) if row[0] == "alpha")
    assert alpha[1] == "200.00" and alpha[3][0] == ("S000", "10", "10.00", "0.00")


def test_a_project_name_loaded_later_rebuilds_the_tree(qtbot):
    model = PositionsModel()
    view = PositionsView(model)
    qtbot.addWidget(view)
    model.reset([_position(3, "AAPL", 4, 100, 110)])
    model.set_project_names({3: "gamma"})
    assert "gamma" in [row[0] for row in _tree(view)]


def test_new_marks_update_the_rows_in_place_and_a_new_line_rebuilds_the_tree(qtbot):
    """Marks that change figures but not which lines there are: the same items show the new
    texts and colours (a P&L back to zero loses its colour); a collapsed book stays collapsed.
    A new position: the tree is built again with its line."""
    view = _view(qtbot, RECORDS)
    beta = next(view.tree.topLevelItem(i) for i in range(view.tree.topLevelItemCount())
                if view.tree.topLevelItem(i).text(BOOK) == "beta")
    beta.setExpanded(False)
    aapl = beta.child(0)
    assert aapl.foreground(UNREALIZED).color() == pnl_colour(Decimal(200))
    view.model.upsert([_position(2, "AAPL", 20, 100, 100, realized="5"), _position(None, "AAPL", 33, 100, 100, realized="9"),
                       _position(1, "AAPL", 10, 100, 100, realized="2")])
    view.model.flush()
    assert beta.child(0) is aapl and aapl.text(UNREALIZED) == "0.00" and aapl.text(PRICE) == "100.00"
    assert aapl.data(UNREALIZED, Qt.ItemDataRole.ForegroundRole) is None
    assert beta.text(UNREALIZED) == "-50.00" and not beta.isExpanded()
    assert aapl.data(BOOK, Qt.ItemDataRole.UserRole + 1)[1].market_price == Decimal(100)  # what the menu trades

    view.model.upsert([_position(2, "IBM", 3, 50, 55)])
    view.model.flush()
    beta = next(row for row in _tree(view) if row[0] == "beta")
    assert [line[0] for line in beta[3]] == ["AAPL", "IBM", "MSFT"]


def _sap(project_id, qty, realized):
    """SAP on Xetra, in euros: 200 EUR a share, marked at 210."""
    return replace(_position(project_id, "SAP@IBIS:EUR", qty, 200, 210, realized=realized), currency="EUR", exchange="IBIS")


# alpha holds dollars and euros, beta euros only, the unassigned rest dollars only
MIXED_RECORDS = [
    _position(None, "AAPL", 30, 100, 110, realized="7"), _position(1, "AAPL", 10, 100, 110, realized="2"),
    _sap(None, 15, "4"), _sap(1, 10, "3"), _sap(2, 5, "1"),
]
EURUSD = FxRates("USD", {"EUR": Decimal("1.10")})


def _rows(view: PositionsView) -> dict[str, tuple[str, ...]]:
    """Each group's Value, Unrealized, Realized and Account (capital and cash) texts, by book."""
    out = {}
    for i in range(view.tree.topLevelItemCount()):
        item = view.tree.topLevelItem(i)
        out[item.text(BOOK)] = tuple(item.text(column) for column in (VALUE, UNREALIZED, REALIZED, ACCOUNT))
    return out


def _tooltip(view: PositionsView, book: str, column: int) -> str:
    return next(view.tree.topLevelItem(i).toolTip(column) for i in range(view.tree.topLevelItemCount())
                if view.tree.topLevelItem(i).text(BOOK) == book)


def test_a_group_of_dollars_and_euros_without_rates_adds_neither_its_sums_nor_its_cash(qtbot):
    """A group holding AAPL (USD) and SAP on Xetra (EUR), the account's base (USD) known but no
    EUR rate: its cells say "mixed" and its tooltip gives each currency's sums; a project's cash
    (capital in the base currency less costs in euros) is not worked out. Before, the account's
    row read 6,450.00 / 450.00 / 11.00 (dollars and euros added) and alpha's cash 2,005.00."""
    view = _view(qtbot, MIXED_RECORDS)
    view.set_capitals({"alpha": Decimal(5000), "beta": Decimal(2000)})
    view.set_exchange_rates(FxRates("USD"))
    assert _rows(view) == {
        "Account DU1": ("mixed", "mixed", "mixed", ""),
        "alpha": ("mixed", "mixed", "mixed", "capital 5,000.00 · cash: no EUR rate"),
        "beta": ("1,050.00", "50.00", "1.00", "capital 2,000.00 · cash: no EUR rate"),  # euros only: as they are
        "unassigned": ("2,200.00", "200.00", "5.00", ""),
    }
    account = _tooltip(view, "Account DU1", UNREALIZED)
    assert account.splitlines()[1:] == ["EUR: market 3,150.00 · unrealized 150.00 · realized 4.00",
                                        "USD: market 3,300.00 · unrealized 300.00 · realized 7.00",
                                        "not added up: no EUR rate from the broker yet"]
    assert "sums in EUR" in _tooltip(view, "beta", VALUE).splitlines()
    assert "cash in USD needs the EUR rate from the broker" in _tooltip(view, "beta", ACCOUNT).splitlines()


def test_with_the_accounts_rates_a_mixed_group_shows_its_sums_and_cash_in_the_base_currency(qtbot):
    """The account's EURUSD 1.10 (as the controller hands it from the broker): a group of dollars
    and euros shows its sums in dollars, each euro at 1.10, and says so in its tooltip; a
    project's cash takes its euro costs and P&L at the rate too, also when it holds euros only."""
    view = _view(qtbot, MIXED_RECORDS)
    view.set_capitals({"alpha": Decimal(5000), "beta": Decimal(2000)})
    view.set_exchange_rates(EURUSD)
    assert _rows(view) == {
        # 3,300 + 3,150 x 1.10; 300 + 150 x 1.10; 7 + 4 x 1.10
        "Account DU1": ("6,765.00", "465.00", "11.40", ""),
        # cash: 5,000 - (1,000 + 2,000 x 1.10) + (2 + 3 x 1.10)
        "alpha": ("3,410.00", "210.00", "5.30", "capital 5,000.00 · cash 1,805.30"),
        # euros as they are; cash 2,000 - 1,000 x 1.10 + 1 x 1.10
        "beta": ("1,050.00", "50.00", "1.00", "capital 2,000.00 · cash 901.10"),
        "unassigned": ("2,200.00", "200.00", "5.00", ""),
    }
    assert "sums and cash in USD at today's rates (1 EUR = 1.1 USD)" in _tooltip(view, "alpha", VALUE).splitlines()
    assert "sums in USD at today's rates (1 EUR = 1.1 USD)" in _tooltip(view, "Account DU1", VALUE)
    beta = _tooltip(view, "beta", ACCOUNT).splitlines()
    assert "sums in EUR" in beta and "cash in USD at today's rates (1 EUR = 1.1 USD)" in beta


def test_the_groups_currency_rule_is_the_services_and_needs_no_widget():
    """services.console_books: one currency, its own sums; several, the base currency's at the
    account's rates (an EUR-based account takes dollars at its USD rate); a rate missing, none."""
    from services.console_books import position_tree

    def account(fx):
        return position_tree(MIXED_RECORDS, {1: "alpha", 2: "beta"}, fx=fx)[0].figures()

    apart = account(FxRates("USD"))
    assert (apart.currency, apart.unrealized_pnl, apart.missing_rates) == (None, None, ("EUR",))
    assert [(s.currency, s.unrealized_pnl, s.realized_pnl) for s in apart.by_currency] == [
        ("EUR", Decimal(150), Decimal(4)), ("USD", Decimal(300), Decimal(7))]
    dollars = account(EURUSD)
    assert (dollars.currency, dollars.market_value, dollars.unrealized_pnl) == ("USD", Decimal(6765), Decimal(465))
    euros = account(FxRates("EUR", {"USD": Decimal("0.90")}))
    assert (euros.currency, euros.unrealized_pnl, euros.realized_pnl) == ("EUR", Decimal(420), Decimal("10.3"))
    assert account(FxRates("USD", {"GBP": Decimal("1.27")})).currency is None  # no EUR rate: still apart
    unknown = account(None)  # no base currency from the broker yet: nothing to convert into
    assert (unknown.currency, unknown.base, unknown.missing_rates, unknown.mixed) == (None, None, ("EUR", "USD"), True)


# an account whose base is the euro, holding a US listing (the simulator's EUR base, USD at 0.90)
EUR_ACCOUNT = FxRates("EUR", {"USD": Decimal("0.90")})


def test_before_the_broker_says_the_base_currency_a_projects_cash_is_not_taken_as_dollars(qtbot):
    """A EUR account's project with a capital of 5,000 (euros) holding 10 AAPL bought at 100
    dollars: before the account summary its cash is not known ("no rates yet"), its sums are its
    dollars as they are; once the summary says EUR and USD 0.90, the cash is 5,000 - 1,000 x 0.90
    + 2 x 0.90. Before, the window showed 4,002.00: euros of capital less dollars of cost."""
    view = _view(qtbot, RECORDS)
    view.set_capitals({"alpha": Decimal(5000)})
    rows = _rows(view)
    assert rows["alpha"] == ("1,100.00", "100.00", "2.00", "capital 5,000.00 · cash: no rates yet")
    tooltip = _tooltip(view, "alpha", ACCOUNT).splitlines()
    assert "sums in USD" in tooltip and "cash needs the account's base currency and rates from the broker" in tooltip
    view.set_exchange_rates(EUR_ACCOUNT)
    assert _rows(view)["alpha"] == ("1,100.00", "100.00", "2.00", "capital 5,000.00 · cash 4,101.80")
    assert "cash in EUR at today's rates (1 USD = 0.9 EUR)" in _tooltip(view, "alpha", ACCOUNT).splitlines()


def test_a_projects_cash_needs_the_base_currency_but_a_provider_of_one_currency_gives_it():
    """services.console_books alone: no base known, a project's cash is None (a project holding
    nothing keeps its capital: there is nothing to convert); the base the broker says converts;
    ``FxRates()`` (what a provider of one currency, the backtest's broker, says) is a USD base."""
    from services.console_books import BookGroup

    aapl = tuple(r for r in RECORDS if r.project_id == 1)  # 10 AAPL at 100, 2 realized

    def cash(fx, lines=aapl):
        return BookGroup("project", "alpha", lines, Decimal(5000), fx).figures().cash

    assert cash(None) is None
    assert cash(None, ()) == Decimal(5000)
    assert cash(EUR_ACCOUNT) == Decimal(5000) - Decimal(900) + Decimal("1.8")
    assert cash(FxRates()) == Decimal(4002)
    assert BookGroup("project", "alpha", aapl, Decimal(5000), None).figures().no_cash_because == "no rates yet"
    assert BookGroup("project", "alpha", aapl, Decimal(5000), FxRates("EUR")).figures().no_cash_because == "no USD rate"


def _in(account, project_id, symbol, qty, cost, mark, currency="USD"):
    return replace(_position(project_id, symbol, qty, cost, mark), account=account, currency=currency)


# a USD paper account DU1 holding a Xetra listing, a EUR live account U2 holding a US one
TWO_ACCOUNTS = [
    _in("DU1", None, "SAP@IBIS:EUR", 10, 100, 105, "EUR"), _in("DU1", 1, "SAP@IBIS:EUR", 10, 100, 105, "EUR"),
    _in("U2", None, "AAPL", 10, 100, 110), _in("U2", 2, "AAPL", 10, 100, 110),
]
STORED = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)


def test_each_accounts_lines_are_converted_at_that_accounts_rates(qtbot):
    """The window's rates per account (the broker's for the connected DU1, the stored ones for
    U2): alpha (DU1, USD) has its cash in dollars at DU1's EUR rate, beta (U2, EUR) in euros at
    U2's stored USD rate, said as stored rates of U2. Before, every project took the connected
    account's rates: beta's euros of capital less dollars of cost, one for one."""
    view = _view(qtbot, TWO_ACCOUNTS)
    view.set_capitals({"alpha": Decimal(5000), "beta": Decimal(5000)})
    view.set_exchange_rates({"DU1": EURUSD, "U2": FxRates("EUR", {"USD": Decimal("0.90")}, as_of=STORED)})
    rows = _rows(view)
    assert rows["alpha"][3] == "capital 5,000.00 · cash 3,900.00"  # 5,000 - 1,000 x 1.10
    assert rows["beta"][3] == "capital 5,000.00 · cash 4,100.00"  # 5,000 - 1,000 x 0.90
    assert "cash in USD at today's rates of account DU1 (1 EUR = 1.1 USD)" in _tooltip(view, "alpha", ACCOUNT).splitlines()
    assert ("cash in EUR at the rates stored 2026-12-04 21:00 UTC of account U2 (1 USD = 0.9 EUR)"
            in _tooltip(view, "beta", ACCOUNT).splitlines())


def test_a_group_across_accounts_adds_up_only_in_one_base_currency():
    """services.console_books: lines of two dollar accounts count each at its own account's rates
    (the notes name both); lines of a dollar and a euro account are never added up; a project of
    no lines takes the one account's rates when one alone is known, else none (its cash is its
    capital, in whichever base)."""
    from services.console_books import BookGroup, currency_notes

    lines = (_in("DU1", 3, "SAP@IBIS:EUR", 10, 100, 105, "EUR"), _in("DU3", 3, "SAP@IBIS:EUR", 10, 100, 105, "EUR"),
             _in("DU3", 3, "AAPL", 1, 100, 110))
    dollars = {"DU1": EURUSD, "DU3": FxRates("USD", {"EUR": Decimal("1.20")}, as_of=STORED)}
    both = BookGroup("project", "gamma", lines, Decimal(5000), dollars).figures()
    assert (both.currency, both.market_value) == ("USD", 1050 * Decimal("1.10") + 1050 * Decimal("1.20") + 110)
    assert both.cash == 5000 - 1000 * Decimal("1.10") - 1000 * Decimal("1.20") - 100
    assert ("sums and cash in USD at today's rates of account DU1 (1 EUR = 1.1 USD) and the rates stored "
            "2026-12-04 21:00 UTC of account DU3 (1 EUR = 1.2 USD)") in currency_notes(both, True, str)
    apart = BookGroup("project", "gamma", lines, Decimal(5000), {**dollars, "DU3": FxRates("EUR", {"USD": Decimal("0.9")})})
    figures = apart.figures()
    assert (figures.currency, figures.mixed, figures.cash, figures.no_cash_because) == (None, True, None, "several base currencies")
    empty = BookGroup("project", "delta", (), Decimal(5000), {"U2": FxRates("EUR")}).figures()
    assert (empty.currency, empty.cash) == ("EUR", Decimal(5000))
    assert BookGroup("project", "delta", (), Decimal(5000), dollars).figures().currency is None


def _unmarked(project_id, symbol, qty, cost, realized="0", currency="USD"):
    """A line right after its fill, before the broker sent a mark."""
    return replace(_position(project_id, symbol, qty, cost, 0, realized=realized), market_price=None, currency=currency)


def test_a_groups_unrealized_is_not_known_until_one_of_its_holdings_has_a_mark():
    """services.console_books: no holding marked, a group's unrealized P&L is None (not known),
    never 0 (read as a flat P&L); some marked, the sum over those; only flat lines (realized
    only), 0. Converted, the currencies of marked lines add up; no line marked, None."""
    from services.console_books import currency_notes, position_tree

    def unrealized(records, fx=None):
        return {g.name: g.figures().unrealized_pnl for g in position_tree(records, {1: "alpha"}, fx=fx)}

    just_filled = [_unmarked(None, "AAPL", 10, 100), _unmarked(1, "AAPL", 10, 100)]
    assert unrealized(just_filled) == {"DU1": None, "alpha": None}
    # AAPL marked at 110 (+100), MSFT not yet: the sum over the marked line, as before
    some = [_position(None, "AAPL", 10, 100, 110), _unmarked(None, "MSFT", 5, 200)]
    assert unrealized(some) == {"DU1": Decimal(100), "unassigned": Decimal(100)}  # no project owns them
    closed = [_unmarked(None, "KO", 0, 0, realized="3"), _unmarked(1, "KO", 0, 0, realized="3")]
    assert unrealized(closed) == {"DU1": Decimal(0), "alpha": Decimal(0)}
    assert unrealized([*closed, *just_filled]) == {"DU1": None, "alpha": None}  # a flat line is no mark
    # dollars and euros at EURUSD 1.10: SAP marked (+100 EUR), AAPL not: 110 USD; neither: None
    sap = replace(_position(None, "SAP@IBIS:EUR", 10, 200, 210), currency="EUR")
    mixed = position_tree([sap, _unmarked(None, "AAPL", 10, 100)], {}, fx=EURUSD)[0].figures()
    assert (mixed.currency, mixed.unrealized_pnl) == ("USD", Decimal(110))
    assert [(s.currency, s.unrealized_pnl) for s in mixed.by_currency] == [("EUR", Decimal(100)), ("USD", None)]
    assert "USD: market no mark · unrealized no mark · realized 0" in currency_notes(mixed, False, lambda v: "no mark" if v is None else str(v))
    neither = [replace(sap, market_price=None), _unmarked(None, "AAPL", 10, 100)]
    assert unrealized(neither, EURUSD) == {"DU1": None, "unassigned": None}
    assert unrealized(neither, FxRates("USD")) == {"DU1": None, "unassigned": None}  # no EUR rate: "mixed", as before



def test_before_any_mark_the_group_rows_and_totals_do_not_read_zero(qtbot):
    """Right after a fill, before the broker's first mark: the lines' Unrealized is blank (no
    mark), and so are the account's and the project's rows, and the totals say "no mark";
    they read 0.00, a flat P&L, before. A mark then shows the figures."""
    view = _view(qtbot, [_unmarked(None, "AAPL", 10, 100), _unmarked(1, "AAPL", 10, 100)])
    assert _tree(view) == [
        ("Account DU1", "", "0.00", [("AAPL", "10", "", "0.00")]),
        ("alpha", "", "0.00", [("AAPL", "10", "", "0.00")]),
    ]
    assert view.totals_label.text() == "1 position · unrealized no mark · realized 0.00"
    view.model.reset([_position(None, "AAPL", 10, 100, 110), _position(1, "AAPL", 10, 100, 110)])
    assert [row[1] for row in _tree(view)] == ["100.00", "100.00"]
    assert view.totals_label.text() == "1 position · unrealized 100.00 · realized 0.00"


def test_a_rows_market_value_and_unrealized_are_over_the_same_priced_holdings(qtbot):
    """One holding without a price: the account's Market total was blank while its Unrealized
    summed the other holdings, two figures of one row over different sets. Both are now over the
    priced holdings, and the row's tooltip (the command's notes, the same words) says how many
    holdings are left out; none priced, both are blank, as before."""
    from services.console_books import currency_notes, position_tree

    records = [_position(None, "AAPL", 10, 100, 110), _unmarked(None, "MSFT", 5, 200)]
    view = _view(qtbot, records)
    account = view.tree.topLevelItem(0)
    assert (account.text(BOOK), account.text(VALUE), account.text(UNREALIZED)) == ("Account DU1", "1,100.00", "100.00")
    assert "market and unrealized over the priced holdings: 1 holding not priced" in account.toolTip(BOOK)
    figures = view.groups[0].figures()
    assert "market and unrealized over the priced holdings: 1 holding not priced" in currency_notes(figures, False, str)
    # dollars and euros at EURUSD 1.10, SAP priced (10 x 210 EUR), AAPL not: both in dollars, over SAP
    sap = replace(_position(None, "SAP@IBIS:EUR", 10, 200, 210), currency="EUR")
    mixed = position_tree([sap, _unmarked(None, "AAPL", 10, 100)], {}, fx=EURUSD)[0].figures()
    assert (mixed.market_value, mixed.unrealized_pnl, mixed.unpriced) == (Decimal("2310.0"), Decimal("110.0"), 1)
    view.model.reset([_unmarked(None, "AAPL", 10, 100), _unmarked(None, "MSFT", 5, 200)])
    account = view.tree.topLevelItem(0)
    assert (account.text(VALUE), account.text(UNREALIZED)) == ("", "")
    assert "not priced" not in account.toolTip(BOOK)


def _title_room(view: PositionsView) -> int:
    """What a group's title has of the book column: the column less the root's branch indent and
    a cell's margins (the text is elided in less)."""
    return view.tree.columnWidth(BOOK) - view.tree.indentation() - PositionsView.CELL_PADDING


@pytest.mark.parametrize("width", [PANEL_AT_1366, 600])
def test_the_group_titles_are_whole_when_the_panel_has_room_beside_the_p_and_l(qtbot, width):
    """At 1366x768 the group rows read "Account DU1…" and "Demo mome…": the book column kept to
    130 px whatever room the panel had. It is as wide as its longest title now, as long as the
    quantity and the P&L stay in view; resized narrower, it gives the room back."""
    from PySide6.QtGui import QFont, QFontMetrics

    from tests.gui.showing import shown

    records = [replace(_position(None, "AAPL", 10, 100, 110), account="DU1234567"),
               replace(_position(3, "AAPL", 10, 100, 110), account="DU1234567")]
    model = PositionsModel(project_names={3: "Demo momentum"})
    view = PositionsView(model)
    model.reset(records)
    shown(qtbot, view, (width, 300))
    bold = QFont(view.tree.font())
    bold.setBold(True)
    metrics = QFontMetrics(bold)
    titles = [view.tree.topLevelItem(i).text(BOOK) for i in range(view.tree.topLevelItemCount())]
    assert titles[0].startswith("Account DU1234567") and titles[1] == "Demo momentum"
    for title in titles:
        assert _title_room(view) >= metrics.horizontalAdvance(title), (title, view.tree.columnWidth(BOOK))
    header, viewport = view.tree.header(), view.tree.viewport().width()
    for column in (BOOK, QUANTITY, UNREALIZED, REALIZED):
        assert header.sectionViewportPosition(column) + header.sectionSize(column) <= viewport, TREE_COLUMNS[column]
    view.resize(440, 300)  # the right column of a narrower layout: the P&L first, the title elided
    qtbot.waitUntil(lambda: view.tree.viewport().width() < 440, timeout=2000)
    viewport = view.tree.viewport().width()
    for column in (BOOK, QUANTITY, UNREALIZED, REALIZED):
        assert header.sectionViewportPosition(column) + header.sectionSize(column) <= viewport, TREE_COLUMNS[column]


def test_a_holding_the_broker_does_not_list_says_so_on_its_row(qtbot):
    """A holding the broker does not list keeps its stored mark (services.position_marks): it was
    shown like the others, its P&L at that old price read as the market's. Its row says "not
    listed" beside the symbol, and its tooltip why and which price it shows; the words are the
    service's, and the others' rows say nothing of the kind."""
    from services.position_marks import mark_said, symbol_said

    stale = replace(_position(2, "ZZOTHER", 5, 40, 41), marked_at=NOW, unlisted=True)
    view = _view(qtbot, [*RECORDS, stale, replace(stale, project_id=None)])
    beta = next(view.tree.topLevelItem(i) for i in range(view.tree.topLevelItemCount())
                if view.tree.topLevelItem(i).text(BOOK) == "beta")
    row = next(beta.child(c) for c in range(beta.childCount()) if beta.child(c).text(BOOK).startswith("ZZOTHER"))
    assert row.text(BOOK) == symbol_said(stale) == "ZZOTHER (not listed)"
    assert row.toolTip(BOOK) == row.toolTip(PRICE) == mark_said(stale)
    assert "does not list ZZOTHER" in row.toolTip(BOOK)
    assert row.data(BOOK, Qt.ItemDataRole.UserRole + 1)[1].symbol == "ZZOTHER"  # what the menu trades
    others = [beta.child(c) for c in range(beta.childCount()) if beta.child(c) is not row]
    assert [child.text(BOOK) for child in others] == ["AAPL", "MSFT"]
    assert all("not list" not in (child.toolTip(BOOK) + child.toolTip(PRICE)) for child in others)
