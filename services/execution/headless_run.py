"""One run executed to its end with nobody watching (``trading-console execute``): a stored plan,
or a project's snapshot (a file stored only once the connection passed its guards), sent under
the run's lease, then waited for: its orders final (auto-recovery taking a pass at any lost on
the way), IB's commission reports (bounded), every event written. What is left is said in the
outcome: orders still working, orders never sent, fills without a commission, a connection that
died. Qt-free and free of the command line, which parses, prints and picks the exit code; the
window sends through the same trade service and follows a run as it goes instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.console_queries import store_parsed_snapshot
from services.core.typed_numbers import plain
from services.core.wording import counted
from services.db.models import DecisionSnapshot
from services.db.plan_repository import PlanNotFound, PlanRepository
from services.domain import OrderState, TradeMode, is_live_token

from .errors import BadInput, LiveConfirmRequired, Missing
from .events import ConnectionState
from .runs.executing import refuse_unless_confirmed
from .runs.planning import check_portfolio_value
from .sending import LEASE_TAKEN
from .writer import written_or_kept


@dataclass(frozen=True)
class RunRequest:
    mode: TradeMode
    live_token: str | None = None
    plan_id: int | None = None  # a stored plan: sent as frozen
    # the content hash of the plan the trader reviewed, or a prefix of it (services.core.plans.hash_confirms):
    # the stored plan is sent only if it still is that content
    plan_hash: str | None = None
    project: str | None = None  # else a project's snapshot, previewed now
    snapshot_id: int | None = None
    parsed_snapshot: Any = None  # a snapshot file parsed for storage (console_queries.parse_for_storage)
    builder: Mapping[str, Any] = field(default_factory=dict)
    risk_overrides: Sequence[str] = ()
    new_run: bool = False
    portfolio_value: Decimal | None = None
    lease_wait: float = 0.0  # seconds to wait for another process's lease on the run
    require_market_health: bool = True
    outside_rth: bool = False
    wait_seconds: float = 60.0  # for the orders to be final (0: do not wait)
    commission_wait: float = 10.0  # for IB's commission reports after the last fill (0: do not wait)


@dataclass(frozen=True)
class RunOutcome:
    view: Any  # the run, its orders and fills as stored at the end (TradeService.view)
    result: Any  # what sending did (ExecuteResult)
    created: bool  # the run was made by this request
    still_working: list[str]  # sent, at the broker, not done (never one of not_sent)
    commissions_missing: list[str]
    not_sent: list[str]  # still NEW, or claimed and never confirmed sent
    connection_lost: str | None

    @property
    def rejected(self) -> list[str]:
        """The run's orders the broker rejected, each with its reason."""
        return rejected_orders(self.view.orders)

    @property
    def plan_id(self) -> int | None:
        return self.result.plan_id or (self.view.run.params or {}).get("plan_id")

    @property
    def incomplete(self) -> bool:
        """Not done as planned, what ``execute`` exits 5 for and says ``problems`` of: an order not
        sent or rejected, the connection died, sending stopped (a halt, a Cancel All, the run's
        lease lost: whatever another process did of the run since), or orders sent as another
        session's Cancel All came (canceled after it, or left working)."""
        result = self.result
        return bool(self.not_sent or self.connection_lost or result.lease_lost or result.stopped or self.rejected
                    or result.canceled_after_cancel_all or result.not_canceled_after_cancel_all)

    def headline(self) -> str:
        """The line `execute` prints: the run, then the send's counts in the window's words
        (ExecuteResult.counts_said), "not sent" counted at the run's end (the orders ``problems``
        lists and exit 5 is for), then what only a run waited for to its end knows: the orders
        still working, and the fills IB's commission report has not come for (only when any)."""
        run = self.view.run
        line = (f"run {run.id} ({run.mode}, snapshot {run.snapshot_id}, plan {self.plan_id}): {run.status}; "
                f"{self.result.counts_said(self.not_sent)}; {len(self.still_working)} still working")
        if self.commissions_missing:
            line += f", {counted(len(self.commissions_missing), 'fill')} without a commission report"
        return line

    def problems(self) -> list[str]:
        """What went wrong, for the trader (empty: every order went out on a live connection)."""
        out = []
        if self.connection_lost:
            out.append(f"the broker connection died during the run ({self.connection_lost})")
        if self.result.stopped and self.result.stopped != self.connection_lost:
            # a lease lost to a clock stepped against the database server's was taken by nobody: its
            # words say what to do (services.execution.lease.ClockSkew.while_holding)
            out.append(f"sending stopped: {self.result.stopped}"
                       + ("; what this process did not send is left to the process that took the run over, or to the next execute of it"
                          if self.result.lease_lost and self.result.stopped in LEASE_TAKEN else ""))
        out.extend(self.result.cancel_all_notes())  # the window's words (services.preview_session.describe_execute)
        rejected = self.rejected
        if rejected:
            out.append(f"{counted(len(rejected), 'order')} rejected by the broker: {'; '.join(rejected)}")
        if self.not_sent:
            listing = ", ".join(self.not_sent[:50]) + (f" and {len(self.not_sent) - 50} more" if len(self.not_sent) > 50 else "")
            out.append(f"{counted(len(self.not_sent), 'order')} not sent: {listing}")
        return out


def rejected_orders(orders) -> list[str]:
    """``orders`` (OrderRecord) the broker rejected, as ``client order id SIDE QTY SYMBOL: reason``:
    what a command says, and exits 5 for, when a run or a ticket it sent ended so (it exited 0,
    a FAILED run read as done by whoever looks only at the exit code)."""
    return [f"{o.client_order_id} {o.side} {plain(o.quantity)} {o.symbol}: {o.rejected_reason or 'no reason given'}"
            for o in orders if o.status is OrderState.REJECTED]


def refuse_live_without_word(mode: TradeMode | str, live_token: str | None) -> None:
    """A command in live mode needs the word before anything is written or connected (``execute``,
    ``serve``; the services check it again on every live call)."""
    if TradeMode(mode) is TradeMode.LIVE and not is_live_token(live_token):
        raise LiveConfirmRequired("live_confirm_required: live mode needs --live-token LIVE")


def refuse_inputs_a_plan_ignores(request: RunRequest) -> None:
    """A stored plan is sent exactly as it was previewed: what only a snapshot's preview reads
    (a portfolio value, builder parameters, risk overrides, a project, a new run) given with it
    is refused (``BadInput``), nothing sent. Ignored, ``execute --plan 3 --portfolio-value 1000
    --risk max_order_notional=100`` sent plan 3's 10,000 of orders as if neither had been typed.
    A plan hash is the reverse: it confirms a stored plan, and without one it would confirm nothing."""
    if request.plan_id is None:
        if request.plan_hash is not None:
            raise BadInput("a plan hash says which stored plan's content was reviewed: give it with the plan's id "
                           "(execute --plan ID --plan-hash HASH)")
        return
    given = [what for what, value in (
        ("a portfolio value", request.portfolio_value),
        (f"builder parameters ({', '.join(sorted(request.builder))})", request.builder),
        (f"risk overrides ({', '.join(request.risk_overrides)})", request.risk_overrides),
        ("a project", request.project),
        ("a new run", request.new_run)) if value]
    if given:
        raise BadInput(f"plan {request.plan_id} is sent exactly as it was previewed; {', '.join(given)} would not change it: "
                       "leave them out, or preview again with them and execute the new plan")


def check_stored_inputs(db, request: RunRequest) -> None:
    """What the database alone can refuse, before the broker is connected: a plan or a snapshot
    id that does not exist, a portfolio value no plan keeps (``BadInput``; ``execute --plan 999``
    with no gateway running said the connection error, not that there is no plan 999), a plan
    that is not the content the trader reviewed (``plan_hash``, ``PlanRefused``).
    ``execute_to_end`` meets the same rules again, connected."""
    if request.portfolio_value is not None:
        check_portfolio_value(request.portfolio_value)
    refuse_inputs_a_plan_ignores(request)
    with db.session() as session:
        if request.plan_id is not None:
            try:
                plan = PlanRepository(session).get(request.plan_id)
            except PlanNotFound as exc:
                raise Missing(str(exc)) from None
            if request.plan_hash is not None:
                refuse_unless_confirmed(plan, request.plan_hash)
        if request.snapshot_id is not None and session.get(DecisionSnapshot, request.snapshot_id) is None:
            raise Missing(f"snapshot {request.snapshot_id} does not exist")


async def execute_to_end(stack, request: RunRequest) -> RunOutcome:
    """``stack``: the composition root's stack, connected (``service``, ``engine``, ``provider``,
    ``db``, ``writer``)."""
    refuse_live_without_word(request.mode, request.live_token)
    refuse_inputs_a_plan_ignores(request)  # before anything is stored or sent
    service = stack.service
    dropped: list[str] = []  # why the connection went away, if it did
    stack.provider.subscribe(lambda ev: dropped.append(ev.detail or "connection lost")
                             if ev.state is ConnectionState.DISCONNECTED and not dropped else None)
    if request.portfolio_value is not None:  # refused before anything is stored, not after the run
        check_portfolio_value(request.portfolio_value)
    snapshot_id = request.snapshot_id
    if request.parsed_snapshot is not None:
        # stored only now: a run refused at the connection (account guard, live checks) leaves
        # neither a project nor a snapshot behind
        snapshot_id = await asyncio.to_thread(store_parsed_snapshot, stack.db, request.parsed_snapshot, request.project, service.actor)
    if request.plan_id is not None:
        run_id, created = (await service.plan(request.plan_id)).run_id, False
    else:
        # a run that has orders is resumed as it was built: options given that differ from its
        # own are refused here, before anything is sent (they were silently dropped)
        run = await service.prepare_run(request.project, snapshot_id, request.mode, builder=dict(request.builder),
                                        risk_overrides=list(request.risk_overrides), live_token=request.live_token,
                                        new_run=request.new_run, portfolio_value=request.portfolio_value)
        run_id, created = run.id, run.created
    # this process is the run's one sender while it sends and waits (others refuse or wait)
    async with service.hold_run(run_id, wait=request.lease_wait):
        if request.plan_id is not None:
            result = await service.execute_plan(request.plan_id, request.live_token, confirmed_hash=request.plan_hash,
                                                require_market_health=request.require_market_health,
                                                outside_rth=request.outside_rth)
        else:
            result = await service.execute(run_id, request.live_token, portfolio_value=request.portfolio_value,
                                           require_market_health=request.require_market_health,
                                           outside_rth=request.outside_rth)
        # auto-recovery gets a pass every few seconds: an order lost on the way is recovered
        # once older than auto_recovery.new_timeout_seconds (services.execution.recovery)
        still = await stack.engine.recovery.wait_recovering(
            lambda seconds: service.wait_done(run_id, seconds, while_connected=True),
            request.wait_seconds) if request.wait_seconds > 0 else []
    # IB's commission reports may follow the last fill by seconds: wait for them (bounded)
    # rather than leave the fills without commissions until the next reconciliation
    no_commission = await service.wait_commissions(run_id, request.commission_wait) if request.commission_wait > 0 else []
    await written_or_kept(stack.writer)  # the write_timeout setting
    view = await service.view(run_id)
    connection_lost = None if stack.provider.is_connected else (dropped[0] if dropped else "not connected")
    not_sent = [o.client_order_id for o in view.orders if o.status in (OrderState.NEW, OrderState.SENDING)]
    # still working: at the broker and not done; an order never sent is not (it read "still working
    # 3, not sent 3" for three orders that never left, after a dropped connection)
    still = [order for order in still if order not in not_sent]
    return RunOutcome(view, result, created, still, no_commission, not_sent, connection_lost)

