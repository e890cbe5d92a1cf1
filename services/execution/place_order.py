"""A manual order's placing: the order ticket's one order typed in the window or given to
``order`` on the command line, and the new order of a replace that cancels and sends anew.

Every gate runs before anything is stored or sent: the live word, the trading state, the listing,
the market-health gate and the risk check (``risk_check``, the ticket's check against the
project's book); ``place`` then stores the order NEW and sends it, stopped on its way by a halt or
a Cancel All made while it waits its turn at the pacing limiter, as a run's sender is.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from services.audit_actions import AuditAction
from services.core.contracts import ContractSpec, contract_problem, spec_of
from services.core.order_state import EventKind
from services.core.risk import RiskReport
from services.core.typed_numbers import plain
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.repositories import OrderRepository, ProjectRepository, SettingsRepository
from services.domain import EventSource, OrderRecord, OrderType, Side, TradingState

from .action_context import ActionContext, ActionPart
from .errors import BadInput, MarketUnhealthy, RiskBlocked, SendingStopped
from .listings import draft_params
from .market_health import MarketHealth, TradeIntent
from .order_claims import placed_by
from .order_risk import Replacing, block_reasons, check_order_in, market_inputs, order_draft
from .provider import OrderRequest
from .sending import CANCEL_ALL, SEND_WATCH_INTERVAL
from .writer import LocalOrderEvent


class PlaceOrder(ActionPart):
    def __init__(self, context: ActionContext, health: MarketHealth | None) -> None:
        super().__init__(context)
        self.health = health  # the market-health gate before a manual order (None: not checked)

    async def manual_order(self, symbol: str, side: Side | str, quantity: Decimal, order_type: OrderType | str = OrderType.MKT,
                           limit_price: Decimal | None = None, live_token: str | None = None, *, project: str | None = None,
                           client_order_id: str | None = None, contract: ContractSpec | None = None,
                           require_market_health: bool = True, outside_rth: bool = False) -> OrderRecord:
        """``symbol`` is a US stock or a listing key (SAP@IBIS:EUR); ``contract`` names the listing
        exactly. The market-health gate must pass (``MarketUnhealthy`` with the reasons); a market
        order for a closed market is refused, a limit order outside the regular session goes only
        with ``outside_rth``. A replace's new order does not come here: it is the original order
        anew (``replace``), checked before the original is canceled."""
        self._check_live(live_token)
        spec = contract or spec_of(symbol)
        problem = contract_problem(spec)
        if problem is not None:
            raise BadInput(f"{spec.key}: {problem[1]}")
        symbol = spec.symbol
        side, order_type = Side(str(side).upper()), OrderType(str(order_type).upper())
        quantity = Decimal(quantity)
        if not symbol or quantity <= 0:
            raise BadInput("a manual order needs a symbol and a positive quantity")
        if order_type is OrderType.LMT and (limit_price is None or Decimal(limit_price) <= 0):
            raise BadInput("a LMT order needs a positive limit price")
        if order_type is OrderType.MKT:
            limit_price = None
        await self._ensure_not_halted()
        await self.check_market_health(spec, order_type, require_market_health, outside_rth)
        coid = client_order_id or f"M-{datetime.now(UTC):%y%m%d%H%M%S}-{symbol}-{side.value[0]}-{uuid.uuid4().hex[:6]}"
        request = OrderRequest(coid, symbol, side, quantity, order_type, limit_price, contract=spec, outside_rth=outside_rth)
        await self.risk_check(request, project=project)
        return await self.place(request, project=project)

    async def place(self, request: OrderRequest, *, project: str | None = None, replaces_order_id: int | None = None,
                     run_id: int | None = None, stops: int | None = None) -> OrderRecord:
        """``request`` stored and sent as it is: every gate has passed. A halt or Cancel All of
        this process since ``stops`` (default: now) stops it in the step that writes it, as a
        run's sender is stopped: it waits its turn at the pacing limiter (seconds behind a run),
        and went out after the trader's Cancel All; it is then canceled unsent, and
        ``SendingStopped`` says why. One of another process is seen as its senders see it: the
        Cancel All marker and the trading state looked at every ``SEND_WATCH_INTERVAL`` seconds
        while it waits."""
        coid = request.client_order_id
        stops = self.context.stops if stops is None else stops
        mark = await self._db(self.cancel_all_mark)
        elsewhere: list[str] = []  # a halt or Cancel All of another process seen while it waits

        def not_stopped() -> None:
            if self.context.stops != stops:
                raise SendingStopped(f"{self.context.last_stop} pressed while it waited its turn to go")
            if elsewhere:
                raise SendingStopped(f"{elsewhere[0]} (another process) while it waited its turn to go")

        async def watch() -> None:
            while not elsewhere:
                await asyncio.sleep(SEND_WATCH_INTERVAL)
                why = await self._db(self._stop_in_database, mark)
                if why is not None:
                    elsewhere.append(why)

        order_id = await self._db(self._insert, request, project, replaces_order_id, run_id)
        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            ib_order_id = await self.provider.place_order(request, check=not_stopped)
        except SendingStopped as exc:
            self.writer.submit(LocalOrderEvent(coid, EventKind.CANCEL_REQUESTED, EventSource.USER,
                                               message=f"not sent: {exc}", unsent_only=True))
            await self.writer.flush()
            raise
        finally:
            watcher.cancel()
        self.writer.submit(LocalOrderEvent(coid, EventKind.SUBMITTED, EventSource.USER, ib_order_id=ib_order_id,
                                           payload={"orderRef": coid, "orderId": ib_order_id,
                                                    **placed_by(getattr(self.provider, "client_id", None))}))
        # its numbers as ``plain`` writes them, as the replace's own entry does: a replacement's
        # quantity and kept limit come from the stored order ("6.000000", "405.00000000")
        await self._db(self._audit, AuditAction.ORDER_MANUAL if replaces_order_id is None else AuditAction.ORDER_REPLACE_NEW, order_id,
                       {"client_order_id": coid, "symbol": request.symbol, "side": str(request.side), "quantity": plain(request.quantity),
                        "order_type": str(request.order_type),
                        "limit_price": None if request.limit_price is None else plain(request.limit_price),
                        "tif": request.tif, "outside_rth": request.outside_rth,
                        "stop_price": None if request.stop_price is None else plain(request.stop_price),
                        "replaces_order_id": replaces_order_id})
        await self.writer.flush()
        return await self._db(self._order, order_id)

    async def check_market_health(self, spec: ContractSpec, order_type: OrderType, required: bool, outside_rth: bool) -> None:
        if self.health is None:
            return
        if not required:
            await self._db(self._audit, AuditAction.ORDER_MARKET_HEALTH_SKIPPED, None,
                           {"symbol": spec.key, "status": self.health.status().describe()})
            return
        report = await self.health.check([TradeIntent(spec, order_type)], outside_rth=outside_rth)
        if not report.healthy:
            await self._db(self._audit, AuditAction.ORDER_MARKET_HEALTH_REFUSED, None, {"symbol": spec.key, "reasons": list(report.reasons)})
            raise MarketUnhealthy(f"{spec.key}: order refused, the market is not healthy: {report.describe()}")

    async def risk_check(self, request: OrderRequest, *, project: int | str | None, replacing: Replacing | None = None) -> None:
        """The ticket's check (services.execution.order_risk) of ``request`` as it would go,
        against ``project``'s book: ``RiskBlocked`` with the reasons."""
        report = await self.risk_report(request, project=project, replacing=replacing)
        if report.blocked:
            raise RiskBlocked(f"blocked by risk: {block_reasons(report)}")

    async def risk_report(self, request: OrderRequest, *, project: int | str | None,
                          replacing: Replacing | None = None) -> RiskReport:
        """``risk_check``'s verdict itself, blocked or not (a replace's check-only call shows it
        before the trader clicks): nothing is stored, nothing sent."""
        spec = request.spec
        inputs = await market_inputs(self.provider, spec, ask_tick=False)
        _, report, _ = await self._db(
            check_order_in, self.db, self.provider,
            lambda seen: order_draft(spec, request.side, request.quantity, request.order_type, seen, request.client_order_id,
                                     limit_price=request.limit_price, stop_price=request.stop_price, tif=request.tif,
                                     outside_rth=request.outside_rth),
            inputs, project=project, replacing=replacing)
        return report

    @retry_lock_conflicts  # one unit of work, stored NEW before it is sent
    def _insert(self, request: OrderRequest, project, replaces_order_id, run_id) -> int:
        spec = request.spec
        with self.db.unit_of_work() as session:
            project_id = ProjectRepository(session).get_or_create(project).id if project else None
            if replaces_order_id is not None and project_id is None:
                project_id = OrderRepository(session).get(replaces_order_id).project_id
            # the TIF, outside-RTH and stop price stored as sent: recovery re-places an order from its row
            order = OrderRepository(session).create(
                request.client_order_id, spec.symbol, request.side, request.quantity, order_type=request.order_type,
                limit_price=request.limit_price, tif=request.tif, params=draft_params(request) or None, project_id=project_id,
                run_id=run_id, replaces_order_id=replaces_order_id, account=self.provider.account or None,
                sec_type=spec.sec_type, exchange=spec.exchange, currency=spec.currency, primary_exchange=spec.primary_exchange or None,
            )
            return order.id

    def cancel_all_mark(self) -> datetime | None:
        """The marker of the last Cancel All that concerns this session's account (one of another
        account leaves its orders as they are, as a run's sender: ``cancel_all_concerning``)."""
        with self.db.session() as session:
            return SettingsRepository(session).cancel_all_concerning(self.provider.account or None)

    def _stop_in_database(self, mark: datetime | None) -> str | None:
        """A Cancel All of this session's account since ``mark`` (``cancel_all_mark``), or trading
        HALTED (by any process); else None."""
        with self.db.session() as session:
            settings = SettingsRepository(session, read_once=True)
            if settings.cancel_all_concerning(self.provider.account or None) != mark:
                return CANCEL_ALL
            return "trading HALTED" if settings.trading_state() is TradingState.HALTED else None
