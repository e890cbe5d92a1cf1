"""Keyboard only: Tab leaves a table for the next control. Seen under Xvfb: Qt's QTableView
moves Tab from cell to cell, so Tab reached the Fills panel and stayed there, one cell at a time
(36 fills of 7 columns: 252 Tabs to get out), and the blotter, Cancel All and Halt after it were
out of reach from the keyboard. The tables select whole rows and edit nothing: the arrows move
within them."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QVBoxLayout, QWidget

from widgets.common import make_table

pytestmark = pytest.mark.timeout(60)


def _rows(count: int, columns: int) -> QStandardItemModel:
    model = QStandardItemModel(0, columns)
    for row in range(count):
        model.appendRow([QStandardItem(f"{row}.{column}") for column in range(columns)])
    return model


def _tab_in(qtbot, window: QWidget, table) -> str:
    """What has the focus after Tab is pressed in ``table`` (a row chosen in it), shown in ``window``."""
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)
    table.setCurrentIndex(table.model().index(0, 0))
    QTest.keyClick(table, Qt.Key.Key_Tab)
    focused = QApplication.focusWidget()
    return "the table" if focused is table else type(focused).__name__


def test_tab_leaves_a_record_table_for_the_next_control(qtbot):
    form = QWidget()
    qtbot.addWidget(form)
    layout = QVBoxLayout(form)
    before = QLineEdit(form)  # the focus chain follows the order the widgets joined the form
    table = make_table(_rows(5, 7), form)
    after = QPushButton("Cancel All", form)
    for widget in (before, table, after):
        layout.addWidget(widget)
    assert _tab_in(qtbot, form, table) == "QPushButton"


@pytest.mark.parametrize("name", ["metrics_table", "rebalances_table"])
def test_tab_leaves_the_backtest_results_tables(qtbot, name):
    from widgets.views.backtest import BacktestView

    view = BacktestView()
    qtbot.addWidget(view)
    table = getattr(view, name)
    table.setRowCount(3)
    view.results_tabs.setCurrentWidget(table)
    assert _tab_in(qtbot, view, table) != "the table"


def test_tab_from_the_preview_table_goes_to_the_first_field_not_the_forms_scroll_area(qtbot):
    """Seen under Xvfb: a Tab stop with nothing to show and nothing to do (the form's scroll
    area) sat between the preview's table and Portfolio value."""
    from widgets.models.preview import PreviewOrdersModel
    from widgets.views.preview import PreviewView

    view = PreviewView(PreviewOrdersModel())
    qtbot.addWidget(view)
    with qtbot.waitActive(view):
        view.show()
        view.activateWindow()
    view.table.setFocus()
    qtbot.waitUntil(view.table.hasFocus)
    QTest.keyClick(view.table, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is view.portfolio_edit, f"Tab went to {type(QApplication.focusWidget()).__name__}"


def test_enter_on_a_rebalance_opens_its_decision_trail_as_a_double_click_does_once(qtbot):
    """Keyboard only: a rebalance's decision trail opened on a double-click and nothing else, so a
    trader who reached the Rebalances table by Tab and chose a row with the arrows had no way to
    see why it traded. Enter (and Return) on the current row opens it; a double-click still does,
    once."""
    from widgets.views.backtest import BacktestView

    view = BacktestView()
    qtbot.addWidget(view)
    rebalances = [("2026-11-20", 8, "executed"), ("2026-11-23", 9, "executed")]
    view.show_results({"Demo momentum": {"final_equity": "101214.74", "total_return": 0.012, "cagr": 0.37,
                                         "volatility": 0.04, "sharpe": 7.2, "max_drawdown": -0.004, "turnover": 1.3,
                                         "commissions": "23", "orders": 23, "fills": 23, "risk_blocked": [],
                                         "equity": [], "drawdown": [], "rebalances": rebalances}}, None)
    view.results_tabs.setCurrentWidget(view.rebalances_table)
    asked: list[int] = []
    view.rebalance_activated.connect(asked.append)
    table = view.rebalances_table
    with qtbot.waitActive(view):
        view.show()
        view.activateWindow()
    table.setFocus()
    qtbot.waitUntil(table.hasFocus)
    table.setCurrentCell(1, 0)

    QTest.keyClick(table, Qt.Key.Key_Return)
    assert asked == [9]
    table.setCurrentCell(0, 0)
    QTest.keyClick(table, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    assert asked == [9, 8]

    cell = table.visualItemRect(table.item(1, 3)).center()
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, cell)
    QTest.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, cell)
    assert asked == [9, 8, 9]
