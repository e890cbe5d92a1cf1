"""Turns the window's intent signals into service calls, and service events into model updates.

Slots translate, they do not decide: every rule (risk, live token, halt, account guard) is
enforced by the services, which this controller only calls. Confirmations are asked in the slot,
synchronously, before any coroutine starts (a modal dialog's nested event loop must never run
inside an asyncio task step). Database reads run in worker threads; the models receive frozen
records and coalesce them before they reach the views.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDialog

from services.run_progress import PlannedOrder, RunProgress

from app.composition import DEMO_PROJECT, ServiceStack, preview_params_to_run_params
from app.tasks import TaskRunner, UserFacingError
from services import console_queries as queries
from services.domain import ChangeSet, TradeMode, TradingState, is_live_token
from widgets.common import confirm
from widgets.dialogs.errors import error_box
from widgets.dialogs.live_confirm import LiveConfirmDialog
from widgets.dialogs.order_details import OrderDetailsDialog
from widgets.dialogs.settings import SettingsDialog

log = logging.getLogger(__name__)


class ConsoleController(QObject):
    EQUITY_SAMPLE_MS = 5_000
    MARKS_EVERY_N_SAMPLES = 3  # position marks every 15 s: market data shares IB's 45 msg/s budget
    MAX_MARKED_SYMBOLS = 40
    RECOVERY_CHECK_MS = 10_000
    AUDIT_ROWS = 5_000  # the newest entries loaded into the audit panel at start

    def __init__(self, window, stack: ServiceStack, *, settings, save_settings=None, parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window = window
        self.stack = stack
        self.settings = settings
        self._save_settings = save_settings
        self.runner = TaskRunner(on_error=self._show_error)
        self.current_run_id: int | None = None
        self.current_preview = None
        self._preview_snapshot: int | None = None  # the snapshot the current preview was built from
        # progress and slippage of the current preview's run (Qt-free, services.run_progress)
        self.progress = RunProgress()
        self._progress = self.progress.snapshot(datetime.now(UTC))
        self._equity_points: list[tuple[datetime, Decimal, Decimal]] = []  # read from equity_snapshots
        self._marks: dict[str, Decimal] = {}  # last market price per held symbol (unrealized P&L)
        self._samples = 0
        self._live_token: str | None = None  # armed once the trader typed LIVE this session
        self._project_names: dict[int, str] = {}
        self._audit_last_id = 0  # the newest audit entry the panel shows: refreshes load only newer ones
        self._unsubscribe: list = []
        self.last_error: tuple[str, str] | None = None
        self.quiet_errors = False  # True: errors go to the status bar only (screenshot runs, tests)
        self._wire()

    # ------------------------------------------------------------------ wiring
    def _wire(self) -> None:
        w = self.window
        w.snapshots_view.import_requested.connect(self._on_import_requested)
        w.snapshots_view.snapshot_selected.connect(self._on_snapshot_selected)
        w.preview_view.preview_requested.connect(self._on_preview_requested)
        w.preview_view.execute_requested.connect(self._on_execute_requested)
        w.blotter_view.cancel_requested.connect(self._on_cancel_requested)
        w.blotter_view.replace_requested.connect(self._on_replace_requested)
        w.blotter_view.cancel_all_requested.connect(self._on_cancel_all_requested)
        w.blotter_view.halt_requested.connect(self._on_halt_requested)
        w.blotter_view.resume_requested.connect(self._on_resume_requested)
        w.blotter_view.details_requested.connect(self._on_details_requested)
        w.audit_view.full_verify_requested.connect(self._on_full_verify_requested)
        w.settings_requested.connect(self._on_settings_requested)
        w.reconcile_requested.connect(self._on_reconcile_requested)
        w.theme_requested.connect(self._on_theme_requested)
        host, port = self.stack.endpoint
        w.connection_status.set_endpoint(host, port)
        w.connection_status.set_account(self.stack.provider.account or None)
        w.connection_status.set_database(self.stack.db.redacted_url)
        w.preview_view.set_execute_enabled(False, "Preview first")
        engine = self.stack.engine
        self._unsubscribe += [
            engine.subscribe_changes(self._on_changes),
            engine.subscribe_connection(self._on_connection_event),
            engine.subscribe_health(self._on_writer_health),
        ]
        self._on_connection_event(None)
        self._equity_timer = QTimer(self)
        self._equity_timer.setInterval(self.EQUITY_SAMPLE_MS)
        self._equity_timer.timeout.connect(self._sample_equity)
        self._equity_timer.start()
        # Auto-recovery (docs/plans.md, plan 003): orders still unacknowledged after the configured timeout
        # are canceled and looked up at the broker; never resent.
        self.recovery_timeout = 45.0  # trade_settings.auto_recovery.new_timeout_seconds, loaded at start
        self._recovery_timer = QTimer(self)
        self._recovery_timer.setInterval(self.RECOVERY_CHECK_MS)
        self._recovery_timer.timeout.connect(self._on_recovery_tick)
        self._recovery_timer.start()

    def close(self) -> None:
        self._equity_timer.stop()
        self._recovery_timer.stop()
        for unsubscribe in self._unsubscribe:
            try:
                unsubscribe()
            except Exception:
                log.debug("unsubscribe failed", exc_info=True)
        self._unsubscribe.clear()
        self.runner.cancel_all()

    # ------------------------------------------------------------------ helpers
    def _show_error(self, what: str, message: str) -> None:
        self.last_error = (what, message)
        self.window.statusBar().showMessage(f"{what}: {message}", 15_000)
        if self.quiet_errors:
            return
        # open(), not exec(): this runs inside a task, where a nested event loop must not run.
        box = error_box(self.window, what, message)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.open()

    async def _db(self, fn, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

    @property
    def is_live(self) -> bool:
        return TradeMode(self.stack.mode) is TradeMode.LIVE

    def _ask_live_token(self, title: str, order_count: int, gross: Decimal) -> str | None:
        """The modal LIVE dialog; returns the typed word or None. The service checks it again."""
        dialog = LiveConfirmDialog(self.stack.provider.account or "?", order_count, gross, self.window)
        dialog.setWindowTitle(title)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        token = dialog.token()
        if is_live_token(token):
            self._live_token = token
        return token

    def arm_live_word(self, token: str | None) -> None:
        """The word typed when the live session started: reused for previews and cancels only."""
        if is_live_token(token):
            self._live_token = token

    def _token_for_action(self, title: str, *, always_ask: bool = False) -> tuple[bool, str | None]:
        """(go ahead, token): paper needs none. Live reuses the word typed earlier this session for
        actions that only take risk off (cancels); ``always_ask`` (a replace can add risk) asks
        again every time."""
        if not self.is_live:
            return True, None
        if self._live_token and not always_ask:
            return True, self._live_token
        token = self._ask_live_token(title, 0, Decimal(0))
        return token is not None, token

    # ------------------------------------------------------------------ start-up
    async def load_initial(self) -> None:
        db = self.stack.db
        projects, snapshots = await self._db(queries.projects_and_snapshots, db)
        self._set_projects(projects, snapshots)
        orders, fills, positions, names, audit_records, state = await asyncio.gather(
            self._db(queries.recent_orders, db),
            self._db(queries.recent_fills, db),
            self._db(queries.positions, db),
            self._db(queries.project_names, db),
            self._db(self.stack.audit.list, limit=self.AUDIT_ROWS, newest_first=True),
            self._db(self._trading_state),
        )
        self.window.orders_model.reset(orders)
        self.window.fills_model.reset(fills)
        self.window.positions_model.set_project_names(names)
        self.window.positions_model.reset(self._with_marks(positions))
        self.window.audit_model.reset(audit_records)
        self._audit_last_id = max((r.id for r in audit_records), default=0)
        self.window.blotter_view.set_trading_state(state)
        await self._load_recovery_timeout()
        await self._sample_equity_async()  # the stored equity history (it survives restarts)
        self._refresh_charts()
        if snapshots:
            demo = next((p.id for p in projects if p.name == DEMO_PROJECT), None)
            first = next((s for s in snapshots if s.project_id == demo), snapshots[0])
            self.window.snapshots_view.select_snapshot(first.id)
            await self.show_snapshot(first.id)
        self.runner.run(self._verify_audit(), what="Verify audit chain")

    def _trading_state(self) -> TradingState:
        return TradingState(self.stack.trade_settings.read()["trading_state"])

    # ------------------------------------------------------------------ snapshots
    def _on_import_requested(self, path: str) -> None:
        project = self._project_name_for_import()
        view = self.window.snapshots_view
        self.runner.run(self.import_snapshot(path, project), what="Import snapshot", disable=[view.import_button])

    def _project_name_for_import(self) -> str:
        """A snapshot goes into the project selected in the tree (the demo project otherwise)."""
        project_id = self.window.snapshots_view.current_project_id()
        return self._project_names.get(project_id) or DEMO_PROJECT

    def _set_projects(self, projects, snapshots) -> None:
        self._project_names = {p.id: p.name for p in projects}
        self.window.snapshots_view.set_projects(projects, snapshots)

    async def import_snapshot(self, path: str, project: str):
        view = self.window.snapshots_view
        view.clear_import_errors()
        try:
            outcome = await self._db(queries.import_snapshot, self.stack.db, path, project)
        except (OSError, ValueError) as exc:
            view.show_import_errors(path, [str(exc)])
            raise UserFacingError(f"{path}: {exc}") from exc
        if not outcome.ok:
            view.show_import_errors(outcome.parsed.source_name, outcome.parsed.errors)
            return outcome
        await self._db(self.stack.audit.append, self.stack.trade.actor, "snapshot.import", "decision_snapshot",
                       outcome.snapshot_id, {"source": outcome.parsed.source_name, "project": project,
                                             "items": len(outcome.parsed.items), "created": outcome.created})
        projects, snapshots = await self._db(queries.projects_and_snapshots, self.stack.db)
        self._set_projects(projects, snapshots)
        view.select_snapshot(outcome.snapshot_id)
        await self.show_snapshot(outcome.snapshot_id)
        await self._refresh_audit()
        return outcome

    def _on_snapshot_selected(self, snapshot_id: int) -> None:
        self.runner.run(self.show_snapshot(snapshot_id), what="Load snapshot")

    async def show_snapshot(self, snapshot_id: int) -> None:
        items = await self._db(queries.snapshot_items, self.stack.db, snapshot_id)
        self.window.snapshot_items_model.reset(items)
        if self.current_preview is not None and self._preview_snapshot != snapshot_id:
            self.current_preview = None
            self.current_run_id = None
            self.window.preview_model.clear()
            self.window.risk_view.clear()
            self.window.preview_view.set_execute_enabled(False, "Preview first")

    # ------------------------------------------------------------------ preview
    def _on_preview_requested(self, params: dict) -> None:
        if self.is_live and not self._live_token:
            # A live run can only be created with the LIVE word (a service rule), so the first
            # live preview of a session asks for it; asked here, before any task starts.
            token = self._ask_live_token("Preview a LIVE run", 0, Decimal(0))
            if not is_live_token(token):
                return
        view = self.window.preview_view
        self.runner.run(self.preview(params), what="Preview", disable=[view.preview_button])

    async def preview(self, params: dict):
        snapshot_id = self.window.snapshots_view.current_snapshot_id()
        project_id = self.window.snapshots_view.current_project_id()
        if snapshot_id is None or project_id is None:
            raise UserFacingError("Select a snapshot first.")
        builder, portfolio_value = preview_params_to_run_params(params)
        result = await self.stack.trade.preview_snapshot(project_id, snapshot_id, self.stack.mode, builder=builder["builder"],
                                                         portfolio_value=portfolio_value, live_token=self._live_token)
        risk_params = await self._db(self._risk_defaults)
        self.current_run_id = result.run_id
        self.current_preview = result
        self._preview_snapshot = snapshot_id
        self.window.preview_model.reset(result.drafts)
        self.window.preview_view.set_skipped(result.skipped)
        self.window.risk_view.set_report(result.report, risk_params)
        blocked = result.blocked
        if blocked:
            self.window.preview_view.set_execute_enabled(False, "Blocked by risk: see Risk results")
        elif not result.drafts:
            self.window.preview_view.set_execute_enabled(False, "Nothing to trade: the account is at the targets")
        else:
            self.window.preview_view.set_execute_enabled(True)
        self.progress.reset(result.run_id, {d.client_order_id: PlannedOrder(d.symbol, d.side, d.reference_price, d.fx_rate)
                                            for d in result.drafts}, result.plan.gross_notional)
        self._update_progress(self.window.orders_model.records(), self.window.fills_model.records())
        return result

    def _risk_defaults(self) -> dict:
        """The limits in force: the core's defaults overlaid with what the database stores."""
        return self.stack.trade_settings.read()["risk"]

    # ------------------------------------------------------------------ execute
    def _on_execute_requested(self) -> None:
        preview = self.current_preview
        if preview is None or self.current_run_id is None:
            self._show_error("Execute", "Preview the run first.")
            return
        if preview.blocked:
            self._show_error("Execute", "The run is BLOCKED by risk; nothing can be sent.")
            return
        plan = preview.plan
        # The dialogs certify the stored plan's own numbers: exactly what execute_plan sends.
        token = None
        if self.is_live:
            token = self._ask_live_token("Send LIVE orders", plan.order_count, plan.gross_notional)
            if token is None:
                return
        elif not confirm(self.window, "Execute paper run",
                         f"Send plan {plan.id}: {plan.order_count} order(s), gross notional {plan.gross_notional:,.2f}, "
                         f"to the {self.stack.profile} account {self.stack.provider.account}?"):
            return
        view = self.window.preview_view
        self.runner.run(self.execute(self.current_run_id, token), what="Execute", disable=[view.execute_button, view.preview_button])

    async def execute(self, run_id: int, live_token: str | None = None):
        """Send the current preview's plan (refused, sending nothing, when it is too old or the
        prices moved: the trader previews again)."""
        preview = self.current_preview
        if preview is not None and preview.plan is not None and preview.run_id == run_id:
            result = await self.stack.trade.execute_plan(preview.plan.id, live_token)
        else:
            result = await self.stack.trade.execute(run_id, live_token)
        # Executing the same run again would only resume it; a new preview starts the next one.
        self.window.preview_view.set_execute_enabled(False, f"Run {run_id} sent; preview again for the next run")
        self.window.statusBar().showMessage(
            f"Run {run_id}: {len(result.sent)} sent, {len(result.already_known)} already at the broker, "
            f"{len(result.failed)} failed, {len(result.unsent)} not sent" + (f" ({result.stopped})" if result.stopped else ""), 10_000)
        await self._refresh_audit()
        return result

    # ------------------------------------------------------------------ order actions
    def _on_cancel_requested(self, order_id: int) -> None:
        go, token = self._token_for_action("Cancel a LIVE order")
        if go:
            self.runner.run(self.stack.actions.cancel(order_id, token), what=f"Cancel order {order_id}",
                            on_done=lambda _r: self._schedule_audit_refresh())

    def _on_replace_requested(self, order_id: int, quantity, limit) -> None:
        go, token = self._token_for_action("Replace a LIVE order", always_ask=True)
        if go:
            self.runner.run(self.stack.actions.replace(order_id, quantity, limit, token), what=f"Replace order {order_id}",
                            on_done=lambda _r: self._schedule_audit_refresh())

    def _on_cancel_all_requested(self) -> None:
        go, token = self._token_for_action("Cancel all LIVE orders")
        if not go:
            return
        blotter = self.window.blotter_view
        self.runner.run(self._busy(blotter, "cancel_all", lambda: self.stack.actions.cancel_all(token)), what="Cancel all",
                        on_done=lambda _r: self._schedule_audit_refresh())

    def _on_halt_requested(self) -> None:
        blotter = self.window.blotter_view
        self.runner.run(self._busy(blotter, "halt", self.stack.actions.halt), what="Halt trading",
                        on_done=self._on_trading_state)

    def _on_resume_requested(self) -> None:
        blotter = self.window.blotter_view
        self.runner.run(self._busy(blotter, "halt", self.stack.actions.resume), what="Resume trading",
                        on_done=self._on_trading_state)

    async def _busy(self, view, operation: str, start):
        """Run ``start()`` with the view's buttons for ``operation`` disabled meanwhile."""
        view.set_busy(operation, True)
        try:
            return await start()
        finally:
            view.set_busy(operation, False)

    def _on_trading_state(self, state) -> None:
        if state is not None:
            self.window.blotter_view.set_trading_state(TradingState(state))
        self._schedule_audit_refresh()

    def _on_details_requested(self, order_id: int) -> None:
        self.runner.run(self._show_details(order_id), what=f"Order {order_id}")

    async def _show_details(self, order_id: int) -> None:
        details = await self._db(queries.order_details, self.stack.db, order_id)
        dialog = OrderDetailsDialog(details.order, details.fills, [asdict(e) for e in details.events], self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.open()  # window-modal without a nested event loop inside this task
        self.details_dialog = dialog

    async def refresh_now(self) -> None:
        """Bring every panel up to date at once instead of at the next timers (screenshots)."""
        await self._refresh_audit()
        await self._sample_equity_async()
        await self.mark_positions()
        w = self.window
        for model in (w.orders_model, w.fills_model, w.positions_model, w.audit_model):
            model.flush()
        self._update_progress(w.orders_model.records(), w.fills_model.records())

    # ------------------------------------------------------------------ auto-recovery
    async def _load_recovery_timeout(self) -> None:
        values = await self._db(self.stack.trade_settings.read)
        self.recovery_timeout = float(values["auto_recovery"]["new_timeout_seconds"])

    def _on_recovery_tick(self) -> None:
        if self.stack.provider.is_connected and "Auto-recovery" not in self.runner.running():
            self.runner.run(self.recover_stuck(), what="Auto-recovery")

    async def recover_stuck(self) -> list[str]:
        """Which orders are stuck is the service's decision (from the database, not this window's
        rows); the window shows what it did."""
        handled = await self.stack.trade.recover_stuck(self.recovery_timeout)
        if handled:
            self.window.statusBar().showMessage(
                f"Auto-recovery: {len(handled)} unacknowledged order(s) canceled and looked up at the broker", 15_000)
            await self._refresh_audit()
        return handled

    # ------------------------------------------------------------------ audit
    def _on_full_verify_requested(self) -> None:
        view = self.window.audit_view
        self.runner.run(self._verify_audit(full=True), what="Verify the full audit chain", disable=[view.full_verify_button])

    async def verify_full_chain(self):
        """What "Verify full chain" does: walk every entry from the first one."""
        return await self._verify_audit(full=True)

    async def _verify_audit(self, *, full: bool = False):
        result = await self._db(self.stack.audit.verify, full=full)
        self.window.audit_view.set_chain_state(result.ok, result.first_broken_id, result.checked, full=result.full,
                                               reason=result.reason, since_id=result.since_id)
        return result

    def _schedule_audit_refresh(self) -> None:
        self.runner.run(self._refresh_audit(), what="Refresh audit log")

    async def _refresh_audit(self) -> None:
        """After an action: the entries newer than the panel's newest, and a verification from
        the stored checkpoint; neither reads the whole chain."""
        records = await self._db(self.stack.audit.entries_after, self._audit_last_id, limit=self.AUDIT_ROWS)
        if records:
            self.window.audit_model.upsert(records)
            self._audit_last_id = max(self._audit_last_id, records[-1].id)
        await self._verify_audit()

    # ------------------------------------------------------------------ reconcile, settings, theme
    def _on_reconcile_requested(self) -> None:
        self.runner.run(self._reconcile(), what="Reconcile")

    async def _reconcile(self):
        report = await self.stack.reconciler.reconcile()
        self.window.statusBar().showMessage(f"Reconciled: {report.to_dict()}", 10_000)
        await self._refresh_audit()
        return report

    def _on_theme_requested(self, name: str) -> None:
        self.window.apply_theme(name)
        if self._save_settings is not None:
            self.settings = replace(self.settings, ui=replace(self.settings.ui, theme=name))
            self.runner.run(asyncio.to_thread(self._save_settings, self.settings), what="Save settings")

    def _on_settings_requested(self) -> None:
        self.runner.run(self.open_settings(), what="Settings")

    async def open_settings(self) -> SettingsDialog:
        values = await self._db(self._settings_values_sync)
        dialog = SettingsDialog(values, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.settings_submitted.connect(lambda data: self.runner.run(self.apply_settings(data), what="Save settings"))
        dialog.open()  # window-modal without a nested event loop inside this task
        self.settings_dialog = dialog
        return dialog

    def _settings_values_sync(self) -> dict[str, Any]:
        """What the settings dialog shows; the database URL only with its password hidden."""
        trade = self.stack.trade_settings.read()
        risk, recovery = trade["risk"], trade["auto_recovery"]
        ib = self.settings.ib
        return {
            "ib": {"host": ib.host, "port": ib.port, "client_id": ib.client_id, "account": ib.account,
                   "market_data_type": ib.market_data_type},
            "risk_defaults": risk,
            "recovery": recovery,
            "database_url": self.settings.redacted_db_url,
            "theme": self.settings.ui.theme,
        }

    async def apply_settings(self, data: dict) -> None:
        """Connection, database and theme go to the settings file (used at the next start);
        risk defaults and auto-recovery to the database, where the services read them."""
        connection = data.get("ib") or {}
        ib = self.settings.ib
        ib = replace(
            ib,
            host=str(connection.get("host", ib.host)),
            port=int(connection.get("port", ib.port)),
            client_id=int(connection.get("client_id", ib.client_id)),
            account=str(connection.get("account", ib.account) or ""),
            market_data_type=str(connection.get("market_data_type", ib.market_data_type)),
        )
        changes: dict[str, Any] = {"ib": ib}
        if data.get("database_url"):
            changes["db_url"] = data["database_url"]
        if data.get("theme") in ("dark", "light"):
            changes["ui"] = replace(self.settings.ui, theme=data["theme"])
            self.window.apply_theme(data["theme"])
        self.settings = replace(self.settings, **changes)
        if self._save_settings is not None:
            await asyncio.to_thread(self._save_settings, self.settings)
        risk = data.get("risk_defaults")
        recovery = data.get("recovery")
        await self._db(self.stack.trade_settings.update, {"risk": risk, "auto_recovery": recovery})
        await self._load_recovery_timeout()
        await self._db(self.stack.audit.append, self.stack.trade.actor, "settings.update", "settings", None,
                       {"ib": connection, "database_changed": "database_url" in data})
        self.window.statusBar().showMessage("Settings saved (connection and database changes apply at the next start)",
                                            10_000)
        await self._refresh_audit()

    # ------------------------------------------------------------------ service events
    def _on_changes(self, changes: ChangeSet) -> None:
        w = self.window
        w.orders_model.apply(changes)
        w.fills_model.apply(changes)
        w.positions_model.upsert(self._with_marks(changes.positions))
        w.connection_status.set_last_event_time(datetime.now(UTC))
        if changes.fills or changes.orders:
            self._update_progress(changes.orders, changes.fills)

    def _update_progress(self, orders=(), fills=()) -> None:
        """The presenter computes; the panels only show what it says."""
        self._progress = self.progress.apply(orders, fills, now=datetime.now(UTC))
        if self._progress.run_id is not None:
            self.window.preview_view.set_progress(self._progress.filled_notional, self._progress.target_notional,
                                                  self._progress.text)
        self._refresh_charts()

    def _refresh_charts(self) -> None:
        charts = self.window.charts_view
        progress = self._progress
        charts.set_run_progress(progress.points, progress.target_notional if progress.run_id is not None else None)
        charts.set_fill_prices(progress.fill_points, progress.references,
                               {s: x.describe() for s, x in progress.slippage.items()})
        charts.set_equity(self._equity_points)

    def _sample_equity(self) -> None:
        # the equity recorder (services, started by the composition root) stores the samples;
        # the chart shows what is stored, so it survives a restart
        self.runner.run(self._sample_equity_async(), what="Account value")
        if not self.stack.provider.is_connected:
            return
        self._samples += 1
        if self._samples % self.MARKS_EVERY_N_SAMPLES == 0:
            self.runner.run(self.mark_positions(), what="Position marks")

    def _with_marks(self, positions):
        return [p if p.symbol not in self._marks else replace(p, market_price=self._marks[p.symbol]) for p in positions]

    async def mark_positions(self) -> None:
        """Market prices for the held symbols, so the positions panel shows unrealized P&L."""
        held = [p for p in self.window.positions_model.records() if p.quantity]
        symbols = sorted({p.symbol for p in held})[: self.MAX_MARKED_SYMBOLS]
        if not symbols:
            return
        prices = await self.stack.provider.market_prices(symbols)
        self._marks.update({s: p for s, p in prices.items() if p is not None})
        self.window.positions_model.upsert(self._with_marks(held))

    async def _sample_equity_async(self) -> None:
        """The stored equity snapshots of the account (P&L against the first one shown)."""
        history = await self._db(queries.equity_history, self.stack.db, self.stack.provider.account or None)
        start = history[0][1] if history else Decimal(0)
        self._equity_points = [(time, value, value - start) for time, value in history]
        self.window.charts_view.set_equity(self._equity_points)

    def _on_connection_event(self, event) -> None:
        provider = self.stack.provider
        state = str(event.state if event is not None else provider.state)
        retry_in = event.retry_in if event is not None else None
        self.window.connection_status.set_connection_state(state, retry_in)
        self.window.connection_status.set_account(provider.account or None)
        if state in ("connected", "restored"):
            self.window.connection_status.set_last_event_time(datetime.now(UTC))

    def _on_writer_health(self, health) -> None:
        """Shown in the status bar for as long as it is true (database away, events in the
        journal, events the database refused)."""
        if health.problem:
            self.window.statusBar().showMessage(f"Event writer: {health.describe()}", 0)
        else:
            self.window.statusBar().showMessage("Database reachable again: every event written", 10_000)
