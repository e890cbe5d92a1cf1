"""The order ticket's Symbol field shows the symbol as it is sent: typed "aapl" stayed "aapl" on
screen while the check, the verdict and Send said AAPL (``OrderTicketDialog.symbol`` upper-cases).
The field upper-cases as the trader types, the cursor where it was, so an edit in the middle of a
symbol goes on where it started; the watchlist's field, which adds the same listing keys, too."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest


def test_a_symbol_typed_in_lowercase_shows_as_it_is_sent(ticket):
    edited: list[str] = []
    ticket.symbol_edit.textEdited.connect(edited.append)
    QTest.keyClicks(ticket.symbol_edit, "aapl")
    assert ticket.symbol_edit.text() == "AAPL"
    assert ticket.fields()["symbol"] == ticket.symbol_edit.text()
    assert edited[-1] == "AAPL"  # the check the typing schedules reads what is shown
    QTest.keyClicks(ticket.symbol_edit, "@ibis:eur")
    assert ticket.symbol_edit.text() == "AAPL@IBIS:EUR" == ticket.fields()["symbol"]


def test_an_edit_in_the_middle_of_the_symbol_keeps_the_cursor_where_it_was(ticket):
    field = ticket.symbol_edit
    QTest.keyClicks(field, "sap:eur")
    field.setCursorPosition(3)  # after SAP
    QTest.keyClicks(field, "@ibis")
    assert field.text() == "SAP@IBIS:EUR"
    assert field.cursorPosition() == len("SAP@IBIS")
    QTest.keyClick(field, Qt.Key.Key_Backspace)
    QTest.keyClicks(field, "x")
    assert field.text() == "SAP@IBIX:EUR" and field.cursorPosition() == len("SAP@IBIX")


def test_a_prefilled_or_pasted_symbol_shows_upper_cased(ticket):
    ticket.prefill(symbol="msft")
    assert ticket.symbol_edit.text() == "MSFT" == ticket.fields()["symbol"]
    ticket.symbol_edit.clear()
    ticket.symbol_edit.insert("ibm")  # what a paste does
    assert ticket.symbol_edit.text() == "IBM"


def test_the_watchlist_field_shows_the_symbol_it_adds(qtbot):
    from widgets.models.quotes import QuotesModel
    from widgets.views.watchlist import WatchlistView

    view = WatchlistView(QuotesModel())
    qtbot.addWidget(view)
    added: list[str] = []
    view.add_requested.connect(added.append)
    QTest.keyClicks(view.symbol_edit, "sap@ibis:eur")
    assert view.symbol_edit.text() == "SAP@IBIS:EUR"
    QTest.keyClick(view.symbol_edit, Qt.Key.Key_Return)
    assert added == ["SAP@IBIS:EUR"]
