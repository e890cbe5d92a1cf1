"""The order ticket's price fields read a price by the services' one rule for typed numbers,
whatever the desktop's locale: the field keeps what was typed, the ticket's service reads it
(services.execution.manual.Ticket.of, typed_decimal), and a decimal comma is refused with the
field named. They were QDoubleSpinBoxes, which read the text by the locale: 415,75 typed on an
English desktop became a limit of 41575, and no price was read at all on a German desktop."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import QLocale, Qt
from PySide6.QtTest import QTest


@pytest.fixture(params=["en_US", "de_DE"])
def ticket(qtbot, request):
    from widgets.dialogs.order_ticket import OrderTicketDialog

    before = QLocale()
    QLocale.setDefault(QLocale(request.param))
    try:
        dialog = OrderTicketDialog()
        qtbot.addWidget(dialog)
        dialog.symbol_edit.setText("AAPL")
        dialog.amount_edit.setText("10")
        dialog.type_combo.setCurrentText("LMT")
        yield dialog
    finally:
        QLocale.setDefault(before)


def _typed(box, keys: str) -> None:
    box.clear()
    QTest.keyClicks(box, keys)
    QTest.keyClick(box, Qt.Key.Key_Tab)  # leave the field: nothing rewrites it


def test_a_price_typed_is_the_price_the_service_reads(ticket):
    from services.execution.manual import Ticket

    _typed(ticket.limit_box, "415.75")
    fields = ticket.fields()
    assert ticket.limit_box.text() == "415.75" and fields["limit_price"] == "415.75"
    order = Ticket.of(fields["symbol"], fields["side"], quantity=fields["quantity"], order_type=fields["order_type"],
                      limit_price=fields["limit_price"])
    assert order.limit_price == Decimal("415.75")


def test_a_decimal_comma_is_kept_and_refused_by_the_service_with_the_field_named(ticket):
    from services.execution.errors import BadInput
    from services.execution.manual import Ticket

    _typed(ticket.limit_box, "415,75")
    fields = ticket.fields()
    assert ticket.limit_box.text() == "415,75" and fields["limit_price"] == "415,75"
    with pytest.raises(BadInput, match=r"limit price: not a number: '415,75' \(commas only group thousands"):
        Ticket.of(fields["symbol"], fields["side"], quantity=fields["quantity"], order_type=fields["order_type"],
                  limit_price=fields["limit_price"])
    _typed(ticket.limit_box, "1,415.75")  # grouped as the window shows amounts
    assert ticket.limit_box.price() == Decimal("1415.75")


def test_a_minus_is_kept_and_refused_by_the_service_not_dropped(ticket):
    """The field's validator swallowed a typed minus: a limit typed -415.75 went to the check as
    415.75, a price the trader did not type. Kept, the service refuses it with the field named."""
    from services.execution.errors import BadInput
    from services.execution.manual import Ticket

    _typed(ticket.limit_box, "-415.75")
    fields = ticket.fields()
    assert ticket.limit_box.text() == "-415.75" and fields["limit_price"] == "-415.75"
    assert ticket.limit_box.price() is None
    with pytest.raises(BadInput, match=r"limit price: must be a number > 0: '-415.75'"):
        Ticket.of(fields["symbol"], fields["side"], quantity=fields["quantity"], order_type=fields["order_type"],
                  limit_price=fields["limit_price"])


def test_an_exponent_is_kept_and_refused_by_the_service_not_read_as_a_price(ticket):
    """A price typed 1e3: the field swallowed the e, and 13 went to the check; a quantity typed
    1e3 was read as 1,000 shares. Both are kept as typed and refused in the words of every
    bound (services.core.typed_numbers.must_be_said), the field named."""
    from services.execution.errors import BadInput
    from services.execution.manual import Ticket

    _typed(ticket.limit_box, "1e3")
    ticket.amount_edit.setText("1E3")
    fields = ticket.fields()
    assert ticket.limit_box.text() == "1e3" and fields["limit_price"] == "1e3"
    assert ticket.limit_box.price() is None  # no price to step from, none suggested over it
    with pytest.raises(BadInput, match=r"^limit price: must be a number in digits, without an exponent: '1e3'$"):
        Ticket.of(fields["symbol"], fields["side"], quantity="10", order_type=fields["order_type"],
                  limit_price=fields["limit_price"])
    with pytest.raises(BadInput, match=r"^quantity: must be a number in digits, without an exponent: '1E3'$"):
        Ticket.of(fields["symbol"], fields["side"], quantity=fields["quantity"], order_type="MKT")
    _typed(ticket.limit_box, "1000")
    assert ticket.limit_box.price() == Decimal(1000)


def test_the_keys_step_a_price_by_the_listings_tick(ticket):
    box = ticket.limit_box
    box.set_tick(Decimal("0.05"))
    box.set_price(Decimal("100.12"))  # off the grid: the first step goes onto it
    assert box.text() == "100.12"
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_Up)
    assert box.text() == "100.15"
    QTest.keyClick(box, Qt.Key.Key_Up)
    assert box.text() == "100.20"
    QTest.keyClick(box, Qt.Key.Key_PageDown)
    assert box.text() == "99.70"
    box.set_price(Decimal("100.12"))
    QTest.keyClick(box, Qt.Key.Key_Down)
    assert box.text() == "100.10"
    box.set_price(Decimal("0.05"))
    QTest.keyClick(box, Qt.Key.Key_Down)
    assert box.text() == "0.05"  # never to zero
    QTest.keyClicks(box, "x")
    assert box.text() == "0.05"  # not a number's key
