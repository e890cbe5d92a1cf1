"""What the window shows of the account and the connection: the blotter, fills and positions
(from the writer's change sets, and through the change feed what other processes write to the
database: ``take``), position marks, the equity chart, the connection status and the
event writer's health, the market's health."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from PySide6.QtCore import QObject, QTimer

from app.controllers.context import ConsoleContext
from app.controllers.history import HistoryPager
from app.controllers.newest import NewestAnswer
from app.controllers.positions import PositionsShown
from services import console_queries as queries
from services.activity_log import Level
from services.books import project_books, stored_rates_by_account
from services.change_feed import NewerOnly, moves_last_event
from services.console_books import rates_shown
from services.console_charts import equity_points
from services.domain import ChangeSet, FillRecord, OrderRecord
from services.execution.connection_words import refused_line
from services.execution.errors import ExecutionError
from services.execution.ib_contracts import FxRates
from services.execution.reconcile_words import ResyncSaid
from services.execution.unrecorded_reports import (
    as_reported,
    unrecorded_fills_line,
    unrecorded_positions_line,
)
from services.position_marks import PositionMarks

log = logging.getLogger(__name__)

EQUITY_SAMPLE_MS = 5_000
MARKS_EVERY_N_SAMPLES = 3  # position marks every 15 s: market data shares IB's 45 msg/s budget
# after fills, their symbols are marked at the market this soon (once per burst of fills, only
# those symbols): a fill's price is no market price to value a holding at (it paid the spread and
# the slippage, IB's P&L values it at the market), and the Positions panel read up to 15 s of a
# P&L short of the Account panel's (IB's reqPnL) by them, about 40 USD after the demo's run
FILL_MARKS_DELAY_MS = 1_000

class RunChanges(Protocol):
    """Orders or fills changed (``recorded=False``: as the broker reports them, not stored yet)."""

    def __call__(self, orders: Iterable[OrderRecord], fills: Iterable[FillRecord], *, recorded: bool = True) -> None: ...


class MonitoringController:
    def __init__(self, ctx: ConsoleContext, on_run_changes: RunChanges, parent: QObject) -> None:
        self.ctx = ctx
        self._on_run_changes = on_run_changes  # orders or fills changed: the run's progress
        self.marks = PositionMarks()
        self.newer_only = NewerOnly()  # each row's version once, from the writer or the feed
        self._shown_unrecorded: set[int] = set()  # the orders shown as the broker reported them, not stored
        self.equity_points: list[tuple[datetime, Decimal, Decimal]] = []  # read from equity_snapshots
        self._samples = 0
        # the timer, a refresh and the feed each ask: the reads finish in any order (worker
        # threads, the broker's prices), and an older answer must not replace a newer one
        self._equity_asked = NewestAnswer()
        self._marks_asked = NewestAnswer()
        self._fill_marks_asked = NewestAnswer()  # the marks of the symbols just filled (a pass of their own)
        self._filled_symbols: set[str] = set()
        self._fill_marks_timer = QTimer(parent)
        self._fill_marks_timer.setSingleShot(True)
        self._fill_marks_timer.setInterval(FILL_MARKS_DELAY_MS)
        self._fill_marks_timer.timeout.connect(self._mark_filled_symbols)
        self._capitals_asked = NewestAnswer()  # each Settings save asks again
        w, stack = ctx.window, ctx.stack
        # the blotter and fills hold a page of the history at a time, not all of it
        self.history = HistoryPager(stack.db, w.blotter_view, w.fills_view, ctx.runner, profile=stack.profile, parent=parent)
        # the positions and their projects' names, as the monitor window gives them (one way for both)
        self.positions = PositionsShown(w.positions_model, stack.db, ctx.runner)
        host, port = stack.endpoint
        w.connection_status.set_endpoint(host, port)
        w.connection_status.set_account(stack.provider.account or None)
        w.connection_status.set_database(stack.db.redacted_url)
        engine = stack.engine
        self._unsubscribe = [
            engine.subscribe_changes(self._on_changes),
            engine.subscribe_connection(self._on_connection_event),
            engine.subscribe_health(self._on_writer_health),
            engine.subscribe_unrecorded(self._on_unrecorded),
            engine.subscribe_market_health(self._on_market_health),
        ]
        self._market_unhealthy = False
        # each account's lines at its own rates: the connected account's from the broker (its
        # stored ones until they come, never after), every other account's as stored
        self._brokers_rates: FxRates | None = None
        self._stored_rates: dict[str, FxRates] = {}
        self._on_connection_event(None)
        self._stopped = False
        self._resync = ResyncSaid()  # each automatic reconciliation said once
        provider = stack.provider
        # the connection and the reconciliation made before this window followed them (the demo's)
        if provider.is_connected:
            w.activity_log.note_connected_before(f"{host}:{port} client {provider.client_id}", provider.account or None,
                                                 getattr(provider, "connected_at", None))
            if stack.reconciler.last_report is not None:
                self._say_reconciled()
        # each later (re)connect's reconciliation, once the reconciler's own hook ran (installed first)
        provider.add_resync_hook(self._on_resynced)
        self._equity_timer = QTimer(parent)
        self._equity_timer.setInterval(EQUITY_SAMPLE_MS)
        self._equity_timer.timeout.connect(self._sample_equity)
        self._equity_timer.start()

    def stop(self) -> list:
        """Stop the timer; returns the unsubscribe callables (the coordinator calls them)."""
        self._stopped = True  # the provider keeps its resync hooks
        self._equity_timer.stop()
        self._fill_marks_timer.stop()
        self.history.stop()
        unsubscribe, self._unsubscribe = self._unsubscribe, []
        return unsubscribe

    async def load(self) -> None:
        db = self.ctx.stack.db
        _, positions, names, last_event = await asyncio.gather(
            self.history.load(),
            self.ctx.db(queries.positions, db),
            self.ctx.db(queries.project_names, db),
            self.ctx.db(queries.last_event_time, db),
        )
        self.positions.load(self.marks.apply(positions), names)
        self.ctx.window.connection_status.set_last_event_time(last_event)  # the stored one; a newer stays
        await self.show_capitals()
        await self.show_stored_rates()  # every account's; the connected one's replaced by the broker's
        if self.ctx.stack.provider.is_connected:  # else at the connection (_on_connection_event)
            self.ctx.runner.run(self.show_exchange_rates(), what="Exchange rates")
        await self.show_equity()  # the stored equity history (it survives restarts)

    # ------------------------------------------------------------------ service events
    def _on_changes(self, changes: ChangeSet) -> None:
        """This process's writer committed ``changes``."""
        self.take(changes, written=True)

    def take(self, changes: ChangeSet, *, written: bool = False) -> None:
        """Orders, fills and positions from the writer (``written``: this process's writer
        committed them) or the change feed: what the window was not handed yet goes to the models
        (which coalesce it), the activity log and the run's progress."""
        # a row showing the broker's report the database had not taken gets the stored row, of
        # whatever version, from the writer's change set: the report written without changing the
        # row (its version the same) left the report shown, marked not recorded, for good. Only
        # the writer's: it holds the reports and says so once it wrote them, while the feed hands
        # this window's own rows again up to half a second late (a read begun before the report
        # came), and such a row, the version the report was laid on, showed the order as working
        # again although the broker had canceled it
        shown = self._shown_unrecorded if written else set()  # empty but during an outage: no scan then
        stored_again = tuple(o for o in changes.orders if o.id in shown) if shown else ()
        changes = self.newer_only.fresh(changes)
        if stored_again:
            self._shown_unrecorded.difference_update(o.id for o in stored_again)
            fresh = {o.id for o in changes.orders}
            changes = replace(changes, orders=changes.orders + tuple(o for o in stored_again if o.id not in fresh))
        if not (changes.orders or changes.fills or changes.positions):
            return
        w = self.ctx.window
        w.orders_model.apply(changes)
        w.fills_model.apply(changes)
        holdings_moved = self.positions.take(self.marks.apply(changes.positions))
        if moves_last_event(changes, holdings_moved):
            # the writer's or another process's (the change feed): only the writer's moved the time, so
            # a run `execute` sent from a terminal filled under an old "last event" (the monitor's is
            # the same rule)
            w.connection_status.set_last_event_time(datetime.now(UTC))
        w.activity_log.note_changes(changes)  # fills, rejections and confirmed cancels in the activity log
        if changes.fills:
            self._filled_symbols.update(f.symbol for f in changes.fills)
            if not self._fill_marks_timer.isActive():  # not restarted: a long burst is marked as it goes
                self._fill_marks_timer.start()
        if changes.fills or changes.orders:
            self._on_run_changes(changes.orders, changes.fills)

    def forget_database(self) -> None:
        """The database was replaced under the window: the row versions handed were the old
        database's (the new one's rows under the same ids, older ones among them, would be dropped
        as stale), and the blotter's run filter listed its runs."""
        self.newer_only = NewerOnly()
        self._shown_unrecorded.clear()
        self.history.forget_database()

    async def show_positions_again(self) -> None:
        """The stored positions read again, after the window itself moved shares between books
        (an assignment: no broker event, no writer's change set); the rows it holds already are
        left as they are (NewerOnly), the new ones shown with their marks."""
        positions = await self.ctx.db(queries.positions, self.ctx.stack.db)
        self.take(ChangeSet(positions=tuple(positions)))
        await self.show_capitals()

    async def show_capitals(self) -> None:
        """Each project's capital, for the positions tree's capital and cash."""
        ticket = self._capitals_asked.ask()
        books = await self.ctx.db(project_books, self.ctx.stack.db)
        if self._capitals_asked.is_newest(ticket):
            self.ctx.window.positions_view.set_capitals({b.project: b.capital for b in books})

    async def show_exchange_rates(self) -> None:
        """The connected account's base currency and rates, for the positions tree's sums of a
        group in several currencies and its projects' cash: from the account summary the adapter
        keeps (no request once it is there, no database work)."""
        provider = self.ctx.stack.provider
        if not provider.is_connected:
            return
        try:
            rates = await provider.exchange_rates()
        except ExecutionError as exc:  # the summary not answered: the rates shown stay until the next refresh
            log.warning("exchange rates not read: %s", exc)
            return
        self._brokers_rates = rates
        self._show_rates()

    async def show_stored_rates(self) -> None:
        """Each account's rates as the console stored them last (as the ``positions`` command
        converts at), said as such in the tree's notes (``FxRates.as_of``): the lines of an account
        the window is not connected to, and the connected account's until the broker's come; a
        project's cash and a group of several currencies are then shown rather than "no rates yet"."""
        stored = await self.ctx.db(stored_rates_by_account, self.ctx.stack.db)
        self._stored_rates = {account: rates.fx for account, rates in stored.items()}
        self._show_rates()

    def _show_rates(self) -> None:
        """The tree's rates of each account (services.console_books: each account's lines at its own)."""
        self.ctx.window.positions_view.set_exchange_rates(
            rates_shown(self._stored_rates, self._brokers_rates, self.ctx.stack.provider.account))

    def _on_connection_event(self, event) -> None:
        provider, status = self.ctx.stack.provider, self.ctx.window.connection_status
        state = str(event.state if event is not None else provider.state)
        retry_in = event.retry_in if event is not None else None
        status.set_connection_state(state, retry_in)
        status.set_account(provider.account or None)
        if state in ("connected", "restored"):
            status.set_last_event_time(datetime.now(UTC))
            if event is not None:  # the first load asks for them itself
                self.ctx.runner.run(self.show_exchange_rates(), what="Exchange rates")
        if event is not None:
            self.ctx.window.activity_log.note_connection(event)  # connected, lost, restored: once each
        if event is not None and event.refused:  # no reconnect follows: the trader must know why
            self.ctx.status(refused_line(event), 0, Level.ERROR)

    async def _on_resynced(self, _state) -> None:
        """A (re)connect's or IB's 1101/1102 reconciliation ended: what it found and did (the
        reconciler's report), or that it did not complete."""
        if not self._stopped:
            self._say_reconciled()

    async def reconcile_again(self) -> None:
        """The database was replaced under the window and read again: the broker's open orders,
        the day's fills and the positions belong to the account, not to the database, and the new
        one holds none of them until a reconciliation. The same pass as a reconnect's (the
        reconciler's retried one, a whole one: Reconciler.forget_database), said as a reconnect's
        is; not connected, the connect's own pass does it."""
        reconciler = self.ctx.stack.reconciler
        reconciler.forget_database()
        if not self.ctx.stack.provider.is_connected:
            return
        await reconciler.reconcile_with_retry(after_reconnect=True)
        if not self._stopped:
            self._say_reconciled()

    def _say_reconciled(self) -> None:
        text, warning = self._resync.say(self.ctx.stack.reconciler.last_report)  # `serve`'s words too
        self.ctx.status(text, 15_000 if warning else 10_000, Level.WARNING if warning else Level.INFO)

    def _on_writer_health(self, health) -> None:
        """Shown in the status bar for as long as it is true (database away, events in the
        journal, events the database refused)."""
        # the service's words (WriterHealth.line), the commands' too
        if health.problem:
            self.ctx.status(health.line(), 0, Level.WARNING)
        else:
            self.ctx.status(health.line())

    def _on_unrecorded(self, reports) -> None:
        """The broker's order statuses and executions the database has not taken (it does not
        answer): the blotter's rows they change shown as the broker reports them, marked not
        recorded, and the fills said over the fills and the positions, which count only what is
        stored; the writer's change set brings the stored rows once it has written them (and
        ``()``, which takes the lines away)."""
        w = self.ctx.window
        w.fills_view.set_unrecorded(unrecorded_fills_line(reports))
        w.positions_view.set_unrecorded(unrecorded_positions_line(reports))
        if reports:
            model = w.orders_model
            shown = as_reported(model.records(), reports)
            self._shown_unrecorded.update(o.id for o in shown)
            model.upsert(shown)
            self._on_run_changes(shown, (), recorded=False)  # the run's progress: working no more

    def _on_market_health(self, report) -> None:
        """The market-health gate (services.execution.market_health): its reason stays in the
        status bar while runs and manual orders would be refused; its end is said once."""
        if not report.healthy:
            self._market_unhealthy = True
            self.ctx.status(f"Market not healthy: {report.describe()}", 0, Level.WARNING)
        elif self._market_unhealthy:
            self._market_unhealthy = False
            self.ctx.status("Market healthy again")

    # ------------------------------------------------------------------ equity and marks
    def _sample_equity(self) -> None:
        # the equity recorder (services, started by the composition root) stores the samples;
        # the chart shows what is stored, so it survives a restart
        self._run_pass(self.show_equity, "Account value")
        if not self.ctx.stack.provider.is_connected:
            return
        self._samples += 1
        if self._samples % MARKS_EVERY_N_SAMPLES == 0:
            self._run_pass(self.mark_positions, "Position marks")

    def _run_pass(self, work: Callable[[], Awaitable[None]], what: str) -> None:
        """A timer's pass over the database (the equity chart, the position marks): one the
        database did not answer is said once, calmly (ConsoleContext.run_pass)."""
        self.ctx.run_pass(work, what)

    async def show_equity(self) -> None:
        """The stored equity snapshots of the account (P&L against the first one shown)."""
        stack = self.ctx.stack
        ticket = self._equity_asked.ask()
        account, history = await self.ctx.db(queries.account_equity, stack.db, stack.provider.account or None)
        if not self._equity_asked.is_newest(ticket):
            return
        self.equity_points = equity_points(history)
        self.ctx.window.charts_view.set_equity(self.equity_points, account)

    async def mark_positions(self, symbols: set[str] | None = None) -> None:
        """Market prices for the held symbols (as the database holds them; ``symbols``: only
        those), so the positions panel shows unrealized P&L. The positions are read before the
        broker is asked: a fill handed to the panel meanwhile, or a newer pass's rows, are not
        taken back by them."""
        asked = self._marks_asked if symbols is None else self._fill_marks_asked
        ticket = asked.ask()
        positions = await self.ctx.db(queries.positions, self.ctx.stack.db)
        if symbols is not None:
            positions = tuple(p for p in positions if p.symbol in symbols)
        marked = self.newer_only.not_behind(await self.marks.refresh(self.ctx.stack.provider, positions))
        if marked and asked.is_newest(ticket):
            self.ctx.window.positions_model.upsert(marked)
        if symbols is None:
            await self.show_exchange_rates()  # the rates move with the marks they convert

    def _mark_filled_symbols(self) -> None:
        symbols, self._filled_symbols = self._filled_symbols, set()
        if symbols and self.ctx.stack.provider.is_connected:
            self._run_pass(lambda: self.mark_positions(symbols), "Position marks")
