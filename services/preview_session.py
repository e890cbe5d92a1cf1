"""The console's current preview and what may be done with it (Qt-free).

The window previews one run at a time; this keeps that preview, says whether Execute is allowed
and why not, and sends exactly the stored plan the trader saw. The trade service enforces every
rule again (risk, halt, live word, plan age): this only spares the trader a pointless click.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from services.console_risk import RESUMED_SINCE, RESUMED_SINCE_SHORT, blocked_by_the_halt_alone, risk_verdict
from services.run_progress import PlannedOrder, ProgressSnapshot

if TYPE_CHECKING:  # annotations only: no import of the execution layer at run time
    from services.core.plans import Plan
    from services.execution.runs import ExecuteResult, PreviewResult


class ExecuteGate(NamedTuple):
    enabled: bool
    reason: str = ""  # shown on the disabled button


NO_PREVIEW = ExecuteGate(False, "Preview first")
HALTED_GATE = ExecuteGate(False, "Trading is HALTED: resume trading to send orders")
# the preview form edited since the plan was built: Execute would send the plan, not what the form says
FORM_CHANGED = "The form changed since the preview: Preview again to send what it says (or put the fields back)"
# the way on from a preview of a run that executed another plan (``superseded``), said on the
# run-progress bar beside Execute, which stays off: before, only Execute's tooltip said it
NEW_RUN_STEP = "Ctrl+Shift+P previews in a new run"
FORM_CHANGED_SHORT = "the form changed since, Preview again"  # the run-progress bar's share of FORM_CHANGED


class PreviewSession:
    def __init__(self) -> None:
        self.preview: PreviewResult | None = None
        self.run_id: int | None = None
        self.snapshot_id: int | None = None  # the snapshot the preview was built from
        self.sent_run_id: int | None = None  # the preview's plan went out: Execute stays off
        self.halted = False  # trading HALTED: nothing can be sent, whatever the preview says
        # the preview form's fields as the current preview was asked, and whether they no longer
        # say that (a lot size typed after it): Execute is off until the trader previews again or
        # puts them back
        self.previewed_form: Mapping[str, str] | None = None
        self.form_changed = False

    def start(self, preview: PreviewResult, snapshot_id: int, form: Mapping[str, str] | None = None) -> ExecuteGate:
        """A new preview; ``form``: the preview form's fields as it was asked (``form_edited``)."""
        self.preview = preview
        self.run_id = preview.run_id
        self.snapshot_id = snapshot_id
        self.sent_run_id = None
        self.previewed_form = None if form is None else dict(form)
        self.form_changed = False
        return self.gate()

    def previewed_line(self) -> str:
        """The activity log's line for the preview shown: whose plan, its run and the risk
        headline ("Previewed Project Demo momentum · snapshot momentum_2026-11-21.json in run 3:
        READY — 12 orders pass every rule"); a preview left no line there, so a trader scrolling
        back saw orders sent with nothing saying what was reviewed before them. "" without one."""
        if self.preview is None:
            return ""
        subject = self.preview.subject_line or "the snapshot"
        verdict = risk_verdict(self.preview.report, self.halted)
        return f"Previewed {subject} in run {self.preview.run_id}: {verdict.text}"

    def clear(self) -> None:
        self.preview = None
        self.run_id = None
        self.sent_run_id = None
        self.previewed_form = None
        self.form_changed = False

    def mark_sent(self, run_id: int) -> ExecuteGate:
        """The plan was sent: executing it again would only re-send (or reconcile) the same
        orders; the next run starts with a new preview."""
        self.sent_run_id = run_id
        return self.gate()

    def form_edited(self, form: Mapping[str, str]) -> ExecuteGate:
        """The preview form's fields now (edited after the preview was asked, or while it ran):
        Execute would send the plan shown, not what the form says (a lot size of 10 typed, the
        plan of lot 1 sent), so it is off while they differ from the previewed ones."""
        self.form_changed = self.previewed_form is not None and dict(form) != self.previewed_form
        return self.gate()

    def set_halted(self, halted: bool) -> ExecuteGate:
        self.halted = halted
        return self.gate()

    @property
    def plan(self) -> Plan | None:
        return self.preview.plan if self.preview is not None else None

    def stale_for(self, snapshot_id: int) -> bool:
        """Another snapshot was selected: its preview no longer applies."""
        return self.preview is not None and self.snapshot_id != snapshot_id

    def gate(self) -> ExecuteGate:
        preview = self.preview
        if self.halted:
            return HALTED_GATE
        if preview is None:
            return NO_PREVIEW
        if self.sent_run_id is not None:
            return sent_gate(self.sent_run_id)
        if preview.run_executed_another:
            return ExecuteGate(False, superseded(preview))
        if preview.blocked:
            if blocked_by_the_halt_alone(preview.report):  # not halted now: returned above
                return ExecuteGate(False, "Blocked: " + RESUMED_SINCE)
            return ExecuteGate(False, "Blocked by risk: see Risk results")
        if not preview.drafts:
            return ExecuteGate(False, "Nothing to trade: the account is at the targets")
        if self.form_changed:
            return ExecuteGate(False, FORM_CHANGED)
        return ExecuteGate(True)

    def refusal(self) -> str | None:
        """Why Execute cannot even be asked for (None: ask the trader to confirm)."""
        if self.halted:
            return "Trading is HALTED: resume trading first."
        if self.preview is None or self.preview.plan is None or self.run_id is None:
            return "Preview the run first."
        if self.sent_run_id is not None:
            return f"Run {self.sent_run_id}'s plan was sent; preview again for the next orders."
        if self.preview.run_executed_another:
            return superseded(self.preview) + "."
        if self.preview.blocked:
            if blocked_by_the_halt_alone(self.preview.report):
                return "The run is BLOCKED: " + RESUMED_SINCE + "."
            return "The run is BLOCKED by risk; nothing can be sent."
        if self.form_changed:
            return FORM_CHANGED + "."
        return None

    def unsent_note(self) -> str:
        """The current preview while it is not sent ("" otherwise): the run progress beside it is
        the last sent plan's, never this one's "0 of N filled" (nothing of it went out)."""
        preview = self.preview
        if preview is None or preview.plan is None or self.sent_run_id is not None:
            return ""
        note = f"plan {preview.plan.id} (run {preview.run_id}) previewed, not sent"
        if preview.run_executed_another:
            note += f": the run executed plan {preview.executed_plan_id}; {NEW_RUN_STEP}"
        elif preview.blocked and not self.halted and blocked_by_the_halt_alone(preview.report):
            # short: the last sent plan's outcome follows on the same bar (the long words were elided)
            note += f": {RESUMED_SINCE_SHORT}"
        elif preview.blocked:
            # Execute only greys out: the line beside it says why and where the reasons are
            note += ": BLOCKED by risk, see Risk results"
        elif self.form_changed:
            # the table still shows the plan of the fields as they were (a trader's walk under Xvfb:
            # Execute greyed out with nothing on screen saying the plan no longer matched the form)
            note += f": {FORM_CHANGED_SHORT}"
        return note

    def progress_line(self, followed: ProgressSnapshot) -> str:
        """What the run-progress bar says: the preview not sent yet, then the last sent plan's
        outcome (that plan's own numbers); "" when there is neither."""
        note, outcome = self.unsent_note(), followed.text
        # no preview: a run followed from before a restart, the window's own preview not made yet
        if self.preview is not None and followed.plan_id is not None and followed.plan_id == self.preview.plan_id:
            note = ""  # its send failed part way: some of it went, and the outcome says how much
        if note and outcome:
            return f"{note} · last sent: {outcome}"
        return note or outcome

    def planned_orders(self) -> dict[str, PlannedOrder]:
        """What the plan said of each order, by client order id (for run progress and slippage)."""
        drafts = self.preview.drafts if self.preview is not None else ()
        return {d.client_order_id: PlannedOrder(d.symbol, d.side, d.reference_price, d.fx_rate, d.quantity) for d in drafts}

    async def send(self, trade, run_id: int, live_token: str | None = None, *,
                   confirmed_plan: int | None = None) -> ExecuteResult:
        """The current preview's stored plan when ``run_id`` is its run (refused, sending nothing,
        when the plan is too old or prices moved); any other run is previewed and sent anew.
        ``confirmed_plan``: the plan whose numbers the trader confirmed (the LIVE or paper
        dialog): exactly it is sent, or nothing, when a preview that finished while the dialog
        was open made another plan current, or its stored rows changed since (its content hash)."""
        preview = self.preview
        plan = preview.plan if preview is not None and preview.run_id == run_id else None
        current = None if plan is None else plan.id
        if confirmed_plan is not None and current != confirmed_plan:
            from services.execution.errors import Refused  # the execution layer, only when refusing

            raise Refused(f"nothing sent: you confirmed plan {confirmed_plan}, but the preview changed since "
                          f"({'plan ' + str(current) if current is not None else 'no plan'} is current); "
                          f"check the new plan and execute again", code="plan_changed")
        if plan is not None:
            # the plan as the dialogs showed it: the one stored must still hash to it when it is sent
            return await trade.execute_plan(plan.id, live_token, confirmed_hash=plan.content_hash)
        return await trade.execute(run_id, live_token)


def superseded(preview: PreviewResult) -> str:
    # the service's rule (execute_plan refuses it, plan_superseded), said before the click
    return (f"Run {preview.run_id} already executed plan {preview.executed_plan_id}: plan {preview.plan_id} "
            "can be reviewed, not sent; Preview in a new run (Ctrl+Shift+P) to trade the snapshot again")


def sent_gate(run_id: int) -> ExecuteGate:
    # Executing the same run again would only resume it; a new preview starts the next one.
    return ExecuteGate(False, f"Run {run_id} sent; preview again for the next run")


def describe_execute(run_id: int, result: ExecuteResult) -> str:
    # the send's counts in the words `execute` prints too (ExecuteResult.counts_said)
    text = f"Run {run_id}: {result.counts_said()}"
    text += f" ({result.stopped})" if result.stopped else ""
    # another session's Cancel All came while this run sent: what it wrote then was canceled by
    # its sender (services.execution.sending), or could not be, and still works at the broker
    return "; ".join([text, *result.cancel_all_notes()])


def execute_needs_attention(result: ExecuteResult) -> bool:
    """Whether the send is said as a warning: stopped before the end, or orders sent as another
    session's Cancel All came."""
    return bool(result.stopped or result.failed or result.canceled_after_cancel_all
                or result.not_canceled_after_cancel_all)
