"""Trade runs: create (idempotent), preview (builder + risk), execute (and resume).

The broker never holds an order the database does not know: every order is stored NEW with its
``client_order_id`` before ``placeOrder``, and ``orderRef`` carries that id. Executing a run
that was interrupted reconciles first and sends only the orders the broker has never seen.
The live token is checked here, at the service layer, whatever the UI does.

One sender per run, across processes: a run is executed under its lease (services.execution.lease),
and its orders are claimed (NEW -> SENDING, one conditional update) a few at a time right before
their ``placeOrder`` (services.execution.sending), so no two processes ever send the same order.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import InterfaceError, OperationalError

from services.core.builder import BuildParams, OrderDraft, Rounding, Target
from services.core.order_state import EventKind
from services.core.plans import Plan, PriceRef, price_moves
from services.core.pipeline import build_and_check
from services.db.convert import to_fill_record, to_order_record
from services.db.models import DecisionSnapshot, Project, TradeFill, TradeOrder, TradeRun
from services.db.plan_repository import PlanNotFound, PlanRepository
from services.db.risk_facts import load_risk_facts
from services.db.repositories import (
    FillRepository,
    OrderRepository,
    ProjectRepository,
    RunRepository,
    SettingsRepository,
    SnapshotRepository,
)
from services.domain import (
    EventSource,
    FillRecord,
    OrderRecord,
    OrderState,
    OrderType,
    RunStatus,
    TradeMode,
    TradingState,
    is_live_token,
)

from .audit import audit, os_user
from .errors import BadInput, BrokerError, LiveConfirmRequired, PlanRefused, Refused, RiskBlocked, TradingHalted
from .lease import LeaseManager
from .listings import request_for_draft, request_for_order, snapshot_specs
from .provider import ExecutionProvider, OrderRequest
from .sending import OrderSender
from .writer import EventWriter, LocalOrderEvent

log = logging.getLogger(__name__)
MARKET_TZ = ZoneInfo("America/New_York")
BUILDER_KEYS = ("cash_buffer", "lot_size", "rounding", "min_order_value", "order_type", "limit_offset_bps", "liquidate_unlisted")


def trading_day(now: datetime | None = None) -> date:
    """The US equity trading day a run belongs to (New York calendar date)."""
    return (now or datetime.now(UTC)).astimezone(MARKET_TZ).date()


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
class PreviewResult:
    run_id: int
    drafts: tuple[OrderDraft, ...]
    report: Any  # services.core.risk.RiskReport
    prices: dict[str, Decimal]
    portfolio_value: Decimal
    skipped: tuple = ()
    plan: Plan | None = None  # the frozen plan this preview was stored as

    @property
    def blocked(self) -> bool:
        return self.report.blocked

    @property
    def plan_id(self) -> int | None:
        return None if self.plan is None else self.plan.id


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


@dataclass(frozen=True, slots=True)
class RunView:
    run: RunInfo
    orders: tuple[OrderRecord, ...] = ()
    fills: tuple[FillRecord, ...] = ()


def _risk_reasons(risk: dict) -> str:
    """A stored risk report's blocking reasons, as one line (at most ten)."""
    blocks = [b for b in risk.get("run", []) if not b.get("passed", False)]
    for result in risk.get("results", []):
        blocks.extend(result.get("blocks", []))
    return "; ".join(f"{b.get('code') or b.get('rule')}: {b.get('message')}" for b in blocks[:10]) or "blocked"


def _info(run: TradeRun, created: bool = False) -> RunInfo:
    return RunInfo(run.id, run.project_id, run.snapshot_id, TradeMode(run.mode), RunStatus(run.status), run.trade_date,
                   dict(run.params or {}), run.message, created)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _listing(ids, limit: int = 20) -> str:
    ids = list(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


class TradeService:
    def __init__(
        self,
        db,
        provider: ExecutionProvider,
        writer: EventWriter,
        reconciler=None,
        *,
        actor: str | None = None,
        ack_timeout: float = 10.0,
        leases: LeaseManager | None = None,
    ) -> None:
        self.db = db
        self.leases = leases or LeaseManager(db, client_id=getattr(provider, "client_id", None))
        self.provider = provider
        self.writer = writer
        self.reconciler = reconciler
        self.actor = actor or os_user()
        self.ack_timeout = ack_timeout
        self._executing: set[int] = set()
        self._halt_requested = False

    # ------------------------------------------------------------------ helpers
    async def _db(self, fn, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _check_live(self, mode: TradeMode, live_token: str | None) -> None:
        if TradeMode(mode) is TradeMode.LIVE and not is_live_token(live_token):
            raise LiveConfirmRequired("live_confirm_required: type LIVE to trade a live account")

    def _check_provider_mode(self, mode: TradeMode) -> None:
        if TradeMode(self.provider.mode) is not TradeMode(mode):
            raise Refused(f"the broker connection is in {self.provider.mode} mode; this run is {mode}", code="mode_mismatch")

    # ------------------------------------------------------------------ create
    async def create_run(self, project: str | int | None, snapshot: int | None, mode: TradeMode | str, params: dict | None = None,
                         live_token: str | None = None, new_run: bool = False) -> RunInfo:
        mode = TradeMode(mode)
        self._check_live(mode, live_token)
        return await self._db(self._create_run, project, snapshot, mode, dict(params or {}), new_run)

    def _create_run(self, project, snapshot, mode, params, new_run) -> RunInfo:
        with self.db.unit_of_work() as session:
            projects = ProjectRepository(session)
            if project is None:  # the snapshot's own project
                snap = session.get(DecisionSnapshot, snapshot) if snapshot is not None else None
                if snap is None:
                    raise BadInput(f"snapshot {snapshot} does not exist" if snapshot is not None else "a run needs a project")
                project_id = snap.project_id
            elif isinstance(project, int):
                if session.get(Project, project) is None:
                    raise BadInput(f"project {project} does not exist")
                project_id = project
            else:
                project_id = projects.get_or_create(str(project)).id
            if snapshot is not None:
                snap = session.get(DecisionSnapshot, snapshot)
                if snap is None or snap.project_id != project_id:
                    raise BadInput(f"snapshot {snapshot} does not exist in this project")
            runs = RunRepository(session)
            day = trading_day()
            if new_run:
                run, created = runs.create(project_id, mode=mode, snapshot_id=snapshot, trade_date=day, params=params), True
            else:
                run, created = runs.create_once(project_id, mode=mode, trade_date=day, snapshot_id=snapshot, params=params)
            if created:
                audit(self.db, self.actor, "run.create", "trade_run", run.id,
                      {"project_id": project_id, "snapshot_id": snapshot, "mode": str(mode), "new_run": new_run}, session=session)
            return _info(run, created)

    # ------------------------------------------------------------------ preview
    async def preview_snapshot(self, project: str | int | None, snapshot: int, mode: TradeMode | str, *,
                               builder: dict | None = None, risk_overrides: list[str] | tuple[str, ...] = (),
                               portfolio_value: Decimal | None = None, live_token: str | None = None,
                               new_run: bool = False) -> PreviewResult:
        """The use case behind the window's Preview, ``preview --save`` and ``execute``: the
        day's run of the snapshot (created once), its builder parameters and risk overrides
        stored while it has sent nothing, then a preview stored as a frozen plan."""
        run = await self.create_run(project, snapshot, mode, {}, live_token=live_token, new_run=new_run)
        await self._db(self._set_run_inputs, run.id, builder, list(risk_overrides))
        return await self.preview(run.id, portfolio_value)

    def _set_run_inputs(self, run_id: int, builder: dict | None, risk_overrides: list[str]) -> None:
        """Builder parameters and risk overrides of a run that has sent nothing yet (afterwards
        they are history and stay as they were)."""
        with self.db.unit_of_work() as session:
            run = RunRepository(session).get(run_id)
            if session.scalar(select(func.count(TradeOrder.id)).where(TradeOrder.run_id == run_id)):
                return
            params = dict(run.params or {})
            if builder is not None:
                params["builder"] = {k: v if isinstance(v, bool) else str(v) for k, v in builder.items() if v is not None}
            params["risk_overrides"] = risk_overrides
            run.params = params

    async def preview(self, run_id: int, portfolio_value: Decimal | None = None) -> PreviewResult:
        run, items = await self._db(self._load_for_preview, run_id)
        specs = snapshot_specs(run.snapshot_id, items)  # refuses what cannot be traded, before asking IB
        held = [p for p in await self.provider.positions() if p.quantity]
        positions = {p.key: p.quantity for p in held}  # by listing: a US and an EUR SAP stay apart
        listings = list({**{p.key: p.spec for p in held}, **{s.key: s for s in specs}}.values())  # one request per listing
        prices_raw = await self.provider.market_prices(listings) if listings else {}
        prices = {s: p for s, p in prices_raw.items() if p is not None}
        quote_info = getattr(self.provider, "quote_info", {})
        now = datetime.now(UTC)
        price_refs = {s: PriceRef(p, *quote_info.get(s, (now, "live"))) for s, p in prices.items()}
        fx = await self.provider.exchange_rates()
        if portfolio_value is None:
            portfolio_value = _dec(run.params.get("portfolio_value")) if run.params.get("portfolio_value_given") else None
        given = portfolio_value is not None
        if portfolio_value is None:
            portfolio_value = await self.provider.net_liquidation()
            if portfolio_value is None:
                raise BrokerError("the account reports no NetLiquidation; give a portfolio value")
        return await self._db(self._preview, run_id, items, positions, price_refs, Decimal(portfolio_value), given, fx)

    def _load_for_preview(self, run_id: int):
        with self.db.session() as session:
            run = RunRepository(session).get(run_id)
            if run.snapshot_id is None:
                raise BadInput(f"run {run_id} has no snapshot to build orders from")
            items = [{"symbol": i.symbol, "weight": i.weight, "price": i.price, "sec_type": i.sec_type,
                      "exchange": i.exchange, "currency": i.currency, "primary_exchange": i.primary_exchange or ""}
                     for i in SnapshotRepository(session).items(run.snapshot_id)]
            return _info(run), items

    def _build_params(self, run: TradeRun, portfolio_value: Decimal, installation: str = "", fx=None) -> BuildParams:
        given = dict((run.params or {}).get("builder", {}))
        for key in BUILDER_KEYS:
            if key in (run.params or {}):
                given.setdefault(key, run.params[key])
        kwargs: dict[str, Any] = {}
        for key, value in given.items():
            if key in ("cash_buffer", "lot_size", "min_order_value", "limit_offset_bps"):
                kwargs[key] = Decimal(str(value))
            elif key == "rounding":
                kwargs[key] = Rounding(value)
            elif key == "order_type":
                kwargs[key] = OrderType(value)
            elif key == "liquidate_unlisted":
                kwargs[key] = bool(value)
        if fx is not None:
            kwargs.update(base_currency=fx.base, fx_rates=dict(fx.rates))
        return BuildParams(portfolio_value=portfolio_value, run_id=run.id, installation=installation, **kwargs)

    def _preview(self, run_id, items, positions, price_refs: dict[str, PriceRef], portfolio_value, given, fx=None) -> PreviewResult:
        prices = {s: ref.price for s, ref in price_refs.items()}
        with self.db.unit_of_work() as session:
            run = RunRepository(session).get(run_id)
            params = self._build_params(run, portfolio_value, SettingsRepository(session).installation_id(), fx)
            targets = [Target(i["symbol"], Decimal(i["weight"]), _dec(i["price"]), i["sec_type"], i["exchange"], i["currency"],
                              i.get("primary_exchange") or "") for i in items]
            result, report = build_and_check(
                targets, params, prices=prices, positions=positions,
                limits=SettingsRepository(session).risk_defaults(), overrides=(run.params or {}).get("risk_overrides", []),
                facts=lambda ids: load_risk_facts(session, ids), price_times={s: r.time for s, r in price_refs.items()})
            stored = dict(run.params or {})
            stored.update({
                "prices": {s: str(p) for s, p in prices.items()},
                "builder": {"cash_buffer": str(params.cash_buffer), "lot_size": str(params.lot_size),
                            "rounding": str(params.rounding), "min_order_value": str(params.min_order_value),
                            "order_type": str(params.order_type), "limit_offset_bps": str(params.limit_offset_bps),
                            "liquidate_unlisted": params.liquidate_unlisted},
                "portfolio_value": str(portfolio_value),
                "portfolio_value_given": given,
                "fx": {"base": params.base_currency, "rates": {c: str(r) for c, r in sorted(params.fx_rates.items())}},
                "positions": {s: str(q) for s, q in positions.items()},
                "skipped": [{"symbol": s.symbol, "reason": s.reason} for s in result.skipped],
                "risk": report.to_dict(),
                "previewed_at": datetime.now(UTC).isoformat(),
            })
            run.params = stored
            traded = {d.key for d in result.orders}
            plan = PlanRepository(session).add(
                run_id=run.id, project_id=run.project_id, snapshot_id=run.snapshot_id, mode=TradeMode(run.mode),
                account=self.provider.account or None, portfolio_value=portfolio_value,
                verdict=str(report.verdict), orders=list(result.orders),
                prices={s: ref for s, ref in price_refs.items() if s in traded}, positions=dict(positions),
                params=stored["builder"], skipped=stored["skipped"], risk=stored["risk"])
            audit(self.db, self.actor, "plan.create", "order_plan", plan.id,
                  {"run_id": run.id, "hash": plan.content_hash, "orders": plan.order_count,
                   "gross_notional": str(plan.gross_notional), "verdict": plan.verdict}, session=session)
            return PreviewResult(run_id, tuple(result.orders), report, prices, portfolio_value, tuple(result.skipped), plan)

    # ------------------------------------------------------------------ execute
    def hold_run(self, run_id: int, *, wait: float = 0.0):
        """``async with service.hold_run(run_id):`` this process is the run's one sender for the
        block (sending and waiting); another holder makes it wait up to ``wait`` seconds, then
        refuses naming the holder (``RunBusy``). ``execute`` takes it by itself when not held."""
        return self.leases.hold(run_id, wait=wait)

    async def execute(self, run_id: int, live_token: str | None = None, *, portfolio_value: Decimal | None = None,
                      lease_wait: float = 0.0) -> ExecuteResult:
        """One step: preview the run, store the plan and send exactly its orders. A run that
        already has orders is resumed instead (reconciled first; only the orders the broker
        never saw are sent). Under the run's lease: one sender per run across processes."""
        run = await self.get_run(run_id)
        self._check_live(run.mode, live_token)
        self._check_provider_mode(run.mode)
        async with self._executing_guard(run_id, lease_wait):
            await self._refuse_if_halted()
            if await self._db(self._order_count, run_id):
                return await self._resume(run_id)
            preview = await self.preview(run_id, portfolio_value)
            # Just built from the prices fetched a moment ago: no age or drift to check.
            return await self._send_plan(preview.plan, check_drift=False)

    async def prepare_run(self, project: str | int | None, snapshot: int, mode: TradeMode | str, *,
                          builder: dict | None = None, risk_overrides: list[str] | tuple[str, ...] = (),
                          live_token: str | None = None, new_run: bool = False) -> RunInfo:
        """The day's run of a snapshot, created once, with these builder parameters and risk
        overrides while it has sent nothing (``execute`` then previews and sends it)."""
        self._check_live(TradeMode(mode), live_token)
        run = await self.create_run(project, snapshot, mode, {}, live_token=live_token, new_run=new_run)
        await self._db(self._set_run_inputs, run.id, builder, list(risk_overrides))
        return run

    async def plan(self, plan_id: int) -> Plan:
        return await self._db(self._load_plan, plan_id)

    async def execute_plan(self, plan_id: int, live_token: str | None = None, *, lease_wait: float = 0.0) -> ExecuteResult:
        """Send exactly the orders of a stored plan, or nothing: refused (``PlanRefused``, exit
        3) when the plan is older than ``plan_max_age_seconds`` or a reference price moved more
        than ``plan_max_price_move_pct``; the trader previews again."""
        plan = await self._db(self._load_plan, plan_id)
        self._check_live(plan.mode, live_token)
        self._check_provider_mode(plan.mode)
        if plan.account and self.provider.account and plan.account != self.provider.account:
            raise Refused(f"plan {plan_id} was built for account {plan.account}; connected to {self.provider.account}",
                          code="plan_account")
        async with self._executing_guard(plan.run_id, lease_wait):
            await self._refuse_if_halted()
            executed = await self._db(self._executed_plan_of, plan.run_id)
            if executed is not None:
                if executed != plan.id:
                    raise PlanRefused(f"run {plan.run_id} already executed plan {executed}; plan {plan.id} is not sent "
                                      "(start a new run to trade this snapshot again)", code="plan_superseded")
                return await self._resume(plan.run_id)
            if await self._db(self._order_count, plan.run_id):
                return await self._resume(plan.run_id)
            return await self._send_plan(plan, check_drift=True)

    def _load_plan(self, plan_id: int) -> Plan:
        with self.db.session() as session:
            try:
                return PlanRepository(session).get(plan_id)
            except PlanNotFound as exc:
                raise BadInput(str(exc)) from None

    def _executed_plan_of(self, run_id: int) -> int | None:
        with self.db.session() as session:
            value = (RunRepository(session).get(run_id).params or {}).get("plan_id")
            return None if value is None else int(value)

    def _plan_limits(self) -> tuple[float, Decimal]:
        with self.db.session() as session:
            limits = SettingsRepository(session).execution()
        return float(limits["plan_max_age_seconds"]), Decimal(str(limits["plan_max_price_move_pct"]))

    async def check_plan(self, plan: Plan) -> None:
        """Raise ``PlanRefused`` naming what is wrong when the plan may no longer be sent."""
        max_age, max_move = await self._db(self._plan_limits)
        age = plan.age_seconds(datetime.now(UTC))
        if age > max_age:
            raise PlanRefused(f"plan {plan.id} is {age:.0f} s old, older than the {max_age:g} s allowed: preview again",
                              code="plan_stale")
        # by listing key (a US and an EUR listing of one symbol are two prices)
        references = {o.key: plan.prices[o.key] for o in plan.orders if o.key in plan.prices}
        if not references:
            return
        specs = {o.key: o.spec for o in plan.orders}
        current = await self.provider.market_prices([specs[key] for key in references])
        moves = price_moves(references, current, max_move)
        if moves:
            raise PlanRefused(f"plan {plan.id}: prices moved more than {max_move} % since the preview: "
                              + "; ".join(m.describe() for m in moves) + ". Preview again.", code="plan_price_moved")

    async def _send_plan(self, plan: Plan | None, *, check_drift: bool) -> ExecuteResult:
        if plan is None:
            raise BadInput("no plan to send")
        run_id = plan.run_id
        if plan.blocked:
            reasons = _risk_reasons(plan.risk)
            await self._db(self._mark_blocked, run_id, reasons)
            raise RiskBlocked(f"run {run_id} blocked by risk: {reasons}")
        if not plan.orders:
            await self._db(self._finish_empty, run_id, plan.id)
            return ExecuteResult(run_id, status=RunStatus.DONE, plan_id=plan.id)
        if check_drift:
            await self.check_plan(plan)
        requests = await self._db(self._insert_orders, run_id, plan)
        result = await self._send(run_id, requests, ())
        return replace(result, plan_id=plan.id)

    @asynccontextmanager
    async def _executing_guard(self, run_id: int, lease_wait: float = 0.0):
        if run_id in self._executing:
            raise BadInput(f"run {run_id} is already executing")
        self._executing.add(run_id)
        try:
            async with self.hold_run(run_id, wait=lease_wait) as lease:
                if lease.taken_over_from is not None:
                    await self._db(self._audit_sync, "run.lease_takeover", run_id,
                                   {"from": lease.taken_over_from.describe(), "token": lease.taken_over_from.token})
                yield
        finally:
            self._executing.discard(run_id)

    async def _refuse_if_halted(self) -> None:
        if await self._db(self._trading_state) is TradingState.HALTED:
            raise TradingHalted("trading is HALTED: resume before executing")

    def _trading_state(self) -> TradingState:
        with self.db.session() as session:
            return SettingsRepository(session).trading_state()

    def _order_count(self, run_id: int) -> int:
        with self.db.session() as session:
            return session.scalar(select(func.count(TradeOrder.id)).where(TradeOrder.run_id == run_id)) or 0

    def _mark_blocked(self, run_id: int, reasons: str) -> None:
        with self.db.unit_of_work() as session:
            RunRepository(session).update_status(run_id, RunStatus.BLOCKED, message=reasons[:2000])
            audit(self.db, self.actor, "run.blocked", "trade_run", run_id, {"reasons": reasons}, session=session)

    def _finish_empty(self, run_id: int, plan_id: int | None = None) -> None:
        with self.db.unit_of_work() as session:
            now = datetime.now(UTC)
            run = RunRepository(session).update_status(run_id, RunStatus.DONE, message="nothing to trade", started_at=now, ended_at=now)
            if plan_id is not None:
                run.params = {**(run.params or {}), "plan_id": plan_id}

    def _insert_orders(self, run_id: int, plan: Plan) -> list[OrderRequest]:
        """Every order of the plan stored NEW (one transaction) before the first placeOrder; the
        run records which plan it executes."""
        requests = []
        with self.db.unit_of_work() as session:
            run = RunRepository(session).get(run_id)
            orders = OrderRepository(session)
            for d in plan.orders:
                orders.insert_once(
                    d.client_order_id, d.symbol, d.side, d.quantity, order_type=d.order_type, limit_price=d.limit_price,
                    run_id=run_id, project_id=run.project_id, sec_type=d.sec_type, exchange=d.exchange, currency=d.currency,
                    primary_exchange=d.primary_exchange or None,
                    account=self.provider.account or None, params={"draft": d.to_dict(), "plan_id": plan.id},
                )
                requests.append(request_for_draft(d))
            run.params = {**(run.params or {}), "plan_id": plan.id}
            run.status = RunStatus.RUNNING
            run.started_at = run.started_at or datetime.now(UTC)
            audit(self.db, self.actor, "run.execute", "trade_run", run_id,
                  {"orders": len(plan.orders), "mode": str(run.mode), "account": self.provider.account,
                   "plan_id": plan.id, "plan_hash": plan.content_hash,
                   "gross_notional": str(plan.gross_notional)}, session=session)
        return requests

    async def _resume(self, run_id: int) -> ExecuteResult:
        """An interrupted run: reconcile first, then send only what the broker never saw."""
        if self.reconciler is not None:
            # Always: another process (a killed command, a second client id) may have sent some of
            # these orders since this connection's last pass; and a lease taken over from a dead
            # holder leaves its SENDING orders to this pass (back to NEW only if IB never saw them).
            await self.reconciler.reconcile()
        await self.writer.flush()
        requests, known = await self._db(self._unsent, run_id)
        if requests:
            await self._db(self._mark_running, run_id)
        return await self._send(run_id, requests, known)

    def _unsent(self, run_id: int) -> tuple[list[OrderRequest], tuple[str, ...]]:
        with self.db.session() as session:
            orders = OrderRepository(session).list_by_run(run_id)
            # A replacement (cancel-and-new) belongs to the replace action that made it, never to a
            # resumed run: if its sending failed, the trader decides again.
            unsent = [o for o in orders if o.status is OrderState.NEW and not o.ib_perm_id and not o.ib_order_id
                      and o.replaces_order_id is None]
            known = tuple(o.client_order_id for o in orders if o not in unsent)
            return [request_for_order(o) for o in unsent], known

    def stop_sending(self) -> None:
        """Halt: a run that is sending stops before its next order (a halt from another process
        is seen at the next chunk, from the database)."""
        self._halt_requested = True

    def _mark_running(self, run_id: int) -> None:
        with self.db.unit_of_work() as session:
            run = RunRepository(session).get(run_id)
            run.status = RunStatus.RUNNING
            audit(self.db, self.actor, "run.resume", "trade_run", run_id, {}, session=session)

    async def _send(self, run_id: int, requests: list[OrderRequest], known: tuple[str, ...]) -> ExecuteResult:
        if not requests:
            return ExecuteResult(run_id, (), known, (), (await self.get_run(run_id)).status)
        lease = self.leases.held.get(run_id)
        if lease is None:  # a caller that bypassed execute(): never send without the run's lease
            raise Refused(f"run {run_id}: not sending without holding the run's lease", code="no_lease")
        self._halt_requested = False
        sender = OrderSender(self.db, self.provider, self.writer, self.leases, lambda: self._halt_requested)
        out = await sender.send(lease, requests)
        if out.stopped:
            log.warning("run %s: sending stopped (%s); %d order(s) left unsent", run_id, out.stopped, len(out.unsent))
        if out.failed and not out.sent:
            why = out.stopped or out.failed[0][1]
            raise BrokerError(f"no order could be sent ({why}); not sent: {_listing(out.unsent or [f[0] for f in out.failed])}")
        return ExecuteResult(run_id, tuple(out.sent), known, tuple(out.failed), RunStatus.RUNNING,
                             unsent=tuple(out.unsent), stopped=out.stopped)

    async def wait_acknowledged(self, run_id: int, timeout: float | None = None) -> list[str]:
        """Wait up to the ack timeout; orders still unacknowledged stay SUBMITTED (recovery's job).
        Returns their client order ids."""
        return await self._wait(run_id, timeout if timeout is not None else self.ack_timeout,
                                lambda o: o.status not in (OrderState.NEW, OrderState.SENDING, OrderState.SUBMITTED), "acknowledged")

    async def recover_stuck(self, older_than: float | None = None) -> list[str]:
        """Every run's orders still unacknowledged after ``older_than`` seconds (the trade
        settings' ``auto_recovery.new_timeout_seconds`` by default), handled as
        ``recover_unacknowledged`` does; the one entry point for the window's timer and the
        commands. Returns the client order ids handled."""
        if older_than is None:
            older_than = float(await self._db(self._recovery_timeout))
        runs = await self._db(self._runs_with_unacknowledged, older_than)
        handled: list[str] = []
        for run_id in runs:
            handled += await self.recover_unacknowledged(run_id, older_than=older_than)
        return handled

    def _recovery_timeout(self) -> float:
        with self.db.session() as session:
            return float(SettingsRepository(session).auto_recovery()["new_timeout_seconds"])

    def _runs_with_unacknowledged(self, older_than: float) -> list[int]:
        from datetime import timedelta

        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        with self.db.session() as session:
            return sorted(set(session.scalars(select(TradeOrder.run_id).where(
                TradeOrder.status == OrderState.SUBMITTED, TradeOrder.run_id.is_not(None),
                TradeOrder.updated_at <= cutoff))))

    async def recover_unacknowledged(self, run_id: int, *, older_than: float | None = None) -> list[str]:
        """Orders still SUBMITTED (no acknowledgement) after ``older_than`` seconds: cancel at IB,
        then reconcile (open orders, completed orders, executions) before calling any of them
        dead. Never resends (docs/ib-notes.md, pitfall 4). Returns the client order ids handled.
        SENDING orders are not this method's: their sender is alive (its own writer moves them on)
        or gone, and then reconciliation decides (services.execution.lease)."""
        from datetime import timedelta

        limit = older_than if older_than is not None else self.ack_timeout
        cutoff = datetime.now(UTC) - timedelta(seconds=limit)

        def stuck() -> list[OrderRecord]:
            with self.db.session() as session:
                return [to_order_record(o) for o in OrderRepository(session).list(run_id=run_id, status=OrderState.SUBMITTED)
                        if o.updated_at is None or o.updated_at <= cutoff]

        orders = await self._db(stuck)
        for order in orders:
            self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.ACK_TIMEOUT, EventSource.RECOVERY,
                                               message=f"no acknowledgement within {limit:g} s"))
            try:
                await self.provider.cancel_order(order.client_order_id, order.ib_order_id)
            except BrokerError as exc:
                log.warning("cancel of unacknowledged %s failed: %s", order.client_order_id, exc)
        if orders:
            await self.writer.flush()
            await self._db(lambda: self._audit_sync("order.ack_timeout", run_id, {"orders": [o.client_order_id for o in orders]}))
            if self.reconciler is not None:
                await self.reconciler.reconcile()
        return [o.client_order_id for o in orders]

    def _audit_sync(self, action: str, run_id: int, payload: dict) -> None:
        with self.db.unit_of_work() as session:
            audit(self.db, self.actor, action, "trade_run", run_id, payload, session=session)

    async def wait_done(self, run_id: int, timeout: float, *, while_connected: bool = False) -> list[str]:
        """Wait until every order of the run is final or ``timeout`` passed; returns the ones
        still working. ``while_connected``: stop waiting as soon as the broker connection is
        gone (nothing more can arrive; a headless command does not reconnect)."""
        return await self._wait(run_id, timeout, lambda o: OrderState(o.status).is_terminal, "done", while_connected)

    async def wait_commissions(self, run_id: int, timeout: float) -> list[str]:
        """Wait (at most ``timeout`` seconds, and only while connected) until every current fill of
        the run has IB's commission report, which may follow its execution by seconds: a command
        that disconnected at once left them empty until the next reconciliation. Returns the exec
        ids still without one."""
        async def missing() -> list[str]:
            await self.writer.flush()
            return await self._db(self._fills_without_commission, run_id)

        return await self._wait_loop(missing, timeout, lambda cs: bool(cs.fills), f"run {run_id}", "commission reports",
                                     while_connected=True)

    def _fills_without_commission(self, run_id: int) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(
                select(TradeFill.exec_id).join(TradeOrder, TradeFill.order_id == TradeOrder.id)
                .where(TradeOrder.run_id == run_id, TradeFill.commission.is_(None), TradeFill.superseded.is_(False))))

    async def _wait(self, run_id: int, timeout: float, ready, what: str, while_connected: bool = False) -> list[str]:
        async def waiting() -> list[str]:
            return [o.client_order_id for o in await self._db(self._orders_of, run_id) if not ready(o)]

        return await self._wait_loop(waiting, timeout, lambda cs: run_id in cs.runs or bool(cs.orders), f"run {run_id}",
                                     f"orders to be {what}", while_connected=while_connected)

    async def _wait_loop(self, pending, timeout: float, wakes, whose: str, what: str, *, while_connected: bool) -> list[str]:
        """Look at ``pending()`` again whenever the writer publishes a change that ``wakes`` (at
        least every second) until it is empty or ``timeout`` passed; returns what is still
        pending. A database away for a moment is waited out (an error only if still away at the
        end); ``while_connected``: stop as soon as the broker connection is gone."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        changed = asyncio.Event()
        unsubscribe = self.writer.subscribe(lambda cs: changed.set() if wakes(cs) else None)
        unsubscribe_connection = (self.provider.subscribe(lambda _ev: changed.set()) if while_connected else None) or (lambda: None)
        try:
            while True:
                changed.clear()
                try:
                    left = await pending()
                except (OperationalError, InterfaceError) as exc:
                    if loop.time() >= deadline:
                        raise
                    log.warning("waiting for %s: database unreachable (%s); still waiting", whose, str(exc).splitlines()[0][:200])
                    left = None
                remaining = deadline - loop.time()
                if left is not None and (not left or remaining <= 0):
                    return left
                if while_connected and not self.provider.is_connected:
                    log.warning("%s: connection gone; stopped waiting for %s (%d left)", whose, what, len(left or ()))
                    return left or []
                try:
                    await asyncio.wait_for(changed.wait(), min(remaining, 1.0))
                except (asyncio.TimeoutError, TimeoutError):
                    pass
        finally:
            unsubscribe()
            unsubscribe_connection()

    # ------------------------------------------------------------------ reads
    def _orders_of(self, run_id: int) -> list[OrderRecord]:
        with self.db.session() as session:
            return [to_order_record(o) for o in OrderRepository(session).list_by_run(run_id)]

    async def get_run(self, run_id: int) -> RunInfo:
        return await self._db(self._get_run, run_id)

    def _get_run(self, run_id: int) -> RunInfo:
        from services.db.repositories import NotFound

        with self.db.session() as session:
            try:
                return _info(RunRepository(session).get(run_id))
            except NotFound:
                raise BadInput(f"run {run_id} does not exist") from None

    async def view(self, run_id: int) -> RunView:
        return await self._db(self.view_sync, run_id)

    def view_sync(self, run_id: int) -> RunView:
        with self.db.session() as session:
            run = _info(RunRepository(session).get(run_id))
            orders = OrderRepository(session).list_by_run(run_id)
            fills = []
            for o in orders:
                fills.extend(to_fill_record(f) for f in FillRepository(session).list_by_order(o.id))
            return RunView(run, tuple(to_order_record(o) for o in orders), tuple(fills))
