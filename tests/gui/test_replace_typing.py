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


def test_the_dialog_asks_for_the_verdict_of_what_is_typed_and_shows_only_that_one(qtbot):
    """After a pause in the typing it asks for the risk verdict of the replace as typed (the
    controller answers); a verdict of fields typed over since (a stale answer) is not shown,
    and Replace is on only while a passing verdict of the fields as they are is shown."""
    from decimal import Decimal

    dialog = ReplaceDialog(order(1, symbol="IBM", quantity="3", limit="208"))
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.check_requested) as asked:
        dialog.quantity_edit.setText("5")
    assert asked.args == [Decimal(5), Decimal(208), None]
    assert dialog.verdict_label.text() == "Checking the risk of this replace…" and not dialog.ok_button.isEnabled()
    dialog.quantity_edit.setText("6")  # typed again before the answer came
    dialog.show_check((Decimal(5), Decimal(208), None), True, [])
    assert not dialog.ok_button.isEnabled() and dialog.verdict_label.text() == "Checking the risk of this replace…"
    dialog.show_check((Decimal(6), Decimal(208), None), False, ["max_position_ratio: too big"])
    assert dialog.verdict_label.text() == "Not replaceable:\n• max_position_ratio: too big"
    assert not dialog.ok_button.isEnabled()
    dialog.accept()
    assert dialog.isVisible()  # Enter sends nothing the verdict blocked
    dialog.show_problem((Decimal(6), Decimal(208), None), "order 1: trading is HALTED")
    assert dialog.verdict_label.text() == "Not replaceable: order 1: trading is HALTED" and not dialog.ok_button.isEnabled()
    dialog.show_check((Decimal(6), Decimal(208), None), True, [])
    assert dialog.verdict_label.text() == "Risk: passed." and dialog.ok_button.isEnabled()


def test_a_long_verdict_grows_the_dialog_instead_of_squeezing_the_fields(qtbot):
    """Walked under Xvfb: three blocks squeezed the Quantity and Limit fields to slivers and cut
    the verdict's last line off; the dialog grows to hold them, as wide as it was."""
    from decimal import Decimal

    from PySide6.QtWidgets import QApplication

    from tests.gui.showing import shown

    dialog = shown(qtbot, ReplaceDialog(order(1, symbol="MSFT", quantity="20", limit="411")))
    width = dialog.width()
    dialog.quantity_edit.setText("500")
    reasons = [f"rule_{n}: MSFT: position after the trade 500 is 207.30% of the portfolio, above 20.00%" for n in range(3)]
    dialog.show_check((Decimal(500), Decimal(411), None), False, reasons)
    QApplication.processEvents()
    label = dialog.verdict_label
    assert dialog.width() == width
    for edit in (dialog.quantity_edit, dialog.limit_edit):
        assert edit.height() >= edit.sizeHint().height()
    assert label.geometry().bottom() <= dialog.height() and label.height() >= label.heightForWidth(label.width())
