"""The controller of a monitor window (``trading-console gui --monitor``, File -> Open as monitor):
the blotter, fills, positions, audit and charts follow the shared database through the change
feed (services.change_feed), read-only, with no broker connection. Every trading intent the
window could still emit is answered with a status message; the stack has no engine to send it
to, and its database refuses writes anyway."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer

from app.composition import MonitorStack
from app.controllers.audit import AuditShown
from app.controllers.feed import FeedFollower, read_again
from app.controllers.history import HistoryPager
from app.controllers.positions import PositionsShown
from app.tasks import TaskRunner
from services import console_queries as queries
from services.activity_log import Level
from services.change_feed import (
    MONITOR_FOLLOWING_TIP,
    MONITOR_LAST_EVENT_TIP,
    NOT_READ_YET,
    FeedBatch,
    monitor_state,
    moves_last_event,
    reach_line,
)
from services.console_charts import equity_points, followed_run_caption, run_chart
from services.domain import TradingState
from services.execution.action_outcomes import STATE_CHANGED_ELSEWHERE, trading_state_line
from services.history_queries import run_history
from services.monitor_queries import run_plan
from services.run_progress import ProgressSnapshot, RunProgress
from widgets.dialogs.order_details import OrderDetailsDialog

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # a change reaches the panels well within a second
CHART_MS = 1_000
READ_ONLY = "Monitor (read-only): {what} is done at the trading workstation"


def _audit_not_read(exc: Exception | None) -> None:
    if exc is not None:
        log.info("audit log not refreshed: %s", exc)


class MonitorController(QObject):
    def __init__(self, window, stack: MonitorStack, *, interval: float = POLL_SECONDS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.stack = stack
        self.interval = interval
        self.runner = TaskRunner(on_error=self._show_error)
        self.last_error: tuple[str, str] | None = None
        self.progress = RunProgress()
        self.batches = 0
        self.slowest_apply = 0.0  # seconds, awaits included (what the tests report)
        self.refused: list[str] = []  # the trading intents answered with "read-only"
        # order id -> (status, when the feed saw it, when it was handed to the blotter, the number
        # of the batch that handed it): what "the blotter follows within a second" is measured by
        self.shown: dict[int, tuple[str, datetime, datetime, int]] = {}
        self.follower = FeedFollower(stack.feed, self.runner, self.apply, interval=interval,
                                     on_reach=self._on_reach)
        # the charts are redrawn at most once per CHART_MS: painting them costs the GUI thread
        # more than the blotter, which is shown at once
        self._progress: ProgressSnapshot | None = None
        self._chart_timer = QTimer(self)
        self._chart_timer.setSingleShot(True)
        self._chart_timer.setInterval(CHART_MS)
        self._chart_timer.timeout.connect(self._draw_progress)
        w = window
        status = w.connection_status
        status.set_connection_state(monitor_state(None))
        status.state_label.setToolTip(MONITOR_FOLLOWING_TIP)
        status.endpoint_label.setText("read-only")
        status.last_event_label.setToolTip(MONITOR_LAST_EVENT_TIP)
        status.set_account(None)
        status.set_database(stack.db.redacted_url)
        blotter, preview = w.blotter_view, w.preview_view
        for signal, what in ((blotter.cancel_requested, "cancel"), (blotter.replace_requested, "replace"),
                             (blotter.cancel_all_clicked, "cancel all"), (blotter.halt_clicked, "halt"),
                             (blotter.halt_requested, "halt"),
                             (blotter.resume_requested, "resume"), (preview.preview_requested, "preview"),
                             (preview.new_run_preview_requested, "preview"),
                             (preview.execute_requested, "execute"), (w.snapshots_view.import_requested, "import"),
                             (w.settings_requested, "settings"), (w.reconcile_requested, "reconcile"),
                             (w.recover_requested, "recover"), (w.positions_view.assign_requested, "assign")):
            signal.connect(lambda *_args, what=what: self._refuse(what))
        blotter.details_requested.connect(self._on_details_requested)
        w.audit_view.full_verify_requested.connect(
            lambda: self.runner.run(self.verify_audit(full=True), what="Verify the full audit chain",
                                    disable=[w.audit_view.full_verify_button]))
        # one way for both windows: the entries read when the feed says the log grew, bounded;
        # the newest verification asked, a break whenever it comes, a failed one said as such
        # a refresh the database did not answer is the feed's to say (show_reach), and read again
        # with the database (a replaced one whole)
        self.audit = AuditShown(w.audit_model, w.audit_view, stack.audit, self.runner, stack.db.url,
                                say=lambda text: w.activity_log.append(text, Level.WARNING, timeout_ms=15_000),
                                not_read=_audit_not_read)
        self.chain = self.audit.chain
        # the blotter and fills hold a page of the history at a time, not all of it
        self.history = HistoryPager(stack.db, w.blotter_view, w.fills_view, self.runner, profile=stack.settings.profile,
                                    parent=self)
        # the positions and their projects' names, as the trading window gives them (one way for both)
        self.positions = PositionsShown(w.positions_model, stack.db, self.runner)
        w.theme_requested.connect(w.apply_theme)  # this window only; the monitor saves no settings

    # ------------------------------------------------------------------ start and stop
    async def load_initial(self) -> None:
        """What is stored now (the feed was primed before: nothing lands between the two)."""
        db, w = self.stack.db, self.window
        _, positions, names, _, last_event = await asyncio.gather(
            self.history.load(),  # the newest page of the blotter and fills, more on scrolling
            asyncio.to_thread(queries.positions, db),
            asyncio.to_thread(queries.project_names, db),
            self.audit.load(),
            asyncio.to_thread(queries.last_event_time, db),
        )
        show_not_read(w, False)
        w.connection_status.set_last_event_time(last_event)  # the stored one; a newer stays
        self._show_trading_state(self.stack.feed.trading_state or TradingState.ACTIVE)  # as read at prime
        self.positions.load(positions, names)
        # whose data it shows: it has no broker connection to name one
        w.connection_status.set_accounts([p.account for p in positions] + [o.account for o in w.orders_model.records() if o.account])
        newest_run = self.progress.newer_run(w.orders_model.records())
        if newest_run is not None:
            await self._follow_run(newest_run)
            run_orders, run_fills = await asyncio.to_thread(run_history, db, newest_run)
            self._show_progress(run_orders, run_fills)
        await self.show_equity()
        await self.verify_audit()

    async def verify_audit(self, *, full: bool = False):
        """The hash chain, read-only (a monitor never moves the verified checkpoint)."""
        return await self.audit.verify(full=full)

    def start(self) -> None:
        """Follow the feed until ``close``."""
        self.follower.start()

    def close(self) -> None:
        self._chart_timer.stop()
        self.history.stop()
        self.runner.cancel_all()

    async def poll_once(self) -> FeedBatch | None:
        return await self.follower.poll_once()

    def _on_reach(self, lost: Exception | None) -> None:
        show_reach(self.window, lost, self.stack.db.url)

    def _show_trading_state(self, state: TradingState, *, say: bool = False) -> None:
        """HALTED by ``trading-console halt`` or another window: the badge and the blotter say so
        (the monitor has no Execute to gate). ``say``: a change the feed brought is said in the
        activity log and the status bar in the trading window's words for another process's
        change (app.controllers.orders.show_trading_state): the monitor's log kept the fills but
        neither the halt nor the resume, the badge alone changing."""
        changed = state is not self.window.blotter_view.trading_state
        self.window.blotter_view.set_trading_state(state)
        self.window.set_trading_state(state)
        if say and changed:
            self.window.activity_log.note_trading_state(state, trading_state_line(state, STATE_CHANGED_ELSEWHERE))

    # ------------------------------------------------------------------ a batch
    async def apply(self, batch: FeedBatch) -> None:
        started = time.perf_counter()
        try:
            await self._apply(batch)
        finally:
            self.slowest_apply = max(self.slowest_apply, time.perf_counter() - started)

    async def _apply(self, batch: FeedBatch) -> None:
        w = self.window
        if batch.replaced:
            await self._read_again()
            return
        if batch.trading_state is not None:
            self._show_trading_state(batch.trading_state, say=True)
        changes = batch.changes
        w.orders_model.apply(changes)
        w.fills_model.apply(changes)
        holdings_moved = self.positions.take(changes.positions)
        self.audit.follow(batch.audit_newest)
        w.activity_log.note_changes(changes)  # fills, rejections and confirmed cancels, as the trading window's
        now = datetime.now(UTC)
        for order in batch.orders:
            self.shown[order.id] = (str(order.status), batch.observed_at, now, self.batches)
        # a batch comes at most every interval: shown now, not at the models' next coalescing tick
        # (a slice at most, as their timer would)
        for model in (w.orders_model, w.fills_model, w.positions_model, w.audit_model):
            model.flush(model.max_batch)
        if moves_last_event(changes, holdings_moved):
            # as the trading window's (an audit entry, an equity sample, a snapshot or the trading
            # window's 30-s re-marks of its positions alone moved it)
            w.connection_status.set_last_event_time(batch.observed_at)
        self.batches += 1
        newest_run = self.progress.newer_run(batch.orders)
        if newest_run is not None:
            await self._follow_run(newest_run)
        if batch.orders or batch.fills:
            self._show_progress(batch.orders, batch.fills)
        if batch.equity_snapshots:
            await self.show_equity()

    async def _read_again(self) -> None:
        """The database followed was dropped and created again (or restored) under its name: the
        panels held the old one's rows (an order of the new one under an old id replaced its row,
        the rest stayed) and its run, audit entries and last event; all read again from the new
        (app.controllers.feed.read_again, as the trading window does)."""
        self.progress = RunProgress()
        self._progress = None
        self.history.forget_database()  # the run filter's runs
        await read_again(self.window, self.load_initial)

    async def _follow_run(self, run_id: int) -> None:
        """The newest run of any project (the monitor has no project selection): the chart's
        tab says whose it is."""
        plan = await asyncio.to_thread(run_plan, self.stack.db, run_id)
        self.progress.reset(run_id, plan.planned, plan.target, currency=plan.currency)
        self.window.charts_view.set_run_caption(followed_run_caption(plan.project, run_id))

    def _show_progress(self, orders, fills) -> None:
        self._progress = self.progress.apply(orders, fills, now=datetime.now(UTC))
        if not self._chart_timer.isActive():  # drawn at most every CHART_MS, the latest state
            self._chart_timer.start()

    def _draw_progress(self) -> None:
        if self._progress is None:
            return
        self.window.charts_view.show_run_chart(run_chart(self._progress))

    async def show_equity(self) -> None:
        account, history = await asyncio.to_thread(queries.account_equity, self.stack.db, None)
        self.window.charts_view.set_equity(equity_points(history), account)

    # ------------------------------------------------------------------ intents
    def _refuse(self, what: str) -> None:
        self.refused.append(what)
        self.window.activity_log.info(READ_ONLY.format(what=what), 10_000)

    def _on_details_requested(self, order_id: int) -> None:
        self.runner.run(self._show_details(order_id), what=f"Order {order_id}")

    async def _show_details(self, order_id: int) -> None:
        details = await asyncio.to_thread(queries.order_details, self.stack.db, order_id)
        OrderDetailsDialog.open_on(details, self.window)

    def _show_error(self, what: str, message: str) -> None:
        self.last_error = (what, message)
        self.window.activity_log.error(f"{what}: {message}", 15_000)


def show_reach(window, lost: BaseException | None, url: str, lost_at: datetime | None = None) -> None:
    """The followed database lost (since ``lost_at``, now by default) or reachable again, in the
    words of `watch` (services.change_feed.reach_line) as a message, and the loss in the bar's
    permanent part until the database answers again: a later message (an error of the same
    outage) replaces the first, and its timeout left no word of the loss in view. Also while a
    monitor waits for the database to start up (app.main)."""
    said = reach_line(lost, url)
    status = window.connection_status
    status.set_connection_state(monitor_state(None if lost is None else (lost_at or datetime.now(UTC))))
    status.state_label.setToolTip(said if lost is not None else MONITOR_FOLLOWING_TIP)
    # into the activity log, which the status bar shows (fitted to the state's width): the monitor's
    # log said none of its own messages, its status bar alone did
    window.activity_log.append(said, Level.WARNING if lost is not None else Level.INFO,
                               timeout_ms=0 if lost is not None else 10_000)


def show_not_read(window, not_read: bool) -> None:
    """Whether the database was read yet (app.main: from the window's start until
    ``MonitorController.load_initial`` has read it): the run chart and the fills say so instead
    of "No run yet" and "0 fills", which a risk manager read as an account that had traded nothing
    while the monitor waited for its server."""
    said = NOT_READ_YET if not_read else None
    window.charts_view.set_not_read(said)
    window.fills_view.set_not_read(said)


def monitor_command(args: list[str] | None = None) -> list[str]:
    """The command line of a monitor process (File -> Open as monitor)."""
    return [sys.executable, "-m", "app", *(args or []), "gui", "--monitor"]


def open_monitor_process(db_url: str, *, profile: str = "demo", spawn: Callable[..., object] = subprocess.Popen) -> object:
    """Start a monitor window in its own process on ``db_url``; the URL (which may hold a
    password) goes through the environment, not the command line that ``ps`` shows."""
    env = dict(os.environ, TC_DB_URL=db_url)
    return spawn(monitor_command(["--profile", profile]), env=env, start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
