"""A wheel over a choice (a combo box, a spin box) turns it only while the trader is in it.
Seen under Xvfb: scrolling the Backtest panel's form down past its end turned the Commission
under the pointer from ib-fixed to another rule, and the backtest ran with it; a wheel over the
order ticket's Side turns BUY to SELL the same way (Qt's default, ``widgets.common.
wheel_only_when_focused``). Unfocused, the wheel is left to what holds the choice: the form's
scroll area scrolls."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox


def _wheel_down(widget) -> bool:
    """A notch of the wheel down over ``widget``; whether it took it (else Qt hands it to its parents)."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def _focused(qtbot, window, widget) -> None:
    window.activateWindow()
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=5000)


def test_every_choice_of_the_window_turns_on_the_wheel_only_when_in_use(qtbot):
    from app.main_window import MainWindow

    window = MainWindow(mode="demo")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    choices = [*window.findChildren(QComboBox), *window.findChildren(QAbstractSpinBox)]
    assert len(choices) > 10
    # the wheel gives none of them the focus (it would then turn it)
    assert [c.objectName() or type(c).__name__ for c in choices if c.focusPolicy() == Qt.FocusPolicy.WheelFocus] == []

    window.bring_forward("backtest")
    commission = window.backtest_view.commission_combo
    before = commission.currentText()
    assert not commission.hasFocus()
    assert _wheel_down(commission) is False  # left to the form's scroll area
    assert commission.currentText() == before

    _focused(qtbot, window, commission)  # the trader in it: the wheel goes through its choices
    _wheel_down(commission)
    assert commission.currentText() != before


def test_a_wheel_over_the_tickets_side_leaves_buy_unless_the_trader_is_in_it(qtbot, ticket):
    side = ticket.side_combo
    assert side.currentText() == "BUY" and not side.hasFocus()
    _wheel_down(side)
    assert side.currentText() == "BUY"
    _focused(qtbot, ticket, side)
    _wheel_down(side)
    assert side.currentText() == "SELL"
