"""The window's controller: a thin coordinator over one part per concern (app/controllers/).

Slots translate, they do not decide: every rule (risk, live word, halt, account guard, which
orders are stuck, what a chart shows) is the services', which the parts only call. Confirmations
are asked in the slot, synchronously, before any coroutine starts (a modal dialog's nested event
loop must never run inside an asyncio task step). Database reads run in worker threads; the
models receive frozen records and coalesce them before they reach the views. The threads finish
in any order: a panel asked twice shows its newest request's answer (app/controllers/newest.py).

The parts: snapshots (import, select), trading (preview, execute, run progress), orders (cancel,
replace, cancel all, halt, details, reconcile, auto-recovery), monitoring (blotter, fills,
positions, marks, equity, connection, writer health), decisions (the decision trail), desk (order
ticket, watchlist, account), audit, backtest, settings. This class keeps the one
API the window's start-up, the screenshot flow and the tests use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from PySide6.QtCore import QObject, Qt, Signal

from app.composition import ServiceStack
from app.controllers.audit import AuditController
from app.controllers.backtest import BacktestController
from app.controllers.books import BooksController
from app.controllers.context import ConsoleContext
from app.controllers.decisions import DecisionsController
from app.controllers.desk import DeskController
from app.controllers.feed import FeedFollower, read_again
from app.controllers.monitoring import MonitoringController
from app.controllers.orders import OrdersController
from app.controllers.settings import SettingsController
from app.controllers.snapshots import SnapshotsController
from app.controllers.trading import TradingController
from app.tasks import TaskRunner
from services.activity_log import Level
from services.change_feed import DATABASE_GONE, ChangeFeed, FeedBatch, reach_line, unreachable_since
from services.db import lock_waits
from services.domain import FillRecord, OrderRecord
from widgets.dialogs.errors import error_box

log = logging.getLogger(__name__)

FEED_SECONDS = 0.5  # what other processes write to the database reaches the panels within a second


class ConsoleController(QObject):
    # a write waiting for the database's write lock (services.db.lock_waits) says so from a worker
    # or the watcher's thread: the signal brings the words to the GUI thread (a queued connection)
    lock_wait_said = Signal(str, bool)

    def __init__(self, window, stack: ServiceStack, *, settings, save_settings=None, parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.stack = stack
        self.runner = TaskRunner(on_error=self._show_error)
        self.last_error: tuple[str, str] | None = None
        self.quiet_errors = False  # True: errors go to the status bar only (screenshot runs, tests)
        self.loaded = False  # every panel has had its first load (load_initial)
        ctx = self.ctx = ConsoleContext(window, stack, self.runner)
        self.audit = AuditController(ctx)
        self.trading = TradingController(ctx, self.audit, self._show_error)
        self.decisions = DecisionsController(ctx, parent=self)
        self.trading.on_previewed = self.decisions.show_preview
        self.trading.on_settled = self.decisions.show_run_and_tca
        self.snapshots = SnapshotsController(ctx, self.audit, on_shown=self.trading.forget_preview_unless,
                                             on_imported=self._on_snapshot_imported)
        self.orders = OrdersController(ctx, self.audit, parent=self, on_trading_state=self.trading.set_trading_state)
        self.monitoring = MonitoringController(ctx, on_run_changes=self._on_run_changes, parent=self)
        self.books = BooksController(ctx, self.audit, on_assigned=self.monitoring.show_positions_again)
        self.backtest = BacktestController(window.backtest_view, stack.db, self.runner, provider=stack.provider,
                                           actor=stack.trade.actor,
                                           status=lambda text: window.statusBar().showMessage(text, 10_000),
                                           show_trail=self._show_rebalance, on_ran=self.audit.schedule_refresh)
        self.settings_part = SettingsController(ctx, self.audit, settings, save_settings=save_settings,
                                                on_trade_settings=self._use_trade_settings)
        self.desk = DeskController(ctx, self.audit, self.settings_part, parent=self,
                                   project_names=lambda: self.snapshots.project_names,
                                   on_run_sent=self.trading.follow_sent_run)
        # what other processes (`execute`, `halt`, `serve`, another window) write to the database,
        # followed as a monitor window follows it; primed by load_initial before the panels load
        self.feed = FeedFollower(ChangeFeed(stack.db), self.runner, self._on_feed_batch, interval=FEED_SECONDS,
                                 on_gone=self._on_database_gone, on_reach=self._on_database_reach)
        self.lock_wait_said.connect(self._show_lock_wait)
        self._unsubscribe_lock_waits = lock_waits.subscribe(self.lock_wait_said.emit)

    def _show_lock_wait(self, text: str, waiting: bool) -> None:
        # the waiting stays in the status bar until the next message (the lock came, or the error)
        if waiting:
            self.ctx.status(text, 0, Level.WARNING)
        else:
            self.ctx.status(text)

    async def _on_feed_batch(self, batch: FeedBatch) -> None:
        """The change feed's rows: the window's own writer's come again and are dropped there."""
        if batch.replaced:
            await self._read_again()
            return
        self.monitoring.take(batch.changes)
        if batch.trading_state is not None:
            self.orders.show_trading_state(batch.trading_state)
        # any entry another process appended (a halt while halted changes no state), as a monitor
        self.audit.follow(batch.audit_newest)
        # a snapshot imported elsewhere: listed (and its project offered to a backtest) without a
        # restart; one this window imported is listed already and not read again
        if batch.snapshots:
            await self.snapshots.take_stored(s.id for s in batch.snapshots)

    async def _read_again(self) -> None:
        """The database was dropped and created again (or restored) under the window: read again
        as a monitor reads it (app.controllers.feed.read_again). Until it is, nothing is sent on
        the old one's rows (ConsoleContext.refused_while_reading): a Cancel of a row would act on
        whichever order of the new database has its id, an Execute on its run of the preview's
        id. The preview, the run followed and the Decisions panel's trail and TCA are forgotten at
        once; a failed reading leaves the sending refused (the error said: what is on screen is
        not the database's)."""
        self._forget_database()
        await read_again(self.window, self._read_panels)
        # the broker's working orders, fills and positions are the account's: in the new database
        # once reconciled, as at a reconnect (a trader saw no working order that was working)
        try:
            await self.monitoring.reconcile_again()
        finally:  # the panels are the new database's: a failed pass is said, as a reconnect's is
            self.ctx.reading_again = False
        self.desk.check_again()  # against the new database's book, reconciled

    def _forget_database(self) -> None:
        """Sending refused from now (ConsoleContext.refused_while_reading) and what was the old
        database's forgotten: the preview, the run followed, the Decisions panel's trail and TCA,
        the open ticket's verdict (its Send off), the rows' versions and the run filter's runs."""
        self.ctx.reading_again = True
        self.trading.forget_database()
        self.decisions.forget_database()
        self.desk.forget_database()
        self.monitoring.forget_database()

    def _on_database_reach(self, lost: Exception | None) -> None:
        """The feed's poll found the database not answering (``lost``) or answering again: said
        beside its name in the status bar for as long as it lasts (the monitor's words), and once
        in the activity log."""
        self.ctx.window.connection_status.set_database_lost(
            None if lost is None else unreachable_since(datetime.now(UTC)))
        self.ctx.status(reach_line(lost, self.ctx.stack.db.url, watching=False),
                        level=Level.INFO if lost is None else Level.WARNING)

    def _on_database_gone(self) -> None:
        """The change feed found the database itself gone (dropped; created again, its tables not
        made yet): the window refuses sending as soon as it knows, not once a replacement is there
        to read. Until then an open ticket's Send stayed on over the old database's verdict, and a
        send failed on the missing tables. Said once; the re-read that follows (the feed reads
        what answers next as a replaced database) ends it."""
        if self.ctx.reading_again:
            return
        self._forget_database()
        self.ctx.status(DATABASE_GONE, 0, Level.WARNING)

    async def _read_panels(self) -> None:
        """Every panel that shows what the database holds, as at start (load_initial)."""
        await self.snapshots.load()
        self.desk.show_projects()  # the open ticket's list: the new database's projects
        await self.audit.load()
        await self.monitoring.load()
        await self.orders.load()
        await self.backtest.load()
        await self.trading.follow_latest_run()
        self.runner.run(self.audit.verify(), what="Verify audit chain")

    def _on_run_changes(self, orders: Iterable[OrderRecord], fills: Iterable[FillRecord], *,
                        recorded: bool = True) -> None:
        """Orders or fills committed (the writer's or the change feed's): the run's progress, and
        the TCA tab when they touch the run it shows. ``recorded=False``: orders as the broker
        reports them, not in the database yet (it does not answer): the progress only."""
        orders, fills = tuple(orders), tuple(fills)
        self.trading.show_progress(orders, fills, recorded=recorded)
        if recorded:
            self.decisions.take_changes(orders, fills)

    def _on_snapshot_imported(self) -> None:
        # the import may have created a project: the Backtest panel and the open ticket list it
        # without a restart
        self.runner.run(self.backtest.refresh_projects(), what="Backtest projects")
        self.desk.show_projects()

    def _use_trade_settings(self, values: dict) -> None:
        """The trade settings now in force (after the Settings dialog): project capital shows in
        the positions tree."""
        self.orders.use_trade_settings(values)
        self.runner.run(self.monitoring.show_capitals(), what="Project capital")

    async def _show_rebalance(self, run_id: int):
        """A backtest rebalance's decision trail in the Decisions view, brought to the front, and
        its run in the TCA tab beside it (as a run chosen in the view is): the tab stayed on the
        run shown before, under a Decisions tab of another."""
        trail = await self.decisions.show_run(run_id)
        self.window.decisions_tabs.setCurrentWidget(self.window.decisions_view)
        self.window.bring_forward("decisions")
        await self.decisions.show_tca(run_id)
        return trail

    def close(self) -> None:
        self._unsubscribe_lock_waits()
        self.orders.stop()
        self.decisions.stop()
        for unsubscribe in [*self.monitoring.stop(), *self.desk.stop()]:
            try:
                unsubscribe()
            except Exception:
                log.debug("unsubscribe failed", exc_info=True)
        self.runner.cancel_all()

    def _show_error(self, what: str, message: str) -> None:
        self.last_error = (what, message)
        self.ctx.status(f"{what}: {message}", 15_000, Level.ERROR)
        if self.quiet_errors:
            return
        # open(), not exec(): this runs inside a task, where a nested event loop must not run.
        box = error_box(self.window, what, message)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.open()

    # ------------------------------------------------------------------ start-up
    async def load_initial(self) -> None:
        await self.ctx.db(self.feed.feed.prime)  # before the panels load: nothing lands between
        await self.snapshots.load()
        await self.audit.load()
        await self.monitoring.load()
        await self.orders.load()
        await self.backtest.load()
        await self.desk.load()
        await self.trading.follow_latest_run()  # a run executing or executed today, from before a restart
        self.runner.run(self.audit.verify(), what="Verify audit chain")
        self.feed.start()
        self.loaded = True

    def arm_live_word(self, token: str | None) -> None:
        """The word typed when the live session started: reused for previews and cancels only."""
        self.ctx.live_word.arm(token)

    async def refresh_now(self) -> None:
        """Bring every panel up to date at once instead of at the next timers (screenshots)."""
        await self.audit.refresh()
        await self.monitoring.show_equity()
        await self.monitoring.mark_positions()
        w = self.window
        for model in (w.orders_model, w.fills_model, w.positions_model, w.audit_model):
            model.flush()
        await self.trading.refresh_progress()

    # ------------------------------------------------------------------ the parts' API, by name
    @property
    def is_live(self) -> bool:
        return self.ctx.live_word.is_live

    @property
    def current_preview(self):
        return self.trading.session.preview

    @property
    def current_run_id(self) -> int | None:
        return self.trading.session.run_id

    @property
    def project_names(self) -> dict[int, str]:
        return self.snapshots.project_names

    @property
    def equity_points(self):
        return self.monitoring.equity_points

    @property
    def settings(self):
        return self.settings_part.settings

    @property
    def save_settings(self):
        return self.settings_part.save_settings

    @save_settings.setter
    def save_settings(self, save) -> None:
        self.settings_part.save_settings = save

    async def import_snapshot(self, path: str, project: str):
        return await self.snapshots.import_file(path, project)

    async def show_snapshot(self, snapshot_id: int) -> None:
        await self.snapshots.show(snapshot_id)

    async def preview(self, params: dict, *, new_run: bool = False):
        return await self.trading.preview(params, new_run=new_run)

    async def execute(self, run_id: int, live_token: str | None = None):
        return await self.trading.execute(run_id, live_token)

    async def recover(self, now=None, *, manual: bool = False):
        """One auto-recovery pass (Trading -> Recover now); ``now`` for tests."""
        return await self.orders.recover(now, manual=manual)

    async def mark_positions(self) -> None:
        await self.monitoring.mark_positions()

    async def refresh_audit(self) -> None:
        await self.audit.refresh()

    async def verify_full_chain(self):
        """What "Verify full chain" does: walk every entry from the first one."""
        return await self.audit.verify(full=True)

    async def open_settings(self):
        return await self.settings_part.open()

    async def apply_settings(self, data: dict) -> None:
        await self.settings_part.apply(data)
