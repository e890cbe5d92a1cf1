"""What a window reads to follow a run besides the change feed: the plan of the run it follows
(for the run-progress and slippage charts), and which run that is when the window starts.
Read-only, synchronous (run it off the GUI thread)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, exists, or_, select

from services.core.plans import Plan
from services.db.models import OrderPlan, Project, TradeOrder, TradeRun
from services.db.plan_repository import to_plan
from services.db.repositories.runs import run_base_currency
from services.domain import RunStatus, TradeMode
from services.run_progress import PlannedOrder


@dataclass(frozen=True, slots=True)
class RunPlan:
    """A run a monitor follows: its project's name (a monitor has no project selection, it
    follows the newest run of any project and says whose), and its newest stored plan's orders
    by client order id and gross notional (the progress chart's target), in ``currency`` (the
    run's base)."""

    project: str
    planned: dict[str, PlannedOrder]
    target: Decimal
    currency: str


def run_plan(db, run_id: int) -> RunPlan:
    """``run_id``'s project and newest stored plan (empty and zero for a run without a plan)."""
    with db.session() as session:
        run = session.get(TradeRun, run_id)
        project = (session.get(Project, run.project_id).name if run is not None else None) or "(project not found)"
        currency = "USD" if run is None else _currency(session, run)
        row = session.scalars(select(OrderPlan).where(OrderPlan.run_id == run_id).order_by(OrderPlan.id.desc()).limit(1)).first()
        if row is None:
            return RunPlan(project, {}, Decimal(0), currency)
        plan = to_plan(row)
    return RunPlan(project, _planned(plan), plan.gross_notional, currency)


def _currency(session, run: TradeRun) -> str:
    """The run's base currency (run_base_currency), its orders' account read for a run stored
    without it."""
    account = session.scalar(select(TradeOrder.account).where(TradeOrder.run_id == run.id, TradeOrder.account != "")
                             .limit(1))
    return run_base_currency(session, run, account)


def _planned(plan: Plan) -> dict[str, PlannedOrder]:
    return {d.client_order_id: PlannedOrder(d.symbol, d.side, d.reference_price, d.fx_rate, d.quantity) for d in plan.orders}


@dataclass(frozen=True, slots=True)
class LatestRun:
    """A run to follow: its project (id and name: the chart says whose run it follows, which
    may not be the selected project's), its state, and the plan it sent (by client order id, its
    gross notional the progress's target, in ``currency``, the run's base; none and zero when no
    stored plan holds its orders); ``ticket``: an order ticket's run (no snapshot: its one-order
    plan), which gives way to the next run sent (RunProgress.gives_way_to)."""

    run_id: int
    project_id: int
    project: str
    status: RunStatus
    plan_id: int | None
    planned: dict[str, PlannedOrder]
    target: Decimal
    currency: str
    ticket: bool = False


def latest_run(db, project_id: int, mode: TradeMode, day: date) -> LatestRun | None:
    """The project's newest run in ``mode`` that is still executing (RUNNING, whatever its day)
    or that executed on the trading day ``day`` (it holds orders); None when there is none. Its
    plan is the one it sent: the newest holding its orders (a later preview of the same run is a
    plan that sent nothing)."""
    with db.session() as session:
        executed = exists().where(TradeOrder.run_id == TradeRun.id)
        run = session.scalars(
            select(TradeRun).where(TradeRun.project_id == project_id, TradeRun.mode == mode,
                                   or_(TradeRun.status == RunStatus.RUNNING, and_(TradeRun.trade_date == day, executed)))
            .order_by(TradeRun.id.desc()).limit(1)).first()
        return None if run is None else _to_follow(session, run)


def sent_run(db, run_id: int) -> LatestRun | None:
    """``run_id`` to follow, read as ``latest_run`` reads the run it finds: the window's order
    ticket sent it, and its one-order plan is the newest run's (None: no such run)."""
    with db.session() as session:
        run = session.get(TradeRun, run_id)
        return None if run is None else _to_follow(session, run)


def _to_follow(session, run: TradeRun) -> LatestRun:
    project = session.get(Project, run.project_id).name
    sent = set(session.scalars(select(TradeOrder.client_order_id).where(TradeOrder.run_id == run.id)))
    plans = session.scalars(select(OrderPlan).where(OrderPlan.run_id == run.id).order_by(OrderPlan.id.desc()))
    plan = next((p for p in map(to_plan, plans) if any(d.client_order_id in sent for d in p.orders)), None)
    currency, ticket = _currency(session, run), run.snapshot_id is None
    if plan is None:
        return LatestRun(run.id, run.project_id, project, RunStatus(run.status), None, {}, Decimal(0), currency, ticket)
    return LatestRun(run.id, run.project_id, project, RunStatus(run.status), plan.id, _planned(plan), plan.gross_notional,
                     currency, ticket)
