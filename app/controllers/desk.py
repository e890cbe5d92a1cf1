"""The trader's desk: the order ticket, the watchlist and the account panel. The rules are the
services': services.execution.manual (a ticket's check and send), services.execution.quotes (the
watched listings and their streams), services.execution.account (the figures); this shows them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QObject, QTimer

from app.controllers.audit import AuditController
from app.controllers.context import ConsoleContext
from app.controllers.newest import NewestAnswer
from services import console_settings
from services.activity_log import Level
from services.change_feed import TICKET_READING_AGAIN
from services.core.plans import order_totals
from services.domain import Quote
from services.execution.errors import ExecutionError
from services.execution.manual import (
    SentTicket,
    Ticket,
    TicketCheck,
    not_sent_line,
    ticket_live_not_typed,
    ticket_not_checked,
    ticket_not_sent,
)
from widgets.dialogs.order_ticket import OrderTicketDialog

log = logging.getLogger(__name__)

ACCOUNT_REFRESH_MS = 5_000  # the figures come from values IB pushes: reading them costs no request
# the ticket's quote follows its stream at most this often: a busy listing ticks many times a
# second, and a label repainted per tick would take the GUI thread from the trader's typing
TICKET_QUOTE_MS = 200


class DeskController:
    def __init__(self, ctx: ConsoleContext, audit: AuditController, settings_part, parent: QObject, *,
                 project_names: Callable[[], dict[int, str]],
                 on_run_sent: Callable[[int], Awaitable[object]] | None = None) -> None:
        self.ctx = ctx
        self.project_names = project_names  # id -> name of the known projects
        self.on_run_sent = on_run_sent  # a ticket's run went (its id): the run progress follows it
        self.audit = audit
        self.settings_part = settings_part  # holds the settings the watchlist is saved in
        self.ticket: OrderTicketDialog | None = None
        self._last_check = None  # the TicketCheck shown in the ticket
        # the ticket checks itself after each pause in the typing: the checks overlap, and only the
        # newest one's verdict is shown and is what Send confirms (an older one finishing last made
        # Send confirm an order other than the one on screen)
        self._check_asked = NewestAnswer()
        self._ticket_quote = None  # the TicketQuote shown in the ticket (follows the stream)
        self._priced_key: str | None = None  # the listing whose price the ticket's price fields hold
        self._ticket_tick: Quote | None = None  # the newest tick of its listing, not shown yet
        # listings streamed for the open ticket (QuoteBook.follow) -> the symbol choice that claimed it
        self._ticket_streams: dict[str, int] = {}
        self._ticket_choice = 0  # counts the ticket's symbol choices: an earlier one's late answer is dropped
        self._ticket_timer = QTimer(parent)
        self._ticket_timer.setSingleShot(True)
        self._ticket_timer.setInterval(TICKET_QUOTE_MS)
        self._ticket_timer.timeout.connect(self._show_ticket_tick)
        engine = ctx.stack.engine
        self.manual, self.quotes, self.account = engine.manual, engine.quotes, engine.account
        w = ctx.window
        w.ticket_requested.connect(self.open_ticket)
        w.positions_view.ticket_requested.connect(self._on_ticket_requested)
        w.watchlist_view.ticket_requested.connect(self.open_ticket)
        w.watchlist_view.add_requested.connect(self._on_add_requested)
        w.watchlist_view.remove_requested.connect(self._on_remove_requested)
        self._unsubscribe = [self.quotes.subscribe(self._on_quote)]
        self._account_timer = QTimer(parent)
        self._account_timer.setInterval(ACCOUNT_REFRESH_MS)
        self._account_timer.timeout.connect(self._on_account_tick)
        self._account_timer.start()

    def stop(self) -> list:
        self._account_timer.stop()
        self._ticket_timer.stop()
        if self.ticket is not None:
            self.ticket.close()
            # the window's teardown can still take the focus out of its symbol field (editingFinished):
            # no quote task after the stop, when the loop may be gone
            self.ticket.symbol_changed.disconnect()
        unsubscribe, self._unsubscribe = self._unsubscribe, []
        return unsubscribe

    async def load(self) -> None:
        """The watchlist remembered in the settings (streams start now when connected, else at
        the connect), and the account's figures."""
        saved = list(self.settings_part.settings.ui.watchlist)
        bad = self.quotes.watch_later(saved)
        # a symbol added while the start-up was loading keeps the quotes it already has
        model = self.ctx.window.quotes_model
        model.reset([model.get(key) or Quote(key) for key in self.quotes.keys])
        if bad:
            self.ctx.window.watchlist_view.show_message(f"Not watched (not a symbol): {', '.join(bad)}")
        if self.ctx.stack.provider.is_connected:
            refused = await self.quotes.start()
            if refused:
                self.ctx.window.watchlist_view.show_message("No quotes: " + "; ".join(refused))
            await self.refresh_account()

    # ------------------------------------------------------------------ the ticket
    def _on_ticket_requested(self, prefill: dict) -> None:
        if prefill.get("flatten"):  # its order is the services' to say: it counts the working orders
            self.ctx.runner.run(self.flatten(prefill["symbol"], prefill["project"]), what="Flatten")
        else:
            self.open_ticket(prefill)

    async def flatten(self, symbol: str, project: str) -> OrderTicketDialog | None:
        """The ticket prefilled with the order that takes ``project``'s book in ``symbol`` to
        zero once its working orders there fill (services.execution.manual: ManualOrders.flatten)."""
        try:
            order = await self.manual.flatten(symbol, project)
        except ExecutionError as exc:
            self.ctx.status(f"Flatten {symbol} of {project}: {exc}", 15_000, Level.WARNING)
            return None
        if order is None:
            self.ctx.status(f"Flatten: {symbol} of {project} is flat once its working orders fill", 15_000)
            return None
        side, quantity = order
        return self.open_ticket({"symbol": symbol, "side": side, "quantity": quantity, "project": project})

    def open_ticket(self, prefill: dict | None = None) -> OrderTicketDialog:
        if self.ticket is None:
            dialog = self.ticket = OrderTicketDialog(self.ctx.window)
            dialog.check_requested.connect(lambda fields: self.ctx.runner.run(self.check(fields), what="Check order"))
            dialog.send_requested.connect(self._on_send_requested)
            dialog.symbol_changed.connect(lambda symbol: self.ctx.runner.run(self.show_quote(symbol), what="Quote"))
            dialog.finished.connect(self._on_ticket_closed)
            # F2 typed in the ticket itself is the window's F2 too: the action's shortcut (a
            # window shortcut) was the main window's alone, and F2 in the ticket did nothing
            dialog.addAction(self.ctx.window.ticket_action)
        dialog = self.ticket
        listed, shown = self._projects()
        # a prefilled project (a position's), else the one selected in the snapshots panel
        dialog.set_projects(listed, (prefill or {}).get("project") or shown)
        if prefill:
            if not dialog.isVisible():
                dialog.forget_sent()
            dialog.prefill(symbol=prefill.get("symbol", ""), side=prefill.get("side", "BUY"),
                           quantity=prefill.get("quantity"), project=prefill.get("project"))
        elif not dialog.isVisible():  # reopened on the fields it kept
            if dialog.symbol():  # its quote followed again
                self.ctx.runner.run(self.show_quote(dialog.symbol()), what="Quote")
            dialog.check_again()  # the fields it shows show their verdict (it kept none, or an old one)
        dialog.present()  # already open: raised, and the typing where an opening puts it
        return dialog

    def _projects(self) -> tuple[list[str], str | None]:
        """The projects the ticket offers (the database's, as the snapshots panel read them last)
        and the one the snapshots panel shows (None: none selected)."""
        names = self.project_names()
        return sorted(set(names.values())), names.get(self.ctx.window.snapshots_view.current_project_id() or -1)

    def show_projects(self) -> None:
        """The ticket's project list read again with the snapshots panel's (the database replaced
        under the window, a project made by an import): it kept the list of its opening, so a
        replaced database's projects stayed offered, and a project chosen from them was made anew
        by the send. A project chosen that is no longer listed gives way to the one the snapshots
        panel shows, as at the opening."""
        if self.ticket is None:
            return
        listed, shown = self._projects()
        chosen = self.ticket.project_combo.currentText().strip()
        self.ticket.set_projects(listed, chosen if chosen in listed else shown)

    async def show_quote(self, symbol: str) -> None:
        """The ticket's listing, its quote and its stream. Two of these can overlap (the symbol
        changed twice quickly): the later choice wins; an earlier one finishing last neither
        shows its quote nor keeps its stream."""
        if not symbol or self.ticket is None:
            return
        self._ticket_choice += 1
        choice = self._ticket_choice
        try:
            quote = await self.manual.quote_for(symbol)
        except ExecutionError as exc:
            if choice != self._ticket_choice:
                return
            self._ticket_quote = None
            self.ticket.show_quote(str(exc))
            await self._stream_for_ticket(None)
            return
        if choice != self._ticket_choice or self.ticket is None:
            return  # another symbol chosen meanwhile: its own task shows it
        self._ticket_quote = quote
        self.ticket.show_quote(quote.describe(), quote.tick)
        # a limit or stop price typed or suggested for another listing means nothing for this one
        # (AAPL's 225 stayed in the fields when the symbol became MSFT, at 414)
        self.ticket.suggest_prices(quote.price, replace=quote.key != self._priced_key, stops=quote.suggested_stops(),
                                  stop_limits=quote.suggested_stop_limits())
        self._priced_key = quote.key
        await self._stream_for_ticket(quote.key)

    async def _stream_for_ticket(self, key: str | None) -> None:
        """Stream the ticket's listing while it shows it (watched or not), and no other."""
        for old in set(self._ticket_streams) - {key}:
            del self._ticket_streams[old]
            await self.quotes.unfollow(old)
        if key is None or (key in self._ticket_streams and not self.quotes.is_refused(key)):
            return  # (a stream IB refused or ended since is asked again: the symbol typed again)
        # claimed before the wait for IB's answer: a later choice made meanwhile releases it here
        # (claimed only after, it was in no one's hands and streamed until the ticket closed)
        choice = self._ticket_streams[key] = self._ticket_choice
        try:
            await self.quotes.follow(key)
        except ExecutionError as exc:  # the quote shown stays, as of the ticket's opening, and says so
            if self._ticket_streams.get(key) == choice:  # not a later choice's claim of the same listing
                del self._ticket_streams[key]
            log.warning("%s: the ticket's quote is not streamed (%s)", key, exc)
            shown = self._ticket_quote
            if self.ticket is not None and shown is not None and shown.key == key:
                self._ticket_quote = shown.not_followed(str(exc))
                self.ticket.show_quote(self._ticket_quote.describe())
            return
        if key not in self._ticket_streams:  # released by a later choice while it started
            await self.quotes.unfollow(key)

    def _on_ticket_closed(self, _result: int) -> None:
        self._ticket_choice += 1  # a quote task still running for the closed ticket shows and streams nothing
        self._ticket_quote = self._ticket_tick = None
        self._ticket_timer.stop()
        if self._ticket_streams:
            self.ctx.runner.run(self._stream_for_ticket(None), what="Quote")

    def forget_database(self) -> None:
        """The database was replaced under the window: the open ticket's verdict was checked
        against the old database's book (its positions, working orders and projects), and Send
        would send on it. Dropped, Send off, and a check still on its way too; asked again once
        the new database is read (``check_again``)."""
        self._check_asked.ask()
        self._last_check = None
        if self.ticket is not None and self.ticket.isVisible():
            self.ticket.forget_verdict(TICKET_READING_AGAIN)

    def check_again(self) -> None:
        """The replaced database is read (and reconciled): the open ticket's verdict asked anew."""
        if self.ticket is not None and self.ticket.isVisible():
            self.ticket.check_again()

    async def check(self, fields: dict):
        """The ticket's verdict (nothing stored, nothing sent)."""
        dialog = self.ticket
        asked = self._check_asked.ask()
        if self.ctx.reading_again:  # the old database's book, or a new one without its tables yet
            if dialog is not None:
                dialog.forget_verdict(TICKET_READING_AGAIN)
            return None
        try:
            check = await self.manual.check(Ticket.of(**fields))
        except ExecutionError as exc:
            if dialog is not None and self._check_asked.is_newest(asked):
                dialog.show_problem(fields, str(exc))
            return None
        if not self._check_asked.is_newest(asked):
            return check
        self._last_check = check
        if dialog is not None:
            dialog.show_check(fields, check.may_send, check.summary(), check.reasons(), check.action())
        return check

    def _on_send_requested(self, fields: dict) -> None:
        if self.ctx.refused_while_reading("Send"):
            return
        # what the trader saw and confirmed: exactly that goes, or nothing (the service refuses a
        # ticket that is not the one checked: ManualOrders.send)
        check = self._last_check
        if check is None:
            if self.ticket is not None:
                self.ticket.show_problem(fields, ticket_not_checked())
            return
        token = None
        if self.ctx.live_word.is_live:
            # a ticket adds risk: the word is asked again, for what is about to go (in the slot,
            # never inside a task: the dialog's nested event loop)
            totals = order_totals([check.draft])  # the one rule for a confirmation's figure
            token = self.ctx.ask_live_token("Send a LIVE order", totals.count, totals.gross_notional,
                                            about=check.confirm_rows(), currency=check.inputs.base_currency)
            if token is None:
                if self.ticket is not None:
                    self.ticket.show_problem(fields, ticket_live_not_typed())
                return
        self.ctx.runner.run(self.send(fields, token, check), what="Send order")

    async def send(self, fields: dict, live_token: str | None = None, confirmed: TicketCheck | None = None):
        """Check again and send through the run executor (services.execution.manual): with
        ``confirmed`` (the check shown), exactly its shares."""
        dialog = self.ticket
        # a check still on its way was asked before this send: its verdict must not come back over
        # the send's outcome and switch Send on again for the order just sent
        self._check_asked.ask()
        said: list[SentTicket] = []

        def say_sent(sent: SentTicket) -> None:
            # said as the placeOrder is written, before the broker's answers are taken in: said
            # once the send returned, a simulator or a marketable order filling at once had its
            # fill in the activity log above its "Sent" line
            said.append(sent)
            self.ctx.status(sent.line())

        try:
            result = await self.manual.send(Ticket.of(**fields), live_token, confirmed=confirmed, on_sent=say_sent)
        except ExecutionError as exc:
            if dialog is not None:
                dialog.show_problem(fields, ticket_not_sent(exc))
            self.ctx.status(not_sent_line(exc), 15_000)  # the service's words, the `order` command's too
            self.audit.schedule_refresh()
            return None
        if dialog is not None:
            # the order as it went (the activity log is the session's record: "Sent BUY AAPL" had
            # neither the shares nor the limit), in the service's words, the `order` command's too
            dialog.show_sent(said[-1].line())
        self.audit.schedule_refresh()
        if self.on_run_sent is not None:  # a task of its own: a failure to read the progress is not the send's
            self.ctx.runner.run(self.on_run_sent(said[-1].run_id), what="Run progress")
        return result

    # ------------------------------------------------------------------ the watchlist
    def _on_add_requested(self, text: str) -> None:
        self.ctx.runner.run(self.add(text), what="Watch")

    async def add(self, text: str) -> str | None:
        view = self.ctx.window.watchlist_view
        try:
            spec = await self.quotes.watch(text)
        except ExecutionError as exc:
            view.show_message(str(exc))
            return None
        model = self.ctx.window.quotes_model
        if model.get(spec.key) is None:
            model.upsert([self.quotes.latest(spec.key) or Quote(spec.key)])
            model.flush()
        view.added(spec.key)
        await self._save_watchlist()
        return spec.key

    def _on_remove_requested(self, key: str) -> None:
        self.ctx.runner.run(self.remove(key), what="Unwatch")

    async def remove(self, key: str) -> None:
        await self.quotes.unwatch(key)  # its line freed: a listing refused for want of one streams
        self.ctx.window.quotes_model.remove(key)
        self.ctx.window.watchlist_view.show_message("")  # what an earlier add was told no longer holds
        await self._save_watchlist()

    async def _save_watchlist(self) -> None:
        part = self.settings_part
        part.settings = console_settings.with_watchlist(part.settings, self.quotes.keys)
        await part.save()

    def _on_quote(self, quote: Quote) -> None:
        if self.quotes.is_watched(quote.key):  # the ticket's own listing streams too, unlisted
            self.ctx.window.quotes_model.upsert([quote])  # coalesced: one repaint per flush, not per tick
            if quote.refused:  # the row says "refused"; the activity log says why
                self.ctx.status(quote.refused, 0, Level.WARNING)
        shown = self._ticket_quote
        if shown is not None and shown.key == quote.key:
            self._ticket_tick = quote  # coalesced: the newest one is shown at the timer
            if not self._ticket_timer.isActive():
                self._ticket_timer.start()

    def _show_ticket_tick(self) -> None:
        quote, self._ticket_tick = self._ticket_tick, None
        shown = self._ticket_quote
        if quote is None or shown is None or shown.key != quote.key or self.ticket is None or not self.ticket.isVisible():
            return
        self._ticket_quote = shown.with_quote(quote)
        self.ticket.show_quote(self._ticket_quote.describe())

    # ------------------------------------------------------------------ the account
    def _on_account_tick(self) -> None:
        if "Account" not in self.ctx.runner.running():
            self.ctx.runner.run(self.refresh_account(), what="Account")

    async def refresh_account(self) -> None:
        view = self.ctx.window.account_view
        if not self.ctx.stack.provider.is_connected:
            view.show_offline("Not connected: the figures come back with the connection")
            return
        try:
            summary = await self.account.summary()
        except ExecutionError as exc:
            view.show_offline(f"No account figures: {exc}")
            return
        view.show_summary(summary.account, summary.currency, summary.rows(), summary.as_of(), summary.notes())
