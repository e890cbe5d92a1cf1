"""Trade runs: create (idempotent), preview (builder + risk), execute (and resume).

The broker never holds an order the database does not know: every order is stored NEW with its
``client_order_id`` before ``placeOrder``, and ``orderRef`` carries that id. Executing a run
that was interrupted reconciles first and sends only the orders the broker has never seen.
The live token is checked here, at the service layer, whatever the UI does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from services.core.builder import BuildParams, OrderDraft, Rounding, build_orders
from services.core.order_state import EventKind
from services.core.risk import RiskContext, evaluate_risk, rules_from_params
from services.db.convert import to_fill_record, to_order_record
from services.db.models import DecisionSnapshot, Project, TradeOrder, TradeRun
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
    Side,
    TradeMode,
    TradingState,
    is_live_token,
)

from .audit import audit, os_user
from .errors import BadInput, BrokerError, LiveConfirmRequired, Refused, RiskBlocked, TradingHalted
from .listings import request_for_draft, request_for_order, snapshot_specs
from .provider import ExecutionProvider, OrderRequest
from .writer import EventWriter, LocalOrderEvent

log = logging.getLogger(__name__)
MARKET_TZ = ZoneInfo("America/New_York")
SEND_CHECK_CHUNK = 45  # orders sent between two looks at the database: about one second
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

    @property
    def blocked(self) -> bool:
        return self.report.blocked


@dataclass(frozen=True, slots=True)
class ExecuteResult:
    run_id: int
    sent: tuple[str, ...] = ()
    already_known: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    status: RunStatus = RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class RunView:
    run: RunInfo
    orders: tuple[OrderRecord, ...] = ()
    fills: tuple[FillRecord, ...] = ()


def _info(run: TradeRun, created: bool = False) -> RunInfo:
    return RunInfo(run.id, run.project_id, run.snapshot_id, TradeMode(run.mode), RunStatus(run.status), run.trade_date,
                   dict(run.params or {}), run.message, created)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _draft_from_dict(d: dict) -> OrderDraft:
    return OrderDraft(
        sequence=int(d["sequence"]), symbol=d["symbol"], side=Side(d["side"]), quantity=Decimal(d["quantity"]),
        order_type=OrderType(d["order_type"]), limit_price=_dec(d.get("limit_price")),
        reference_price=_dec(d.get("reference_price")), notional=_dec(d.get("notional")),
        current_quantity=_dec(d.get("current_quantity")) or Decimal(0), target_quantity=_dec(d.get("target_quantity")) or Decimal(0),
        target_weight=_dec(d.get("target_weight")), client_order_id=d["client_order_id"],
        sec_type=d.get("sec_type", "STK"), exchange=d.get("exchange", "SMART"), currency=d.get("currency", "USD"),
        primary_exchange=d.get("primary_exchange") or "", fx_rate=_dec(d.get("fx_rate")) or Decimal(1),
    )


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
    ) -> None:
        self.db = db
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
    async def create_run(self, project: str | int, snapshot: int | None, mode: TradeMode | str, params: dict | None = None,
                         live_token: str | None = None, new_run: bool = False) -> RunInfo:
        mode = TradeMode(mode)
        self._check_live(mode, live_token)
        return await self._db(self._create_run, project, snapshot, mode, dict(params or {}), new_run)

    def _create_run(self, project, snapshot, mode, params, new_run) -> RunInfo:
        with self.db.unit_of_work() as session:
            projects = ProjectRepository(session)
            if isinstance(project, int):
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
    async def preview(self, run_id: int, portfolio_value: Decimal | None = None) -> PreviewResult:
        run, items = await self._db(self._load_for_preview, run_id)
        specs = snapshot_specs(run.snapshot_id, items)  # refuses what cannot be traded, before asking IB
        held = [p for p in await self.provider.positions() if p.quantity]
        positions = {p.key: p.quantity for p in held}  # by listing: a US and an EUR SAP stay apart
        listings = list({**{p.key: p.spec for p in held}, **{s.key: s for s in specs}}.values())  # one request per listing
        prices_raw = await self.provider.market_prices(listings) if listings else {}
        prices = {s: p for s, p in prices_raw.items() if p is not None}
        fx = await self.provider.exchange_rates()
        if portfolio_value is None:
            portfolio_value = _dec(run.params.get("portfolio_value")) if run.params.get("portfolio_value_given") else None
        given = portfolio_value is not None
        if portfolio_value is None:
            portfolio_value = await self.provider.net_liquidation()
            if portfolio_value is None:
                raise BrokerError("the account reports no NetLiquidation; give a portfolio value")
        return await self._db(self._preview, run_id, items, positions, prices, Decimal(portfolio_value), given, fx)

    def _load_for_preview(self, run_id: int):
        with self.db.session() as session:
            run = RunRepository(session).get(run_id)
            if run.snapshot_id is None:
                raise BadInput(f"run {run_id} has no snapshot to build orders from")
            items = [{"symbol": i.symbol, "weight": i.weight, "price": i.price, "sec_type": i.sec_type,
                      "exchange": i.exchange, "currency": i.currency, "primary_exchange": i.primary_exchange or ""}
                     for i in SnapshotRepository(session).items(run.snapshot_id)]
            return _info(run), items

    def _build_params(self, run: TradeRun, portfolio_value: Decimal, fx=None) -> BuildParams:
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
        return BuildParams(portfolio_value=portfolio_value, run_id=run.id, **kwargs)

    def _preview(self, run_id, items, positions, prices, portfolio_value, given, fx=None) -> PreviewResult:
        from services.core.builder import Target

        with self.db.unit_of_work() as session:
            run = RunRepository(session).get(run_id)
            params = self._build_params(run, portfolio_value, fx)
            targets = [Target(i["symbol"], Decimal(i["weight"]), _dec(i["price"]), i["sec_type"], i["exchange"], i["currency"],
                              i.get("primary_exchange") or "") for i in items]
            result = build_orders(targets, params, prices=prices, positions=positions)
            settings = SettingsRepository(session)
            report = self._risk(session, run, result.orders, positions, prices, portfolio_value, result.unpriced_symbols, settings,
                                params)
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
                "drafts": [d.to_dict() for d in result.orders],
                "skipped": [{"symbol": s.symbol, "reason": s.reason} for s in result.skipped],
                "risk": report.to_dict(),
                "previewed_at": datetime.now(UTC).isoformat(),
            })
            run.params = stored
            return PreviewResult(run_id, tuple(result.orders), report, prices, portfolio_value, tuple(result.skipped))

    def _risk(self, session, run, drafts, positions, prices, portfolio_value, unpriced, settings, params=None):
        overrides = (run.params or {}).get("risk_overrides", [])
        rules = rules_from_params(settings.risk_defaults(), overrides)
        start = datetime.now(UTC).astimezone(MARKET_TZ).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
        orders_today = session.scalar(select(func.count(TradeOrder.id)).where(TradeOrder.created_at >= start,
                                                                              TradeOrder.status != OrderState.BLOCKED)) or 0
        sent = frozenset(session.scalars(select(TradeOrder.client_order_id).where(
            TradeOrder.client_order_id.in_([d.client_order_id for d in drafts]))).all()) if drafts else frozenset()
        ctx = RiskContext(portfolio_value=portfolio_value, positions=positions, prices=prices,
                          trading_state=settings.trading_state(), orders_today=int(orders_today),
                          unpriced_symbols=tuple(unpriced), sent_client_order_ids=sent,
                          base_currency=params.base_currency if params else "USD", fx_rates=params.fx_rates if params else {})
        return evaluate_risk(drafts, ctx, rules)

    # ------------------------------------------------------------------ execute
    async def execute(self, run_id: int, live_token: str | None = None, *, portfolio_value: Decimal | None = None) -> ExecuteResult:
        run = await self.get_run(run_id)
        self._check_live(run.mode, live_token)
        self._check_provider_mode(run.mode)
        if run_id in self._executing:
            raise BadInput(f"run {run_id} is already executing")
        self._executing.add(run_id)
        try:
            state = await self._db(self._trading_state)
            if state is TradingState.HALTED:
                raise TradingHalted("trading is HALTED: resume before executing")
            existing = await self._db(self._order_count, run_id)
            if existing:
                return await self._resume(run_id)
            preview = await self.preview(run_id, portfolio_value)
            if preview.blocked:
                reasons = "; ".join(f"{b.code or b.rule}: {b.message}" for b in preview.report.all_blocks()[:10])
                await self._db(self._mark_blocked, run_id, reasons)
                raise RiskBlocked(f"run {run_id} blocked by risk: {reasons}")
            if not preview.drafts:
                await self._db(self._finish_empty, run_id)
                return ExecuteResult(run_id, status=RunStatus.DONE)
            requests = await self._db(self._insert_orders, run_id, preview.drafts)
            return await self._send(run_id, requests, ())
        finally:
            self._executing.discard(run_id)

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

    def _finish_empty(self, run_id: int) -> None:
        with self.db.unit_of_work() as session:
            now = datetime.now(UTC)
            RunRepository(session).update_status(run_id, RunStatus.DONE, message="nothing to trade", started_at=now, ended_at=now)

    def _insert_orders(self, run_id: int, drafts) -> list[OrderRequest]:
        """Every order stored NEW (one transaction) before the first placeOrder."""
        requests = []
        with self.db.unit_of_work() as session:
            run = RunRepository(session).get(run_id)
            orders = OrderRepository(session)
            for d in drafts:
                orders.insert_once(
                    d.client_order_id, d.symbol, d.side, d.quantity, order_type=d.order_type, limit_price=d.limit_price,
                    run_id=run_id, project_id=run.project_id, sec_type=d.sec_type, exchange=d.exchange, currency=d.currency,
                    primary_exchange=d.primary_exchange or None,
                    account=self.provider.account or None, params={"draft": d.to_dict()},
                )
                requests.append(request_for_draft(d))
            run.status = RunStatus.RUNNING
            run.started_at = run.started_at or datetime.now(UTC)
            audit(self.db, self.actor, "run.execute", "trade_run", run_id,
                  {"orders": len(drafts), "mode": str(run.mode), "account": self.provider.account}, session=session)
        return requests

    async def _resume(self, run_id: int) -> ExecuteResult:
        """An interrupted run: reconcile first, then send only what the broker never saw."""
        if self.reconciler is not None:
            # Always: another process (a killed command, a second client id) may have sent some of
            # these orders since this connection's last pass.
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

    def _sendable(self, client_order_ids: list[str]) -> tuple[bool, set[str]]:
        """(trading halted, the orders of these that are still NEW and unsent)."""
        with self.db.session() as session:
            if SettingsRepository(session).trading_state() is TradingState.HALTED:
                return True, set()
            return False, set(session.scalars(
                select(TradeOrder.client_order_id).where(
                    TradeOrder.client_order_id.in_(client_order_ids), TradeOrder.status == OrderState.NEW,
                    TradeOrder.ib_order_id.is_(None))))

    def _mark_running(self, run_id: int) -> None:
        with self.db.unit_of_work() as session:
            run = RunRepository(session).get(run_id)
            run.status = RunStatus.RUNNING
            audit(self.db, self.actor, "run.resume", "trade_run", run_id, {}, session=session)

    async def _send(self, run_id: int, requests: list[OrderRequest], known: tuple[str, ...]) -> ExecuteResult:
        if not requests:
            return ExecuteResult(run_id, (), known, (), (await self.get_run(run_id)).status)
        if hasattr(self.provider, "qualify"):
            await self.provider.qualify(list(dict.fromkeys(r.spec for r in requests)))
        sent: list[str] = []
        failed: list[tuple[str, str]] = []

        async def send_one(request: OrderRequest) -> None:
            try:
                ib_order_id = await self.provider.place_order(request)
            except Exception as exc:  # not sent (not connected, unknown contract): stays NEW
                failed.append((request.client_order_id, str(exc)))
                log.error("order %s not sent: %s", request.client_order_id, exc)
                return
            # queued synchronously right after placeOrder: ahead of any broker reply
            self.writer.submit(LocalOrderEvent(request.client_order_id, EventKind.SUBMITTED, EventSource.SYSTEM, ib_order_id=ib_order_id,
                                               payload={"orderRef": request.client_order_id, "orderId": ib_order_id}))
            sent.append(request.client_order_id)

        # One sender in a loop rather than one task per order: placeOrder never blocks, so the
        # pacing limiter is the only bound. Before each chunk (about one second of sending) the
        # database is read again, so that a halt or a cancel that lands while the run is sending,
        # from this process or another, stops what was not sent yet; a halt in this process
        # stops it before the very next order.
        self._halt_requested = False
        for start in range(0, len(requests), SEND_CHECK_CHUNK):
            chunk = requests[start:start + SEND_CHECK_CHUNK]
            halted, sendable = await self._db(self._sendable, [r.client_order_id for r in chunk])
            if halted or self._halt_requested:
                log.warning("run %s: trading HALTED; %d order(s) left unsent", run_id, len(requests) - start)
                break
            for request in chunk:
                if self._halt_requested:
                    break
                if request.client_order_id in sendable:  # else canceled before sending
                    await send_one(request)
        if failed and not sent:
            raise BrokerError(f"no order could be sent: {failed[0][1]}")
        return ExecuteResult(run_id, tuple(sent), known, tuple(failed), RunStatus.RUNNING)

    async def wait_acknowledged(self, run_id: int, timeout: float | None = None) -> list[str]:
        """Wait up to the ack timeout; orders still unacknowledged stay SUBMITTED (recovery's job).
        Returns their client order ids."""
        return await self._wait(run_id, timeout if timeout is not None else self.ack_timeout,
                                lambda o: o.status not in (OrderState.NEW, OrderState.SUBMITTED), "acknowledged")

    async def recover_unacknowledged(self, run_id: int, *, older_than: float | None = None) -> list[str]:
        """Orders still SUBMITTED (no acknowledgement) after ``older_than`` seconds: cancel at IB,
        then reconcile (open orders, completed orders, executions) before calling any of them
        dead. Never resends (ib-notes pitfall 4). Returns the client order ids handled."""
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

    async def wait_done(self, run_id: int, timeout: float) -> list[str]:
        """Wait until every order of the run is final or ``timeout`` passed; returns the ones
        still working."""
        return await self._wait(run_id, timeout, lambda o: OrderState(o.status).is_terminal, "done")

    async def _wait(self, run_id: int, timeout: float, ready, what: str) -> list[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        changed = asyncio.Event()
        unsubscribe = self.writer.subscribe(lambda cs: changed.set() if run_id in cs.runs or cs.orders else None)
        try:
            while True:
                changed.clear()
                orders = await self._db(self._orders_of, run_id)
                waiting = [o.client_order_id for o in orders if not ready(o)]
                remaining = deadline - loop.time()
                if not waiting or remaining <= 0:
                    return waiting
                try:
                    await asyncio.wait_for(changed.wait(), min(remaining, 1.0))
                except (asyncio.TimeoutError, TimeoutError):
                    pass
        finally:
            unsubscribe()

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
