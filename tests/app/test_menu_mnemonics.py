"""Every item of every menu of the main window has an Alt shortcut (a mnemonic) of its own in its
menu: File and Trading had them, the View menu's panels, theme and sound items had none, so the
keyboard reached them only by the arrows. A layout the trader named is numbered (&1, &2: a name
is not ours to mark), its "&" shown as typed (a layout named "R&D" read "RD", Alt+D its key).
The right-click menus too (an order's, a position's, a watched symbol's, a table header's
columns, a panel's title bar): they had none."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu, QTableView

from tests.fixtures.menus import mnemonic_problems, shown_text
from tests.gui.factories import order, position


def _menus(menu: QMenu):
    yield menu
    for action in menu.actions():
        if action.menu() is not None:
            yield from _menus(action.menu())


def _problems(window) -> list[str]:
    bar = window.menuBar()
    problems = mnemonic_problems("the menu bar", bar.actions())
    for top in bar.actions():
        for menu in _menus(top.menu()):
            problems += mnemonic_problems(menu.title(), menu.actions())
    return problems


def test_every_item_of_every_menu_has_a_mnemonic_of_its_own(qtbot, tmp_path):
    from app.main_window import MainWindow

    window = MainWindow(mode="demo", ui_state_file=tmp_path / "ui-state.ini")
    qtbot.addWidget(window)
    window.save_layout_as("R&D")
    window.save_layout_as("Trading")
    layouts = window._fill_layouts_menu()  # as View -> Layouts fills itself when it opens
    assert _problems(window) == []
    names = [a.text() for a in layouts.actions() if not a.isSeparator() and a.menu() is None]
    assert names == ["&1 R&&D", "&2 Trading"]  # shown "1 R&D", "2 Trading"
    panels = window.panel_actions
    assert panels["positions"].text().replace("&&", "").count("&") == 1 and "P&&L" in panels["positions"].text()


def test_a_monitors_menus_have_a_mnemonic_each_too(qtbot, tmp_path):
    from app.main_window import MainWindow

    window = MainWindow(mode="paper", ui_state_file=tmp_path / "ui-state.ini", monitor=True)
    qtbot.addWidget(window)
    assert _problems(window) == []


def _context_menus(window) -> list[tuple[str, QMenu]]:
    """Every right-click menu of the window, built as a right click builds it (each menu's
    ``context_menu_for`` / ``column_menu``, QMainWindow's createPopupMenu), its items enabled."""
    from widgets.common import column_menu

    menus = [
        ("an order's", window.blotter_view.context_menu_for(order(1))),
        ("a watched symbol's", window.watchlist_view.context_menu_for("SAP@IBIS:EUR")),
        ("a project's position", window.positions_view.context_menu_for(position("AAPL"), "Alpha")),
        ("an unassigned position", window.positions_view.context_menu_for(position("AAPL", project_id=None),
                                                                          "Alpha", unassigned=True)),
        ("a short position", window.positions_view.context_menu_for(position("AAPL", quantity="-5"), "Alpha")),
        ("a panel's title bar", window.createPopupMenu()),
    ]
    tables = [t for t in window.findChildren(QTableView)
              if t.horizontalHeader().contextMenuPolicy() == Qt.ContextMenuPolicy.CustomContextMenu]
    assert len(tables) >= 8, [t.objectName() for t in tables]  # the blotter, fills, preview, risk, audit, ...
    menus += [(f"the columns of {t.model().__class__.__name__}", column_menu(t)) for t in tables]
    return menus


def test_every_item_of_every_context_menu_has_a_mnemonic_of_its_own(qtbot, tmp_path):
    from app.main_window import MainWindow

    window = MainWindow(mode="demo", ui_state_file=tmp_path / "ui-state.ini")
    qtbot.addWidget(window)
    menus = _context_menus(window)
    problems = [p for title, menu in menus for p in mnemonic_problems(title, menu.actions())]
    assert problems == []
    # what the trader named shows as named, its "&" no key: a project "R&D", a listing key
    flatten = [a.text() for a in window.positions_view.context_menu_for(position("AAPL"), "R&D").actions()
               if shown_text(a.text()).startswith("Flatten")]
    assert [shown_text(t) for t in flatten] == [f"Flatten: AAPL of R&D ({Decimal(10)} held)…"]
    buy = window.watchlist_view.context_menu_for("M&M").actions()[0].text()
    assert shown_text(buy) == "Buy M&M…" and "M&&M" in buy


def test_a_monitors_context_menus_have_a_mnemonic_each_too(qtbot, tmp_path):
    """Its blotter's menu has Cancel and Replace off, its title bars' menu fewer panels."""
    from app.main_window import MainWindow

    window = MainWindow(mode="paper", ui_state_file=tmp_path / "ui-state.ini", monitor=True)
    qtbot.addWidget(window)
    problems = [p for title, menu in _context_menus(window) for p in mnemonic_problems(title, menu.actions())]
    assert problems == []


def test_titles_not_ours_get_a_key_each_an_earlier_one_moving_to_free_a_later_ones_only():
    """A table's columns: a word's first letter when free, a sign when a title has no letter
    ("#"), a literal "&" never a key, and an earlier title's key moved when a later one has no
    other (the TCA panel's "Backtest shortfall" found every one of its letters taken)."""
    from widgets.common import with_free_mnemonics

    assert with_free_mnemonics(["Side", "Symbol"]) == ["&Side", "S&ymbol"]
    assert with_free_mnemonics(["#", "P&&L", "Pa"], taken={"A"}) == ["&#", "P&&&L", "&Pa"]
    assert [shown_text(t) for t in with_free_mnemonics(["#", "P&&L", "Pa"], taken={"a"})] == ["#", "P&L", "Pa"]
    assert with_free_mnemonics(["ab", "b", "a"]) == ["&ab", "&b", "a"]  # no key left for the last: as it is
