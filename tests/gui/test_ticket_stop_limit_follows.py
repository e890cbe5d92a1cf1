"""A STP LMT's limit left as the ticket suggested it (0.5 % beyond the stop:
services.core.replace_rules.suggested_stop_limit) follows the stop the trader moves, by the keys
or by typing: it stayed beyond the stop first suggested, so a SELL's stop moved down below it
left the limit above the new stop, and the triggered order waited for a climb back. A limit the
trader typed is never changed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from services.core.replace_rules import suggested_stop, suggested_stop_limit

MARKET, TICK = Decimal("229.33"), Decimal("0.01")
SIDES = ("BUY", "SELL")


@pytest.fixture
def ticket(qtbot):
    from widgets.dialogs.order_ticket import OrderTicketDialog

    dialog = OrderTicketDialog()
    qtbot.addWidget(dialog)
    dialog.symbol_edit.setText("AAPL")
    dialog.amount_edit.setText("10")
    dialog.side_combo.setCurrentText("SELL")
    dialog.type_combo.setCurrentText("STP LMT")
    # as the desk controller suggests them from a quote (TicketQuote.suggested_stops / _stop_limits)
    stops = {side: suggested_stop(side, MARKET, TICK) for side in SIDES}
    dialog.show_quote("AAPL 229.33", TICK)
    dialog.suggest_prices(MARKET, stops=stops,
                          stop_limits={side: suggested_stop_limit(side, stops[side], TICK) for side in SIDES})
    assert (dialog.stop_box.text(), dialog.limit_box.text()) == ("227.03", "225.89")
    return dialog


def _typed(box, keys: str) -> None:
    box.selectAll()
    QTest.keyClicks(box, keys)


def _beyond(side: str, stop: str) -> Decimal | None:
    return suggested_stop_limit(side, Decimal(stop), TICK)


def test_a_suggested_limit_follows_the_stop_stepped_by_the_keys(ticket):
    ticket.stop_box.setFocus()
    QTest.keyClick(ticket.stop_box, Qt.Key.Key_PageDown)
    assert ticket.stop_box.text() == "226.93"
    assert ticket.limit_box.price() == _beyond("SELL", "226.93") == Decimal("225.79")


def test_a_suggested_limit_follows_the_stop_typed_and_the_side_and_type_after_it(ticket):
    _typed(ticket.stop_box, "220")
    assert ticket.limit_box.price() == _beyond("SELL", "220") == Decimal("218.90")
    ticket.side_combo.setCurrentText("BUY")  # the typed stop stays; the limit goes beyond it for a BUY
    assert ticket.stop_box.text() == "220"
    assert ticket.limit_box.price() == _beyond("BUY", "220") == Decimal("221.10")
    ticket.side_combo.setCurrentText("SELL")
    assert ticket.limit_box.price() == Decimal("218.90")
    # a LMT's limit is at the market; back to STP LMT, beyond the stop as it is now
    ticket.type_combo.setCurrentText("LMT")
    assert ticket.limit_box.price() == MARKET
    ticket.type_combo.setCurrentText("STP")
    _typed(ticket.stop_box, "225")
    ticket.type_combo.setCurrentText("STP LMT")
    assert ticket.limit_box.price() == _beyond("SELL", "225") == Decimal("223.87")


def test_a_limit_the_trader_typed_never_follows_the_stop(ticket):
    _typed(ticket.limit_box, "224.50")
    ticket.stop_box.setFocus()
    QTest.keyClick(ticket.stop_box, Qt.Key.Key_Down)
    _typed(ticket.stop_box, "220")
    ticket.side_combo.setCurrentText("BUY")
    ticket.side_combo.setCurrentText("SELL")
    assert ticket.limit_box.text() == "224.50"
    assert ticket.fields()["limit_price"] == "224.50"
