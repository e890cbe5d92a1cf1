"""The blotter's order actions (cancel, replace, cancel all, halt / resume, details), reconcile
with the broker, and auto-recovery (its timer and Trading -> Recover now). Every rule is the
services': services.execution.actions.OrderActions, the trade service and
services.execution.recovery.AutoRecovery decide, this shows what they did."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QObject, QTimer

from app.controllers.audit import AuditController
from app.controllers.context import ConsoleContext
from app.controllers.newest import NewestAnswer
from services import console_queries as queries
from services.activity_log import Level
from services.core.replace_rules import replace_becomes
from services.core.wording import counted, describe_order
from services.domain import TradingState
from services.execution.action_outcomes import STATE_CHANGED_ELSEWHERE, Halted, trading_state_line
from services.execution.cancel_all_outcome import global_cancel_reach
from services.execution.errors import ExecutionError
from services.execution.headless import RECOVERY_INTERVAL_SECONDS
from services.execution.reconcile_words import describe_reconcile, found_something
from services.execution.recovery_outcomes import RecoveryResult
from widgets.dialogs.order_details import OrderDetailsDialog
from widgets.views.blotter import CANCEL_BROKER, CANCEL_CONSOLE


class OrdersController:
    def __init__(self, ctx: ConsoleContext, audit: AuditController, parent: QObject,
                 on_trading_state: Callable[[TradingState], None] | None = None) -> None:
        self.ctx = ctx
        self.audit = audit
        self._on_trading_state = on_trading_state  # HALTED / ACTIVE now in force (Execute follows it)
        self.details_dialog: OrderDetailsDialog | None = None
        blotter = ctx.window.blotter_view
        blotter.cancel_requested.connect(self._on_cancel_requested)
        blotter.replace_requested.connect(self._on_replace_requested)
        blotter.replace_check_requested.connect(self._on_replace_check_requested)
        # the Replace dialog asks after each pause in the typing: the checks overlap, only the newest is shown
        self._replace_check_asked = NewestAnswer()
        blotter.cancel_all_clicked.connect(self._on_cancel_all_clicked)
        blotter.cancel_all_requested.connect(self._on_cancel_all_requested)
        blotter.halt_clicked.connect(self._on_halt_clicked)
        blotter.halt_requested.connect(self._on_halt_requested)
        blotter.resume_requested.connect(self._on_resume_requested)
        blotter.details_requested.connect(self._on_details_requested)
        # feedback that would otherwise be silence: nothing to cancel, rows written
        blotter.notice.connect(lambda text: ctx.status(text))
        blotter.exported.connect(lambda path, n: ctx.status(f"Exported {counted(n, 'order')} to {path}"))
        ctx.window.fills_view.exported.connect(lambda path, n: ctx.status(f"Exported {counted(n, 'fill')} to {path}"))
        ctx.window.reconcile_requested.connect(self._on_reconcile_requested)
        ctx.window.recover_requested.connect(self._on_recover_requested)
        # Auto-recovery (docs/plans.md, plan 003): a pass every RECOVERY_INTERVAL_SECONDS, as `serve`
        # runs them; the service reads its settings (timeout, retries, price deviation, hours) at every pass.
        self._recovery_timer = QTimer(parent)
        self._recovery_timer.setInterval(round(RECOVERY_INTERVAL_SECONDS * 1000))
        self._recovery_timer.timeout.connect(self._on_recovery_tick)
        self._recovery_timer.start()
        # a halt or Cancel All the database did not answer, recorded once it does: said, as its
        # "not recorded yet" was (services.execution.unrecorded)
        actions = getattr(ctx.stack, "actions", None)
        self._unsubscribe_recorded = (actions.unrecorded.subscribe(self._on_recorded_late) if actions is not None
                                      else lambda: None)

    def stop(self) -> None:
        self._recovery_timer.stop()
        self._unsubscribe_recorded()

    def _on_recorded_late(self, words: str) -> None:
        self.ctx.status(words)  # the service's words
        self.audit.schedule_refresh()

    async def load(self) -> None:
        """The trading state in force."""
        values = await self.ctx.db(self.ctx.stack.trade_settings.read)
        self._set_trading_state(TradingState(values["trading_state"]))

    def show_trading_state(self, state: TradingState) -> None:
        """The state another process set (``trading-console halt``, the change feed): said in the
        activity log when it changes what the window showed (a halt from elsewhere stops Execute;
        the trader must not find out only from a greyed button)."""
        changed = state is not self.ctx.window.blotter_view.trading_state
        self._set_trading_state(state)
        if changed and state is not self._changing_to:  # this window's own halt says itself when it returns
            self._say_trading_state(state, STATE_CHANGED_ELSEWHERE)

    def _set_trading_state(self, state: TradingState) -> None:
        """Shown beyond the Halt button: the window's banner, and Execute follows it."""
        self.ctx.window.blotter_view.set_trading_state(state)
        self.ctx.window.set_trading_state(state)
        if self._on_trading_state is not None:
            self._on_trading_state(state)

    def use_trade_settings(self, values: dict) -> None:
        """``values`` as TradeSettingsService.read() returns them. Nothing to keep: auto-recovery
        reads its settings at every pass."""

    # ------------------------------------------------------------------ order actions
    def _order_name(self, order_id: int) -> str:
        order = self.ctx.window.orders_model.get(order_id)
        return order.client_order_id if order is not None else f"order {order_id}"

    def _on_cancel_requested(self, order_id: int) -> None:
        if self.ctx.refused_while_reading("Cancel"):
            return
        order = self.ctx.window.orders_model.get(order_id)
        go, token = self.ctx.token_for_action(
            "Cancel the LIVE order", subject=[("Order", describe_order(order))] if order is not None else ())
        if go:
            # the row as shown: what the cancel goes by if the database does not answer (cancels always go out)
            self.ctx.runner.run(self.ctx.stack.actions.cancel(order_id, token, shown=order), what=f"Cancel {self._order_name(order_id)}",
                                on_done=self._cancel_done)

    def _cancel_done(self, canceled) -> None:
        """Said as Replace and Cancel All say theirs: without it the status bar kept the last
        action's line (a Replace's "modified at the broker") over the canceled order. The
        service's note (the order was being sent as it was canceled) is said as a warning."""
        if canceled is not None:
            # the service's words (Canceled.headline, the `cancel` command's too), and where the
            # broker's answer, which the window does not wait for, shows
            said = canceled.headline_before_the_answer()
            if canceled.note:  # not the plain way: a warning that stays
                self.ctx.status(said, timeout_ms=0, level=Level.WARNING)
            else:
                self.ctx.status(said)
        self.audit.schedule_refresh()

    def _on_replace_check_requested(self, order_id: int, quantity, limit, stop) -> None:
        self.ctx.runner.run(self.check_replace(order_id, quantity, limit, stop), what="Check replace")

    async def check_replace(self, order_id: int, quantity, limit, stop):
        """The Replace dialog's verdict of the replace as typed: the service's check-only call,
        the replace's own gates (nothing sent); an answer a newer check overtook is not shown."""
        asked = self._replace_check_asked.ask()
        blotter, typed = self.ctx.window.blotter_view, (quantity, limit, stop)
        try:
            check = await self.ctx.stack.actions.check_replace(order_id, quantity, limit, stop)
        except ExecutionError as exc:
            if self._replace_check_asked.is_newest(asked):
                blotter.show_replace_problem(order_id, typed, str(exc))
            return None
        if self._replace_check_asked.is_newest(asked):
            blotter.show_replace_check(order_id, typed, check.may_replace, check.reasons())
        return check

    def _on_replace_requested(self, order_id: int, quantity, limit, stop) -> None:
        self._replace_check_asked.ask()  # a check still on its way is of a dialog now closed
        if self.ctx.refused_while_reading("Replace"):
            return
        order = self.ctx.window.orders_model.get(order_id)
        # what the order becomes by the replace's own rule and words (the result's headline says it alike)
        subject = ([("Order", describe_order(order)), ("Becomes", replace_becomes(order, quantity, limit, stop))]
                   if order is not None else [])
        go, token = self.ctx.token_for_action("Replace the LIVE order", adds_risk=True, subject=subject)
        if go:
            self.ctx.runner.run(self.ctx.stack.actions.replace(order_id, quantity, limit, token, stop_price=stop),
                                what=f"Replace {self._order_name(order_id)}", on_done=self._replace_done)

    def _replace_done(self, result) -> None:
        # what the order became, as the LIVE dialog says it: "modified at the broker" alone left
        # the trader's record of the session without the new quantity and limit
        if result is not None:  # the service's words (ReplaceResult.headline, the `replace` command's too)
            self.ctx.status(result.headline(self._order_name(result.order_id)))
        self.audit.schedule_refresh()

    def _on_cancel_all_clicked(self) -> None:
        """The service counts this console's working orders, says which of them another API
        client id placed (one by one cannot cancel them from here) and words what the global
        cancel does to the login's other accounts; the question comes after, from the loop rather than
        inside the task (a modal question runs an event loop of its own)."""
        actions, blotter = self.ctx.stack.actions, self.ctx.window.blotter_view

        def count() -> tuple[int | None, list[str]]:  # blocking: the worker thread's; None: the database did not answer
            return actions.cancel_all_question_counts()

        def ask(working: int | None, placed_elsewhere: list[str]) -> None:
            blotter.choose_cancel_all_scope(working, actions.global_cancel_also(), placed_elsewhere)

        self.ctx.runner.run(self.ctx.db(count), what="Cancel all",
                            on_done=lambda counted: QTimer.singleShot(0, lambda: ask(*counted)))

    def _on_cancel_all_requested(self, scope: str = CANCEL_CONSOLE) -> None:
        """In LIVE mode the word is asked with what the global cancel does, at the broker and to
        the login's other accounts (their runs stop, their unsent orders are canceled): the
        service's words of the first question, read again before the word is typed."""
        actions = self.ctx.stack.actions
        everything = scope == CANCEL_BROKER
        title = "Cancel every LIVE order at the broker" if everything else "Cancel this console's LIVE orders"
        what = (f"IB's global cancel: {global_cancel_reach(self.ctx.stack.provider.login_accounts())}" if everything
                else "one cancel for each working order this console knows")
        also = actions.global_cancel_also() if everything else ""
        go, token = self.ctx.token_for_action(title, subject=[("Cancel all", what)]
                                              + ([("Other accounts", also)] if also else []))
        if go:
            self.ctx.runner.run(self._busy("cancel_all", lambda: actions.cancel_all(token, one_by_one=not everything)),
                                what="Cancel all", on_done=self._cancel_all_done)

    def _cancel_all_done(self, order_ids) -> None:
        if order_ids is not None:
            # what it did and what may still work at the broker: the service's words
            # (CanceledOrders.headline and left_lines, the commands' too), each note a warning
            # that stays until the next message
            self.ctx.status(order_ids.headline(self.ctx.window.activity_log.confirmed_canceled(order_ids)))
            for line in order_ids.left_lines():
                self.ctx.status(line, timeout_ms=0, level=Level.WARNING)
        self.audit.schedule_refresh()

    def _on_halt_clicked(self) -> None:
        """As Cancel All's: the service counts the orders working at the broker, which the halt
        leaves open; the question comes after, from the loop."""
        actions, blotter = self.ctx.stack.actions, self.ctx.window.blotter_view
        self.ctx.runner.run(self.ctx.db(actions.halt_question_count), what="Halt trading",
                            on_done=lambda working: QTimer.singleShot(0, lambda: blotter.confirm_halt(working)))

    def _on_halt_requested(self) -> None:
        self.ctx.runner.run(self._changing(TradingState.HALTED, self.ctx.stack.actions.halt), what="Halt trading",
                            on_done=self._halt_done)

    def _halt_done(self, halted: Halted | None) -> None:
        """The state, and the runs' orders not sent yet that the halt canceled (the service's words,
        the `halt` command's too)."""
        if halted is None:
            self._show_trading_state(None)
        else:
            self._show_trading_state(halted.state, also=halted.also())

    def _on_resume_requested(self) -> None:
        self.ctx.runner.run(self._changing(TradingState.ACTIVE, self.ctx.stack.actions.resume), what="Resume trading",
                            on_done=self._show_trading_state)

    # the state this window's own Halt / Resume is setting: the change feed may bring it back
    # before the action returns, and it is then this window's, not another process's, to say
    _changing_to: TradingState | None = None

    async def _changing(self, state: TradingState, start):
        """``start()`` (a halt or resume) with ``_changing_to`` set meanwhile; one that failed
        forgets it (``on_done``, which does on success, is not called): kept, the next change of
        the same state by another process was never said."""
        self._changing_to = state
        try:
            return await self._busy("halt", start)
        except BaseException:
            self._changing_to = None
            raise

    async def _busy(self, operation: str, start):
        """Run ``start()`` with the blotter's buttons for ``operation`` disabled meanwhile."""
        blotter = self.ctx.window.blotter_view
        blotter.set_busy(operation, True)
        try:
            return await start()
        finally:
            blotter.set_busy(operation, False)

    def _show_trading_state(self, state, also: str = "") -> None:
        self._changing_to = None
        if state is not None:
            self._set_trading_state(TradingState(state))
            self._say_trading_state(TradingState(state), also=also)
        self.audit.schedule_refresh()

    def _say_trading_state(self, state: TradingState, why: str = "", *, also: str = "") -> None:
        """The activity log's line, the trader's own halt or another process's alike: what the
        state lets out, and a halt as a warning (it said a bare "Trading HALTED" as info);
        ``also``: what the change did besides."""
        self.ctx.window.activity_log.note_trading_state(state, trading_state_line(state, why, also=also))

    def _on_details_requested(self, order_id: int) -> None:
        self.ctx.runner.run(self._show_details(order_id), what=f"Order {order_id}")

    async def _show_details(self, order_id: int) -> None:
        details = await self.ctx.db(queries.order_details, self.ctx.stack.db, order_id)
        self.details_dialog = OrderDetailsDialog.open_on(details, self.ctx.window)

    # ------------------------------------------------------------------ reconcile
    def _on_reconcile_requested(self) -> None:
        # the database gone or not read again yet: the re-read ends with its own reconciliation,
        # and one now failed on the missing tables as an error box
        if self.ctx.refused_while_reading("Reconcile"):
            return
        self.ctx.runner.run(self.reconcile(), what="Reconcile")

    async def reconcile(self):
        report = await self.ctx.stack.reconciler.reconcile()
        self.ctx.status(describe_reconcile(report), level=Level.WARNING if found_something(report) else Level.INFO)
        await self.audit.refresh()
        return report

    # ------------------------------------------------------------------ auto-recovery
    def _on_recovery_tick(self) -> None:
        if self.ctx.reading_again:  # the new database's tables may still be being created
            return
        if self.ctx.stack.provider.is_connected and not {"Auto-recovery", "Recover now"} & set(self.ctx.runner.running()):
            # a pass the database did not answer (dropped under the window before it noticed, the
            # server away) is said calmly once, as the other timers' passes are
            self.ctx.run_pass(self.recover, "Auto-recovery")

    def _on_recover_requested(self) -> None:
        if self.ctx.refused_while_reading("Recover now"):
            return
        self.ctx.runner.run(self.recover(manual=True), what="Recover now")

    async def recover(self, now: datetime | None = None, *, manual: bool = False) -> RecoveryResult:
        """One pass (``now``: the service's clock, for tests). Which orders are stuck and what to
        do is the service's decision (from the database, not this window's rows); the window
        shows what it did: always when asked, otherwise when it did something."""
        result = await self.ctx.stack.recovery.run_once(now)
        if result.acted or manual:
            self.ctx.status(result.headline(), 15_000)  # the service's words, `recover`'s and `serve`'s too
        if result.considered:
            await self.audit.refresh()
        return result
