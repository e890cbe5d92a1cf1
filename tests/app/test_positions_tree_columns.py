"""The Positions panel's tree in the main window on a laptop and on a large screen: every column
whole, its title and its widest text; a column either in view or a scroll away, never cut at
the viewport's right edge."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtTest import QTest

from tests.gui.factories import position
from widgets.views.positions import (
    BOOK,
    BOOK_COLUMN_CAP,
    PRICE,
    QUANTITY,
    REALIZED,
    TREE_COLUMNS,
    UNREALIZED,
    VALUE,
)

ACCOUNT_ID = "DU1234567"
# (symbol, quantity, average cost, mark, realized): a few large holdings, long symbols among them
HOLDINGS = [
    ("AAPL", "4400", "229.1627", "228.75", "-1234.56"),
    ("BRK.B", "2100", "412.3317", "415.12", "0"),
    ("GOOGL", "4800", "165.0708", "165.75", "0"),
    ("NVDA", "9400", "138.1406", "137.61", "2345.67"),
    ("META", "1900", "569.0126", "568.41", "0"),
    ("ZZOTHER", "1250", "40.00", "41.00", "0"),
    *((symbol, "1500", "212.3117", "212.83", "0") for symbol in ("IBM", "JPM", "KO", "MSFT", "PG", "QQQ")),
]  # more rows than the panel shows: the vertical scrollbar takes its 14 px of the viewport


def _records() -> list:
    records = []
    for symbol, quantity, cost, mark, realized in HOLDINGS:
        line = position(symbol, project_id=None, account=ACCOUNT_ID, quantity=quantity, cost=cost, market=mark,
                        realized=realized)
        if symbol == "ZZOTHER":  # a holding the broker does not list: "ZZOTHER (not listed)"
            line = replace(line, unlisted=True)
        records += [line, replace(line, project_id=1)]
    return records


@pytest.fixture(autouse=True)
def _themed(qapp):
    """The window's own theme: its header padding makes the titles 13 px wider than Qt's bare
    style (the tree fitted offscreen and not on screen without it)."""
    from widgets.theme import apply_theme

    apply_theme(qapp, "dark")  # left so, as the other themed tests leave it


def _window_at(qtbot, monkeypatch, size: QSize, compact: bool):
    from tests.app.test_window_layout import _window

    monkeypatch.setattr("app.main_window.default_window_size", lambda _w, _preferred: size)
    return _window(qtbot, compact=compact)


def _positions_shown(qtbot, qapp, monkeypatch, size: QSize, compact: bool):
    window = _window_at(qtbot, monkeypatch, size, compact)
    window.positions_model.set_project_names({1: "Demo momentum"})
    window.positions_view.set_capitals({"Demo momentum": Decimal("5000000")})
    window.positions_model.reset(_records())
    window.docks["positions"].raise_()  # its tab clicked
    for _ in range(3):
        qapp.processEvents()
    return window.positions_view.tree


def _assert_whole(tree) -> list[str]:
    """Every column at least as wide as Qt's own measure of its title and of its rows' texts, and
    none cut by the viewport's right edge; returns the titles of the columns in view."""
    header, edge = tree.header(), tree.viewport().width()
    in_view = []
    for column, title in enumerate(TREE_COLUMNS):
        needed = max(tree.sizeHintForColumn(column), header.sectionSizeHint(column))
        assert header.sectionSize(column) >= needed, (title, header.sectionSize(column), needed)
        left = header.sectionViewportPosition(column)
        right = left + header.sectionSize(column)
        assert right <= edge or left >= edge, (title, left, right, edge)  # in view or a scroll away
        if right <= edge:
            in_view.append(title)
    return in_view


@pytest.mark.parametrize(("size", "compact"), [(QSize(1366, 768), True), (QSize(1366, 768 - 40), True),
                                               (QSize(1920, 1080 - 40), False)])
def test_every_positions_column_is_whole_in_view_or_a_scroll_away(qtbot, qapp, monkeypatch, size, compact):
    """Seen under Xvfb at 1366x768 after the demo's run: the tree's Market column was cut at the
    viewport's edge ("97,01" of 97,011.80), scrolled to, the Account column, left at Qt's 100 px,
    read "capital 100,…", and the titles were measured without the theme's padding ("Quantity"
    given 74 px of the 76 it needs)."""
    tree = _positions_shown(qtbot, qapp, monkeypatch, size, compact)
    in_view = _assert_whole(tree)
    assert tree.verticalScrollBar().isVisible()
    assert in_view[:4] == [TREE_COLUMNS[c] for c in (BOOK, QUANTITY, UNREALIZED, REALIZED)], in_view
    bar = tree.horizontalScrollBar()
    bar.setValue(bar.maximum())  # scrolled to the end: the last column ends inside the viewport
    qapp.processEvents()
    header = tree.header()
    last = len(TREE_COLUMNS) - 1
    assert header.sectionViewportPosition(last) + header.sectionSize(last) <= tree.viewport().width()


def test_at_1366x768_value_and_price_are_columns_of_their_own_and_the_values_are_in_view(qtbot, qapp, monkeypatch):
    """The demo's run (a 100,000 project, twelve holdings of some 200 shares). Walked under Xvfb:
    one "Market" column read 120,780.00 on the book's row and 228.75 on each line below it, a
    value and a price as one kind of number. Value is money on every row (a line's quantity x
    price, a book's the sum of its lines', from the service's sums), beside the P&L, whole,
    without scrolling; Price is a line's alone (blank on a book's row)."""
    window = _window_at(qtbot, monkeypatch, QSize(1366, 768), True)
    window.positions_model.set_project_names({1: "Demo momentum"})
    window.positions_view.set_capitals({"Demo momentum": Decimal("100000")})
    records = [position(symbol, project_id=project, account=ACCOUNT_ID, quantity="44", cost="229.1627", market="228.75")
               for symbol in ("AAPL", "AMZN", "GOOGL", "IBM", "JPM", "KO", "META", "MSFT", "NVDA", "PG", "QQQ", "V")
               for project in (None, 1)]
    window.positions_model.reset(records)
    window.docks["positions"].raise_()
    for _ in range(3):
        qapp.processEvents()
    tree = window.positions_view.tree
    assert (TREE_COLUMNS[VALUE], TREE_COLUMNS[PRICE]) == ("Value", "Price")
    for book in (tree.topLevelItem(i) for i in range(tree.topLevelItemCount())):
        assert (book.text(VALUE), book.text(PRICE)) == ("120,780.00", ""), book.text(BOOK)
        for line in (book.child(i) for i in range(book.childCount())):
            assert (line.text(VALUE), line.text(PRICE)) == ("10,065.00", "228.75"), line.text(BOOK)  # 44 x 228.75
    assert TREE_COLUMNS[VALUE] in _assert_whole(tree)
    assert (TREE_COLUMNS[QUANTITY], tree.headerItem().toolTip(QUANTITY)) == ("Qty", "Quantity")  # short, said whole
    assert "market price" in tree.headerItem().toolTip(PRICE)
    assert "quantity x its market price" in tree.headerItem().toolTip(VALUE)


@pytest.mark.parametrize("width", [700, 1100])
def test_a_wider_panel_shows_more_columns_whole_and_the_names_beside_their_figures(qtbot, width):
    """A panel dragged wider (or a large screen's): the next columns come into view as they fit,
    whole; with room for all of them, nothing is a scroll away and the last column (the account's
    text) takes the rest: the book taking it put the names 400 px from their figures."""
    from tests.gui.showing import shown
    from widgets.models.positions import PositionsModel
    from widgets.views.positions import PositionsView

    model = PositionsModel(project_names={1: "Demo momentum"})
    view = PositionsView(model)
    view.set_capitals({"Demo momentum": Decimal("5000000")})
    model.reset(_records())
    shown(qtbot, view, (width, 300))
    tree = view.tree
    in_view = _assert_whole(tree)
    header = tree.header()
    assert sum(header.sectionSize(c) for c in range(len(TREE_COLUMNS))) >= tree.viewport().width()  # no gap at the right
    if width >= 1100:
        assert in_view == list(TREE_COLUMNS) and tree.horizontalScrollBar().maximum() == 0
        assert header.sectionSize(BOOK) < tree.sizeHintForColumn(BOOK) + 20  # the names beside their figures
    else:
        assert TREE_COLUMNS[VALUE] in in_view and len(in_view) < len(TREE_COLUMNS)


def _drag_section_edge(header, column: int, width: int) -> None:
    """The trader's drag of a section's right edge with the mouse, to ``width``."""
    y = header.height() // 2
    edge = QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) - 1, y)
    end = QPoint(edge.x() + width - header.sectionSize(column), y)
    QTest.mousePress(header.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, edge)
    QTest.mouseMove(header.viewport(), end)
    QTest.mouseRelease(header.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def test_a_book_column_the_trader_narrowed_comes_back_as_saved_when_the_rows_arrive(qtbot, qapp, monkeypatch, tmp_path):
    """The trader drags the book column narrower (67 px) and closes; the next start restores the
    layout, then the positions arrive: the tree's own sizing widened it again to 130 px
    (BOOK_COLUMN_CAP) at its first rows, while every table's columns came back as saved. The
    columns the trader did not touch still fit their texts."""
    from tests.app.test_window_layout import _window

    monkeypatch.setattr("app.main_window.default_window_size", lambda _w, _preferred: QSize(1366, 768))
    state = tmp_path / "ui-state.ini"

    def opened():
        window = _window(qtbot, state, compact=True)
        window.positions_model.set_project_names({1: "Demo momentum"})
        window.positions_view.set_capitals({"Demo momentum": Decimal("5000000")})
        window.positions_model.reset(_records())
        window.docks["positions"].raise_()
        for _ in range(3):
            qapp.processEvents()
        return window

    first = opened()
    header = first.positions_view.tree.header()
    assert header.sectionSize(BOOK) > 67
    _drag_section_edge(header, BOOK, 67)
    assert header.sectionSize(BOOK) == 67
    first.positions_model.reset(_records()[:-2])  # a position closed: the tree is built anew
    qapp.processEvents()
    assert header.sectionSize(BOOK) == 67
    first.close()

    second = opened()
    tree = second.positions_view.tree
    assert tree.header().sectionSize(BOOK) == 67
    for column in (QUANTITY, UNREALIZED, REALIZED, VALUE):
        assert tree.header().sectionSize(column) >= max(tree.sizeHintForColumn(column),
                                                        tree.header().sectionSizeHint(column)), TREE_COLUMNS[column]


def _double_click_section_edge(header, column: int) -> None:
    """The trader's double click on a section's right edge, as a spreadsheet's column is fitted."""
    edge = QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) - 1, header.height() // 2)
    QTest.mouseDClick(header.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, edge)


def test_a_double_click_on_a_dragged_columns_edge_gives_it_back_to_the_trees_own_fit(qtbot, qapp, monkeypatch, tmp_path):
    """A column dragged to a width kept it for good, through every rebuild and every start: there
    was no way back to the width the tree gives it. A double click on its edge fits it again and
    forgets the choice, in the layout saved too: the next rows and the next start fit it."""
    from tests.app.test_window_layout import _window
    from widgets.common import chosen_widths

    monkeypatch.setattr("app.main_window.default_window_size", lambda _w, _preferred: QSize(1366, 768))
    state = tmp_path / "ui-state.ini"

    def opened():
        window = _window(qtbot, state, compact=True)
        window.positions_model.set_project_names({1: "Demo momentum"})
        window.positions_view.set_capitals({"Demo momentum": Decimal("5000000")})
        window.positions_model.reset(_records())
        window.docks["positions"].raise_()
        for _ in range(3):
            qapp.processEvents()
        return window

    first = opened()
    tree = first.positions_view.tree
    header = tree.header()
    fitted = {QUANTITY: header.sectionSize(QUANTITY)}
    _drag_section_edge(header, QUANTITY, fitted[QUANTITY] + 60)  # a choice the double click below leaves
    first.positions_model.reset(_records()[:-2])
    qapp.processEvents()
    fitted[BOOK] = header.sectionSize(BOOK)  # the tree's own: the room the others leave it
    _drag_section_edge(header, BOOK, 67)
    assert chosen_widths(tree) == {BOOK, QUANTITY}
    _double_click_section_edge(header, BOOK)
    qapp.processEvents()
    assert header.sectionSize(BOOK) == fitted[BOOK] and chosen_widths(tree) == {QUANTITY}
    first.positions_model.reset(_records())  # a position opened: the tree is built anew
    qapp.processEvents()
    assert header.sectionSize(BOOK) > 67 and header.sectionSize(QUANTITY) == fitted[QUANTITY] + 60
    first.close()

    second = opened()
    tree = second.positions_view.tree
    assert chosen_widths(tree) == {QUANTITY}  # the book's is the tree's again (the room the others leave it)
    assert tree.header().sectionSize(BOOK) >= BOOK_COLUMN_CAP
    assert tree.header().sectionSize(QUANTITY) == fitted[QUANTITY] + 60
