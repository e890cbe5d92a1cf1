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


def test_replace_and_close_stay_where_they_are_as_the_verdict_changes(qtbot):
    """Walked under Xvfb: each verdict resized the dialog to its lines, and Replace and Close
    moved up and down under the pointer as the trader typed (a check under way, a refusal with
    its reason, a pass, a figure mistyped)."""
    from decimal import Decimal

    from PySide6.QtCore import QPoint, QRect

    from tests.gui.showing import shown

    dialog = shown(qtbot, ReplaceDialog(order(1, symbol="MSFT", quantity="20", limit="411")))

    def buttons() -> list[QRect]:
        QApplication.processEvents()
        return [QRect(b.mapToGlobal(QPoint(0, 0)), b.size()) for b in (dialog.ok_button, dialog.close_button)]

    at_first = buttons()  # nothing changed yet: "Type a new quantity or price ..."
    seen = {}
    dialog.quantity_edit.setText("30")
    seen["checking"] = buttons()
    typed = (Decimal(30), Decimal(411), None)
    dialog.show_check(typed, False, [("max_position_ratio: MSFT: position after the trade 30 is 27.30% of the "
                                      "portfolio, above 20.00%")])
    seen["one reason"] = buttons()
    dialog.show_check(typed, False, ["max_position_ratio: position 27.30% above 20.00%", "max_order_notional: too big"])
    seen["two reasons"] = buttons()
    dialog.show_problem(typed, "MSFT: 411.003 is not on the price grid of 0.01")
    seen["a problem"] = buttons()
    dialog.show_check(typed, True, [])
    seen["passed"] = buttons()
    assert dialog.ok_button.isEnabled()
    dialog.quantity_edit.setText("3x")
    seen["mistyped"] = buttons()
    dialog.quantity_edit.setText("20")
    seen["back unchanged"] = buttons()
    moved = {what: rects for what, rects in seen.items() if rects != at_first}
    assert not moved, (at_first, moved)
    # a verdict longer than the room kept grows the dialog once; a shorter one after it leaves
    # the buttons where that one put them
    dialog.quantity_edit.setText("5000")
    typed = (Decimal(5000), Decimal(411), None)
    dialog.show_check(typed, False, [f"rule_{n}: MSFT: position after the trade 5,020 is 1160.32% of the "
                                     "portfolio, above 20.00%" for n in range(7)])
    after_long = buttons()
    assert after_long[0].top() > at_first[0].top()
    dialog.show_check(typed, True, [])
    assert buttons() == after_long
