"""Typing into the Replace dialog replaces the order's figure. Seen under Xvfb: the dialog opened
with the cursor after the quantity, nothing selected; a trader typing 5 for an order of 3 asked
for 35 (the Limit field, reached by Tab, was selected whole)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from widgets.dialogs.replace import ReplaceDialog

from .factories import order

pytestmark = pytest.mark.timeout(60)


def test_the_first_figure_typed_replaces_the_quantity_and_tab_then_the_limit(qtbot):
    dialog = ReplaceDialog(order(1, symbol="IBM", quantity="3", limit="208"))
    qtbot.addWidget(dialog)
    with qtbot.waitActive(dialog):
        dialog.show()
        dialog.activateWindow()
    QTest.keyClicks(QApplication.focusWidget(), "5")
    assert dialog.quantity_edit.text() == "5"
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    QTest.keyClicks(QApplication.focusWidget(), "207.5")
    assert dialog.limit_edit.text() == "207.5"
    assert dialog.hint_label.text().startswith("Replace sends: BUY 5 IBM LMT 207.50")
