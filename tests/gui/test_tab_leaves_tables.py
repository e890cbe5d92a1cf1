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
