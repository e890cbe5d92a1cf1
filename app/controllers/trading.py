"""Preview and execute: the preview panel, the risk panel, and the current run's progress and
slippage (computed by services.run_progress, drawn by the charts panel)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.controllers.audit import AuditController
from app.controllers.context import ConsoleContext
from app.controllers.newest import NewestAnswer
from app.tasks import UserFacingError, user_message
from services.activity_log import Level
from services.console_charts import run_caption, run_chart
from services.console_settings import risk_limit_rows
from services.core.preview_form import run_inputs
from services.core.wording import mode_word
from services.domain import FillRecord, OrderRecord, RunStatus, TradingState
from services.execution.runs.resumed_inputs import FORM
from services.live_word import live_preview_subject
from services.monitor_queries import latest_run, sent_run
from services.preview_session import ExecuteGate, PreviewSession, describe_execute, execute_needs_attention
from services.run_progress import RunProgress
from widgets.common import confirm

if TYPE_CHECKING:
    from services.execution.runs import PreviewResult

log = logging.getLogger(__name__)


class TradingController:
    def __init__(self, ctx: ConsoleContext, audit: AuditController, show_error) -> None:
        self.ctx = ctx
        self.audit = audit
        self._show_error = show_error
        self.session = PreviewSession()
        # the last plan this window sent (a preview is followed from its Execute on: until then it
        # has no progress of its own, and the last sent run's outcome stays that run's)
        self.progress = RunProgress()
        self._progress = self.progress.snapshot(datetime.now(UTC))
        self.on_previewed: Callable[[PreviewResult], Awaitable[object]] | None = None  # a new preview: its decisions shown
        # the followed run once nothing of it works any more and it filled: its trail and TCA shown
        self.on_settled: Callable[[int], Awaitable[object]] | None = None
        self._settled_run: int | None = None
        # the project whose latest run was looked for (follow_latest_run): a snapshot of another
        # one shown looks again
        self._project_looked_up: int | None = None
        self._followed_project: int | None = None  # the project of the run followed
        self._status_reading = False  # the followed run's state is being read again
        # a preview is shown only if it is the panel's newest request: an Execute clicked or
        # another preview asked after it makes its answer old (it would replace on screen the
        # plan being sent, or a newer preview's)
        self._preview_asked = NewestAnswer()
        self._busy_tasks = 0  # the preview panel's tasks in flight (a preview's tail, an Execute)
        view = ctx.window.preview_view
        view.preview_requested.connect(self._on_preview_requested)
        view.new_run_preview_requested.connect(lambda params: self._on_preview_requested(params, new_run=True))
        view.execute_requested.connect(self._on_execute_requested)
        view.form_changed.connect(self._on_form_changed)
        self._show_gate(self.session.gate())

    def set_trading_state(self, state: TradingState) -> None:
        """HALTED: Execute is off (and not green) until trading resumes."""
        halted = TradingState(state) is TradingState.HALTED
        self._show_gate(self.session.set_halted(halted))
        self.ctx.window.risk_view.set_trading_halted(halted)
        self._show_progress_line(self._progress)  # a preview blocked by the halt alone: Preview again

    def _run_busy(self, operation: str, work, what: str) -> None:
        """``work`` on the task runner with the preview panel's ``operation`` buttons off from
        the click on (not from the task's first step: an Execute clicked in between would confirm
        a plan about to be replaced); afterwards they follow the gate again (the task runner
        would re-enable them blindly: a sent run's Execute turned green again)."""
        view = self.ctx.window.preview_view
        view.set_busy(operation, True)
        self._busy_tasks += 1

        async def busy():
            try:
                return await work
            finally:
                # only the last one's end turns them back on: a preview's tail (its decisions
                # read) ending while an Execute sends turned Preview and Execute on mid-send
                self._busy_tasks -= 1
                if not self._busy_tasks:
                    view.set_busy(operation, False)

        self.ctx.runner.run(busy(), what=what)

    def _show_gate(self, gate: ExecuteGate) -> None:
        self.ctx.window.preview_view.set_execute_enabled(gate.enabled, gate.reason)

    # ------------------------------------------------------------------ preview
    def _on_preview_requested(self, params: dict, *, new_run: bool = False) -> None:
        if self.ctx.refused_while_reading("Preview"):
            return
        # A live run can only be created with the word: the session's first live preview asks for
        # it here, in the slot, before any task starts.
        live_word = self.ctx.live_word
        if live_word.must_ask_before_preview():
            snapshots = self.ctx.window.snapshots_view
            item = snapshots.tree.currentItem()
            subject = live_preview_subject(item.text(0) if item is not None else None)
            if not live_word.arm(self.ctx.ask_live_token("Preview a LIVE run", subject=subject)):
                return
        # Execute is off while a preview runs: its plan is about to be replaced
        self._run_busy("all", self.preview(params, new_run=new_run), "Preview")

    async def preview(self, params: dict, *, new_run: bool = False):
        """Preview the selected snapshot in its day's run (created once: a run that sent its
        plan refuses another one); ``new_run``: in a new run instead (Preview in a new run,
        when the day's run already executed; the demo's screenshot flow, which trades the same
        sample snapshot on every start). The new run counts the other run's orders not yet
        filled as filled, as every preview of the project does."""
        snapshots = self.ctx.window.snapshots_view
        snapshot_id, project_id = snapshots.current_snapshot_id(), snapshots.current_project_id()
        if snapshot_id is None or project_id is None:
            raise UserFacingError("Select a snapshot first.")
        stack = self.ctx.stack
        form = self.ctx.window.preview_view.field_texts()  # what the form said when this preview was asked
        ticket = self._preview_asked.ask()
        builder, portfolio_value = run_inputs(params)
        result = await stack.trade.preview_snapshot(project_id, snapshot_id, stack.mode, builder=builder,
                                                    portfolio_value=portfolio_value, live_token=self.ctx.live_word.token,
                                                    new_run=new_run, wording=FORM)
        # the limits in force: the core's defaults overlaid with what the database stores
        risk_params = (await self.ctx.db(stack.trade_settings.read))["risk"]
        if not self._preview_asked.is_newest(ticket) or snapshots.current_snapshot_id() != snapshot_id:
            return result  # old: a newer preview or an Execute was asked, or another snapshot selected
        self.session.start(result, snapshot_id, form)
        w = self.ctx.window
        gate = self.session.form_edited(w.preview_view.field_texts())  # edited while it ran
        w.preview_model.reset(result.drafts)
        w.preview_view.set_subject(result.subject_line)
        w.preview_view.set_skipped(result.skipped, result.notes)
        w.preview_view.set_targeted(result.targeted)
        w.risk_view.set_report(result.report, risk_limit_rows(risk_params))
        self.ctx.status(self.session.previewed_line())  # the activity log's record of what was reviewed
        self._show_gate(gate)
        w.preview_view.set_busy("execute", False)  # the plan shown is the one Execute confirms and sends
        self.show_progress()  # the preview, not sent, beside the last sent plan's outcome
        if self.on_previewed is not None:
            await self.on_previewed(result)
        return result

    def _on_form_changed(self) -> None:
        """A field edited: whether Execute may send is the session's to say (``form_edited``)."""
        if self.session.previewed_form is not None:
            self._show_gate(self.session.form_edited(self.ctx.window.preview_view.field_texts()))
            self.show_progress()  # the bar says the plan shown no longer matches the form

    def forget_preview_unless(self, snapshot_id: int) -> None:
        """Another snapshot is shown: the preview of the previous one no longer applies."""
        if self.session.stale_for(snapshot_id):
            self._forget_shown_preview()
            self.show_progress()  # its "not sent" goes; the last sent plan's outcome stays
        if self.ctx.window.snapshots_view.current_project_id() != self._project_looked_up:
            self.ctx.runner.run(self.follow_latest_run(), what="Run progress")

    def _forget_shown_preview(self) -> None:
        """The preview no longer shown: its session, its table and every line about it (whose plan,
        its working-orders note and skipped symbols, what it targets), its risk results, the gate."""
        self.session.clear()
        w = self.ctx.window
        w.preview_model.clear()
        w.preview_view.set_subject("")
        w.preview_view.set_skipped(())
        w.preview_view.set_targeted()
        w.risk_view.clear()
        self._show_gate(self.session.gate())

    def forget_database(self) -> None:
        """The database was replaced under the window (dropped and created again, restored): the
        preview's run and plan, and the run followed, were the old database's; under their ids
        the new one holds another run or none, and Execute would send that. Forgotten, as a
        preview of another snapshot is; the latest run is looked for again in the new one."""
        self._preview_asked.ask()  # a preview still in flight was asked of the old one
        self._forget_shown_preview()
        self.progress = RunProgress()
        self._followed_project = self._project_looked_up = None
        self._settled_run = None
        self.show_progress()

    # ------------------------------------------------------------------ execute
    def _on_execute_requested(self) -> None:
        if self.ctx.refused_while_reading("Execute"):
            return
        session, stack = self.session, self.ctx.stack
        refusal = session.refusal()  # the one rule of what Execute may not do, no preview included
        if refusal is not None:
            self._show_error("Execute", refusal)
            return
        plan, run_id = session.plan, session.run_id
        assert plan is not None and run_id is not None  # else refused above ("Preview the run first.")
        # The dialogs certify the stored plan's own numbers: exactly what execute_plan sends.
        # Both name the project and snapshot: several projects trade one account.
        preview = session.preview
        assert preview is not None  # a plan is shown, so is its preview
        token = None
        if self.ctx.live_word.is_live:
            token = self.ctx.ask_live_token("Send LIVE orders", plan.order_count, plan.gross_notional,
                                            about=preview.confirm_rows(),
                                            currency=None if preview.subject is None else preview.subject.currency)
            if token is None:
                return
        elif not confirm(self.ctx.window, f"Execute {mode_word(str(stack.mode), stack.profile)} run",
                         preview.confirm_question(stack.profile, stack.provider.account)):
            return
        self._preview_asked.ask()  # a preview still in flight must not replace the plan being sent
        self._run_busy("all", self.execute(run_id, token, confirmed_plan=plan.id), "Execute")

    async def execute(self, run_id: int, live_token: str | None = None, *, confirmed_plan: int | None = None):
        """Send the current preview's plan (refused, sending nothing, when it is too old or the
        prices moved: the trader previews again); ``confirmed_plan``: the one the dialog showed,
        sent exactly or not at all."""
        earlier = self._follow_preview_of(run_id)
        try:
            result = await self.session.send(self.ctx.stack.trade, run_id, live_token, confirmed_plan=confirmed_plan)
        except Exception as refusal:
            await self._unless_any_went(earlier, refusal)
            raise
        self._show_gate(self.session.mark_sent(run_id))
        self.ctx.window.risk_view.set_sent(run_id)  # its headline said READY over orders already filled
        self.ctx.status(describe_execute(run_id, result),
                        level=Level.WARNING if execute_needs_attention(result) else Level.INFO)
        await self.audit.refresh()
        return result

    def _follow_preview_of(self, run_id: int) -> RunProgress:
        """From the send on, the progress follows the preview's plan (its fills stream in while
        the rest is sent); returns what was followed before."""
        earlier, preview = self.progress, self.session.preview
        if preview is not None and preview.plan is not None and preview.run_id == run_id:
            self.progress = RunProgress()
            self.progress.reset(run_id, self.session.planned_orders(), preview.plan.gross_notional, preview.plan.id,
                                project=None if preview.subject is None else preview.subject.project,
                                currency=preview.base_currency)
            self._followed_project = preview.plan.project_id
        return earlier

    async def _unless_any_went(self, earlier: RunProgress, refusal: Exception) -> None:
        """A send that failed: when none of the plan's orders was stored (refused, nothing sent),
        the progress follows the earlier plan again. A failure to read the progress is said after
        the send's ``refusal``, not instead of it: raised from here, it replaced the refusal in
        what the trader saw, who then did not learn why nothing was sent."""
        if self.progress is earlier:
            return
        try:
            await self.refresh_progress()
        except Exception as failure:
            log.warning("the progress after a failed send could not be read", exc_info=True)
            refusal.add_note(f"the run's progress could not be read again: {user_message(failure)}")
        finally:
            if not self.progress.has_orders():
                self.progress = earlier
                self.show_progress()

    # ------------------------------------------------------------------ progress
    async def follow_latest_run(self) -> None:
        """The selected project's latest run, still executing or executed today, with its state:
        at start-up (the window followed only what it sent itself, and said "no run" after a
        restart with a run in the database) and when a snapshot of another project is shown. A
        run this window sent of the selected project stays followed."""
        from services.execution.runs.planning import trading_day

        project = self.ctx.window.snapshots_view.current_project_id()
        self._project_looked_up = project
        if project is None or (self.progress.run_id is not None and self._followed_project == project):
            self.show_progress()
            return
        stack = self.ctx.stack
        found = await self.ctx.db(latest_run, stack.db, project, stack.mode, trading_day())
        if self.ctx.window.snapshots_view.current_project_id() != project:
            return  # another project was selected meanwhile: its own look-up follows
        progress = RunProgress()
        if found is not None:
            progress.reset(found.run_id, found.planned, found.target, found.plan_id, found.status,
                           project=found.project, currency=found.currency, ticket=found.ticket)
        self.progress, self._followed_project = progress, project
        await self.refresh_progress()

    async def follow_sent_run(self, run_id: int) -> None:
        """A run this window sent other than by Execute (the order ticket's, a run of its own with
        a one-order plan): the newest run, so the progress follows it, as it did after a restart
        (follow_latest_run) but not before, when the chart kept the last Execute's run. A newer
        run followed meanwhile (an Execute while this was read), or a snapshot's run still
        working, stays followed (RunProgress.gives_way_to); an earlier ticket's run gives way,
        working or not."""
        found = await self.ctx.db(sent_run, self.ctx.stack.db, run_id)
        if found is None or not self.progress.gives_way_to(run_id):
            return
        progress = RunProgress()
        progress.reset(found.run_id, found.planned, found.target, found.plan_id, found.status, project=found.project,
                       currency=found.currency, ticket=found.ticket)
        self.progress, self._followed_project = progress, found.project_id
        await self.refresh_progress()  # what streamed in before it was followed: read back

    async def refresh_progress(self) -> None:
        """The followed run's orders and fills (and its state, when it is shown) as the
        database holds them."""
        run_id = self.progress.run_id
        if run_id is None:
            self.show_progress()
            return
        view = await self.ctx.stack.trade.view(run_id)
        if self.progress.run_id != run_id:
            return  # another run followed meanwhile
        if self.progress.status is not None:
            self.progress.set_status(view.run.status)
        self.show_progress(view.orders, view.fills)

    async def _read_status(self) -> None:
        try:
            await self.refresh_progress()
        finally:
            self._status_reading = False

    def _show_progress_line(self, progress) -> None:
        line = self.session.progress_line(progress)
        if line:
            self.ctx.window.preview_view.set_progress(progress.filled_notional, progress.target_notional, line)
        else:
            self.ctx.window.preview_view.clear_progress()

    def show_progress(self, orders: Iterable[OrderRecord] = (), fills: Iterable[FillRecord] = (), *,
                      recorded: bool = True) -> None:
        """The presenter computes; the panels only show what it says. ``recorded=False``: orders
        as the broker reports them while the database does not answer (an order canceled at the
        broker stopped counting as working only once written): shown, but the run's stored
        state is not read, nor its settlement acted on, before they are written."""
        self._progress = progress = self.progress.apply(orders, fills, now=datetime.now(UTC))
        if (recorded and progress.status is RunStatus.RUNNING and not progress.working and self.progress.has_orders()
                and not self._status_reading):
            # nothing of the shown run works any more: the writer ended it, its state is read again
            self._status_reading = True
            self.ctx.runner.run(self._read_status(), what="Run progress")
        self._show_progress_line(progress)
        charts = self.ctx.window.charts_view
        # whose run: the ticket's may be another project's than the one selected
        charts.set_run_caption(run_caption(progress))
        charts.show_run_chart(run_chart(progress))
        run_id = progress.run_id
        if (recorded and run_id is not None and progress.settled and run_id != self._settled_run
                and self.on_settled is not None):
            self._settled_run = run_id  # once per run: a later correction is not a new settlement
            self.ctx.runner.run(self.on_settled(run_id), what="Run settled")
