"""The order ticket opens with the typing where an order starts. Seen under Xvfb: the ticket,
closed after a send (the focus on Close) and opened again with F2, kept the focus on Close, so
the symbol the trader typed went nowhere and the Tabs after it landed one field off (a quantity
typed into the Shares / Amount box, an order type's letter into the amount)."""

from __future__ import annotations

from decimal import Decimal

import pytest


@pytest.fixture
def ticket(qtbot):
    from widgets.dialogs.order_ticket import OrderTicketDialog

    dialog = OrderTicketDialog()
    qtbot.addWidget(dialog)
    return dialog


def _close_button(dialog):
    from PySide6.QtWidgets import QPushButton

    (button,) = [b for b in dialog.findChildren(QPushButton) if b.text() == "Close"]
    return button


def test_reopened_the_ticket_types_into_the_symbol_not_the_button_it_was_closed_with(ticket, qtbot):
    ticket.show()
    qtbot.waitExposed(ticket)
    ticket.symbol_edit.setText("AAPL")
    ticket.amount_edit.setText("10")
    _close_button(ticket).setFocus()
    assert ticket.focusWidget() is _close_button(ticket)
    ticket.close()

    ticket.show()  # F2 again
    qtbot.waitExposed(ticket)
    assert ticket.focusWidget() is ticket.symbol_edit
    assert ticket.symbol_edit.selectedText() == "AAPL"  # the first key typed replaces the last symbol


def test_a_prefilled_ticket_types_into_the_amount(ticket, qtbot):
    """A position's Buy more / Flatten names the symbol: what is left to type is the amount."""
    ticket.show()
    qtbot.waitExposed(ticket)
    _close_button(ticket).setFocus()
    ticket.close()

    ticket.prefill(symbol="MSFT", side="SELL", quantity=Decimal(29))
    ticket.show()
    qtbot.waitExposed(ticket)
    assert ticket.focusWidget() is ticket.amount_edit and ticket.amount_edit.selectedText() == "29"

    # prefilled again while it is open (another position's Flatten): the amount again
    ticket.symbol_edit.setFocus()
    ticket.prefill(symbol="AAPL", side="SELL", quantity=Decimal(44))
    assert ticket.focusWidget() is ticket.amount_edit and ticket.amount_edit.selectedText() == "44"


def test_presented_while_open_the_ticket_types_into_the_symbol(ticket, qtbot):
    """F2 on the open ticket: show() on a shown dialog is no showEvent, and the focus stayed on
    Close, where the next symbol typed went nowhere."""
    ticket.present()
    qtbot.waitExposed(ticket)
    ticket.symbol_edit.setText("AAPL")
    _close_button(ticket).setFocus()

    ticket.present()  # F2 again, still open
    assert ticket.focusWidget() is ticket.symbol_edit and ticket.symbol_edit.selectedText() == "AAPL"

    # prefilled while open, then presented (a position's Buy more): the amount keeps the typing
    ticket.prefill(symbol="MSFT", side="BUY", quantity=Decimal(5))
    ticket.present()
    assert ticket.focusWidget() is ticket.amount_edit and ticket.amount_edit.selectedText() == "5"

    # closed after that prefill and opened with F2: the symbol, not the amount of the earlier prefill
    ticket.close()
    ticket.present()
    qtbot.waitExposed(ticket)
    assert ticket.focusWidget() is ticket.symbol_edit
