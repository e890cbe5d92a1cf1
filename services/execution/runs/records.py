"""What the run use cases return: a run, a preview, the outcome of an execute, a run's view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from sqlalchemy import Row

from services.books import WorkingOrder, net_quantities
from services.core.builder import OrderDraft
from services.core.order_values import plan_value_rows
from services.core.plans import Plan, targeted_said
from services.core.wording import counted, send_counts, working_note
from services.db.models import TradeRun
from services.db.repositories.runs import NewRun
from services.domain import FillRecord, OrderRecord, RunStatus, TradeMode


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    project_id: int
    snapshot_id: int | None
    mode: TradeMode
    status: RunStatus
    trade_date: date
    params: dict
    message: str | None = None
    created: bool = False


@dataclass(frozen=True, slots=True)
class PlanSubject:
    """Whose plan it is, as the confirmation names it: several projects (strategies) trade one
    account, and a trader must see which one's snapshot is about to be sent."""

    project: str
    snapshot: str  # the snapshot's file name (its folder left out)
    currency: str | None = None  # the account's base currency, the plan's notionals' (None: not reported)

    @staticmethod
    def of(project: str, source_file: str | None, currency: str | None) -> PlanSubject:
        # a path written on Windows is cut at its backslashes too
        return PlanSubject(project, PurePath((source_file or "").replace("\\", "/")).name, currency or None)


@dataclass(frozen=True, slots=True)
class PreviewResult:
    run_id: int
    drafts: tuple[OrderDraft, ...]
    report: Any  # services.core.risk.RiskReport
    prices: dict[str, Decimal]
    portfolio_value: Decimal
    skipped: tuple = ()
    plan: Plan | None = None  # the frozen plan this preview was stored as
    # the project's orders still working (or stored, still to be sent) from earlier runs,
    # counted as if they filled
    working: tuple[WorkingOrder, ...] = ()
    # the plan the run had already executed when this one was built (a run executes one plan:
    # ``execute_plan`` refuses any other, so this preview can then be reviewed but never sent)
    executed_plan_id: int | None = None
    subject: PlanSubject | None = None  # the project and snapshot (None: a result not built by a preview)
    # what the portfolio value was: given (the form, --portfolio-value), the project's capital,
    # or, neither there, the account's NetLiquidation (services.core.books.project_money)
    value_source: str = "given"
    # the snapshot's whole gross weight (every target, priced or not) and the builder's cash
    # buffer: what the totals line says the plan targets (None: a result not built by a preview)
    target_weight: Decimal | None = None
    cash_buffer: Decimal = Decimal(0)

    @property
    def targeted(self) -> str:
        """The totals line's "target weight 97.00%, 92.15% after the 5.00% cash buffer" ("" without
        a snapshot's weight): services.core.plans.targeted_said."""
        return "" if self.target_weight is None else targeted_said(self.target_weight, self.cash_buffer)

    @property
    def sizing_note(self) -> str:
        """Said when the orders were sized on the whole account's NetLiquidation because the
        project has no capital and no value was given ("" otherwise): walked under Xvfb, a
        project imported without a capital was previewed on 1,000,000 while the empty field
        read "project capital", and nothing said which value the orders were built on."""
        if self.value_source != "net_liquidation":
            return ""
        project = f"project {self.subject.project}" if self.subject is not None else "the project"
        currency = "" if self.subject is None or self.subject.currency is None else f" {self.subject.currency}"
        return (f"sized on the account's NetLiquidation, {self.portfolio_value:,.2f}{currency}: {project} has no "
                f"capital (Settings) and no portfolio value was given")

    @property
    def base_currency(self) -> str:
        """What the plan's notionals are in, as its run stores it (``params["fx"]["base"]``): the
        account's base currency, the builder's USD when the account reported none."""
        return self.subject.currency if self.subject is not None and self.subject.currency else "USD"

    @property
    def notes(self) -> str:
        """The lines the preview shows under its totals: the sizing note, the working orders'."""
        return "\n".join(n[:1].upper() + n[1:] for n in (self.sizing_note, self.working_note) if n)

    @property
    def blocked(self) -> bool:
        return self.report.blocked

    @property
    def run_executed_another(self) -> bool:
        """The run already executed another plan: this one is a review of what is left, not sendable."""
        return self.executed_plan_id is not None and self.executed_plan_id != self.plan_id

    @property
    def plan_id(self) -> int | None:
        return None if self.plan is None else self.plan.id

    def confirm_question(self, profile: str, account: str | None) -> str:
        """What the trader is asked before the plan is sent (the window's paper confirmation):
        the plan, its orders and gross notional at the reference prices, the account they go to,
        then the LIVE confirmation's own rows (``confirm_rows``: whose plan it is, what its buys
        and sells are worth as the risk rules measured them). The paper question stated the
        gross alone, a figure the rules did not judge a limit plan by, while the LIVE dialog
        said both: one set of rows now, shown by either dialog."""
        plan = self.plan
        if plan is None:
            raise ValueError("a preview without a stored plan cannot be sent")
        currency = "" if self.subject is None or self.subject.currency is None else f" {self.subject.currency}"
        rows = "".join(f"\n{label}: {text}" for label, text in self.confirm_rows())
        return (f"Send plan {plan.id}: {counted(plan.order_count, 'order')}, gross notional "
                f"{plan.gross_notional:,.2f}{currency}, to the {profile} account {account or '?'}?"
                + (f"\n{rows}" if rows else ""))

    @property
    def subject_line(self) -> str:
        """Whose plan the preview shows, over its table: "Project Demo momentum · snapshot
        momentum_2026-11-21.json" ("" for a result not built by a preview). Walked under Xvfb:
        the panel never named the snapshot it was built from, so an older one left selected in
        Snapshots was previewed (and its sells reviewed) as if it were the newest; only the
        confirmation said which (``confirm_rows``: the same names)."""
        if self.subject is None:
            return ""
        return f"Project {self.subject.project} · snapshot {self.subject.snapshot or '(no file name)'}"

    def confirm_rows(self) -> tuple[tuple[str, str], ...]:
        """(label, text) rows of a run's confirmation, the LIVE dialog's and the paper question's
        (``confirm_question``): whose plan it is (none for a result not built by a preview), then
        what its buys and sells are worth as the risk rules measured them
        (services.core.order_values.plan_value_rows: a plan of limit orders at its limits; its count and
        gross notional at the reference prices are shown beside them)."""
        whose = () if self.subject is None else (("Project", self.subject.project), ("Snapshot", self.subject.snapshot))
        orders = self.drafts if self.plan is None else self.plan.orders  # the plan's own: what is sent
        return whose + plan_value_rows(orders, None if self.subject is None else self.subject.currency)

    @property
    def working_note(self) -> str:
        """What the trader is told of the working orders counted as filled ("" when none)."""
        return (working_note(len(self.working), net_quantities(self.working), sum(1 for o in self.working if o.unsent))
                if self.working else "")


@dataclass(frozen=True, slots=True)
class ExecuteResult:
    run_id: int
    sent: tuple[str, ...] = ()
    already_known: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    status: RunStatus = RunStatus.RUNNING
    plan_id: int | None = None
    unsent: tuple[str, ...] = ()  # still NEW after this execute: failed, or never tried (see stopped)
    stopped: str | None = None  # why sending stopped before the end (halt, connection lost, lease lost)
    lease_lost: bool = False  # stopped because the run's lease was lost or expiring: incomplete, whatever the run's status
    # a Cancel All of another process came while it sent: what its sender canceled at the broker
    # after it (written, still working there), and what it could not cancel, with why
    canceled_after_cancel_all: tuple[str, ...] = ()
    not_canceled_after_cancel_all: tuple[tuple[str, str], ...] = ()

    def counts_said(self, not_sent: Sequence[str] | None = None) -> str:
        """This send's counts in the words the window and `execute` share
        (services.core.wording.send_counts). ``not_sent``: the run's orders not sent as the caller
        knows them later (`execute` says them at the run's end, after its wait: the ones it lists
        on stderr and exits 5 for; recovery may have sent some of ``unsent`` meanwhile, a halt
        closed some); by default this send's own ``unsent``, what the window knows right after it.
        The counts are of different orders and add up to the plan's: a failed order put back to
        NEW is counted failed, not also not sent ("1 failed, 1 not sent" was said of one order)."""
        failed = {client_order_id for client_order_id, _why in self.failed}
        left = [c for c in (self.unsent if not_sent is None else not_sent) if c not in failed]
        return send_counts(len(self.sent), len(self.already_known), len(self.failed), len(left))

    def cancel_all_notes(self) -> list[str]:
        """What became of the orders sent as another session's Cancel All came, said the same by
        the window and the commands (empty: none)."""
        notes = []
        if self.canceled_after_cancel_all:
            notes.append(f"{counted(len(self.canceled_after_cancel_all), 'order')} sent as another session's Cancel All "
                         f"came canceled at the broker: {', '.join(self.canceled_after_cancel_all)}")
        if self.not_canceled_after_cancel_all:
            notes.append(f"{counted(len(self.not_canceled_after_cancel_all), 'order')} sent after another session's "
                         "Cancel All could not be canceled and may still work: "
                         + ", ".join(f"{c} ({why})" for c, why in self.not_canceled_after_cancel_all))
        return notes


@dataclass(frozen=True, slots=True)
class RunView:
    run: RunInfo
    orders: tuple[OrderRecord, ...] = ()
    fills: tuple[FillRecord, ...] = ()


def run_info(run: TradeRun | Row | NewRun, created: bool = False) -> RunInfo:
    """``run``: the ORM object, a plain row of its columns, or a run just created."""
    return RunInfo(run.id, run.project_id, run.snapshot_id, TradeMode(run.mode), RunStatus(run.status), run.trade_date,
                   dict(run.params or {}), run.message, created)
