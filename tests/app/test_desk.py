"""The trader's desk in the real window against the simulator: the order ticket (F2) shows the
risk verdict and sends a paper order that fills; a ticket refused by risk or by market health
sends nothing; Flatten on a project's position opens the ticket prefilled with that project's
shares; the watchlist streams quotes with their data type and is remembered in the settings;
the account panel shows NetLiquidation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from services.domain import OrderState, PositionRecord, Quote
from services.execution.account import AccountSummary
from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from tests.fixtures.menus import shown_text
from widgets.dialogs.order_ticket import TYPE_AN_ORDER


def _ticket_verdict(dialog) -> str:
    return dialog.verdict_label.text()


def test_ticket_shows_the_verdict_then_fills_a_paper_order(qloop, open_console):
    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            sim.set_price("AAPL", "100")
            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            assert dialog is not None and dialog.isVisible()
            QTest.keyClicks(dialog.symbol_edit, "aapl")
            dialog.symbol_edit.editingFinished.emit()
            dialog.amount_edit.setText("7")
            dialog.amount_edit.textEdited.emit("7")
            dialog.type_combo.setCurrentText("LMT")
            await wait_for(lambda: "tick 0.01" in dialog.quote_label.text(), 10, "the quote and tick")
            dialog.limit_box.set_price(Decimal("100.25"))
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            assert _ticket_verdict(dialog).startswith("Risk: passed.")
            assert "7 AAPL LMT 100.25 DAY" in _ticket_verdict(dialog)
            assert dialog.send_button.text() == "Send BUY 7 AAPL"
            assert sim.orders() == []  # the verdict came first: nothing sent yet
            dialog.send_button.click()
            await wait_for(lambda: any(o.status == "Filled" for o in sim.orders()), 30,
                           lambda: f"the simulator's fill: {_ticket_verdict(dialog)} / {w.statusBar().currentMessage()} / {sim.orders()}")
            await wait_for(lambda: any(o.symbol == "AAPL" and o.status is OrderState.FILLED for o in w.orders_model.records()),
                           10, "the blotter shows it FILLED")
            # the order as it went, in the ticket and the activity log (it said "Sent BUY AAPL")
            [order] = sim.orders()
            [sent] = [o for o in w.orders_model.records() if o.client_order_id == order.order_ref]
            # in the service's words (SentTicket.line), the `order` command's first line too
            said = f"Sent BUY 7 AAPL LMT 100.25 DAY: run {sent.run_id}, order {sent.client_order_id}"
            assert _ticket_verdict(dialog) == said
            assert [e.text for e in w.activity_log.entries() if e.text.startswith("Sent ")] == [said]
            # its details, as the blotter's double-click opens them: the history and the fill as read
            w.blotter_view.details_requested.emit(sent.id)
            orders = console.controller.orders
            await wait_for(lambda: orders.details_dialog is not None, 10, "the order's details")
            details = orders.details_dialog
            history = [details.events_table.item(r, 1).text() for r in range(details.events_table.rowCount())]
            assert details.windowTitle() == f"Order {sent.client_order_id}" and "submitted" in history, history
            assert details.fills_model.rowCount() >= 1
            details.close()
            assert (order.action, order.quantity, order.order_type, order.limit_price) == ("BUY", Decimal(7), "LMT", Decimal("100.25"))
            # closed and opened again: the last order's outcome is not the reopened ticket's news
            dialog.reject()
            assert console.controller.desk.open_ticket() is dialog
            assert _ticket_verdict(dialog) == TYPE_AN_ORDER
            # its amount emptied: the order just sent is not offered again at one click
            assert dialog.amount_edit.text() == "" and dialog.symbol() == "AAPL" and not dialog.send_button.isEnabled()
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_reopened_ticket_shows_the_verdict_of_the_fields_it_kept(qloop, open_console):
    """Closed during the typing's pause, the ticket kept its fields but asked no verdict (a
    closed ticket checks nothing); reopened, it showed them under the prompt, Send off, until
    something was edited. Reopened now, the fields it shows are checked again."""

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            sim.set_price("AAPL", "100")
            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            QTest.keyClicks(dialog.symbol_edit, "aapl")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: "tick 0.01" in dialog.quote_label.text(), 10, "the quote")
            dialog.amount_edit.setText("3")
            dialog.amount_edit.textEdited.emit("3")
            dialog.close()  # before the pause's check: none asked
            assert _ticket_verdict(dialog) == TYPE_AN_ORDER and not dialog.send_button.isEnabled()
            w.ticket_action.trigger()  # reopened on AAPL, 3 shares
            assert console.controller.desk.ticket is dialog and dialog.amount_edit.text() == "3"
            await wait_for(lambda: dialog.send_button.isEnabled(), 10,
                           lambda: f"the reopened fields' verdict: {_ticket_verdict(dialog)!r}")
            assert _ticket_verdict(dialog).startswith("Risk: passed.") and dialog.send_button.text() == "Send BUY 3 AAPL"
            assert sim.orders() == []  # checked, nothing sent
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_open_tickets_projects_include_one_an_import_made(qloop, open_console, tmp_path):
    """The ticket's project list was read at its opening only: a snapshot imported into a new
    project while it was open (this window's import, or one elsewhere that the change feed
    lists) left the project out of it until the ticket was opened again. The project chosen
    stays."""
    targets = tmp_path / "hedges.csv"
    targets.write_text("symbol,weight\nAAPL,0.05\n")

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            combo = dialog.project_combo
            chosen = combo.currentText()
            assert chosen and "Hedges" not in [combo.itemText(i) for i in range(combo.count())]
            assert (await console.controller.import_snapshot(str(targets), "Hedges")).created
            assert "Hedges" in [combo.itemText(i) for i in range(combo.count())]
            assert combo.currentText() == chosen
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_tickets_quote_follows_the_stream_while_it_is_open(qloop, open_console):
    """The ticket showed its listing's price of the moment the symbol was typed and never again
    (seen under Xvfb: the demo simulator moved AAPL, the ticket stayed at 229.24). Now the
    listing streams while the ticket shows it, without joining the watchlist; ticks reach the
    label coalesced (one repaint for a burst); closing the ticket ends the stream."""

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        desk, provider = console.controller.desk, console.stack.provider
        try:
            sim.set_price("IBM", "200")
            w.ticket_action.trigger()  # F2
            dialog = desk.ticket
            QTest.keyClicks(dialog.symbol_edit, "ibm")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: provider.streamed_quote("IBM") is not None, 10, "the ticket's listing streamed")
            sim.set_price("IBM", "205")
            await wait_for(lambda: "Bid 204.99 × Ask 205.01" in dialog.quote_label.text(), 10,
                           lambda: f"the ticket follows the tick: {dialog.quote_label.text()!r}")
            assert "live data · tick 0.01" in dialog.quote_label.text()
            # streamed for the ticket, not put on the watchlist
            assert w.quotes_model.rowCount() == 0 and desk.settings_part.settings.ui.watchlist == ()

            shown: list[str] = []
            original = dialog.show_quote
            dialog.show_quote = lambda text, tick=None: (shown.append(text), original(text, tick))
            for cents in range(1, 51):  # a burst of ticks as a busy listing sends them
                desk._on_quote(Quote("IBM", Decimal("205") + Decimal(cents) / 100, Decimal("205.60"), Decimal("205.55")))
            assert shown == []  # not one repaint per tick
            await wait_for(lambda: "Bid 205.50 × Ask 205.60" in dialog.quote_label.text(), 5, "the burst's last tick")
            assert len(shown) == 1, shown

            dialog.close()
            await wait_for(lambda: provider.streamed_quote("IBM") is None, 10, "the stream ended with the ticket")

            # reopened on its symbol it follows again; a listing also watched keeps streaming for
            # the watchlist when the ticket closes, until it is unwatched too
            w.ticket_action.trigger()
            await wait_for(lambda: provider.streamed_quote("IBM") is not None, 10, "streamed again for the reopened ticket")
            await desk.add("IBM")
            dialog.close()
            sim.set_price("IBM", "207")
            await wait_for(lambda: (q := w.quotes_model.get("IBM")) is not None and q.bid == Decimal("206.99"), 10,
                           "the watchlist's IBM still streams")
            await desk.remove("IBM")
            await wait_for(lambda: provider.streamed_quote("IBM") is None, 10, "no stream once nobody shows IBM")
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_new_symbol_starts_the_tickets_prices_at_its_own_price(qloop, open_console):
    """Seen under Xvfb: a limit price typed for AAPL (225) stayed in the ticket when the symbol
    became MSFT (at 414), then SAP@IBIS:EUR (at 198); the fields only started empty ones at the
    market. A price of another listing means nothing for this one: the fields start again at the
    new listing's price, and the verdict is of that price."""

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            sim.set_price("AAPL", "100")
            sim.set_price("MSFT", "400")
            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            dialog.type_combo.setCurrentText("LMT")
            dialog.amount_edit.setText("5")
            dialog.amount_edit.textEdited.emit("5")
            QTest.keyClicks(dialog.symbol_edit, "aapl")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: (p := dialog.limit_box.price()) is not None and abs(p - 100) < 1, 10,
                           lambda: f"AAPL's price suggested: {dialog.limit_box.text()!r}")
            dialog.limit_box.set_price(Decimal("99.50"))  # the trader's own limit for AAPL

            dialog.symbol_edit.clear()
            QTest.keyClicks(dialog.symbol_edit, "msft")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: dialog.quote_label.text().startswith("MSFT:"), 10, "MSFT's quote")
            await wait_for(lambda: (p := dialog.limit_box.price()) is not None and abs(p - 400) < 2, 10,
                           lambda: f"MSFT's price in the limit field, not AAPL's: {dialog.limit_box.text()!r}")
            assert 400 < dialog.stop_box.price() < 406  # a BUY's stop suggested above the market
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            assert f"5 MSFT LMT {dialog.limit_box.text()} DAY" in _ticket_verdict(dialog)

            # the same listing again keeps what the trader typed
            dialog.limit_box.set_price(Decimal("395"))
            await console.controller.desk.show_quote("MSFT")  # what editingFinished runs
            assert dialog.limit_box.text() == "395.00"
            await wait_for(lambda: "5 MSFT LMT 395.00 DAY" in _ticket_verdict(dialog), 10,
                           lambda: f"the verdict of the trader's price: {_ticket_verdict(dialog)}")
            assert sim.orders() == []
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_tickets_suggested_stop_is_away_from_the_market_on_the_side_it_guards(qloop, open_console):
    """Seen under Xvfb: a SELL 5 AAPL STP started at the market price (Stop price 229.35, the
    market 229.19) and the ticket noted "the market (229.19) is past the stop 229.35: it triggers
    at once". The suggested stop is now 1 % away on the protective side
    (services.core.replace_rules.suggested_stop): below the market for a SELL, above for a BUY,
    following the side while left as suggested; a stop the trader typed stays."""

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            sim.set_price("AAPL", "100")
            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            dialog.side_combo.setCurrentText("SELL")
            dialog.type_combo.setCurrentText("STP")
            dialog.amount_edit.setText("5")
            dialog.amount_edit.textEdited.emit("5")
            QTest.keyClicks(dialog.symbol_edit, "aapl")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: dialog.stop_box.price() is not None, 10, "AAPL's stop suggested")
            market = console.controller.desk._ticket_quote.price
            assert abs(market - 100) < 1
            sell_stop = dialog.stop_box.price()
            assert market - 2 < sell_stop < market and sell_stop % Decimal("0.01") == 0, (market, sell_stop)
            await wait_for(lambda: "Not sendable" in _ticket_verdict(dialog) or dialog.send_button.isEnabled(), 10,
                           lambda: f"a verdict: {_ticket_verdict(dialog)}")
            assert "triggers at once" not in _ticket_verdict(dialog)
            assert f"5 AAPL STP {dialog.stop_box.text()} DAY" in _ticket_verdict(dialog)

            dialog.side_combo.setCurrentText("BUY")  # the stop left as suggested follows the side
            buy_stop = dialog.stop_box.price()
            assert market < buy_stop < market + 2 and buy_stop % Decimal("0.01") == 0, (market, buy_stop)
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            assert "triggers at once" not in _ticket_verdict(dialog)
            dialog.side_combo.setCurrentText("SELL")
            assert dialog.stop_box.price() == sell_stop

            dialog.stop_box.set_price(Decimal("98.50"))  # the trader's own stop stays
            dialog.side_combo.setCurrentText("BUY")
            assert dialog.stop_box.text() == "98.50"
            assert sim.orders() == []
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_stop_limits_suggested_limit_is_beyond_its_stop_not_at_the_market(qloop, open_console):
    """A STP LMT's limit started at the market price: a SELL's limit above its suggested stop, so
    once the stop triggered (the market fallen to it) the limit order waited for a climb back and
    probably never filled; a BUY's below its stop alike. The limit is now suggested beyond the stop
    (services.core.replace_rules.suggested_stop_limit), following the side and the order type while
    left as suggested (a LMT's at the market again); a limit the trader typed stays."""

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            sim.set_price("AAPL", "100")
            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            dialog.side_combo.setCurrentText("SELL")
            dialog.type_combo.setCurrentText("STP LMT")
            dialog.amount_edit.setText("5")
            dialog.amount_edit.textEdited.emit("5")
            QTest.keyClicks(dialog.symbol_edit, "aapl")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: dialog.limit_box.price() is not None and dialog.stop_box.price() is not None, 10,
                           "AAPL's prices suggested")
            market = console.controller.desk._ticket_quote.price
            assert abs(market - 100) < 1
            sell_stop, sell_limit = dialog.stop_box.price(), dialog.limit_box.price()
            assert market - 3 < sell_limit < sell_stop < market and sell_limit % Decimal("0.01") == 0, \
                (market, sell_stop, sell_limit)
            await wait_for(lambda: "Not sendable" in _ticket_verdict(dialog) or dialog.send_button.isEnabled(), 10,
                           lambda: f"a verdict: {_ticket_verdict(dialog)}")
            assert "5 AAPL STP LMT" in _ticket_verdict(dialog)

            dialog.side_combo.setCurrentText("BUY")  # the prices left as suggested follow the side
            buy_stop, buy_limit = dialog.stop_box.price(), dialog.limit_box.price()
            assert market < buy_stop < buy_limit < market + 3, (market, buy_stop, buy_limit)
            dialog.type_combo.setCurrentText("LMT")  # a LMT's limit is at the market again
            assert dialog.limit_box.price() == market
            dialog.type_combo.setCurrentText("STP LMT")
            assert dialog.limit_box.price() == buy_limit
            dialog.side_combo.setCurrentText("SELL")
            assert (dialog.stop_box.price(), dialog.limit_box.price()) == (sell_stop, sell_limit)

            dialog.limit_box.set_price(Decimal("98.80"))  # the trader's own limit stays
            dialog.side_combo.setCurrentText("BUY")
            dialog.type_combo.setCurrentText("LMT")
            assert dialog.limit_box.text() == "98.80"
            assert sim.orders() == []
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_notional_ticket_sends_the_shares_the_trader_confirmed_though_the_price_moved(qloop, open_console):
    """The Send button names the shares of the check ("Send BUY 3 MSFT"); the price moves before
    the click: those 3 go, not the 4 the same notional would buy now."""
    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            sim.set_price("MSFT", "300")
            w.ticket_action.trigger()
            dialog = console.controller.desk.ticket
            QTest.keyClicks(dialog.symbol_edit, "msft")
            dialog.symbol_edit.editingFinished.emit()
            dialog.amount_kind.setCurrentText("Notional")
            dialog.amount_edit.setText("1000")
            dialog.amount_edit.textEdited.emit("1000")
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            assert dialog.send_button.text() == "Send BUY 3 MSFT"
            sim.set_price("MSFT", "240")
            dialog.send_button.click()
            await wait_for(lambda: any(o.status == "Filled" for o in sim.orders()), 30,
                           lambda: f"the simulator's fill: {_ticket_verdict(dialog)} / {sim.orders()}")
            [order] = sim.orders()
            assert (order.action, order.symbol, order.quantity) == ("BUY", "MSFT", Decimal(3))
        finally:
            await console.close()

    run(qloop, scenario())


def test_ticket_refused_by_risk_and_by_market_health_sends_nothing(qloop, open_console):
    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            dialog = console.controller.desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(20000)})
            await wait_for(lambda: "Not sendable" in _ticket_verdict(dialog), 10, lambda: f"a refusal: {_ticket_verdict(dialog)}")
            assert "max_order_quantity" in _ticket_verdict(dialog) and not dialog.send_button.isEnabled()
            # Ctrl+Enter sends only a passed verdict
            QTest.keyClick(dialog, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
            # the service refuses it too, whatever the window shows
            fields = dict(dialog.fields())
            assert await console.controller.desk.send(fields) is None
            assert "Not sent: blocked by risk" in _ticket_verdict(dialog) or "max_order_quantity" in _ticket_verdict(dialog)

            health = console.stack.engine.health
            await wait_for(lambda: health.status().healthy, 10, "the farms' OK")
            sim._sessions[console.stack.provider.client_id].error(-1, 2103, "Market data farm connection is broken:usfarm")
            await wait_for(lambda: not health.status().healthy, 10, "the 2103 notice")
            dialog.prefill(symbol="AAPL", side="BUY", quantity=Decimal(5))
            await wait_for(lambda: "market:" in _ticket_verdict(dialog), 10, lambda: f"the market's reason: {_ticket_verdict(dialog)}")
            assert "2103" in _ticket_verdict(dialog) and not dialog.send_button.isEnabled()
            assert await console.controller.desk.send(dialog.fields()) is None
            assert "market is not healthy" in _ticket_verdict(dialog)
            assert sim.orders() == []
            assert w.statusBar().currentMessage().startswith("Order not sent")
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_ticket_quantity_beyond_its_bound_is_said_as_every_number_option_says_it(qloop, open_console):
    """The ticket said "Quantity must be a positive number, got '0'" and "quantity must be whole
    shares, got 1.5" where `order --quantity 0` says "must be a number > 0: '0'" (the service's
    words, services.execution.manual, shown as they are)."""
    async def scenario():
        console = await open_console()
        try:
            dialog = console.controller.desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(4)})
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            for typed, said in (("0", "quantity: must be a number > 0: '0'"),
                                ("1.5", "quantity: must be a whole number: '1.5'")):
                dialog.amount_edit.selectAll()  # typed over, as the trader does (textEdited asks the check)
                QTest.keyClicks(dialog.amount_edit, typed)
                await wait_for(lambda said=said: said in _ticket_verdict(dialog), 10,
                               lambda: f"the quantity's refusal: {_ticket_verdict(dialog)}")
                assert not dialog.send_button.isEnabled()
            assert console.sim.orders() == []
        finally:
            await console.close()

    run(qloop, scenario())


def test_flatten_opens_the_ticket_with_what_the_project_holds_once_its_working_orders_fill(qloop, open_console):
    """Seen under Xvfb in the demo: 29 AAPL held and a SELL 5 LMT working, Flatten prefilled a
    SELL 29, which the ticket's check read "position 24 → -5" and the short-sale rule blocked.
    Flatten offers what the project's book holds once its working orders in the listing fill
    (the services' rule, the ticket's count_working): SELL 24, which passes; the account's row
    offers none (a project's shares only); nothing is sent by a prefilled ticket."""
    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            sim.set_price("AAPL", "100")
            dialog = console.controller.desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(29)})
            name = dialog.fields()["project"]
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            dialog.send_button.click()
            await wait_for(lambda: any(o.status == "Filled" for o in sim.orders()), 30, lambda: f"the fill: {sim.orders()}")
            dialog.side_combo.setCurrentText("SELL")
            dialog.type_combo.setCurrentText("LMT")
            dialog.amount_edit.clear()
            QTest.keyClicks(dialog.amount_edit, "5")
            dialog.limit_box.clear()
            QTest.keyClicks(dialog.limit_box, "103")
            await wait_for(lambda: dialog.send_button.text() == "Send SELL 5 AAPL", 10,
                           lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            dialog.send_button.click()
            await wait_for(lambda: any(o.action == "SELL" and o.status in ("Submitted", "PreSubmitted") for o in sim.orders()), 30,
                           lambda: f"the sell resting: {sim.orders()}")
            dialog.reject()
            sent = len(sim.orders())

            model = w.positions_model
            await wait_for(lambda: any(r.symbol == "AAPL" and r.project_id is not None and r.quantity == 29
                                       for r in model.records()), 10, lambda: f"the project's 29 AAPL: {model.records()}")
            [held] = [r for r in model.records() if r.symbol == "AAPL" and r.project_id is not None]
            menu = w.positions_view.context_menu_for(held)
            flatten = next(a for a in menu.actions() if shown_text(a.text()).startswith("Flatten"))
            assert flatten.isEnabled() and shown_text(flatten.text()) == f"Flatten: AAPL of {name} (29 held)…"
            flatten.trigger()
            await wait_for(lambda: dialog.isVisible() and dialog.fields()["quantity"] == "24", 10,
                           lambda: f"the ticket on SELL 24: {dialog.isVisible()} {dialog.fields()}")
            fields = dialog.fields()
            assert (fields["symbol"], fields["side"], fields["project"]) == ("AAPL", "SELL", name)
            await wait_for(lambda: dialog.send_button.text() == "Send SELL 24 AAPL", 10,
                           lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            assert "position 24 → 0 in" in _ticket_verdict(dialog)
            assert len(sim.orders()) == sent  # a prefilled ticket: nothing is sent by itself

            now = datetime.now(UTC)
            account_row = PositionRecord(None, "DU1234567", "AAPL", Decimal(80), Decimal(100), Decimal(0), now)
            menu = w.positions_view.context_menu_for(account_row)
            assert not next(a for a in menu.actions() if shown_text(a.text()).startswith("Flatten")).isEnabled()
            [buy] = [a for a in menu.actions() if shown_text(a.text()).startswith("Buy more")]
            buy.trigger()
            assert dialog.fields()["side"] == "BUY"
        finally:
            await console.close()

    run(qloop, scenario())


def test_watchlist_streams_quotes_with_the_data_type_and_the_account_panel_shows_net_liquidation(qloop, open_console, ib_log_guard,
                                                                                            monkeypatch):
    ib_log_guard.allow(r"Error 200, .*NOPE")  # the unknown symbol, refused by the broker
    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        desk = console.controller.desk
        try:
            sim.set_price("MSFT", "400")
            w.watchlist_view.symbol_edit.setText("msft")
            w.watchlist_view.symbol_edit.returnPressed.emit()
            await wait_for(lambda: (q := w.quotes_model.get("MSFT")) is not None and q.bid is not None, 10, "MSFT quotes")
            quote = w.quotes_model.get("MSFT")
            assert (quote.bid, quote.ask, quote.kind) == (Decimal("399.99"), Decimal("400.01"), "live")
            assert w.watchlist_view.data_label.text() == "Market data: live"
            assert w.quotes_model.display_text(0, w.quotes_model.DATA) == "live"
            sim.set_price("MSFT", "410")
            await wait_for(lambda: w.quotes_model.get("MSFT").bid == Decimal("409.99"), 10, "the next tick")
            assert desk.settings_part.settings.ui.watchlist == ("MSFT",)
            # the ticket prices a watched listing from the same stream
            quote_text = (await desk.manual.quote_for("MSFT")).describe()
            assert "Bid 409.99 × Ask 410.01" in quote_text and "live data" in quote_text
            # ... and the preview's prices come from the same place (provider.market_prices)
            prices = await console.stack.provider.market_prices(["MSFT"])
            assert prices["MSFT"] == w.quotes_model.get("MSFT").price == Decimal(410)

            w.watchlist_view.symbol_edit.setText("NOPE")
            w.watchlist_view.symbol_edit.returnPressed.emit()
            await wait_for(lambda: "NOPE" in w.watchlist_view.message_label.text(), 10, "the refusal")
            assert w.quotes_model.get("NOPE") is None

            await desk.remove("MSFT")
            assert w.quotes_model.rowCount() == 0 and desk.settings_part.settings.ui.watchlist == ()

            await desk.refresh_account()
            await wait_for(lambda: w.account_view.value("Net liquidation") not in ("", "—"), 10,
                           lambda: f"NetLiquidation: {w.account_view.header_label.text()} {w.account_view.values.keys()}")
            assert w.account_view.value("Net liquidation").replace(",", "").startswith("1")
            assert "DU1234567" in w.account_view.header_label.text()
            assert w.account_view.value("Buying power") not in ("", "—")

            async def daily_pnl_shown():
                await desk.refresh_account()  # what the panel's timer does every few seconds
                return w.account_view.value("Daily P&L") not in ("", "—")

            await wait_for(daily_pnl_shown, 10, "the day's P&L (reqPnL)")
            # each group with the moment IB pushed it (tests/execution/test_account_moments.py)
            assert re.fullmatch(r"DU1234567 · USD · summary as of \d\d:\d\d:\d\d · P&L as of \d\d:\d\d:\d\d UTC",
                                w.account_view.header_label.text())
            # the figures' own time, in the service's words (AccountSummary.as_of, not the controller's)
            stamped = AccountSummary("DU1234567", "USD", {"NetLiquidation": Decimal(1)},
                                     summary_time=datetime(2026, 12, 1, 14, 3, 5, tzinfo=timezone(timedelta(hours=2))),
                                     pnl_time=datetime(2026, 12, 1, 14, 3, 33, tzinfo=timezone(timedelta(hours=2))))

            async def figures_of_then():
                return stamped

            monkeypatch.setattr(desk.account, "summary", figures_of_then)
            await desk.refresh_account()
            assert w.account_view.header_label.text() == f"DU1234567 · USD · {stamped.as_of()}"
            assert stamped.as_of() == "summary as of 12:03:05 · P&L as of 12:03:33 UTC"
        finally:
            await console.close()

    run(qloop, scenario())


# end to end: a real window (or the engine) against the simulator; left out by dev.py test --quick
pytestmark = pytest.mark.slow


def test_the_sent_line_comes_before_the_fill_of_an_order_that_fills_at_once(qloop, open_console):
    """The simulator fills a market order at once (its first part): the fill comes through the
    event stream while the send is still finishing. The activity log said the fill first and
    "Sent" after (the Sent line was written once the send returned); now it is written as the
    placeOrder is, before any answer of the broker is taken in. The send here returns only once
    the fill is in the log: the order of events that showed it, made certain."""
    from services.activity_log import Category

    async def scenario():
        console = await open_console()
        w, sim, desk = console.window, console.sim, console.controller.desk
        real_send = desk.manual.send

        async def send_returning_after_the_fill(*args, **kwargs):
            result = await real_send(*args, **kwargs)
            await wait_for(lambda: any(e.category is Category.FILL for e in w.activity_log.entries()), 10,
                           "the fill in the activity log")
            return result

        desk.manual.send = send_returning_after_the_fill
        try:
            sim.set_price("AAPL", "100")
            dialog = desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(4)})
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            dialog.send_button.click()
            await wait_for(lambda: _ticket_verdict(dialog).startswith("Sent "), 30,
                           lambda: f"the ticket's Sent line: {_ticket_verdict(dialog)}")
            said = [(e.category, e.text) for e in w.activity_log.entries()
                    if e.category is Category.FILL or e.text.startswith("Sent ")]
            # the Sent line, then the fills (the console's simulator fills in parts)
            assert [c for c, _ in said[:2]] == [Category.STATUS, Category.FILL], said
            assert all(c is Category.FILL for c, _ in said[1:]), said
            # one line per change set: "Fill: BUY 2 AAPL ..." or, both parts in one, "2 fills: BUY 2 AAPL ..."
            assert said[0][1].startswith("Sent BUY 4 AAPL MKT") and ": BUY " in said[1][1], said
        finally:
            desk.manual.send = real_send
            await console.close()

    run(qloop, scenario())


def test_f2_on_the_open_ticket_brings_the_typing_back_to_the_symbol(qloop, open_console):
    """Seen by a trader: F2 while the ticket was open raised it but left the focus where it was
    (Close, the order type), so the next symbol typed went nowhere. F2 on an open ticket puts the
    typing where opening it does: the Symbol, its text selected; a position's Buy more on the
    open ticket, the amount."""

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            dialog.symbol_edit.setText("AAPL")
            dialog.type_combo.setFocus()  # the trader went on down the form
            assert dialog.focusWidget() is dialog.type_combo
            w.ticket_action.trigger()  # F2 again, the ticket still open
            assert console.controller.desk.ticket is dialog and dialog.isVisible()
            assert dialog.focusWidget() is dialog.symbol_edit, dialog.focusWidget()
            assert dialog.symbol_edit.selectedText() == "AAPL"  # the first key typed replaces it

            # a position's Buy more on the open ticket: what is left to type is the amount
            console.controller.desk.open_ticket({"symbol": "MSFT", "side": "BUY", "quantity": Decimal(5)})
            assert dialog.focusWidget() is dialog.amount_edit and dialog.amount_edit.selectedText() == "5"
            w.ticket_action.trigger()  # then F2: a new order, from its symbol
            assert dialog.focusWidget() is dialog.symbol_edit and dialog.symbol_edit.selectedText() == "MSFT"

            # F2 typed in the ticket itself (seen under Xvfb: the window's shortcut, it did nothing there)
            dialog.activateWindow()
            await wait_for(lambda: QApplication.activeWindow() is dialog, 5, "the ticket the active window")
            dialog.type_combo.setFocus()
            QTest.keyClick(dialog.type_combo, Qt.Key.Key_F2)
            assert dialog.focusWidget() is dialog.symbol_edit, dialog.focusWidget()
            assert dialog.symbol_edit.selectedText() == "MSFT"
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_ticket_not_checked_or_not_confirmed_live_says_why_nothing_went(qloop, open_console, monkeypatch):
    """The ticket's two refusals of its own, before the service is asked, in the service's words
    beside its other "Not sent" lines (services.execution.manual): the window wrote them itself.
    A Send before any verdict, and a LIVE confirmation closed without the word (the real dialog,
    offscreen): nothing goes either way."""
    from PySide6.QtWidgets import QDialog

    from services.domain import TradeMode
    from services.execution.manual import ticket_live_not_typed, ticket_not_checked
    from services.live_word import LiveWord
    from widgets.dialogs.live_confirm import LiveConfirmDialog

    asked: list[str] = []

    def refuse(dialog):
        asked.append(dialog.windowTitle())
        dialog.reject()
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(LiveConfirmDialog, "exec", refuse)
    assert ticket_not_checked() == "Not sent: check the ticket first."
    assert ticket_live_not_typed() == "Not sent: LIVE was not typed."

    async def scenario():
        console = await open_console()
        desk, sim = console.controller.desk, console.sim
        try:
            sim.set_price("AAPL", "100")
            dialog = desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(7)})
            desk._last_check = None  # a Send before any verdict came
            desk._on_send_requested(dialog.fields())
            assert _ticket_verdict(dialog) == ticket_not_checked()
            await wait_for(lambda: desk._last_check is not None, 10, "the ticket's verdict")
            console.controller.ctx.live_word = LiveWord(TradeMode.LIVE)  # a LIVE session
            desk._on_send_requested(dialog.fields())
            assert asked and _ticket_verdict(dialog) == ticket_live_not_typed()
            assert sim.orders() == []
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_tickets_position_counts_a_working_sell_and_a_typed_exponent_is_refused(qloop, open_console):
    """Seen under Xvfb in the demo: 29 AAPL held and a SELL 5 LMT working, a second SELL 5 read
    "position 29 → 24"; a quantity typed 1e3 was checked as 1,000 shares. In the window, typed
    as a trader types: the position counts the working sell as filled, said so, and 1e3 is
    refused with the field named by its label's word."""
    async def scenario():
        console = await open_console()
        sim = console.sim
        try:
            sim.set_price("AAPL", "100")
            dialog = console.controller.desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(29)})
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            dialog.send_button.click()
            await wait_for(lambda: any(o.status == "Filled" for o in sim.orders()), 30, lambda: f"the fill: {sim.orders()}")
            dialog.side_combo.setCurrentText("SELL")
            dialog.type_combo.setCurrentText("LMT")
            dialog.amount_edit.clear()
            QTest.keyClicks(dialog.amount_edit, "5")
            dialog.limit_box.clear()
            QTest.keyClicks(dialog.limit_box, "103")
            await wait_for(lambda: dialog.send_button.text() == "Send SELL 5 AAPL", 10,
                           lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            assert "position 29 → 24 in" in _ticket_verdict(dialog)  # nothing working yet
            dialog.send_button.click()
            await wait_for(lambda: any(o.action == "SELL" and o.status in ("Submitted", "PreSubmitted") for o in sim.orders()), 30,
                           lambda: f"the sell resting: {sim.orders()}")

            dialog.type_combo.setCurrentText("MKT")
            QTest.keyClick(dialog.amount_edit, Qt.Key.Key_Backspace)
            QTest.keyClicks(dialog.amount_edit, "5")
            await wait_for(lambda: dialog.send_button.text() == "Send SELL 5 AAPL", 10,
                           lambda: f"a passed verdict: {_ticket_verdict(dialog)}")
            verdict = _ticket_verdict(dialog)
            assert re.search(r"position 24 → 19 in .*'s book \(29 held; counted as filled: 1 working order of this project: "
                             r"AAPL -5\)", verdict.replace("\n", " ")), verdict

            dialog.amount_edit.selectAll()
            QTest.keyClicks(dialog.amount_edit, "1e3")
            await wait_for(lambda: "must be" in _ticket_verdict(dialog), 10, lambda: f"a refusal: {_ticket_verdict(dialog)}")
            assert _ticket_verdict(dialog) == "quantity: must be a number in digits, without an exponent: '1e3'"
            assert dialog.amount_kind.currentText().lower() == "quantity" and not dialog.send_button.isEnabled()
        finally:
            await console.close()

    run(qloop, scenario())
