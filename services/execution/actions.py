"""Order actions: cancel, replace, cancel all, halt / resume, manual order entry.

``OrderActions`` is the one entry point the window's controllers and the CLI commands call. It
composes one part per action over one shared ``ActionContext`` (action_context.py): one order's
cancel (cancel_order.py), Cancel All (cancel_all.py), a manual order's placing and a replace; it
holds halt and resume itself, a halt being a stop of the senders, a state set, and with
``cancel_all`` a Cancel All. What each action comes to is a value of action_outcomes.py.

Each goes through the same rules as a run (live token in live mode, the trading state, the risk
engine for anything that sends or grows an order) and is written to the audit log with the
operating-system user as actor. Cancels are always allowed, HALTED included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from services.audit_actions import AuditAction
from services.core.contracts import ContractSpec, contract_problem, spec_of
from services.core.ib_codes import CodeClass, classify, refuses_modify
from services.core.order_state import EventKind
from services.core.replace_rules import replace_problem
from services.core.typed_numbers import plain
from services.db.convert import to_order_record
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.repositories import (
    NotFound,
    OrderRepository,
    ProjectRepository,
    RepositoryError,
    SettingsRepository,
)
from services.domain import (
    EventSource,
    OrderRecord,
    OrderState,
    OrderType,
    Side,
    TradingState,
)

from .action_context import ActionContext, ActionPart
from .action_outcomes import Canceled, Halted, ReplaceResult
from .audit import audit, os_user
from .cancel_all import SENDERS_TIMEOUT, CancelAll
from .cancel_all_outcome import CanceledOrders
from .cancel_order import CancelOrder, answer_to_cancel
from .errors import (
    BadInput,
    BrokerError,
    MarketUnhealthy,
    Missing,
    RiskBlocked,
    SendingStopped,
    TradingHalted,
)
from .events import BrokerErrorEvent, OpenOrderEvent, OrderStatusEvent
from .halt_unsent import cancel_unsent_of_runs
from .lease import LeaseManager, placed_by
from .listings import draft_params, request_for_order
from .market_health import MarketHealth, TradeIntent
from .order_risk import Replacing, block_reasons, check_order_in, market_inputs, min_tick_of, order_draft
from .provider import ExecutionProvider, OrderRequest
from .sending import CANCEL_ALL, SEND_WATCH_INTERVAL
from .writer import EventWriter, LocalOrderEvent

log = logging.getLogger(__name__)


class OrderActions(ActionPart):
    """Every order action of the trader, composed of its parts (``canceling``, ``canceling_all``)
    over one context: what is set here (``writer``, ``confirm_timeout``, ``senders_timeout``)
    holds for every part."""

    def __init__(self, db, provider: ExecutionProvider, writer: EventWriter, service=None, *, actor: str | None = None,
                 confirm_timeout: float = 10.0, health: MarketHealth | None = None, leases: LeaseManager | None = None,
                 senders_timeout: float = SENDERS_TIMEOUT) -> None:
        super().__init__(ActionContext(db, provider, writer, service, actor or os_user(), confirm_timeout))
        self.health = health  # the market-health gate before a manual order (None: not checked)
        self.canceling = CancelOrder(self.context)
        self.canceling_all = CancelAll(self.context, leases or (service.leases if service is not None else LeaseManager(db)),
                                       senders_timeout)

    @property
    def senders_timeout(self) -> float:
        """How long Cancel All waits for the senders of other processes."""
        return self.canceling_all.senders_timeout

    @senders_timeout.setter
    def senders_timeout(self, seconds: float) -> None:
        self.canceling_all.senders_timeout = seconds

    async def order(self, order_id: int) -> OrderRecord:
        """The order as the database has it now (what a cancel or replace made of it); ``Missing``
        for an id that is none."""
        return await self._db(self._order, order_id)

    async def cancel(self, order_id: int, live_token: str | None = None, *, wait: bool = False) -> Canceled:
        """One order canceled (``CancelOrder.cancel``)."""
        return await self.canceling.cancel(order_id, live_token, wait=wait)

    async def cancel_all(self, live_token: str | None = None, *, one_by_one: bool = False, wait: bool = False) -> CanceledOrders:
        """Every working order canceled, the senders stopped first (``CancelAll.cancel_all``)."""
        return await self.canceling_all.cancel_all(live_token, one_by_one=one_by_one, wait=wait)

    def global_cancel_also(self) -> str:
        """What the global Cancel All would do beyond the connected account, in words
        (``CancelAll.global_cancel_also``)."""
        return self.canceling_all.global_cancel_also()

    def working_count(self) -> int:
        """How many orders ``cancel_all`` would cancel one by one (blocking: a worker thread's)."""
        return self.canceling_all.working_count()

    def working_at_broker_count(self) -> int:
        """How many of them are at the broker (``CancelAll.working_at_broker_count``; blocking)."""
        return self.canceling_all.working_at_broker_count()

    # ------------------------------------------------------------------ halt / resume
    async def halt(self, *, cancel_all: bool = False, live_token: str | None = None, wait: bool = False) -> Halted:
        """``wait``: as ``cancel_all``'s (a command). The Cancel All's outcome is returned, so that
        what it could not cancel is said (it was dropped: ``halt --cancel-all`` exited 0 with
        orders still working at the broker)."""
        self.context.stopping("trading HALTED")  # as a run's sender, a replacement waiting to go stops
        if self.service is not None:
            self.service.stop_sending()  # a run sending right now stops before its next order
        state, unsent = await self._db(self._set_state, TradingState.HALTED, {"cancel_all": cancel_all})
        canceled = await self.cancel_all(live_token, wait=wait) if cancel_all else None
        return Halted(state, canceled, tuple(unsent))

    async def resume(self) -> TradingState:
        state, _ = await self._db(self._set_state, TradingState.ACTIVE, {})
        return state

    @retry_lock_conflicts  # one unit of work of the database alone
    def _set_state(self, state: TradingState, payload: dict) -> tuple[TradingState, list[str]]:
        """The state set, and (a halt) the runs' orders not sent yet that it canceled."""
        unsent: list[str] = []
        with self.db.unit_of_work() as session:
            settings = SettingsRepository(session)
            before = settings.get_for_update().trading_state
            settings.set_trading_state(state)
            if state is TradingState.HALTED:
                # the runs' orders not sent yet are closed with the halt, in its transaction: never
                # sent automatically after the resume (services/execution/halt_unsent.py)
                unsent = cancel_unsent_of_runs(session)
                payload = {**payload, "unsent_canceled": unsent}
            audit(self.db, self.actor, AuditAction.TRADING_HALT if state is TradingState.HALTED else AuditAction.TRADING_RESUME, "trade_settings", 1,
                  {"from": str(before), "to": str(state), **payload}, session=session)
        return state, unsent

    # ------------------------------------------------------------------ risk for one order
    async def _risk_check(self, request: OrderRequest, *, project: int | str | None, replacing: Replacing | None = None) -> None:
        """The ticket's check (services.execution.order_risk) of ``request`` as it would go,
        against ``project``'s book: ``RiskBlocked`` with the reasons."""
        spec = request.spec
        inputs = await market_inputs(self.provider, spec, ask_tick=False)
        _, report, _ = await self._db(
            check_order_in, self.db, self.provider,
            lambda seen: order_draft(spec, request.side, request.quantity, request.order_type, seen, request.client_order_id,
                                     limit_price=request.limit_price, stop_price=request.stop_price, tif=request.tif,
                                     outside_rth=request.outside_rth),
            inputs, project=project, replacing=replacing)
        if report.blocked:
            raise RiskBlocked(f"blocked by risk: {block_reasons(report)}")

    # ------------------------------------------------------------------ manual order
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
        await self._check_market_health(spec, order_type, require_market_health, outside_rth)
        coid = client_order_id or f"M-{datetime.now(UTC):%y%m%d%H%M%S}-{symbol}-{side.value[0]}-{uuid.uuid4().hex[:6]}"
        request = OrderRequest(coid, symbol, side, quantity, order_type, limit_price, contract=spec, outside_rth=outside_rth)
        await self._risk_check(request, project=project)
        return await self._place(request, project=project)

    async def _place(self, request: OrderRequest, *, project: str | None = None, replaces_order_id: int | None = None,
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
        mark = await self._db(self._cancel_all_mark)
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
        await self._db(self._audit, AuditAction.ORDER_MANUAL if replaces_order_id is None else AuditAction.ORDER_REPLACE_NEW, order_id,
                       {"client_order_id": coid, "symbol": request.symbol, "side": str(request.side), "quantity": str(request.quantity),
                        "order_type": str(request.order_type),
                        "limit_price": None if request.limit_price is None else str(request.limit_price),
                        "tif": request.tif, "outside_rth": request.outside_rth,
                        "stop_price": None if request.stop_price is None else str(request.stop_price),
                        "replaces_order_id": replaces_order_id})
        await self.writer.flush()
        return await self._db(self._order, order_id)

    async def _check_market_health(self, spec: ContractSpec, order_type: OrderType, required: bool, outside_rth: bool) -> None:
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

    # ------------------------------------------------------------------ replace
    async def replace(self, order_id: int, quantity: Decimal | None = None, limit_price: Decimal | None = None,
                      live_token: str | None = None, stop_price: Decimal | None = None) -> ReplaceResult:
        """The working order with a new quantity, limit and/or stop price: changed in place (a LMT,
        STP or STP LMT order), or canceled and sent anew when IB refuses that for a LMT order or
        for a MKT order. A stop order is never canceled and sent anew: the position would be
        without its stop meanwhile, and the new one could be refused. Either way the order is
        otherwise the one the trader confirmed (TIF, outside-RTH, listing), and every gate its new
        form must pass runs before anything is changed or canceled: a refused replace leaves the
        original working as it was."""
        self._check_live(live_token)
        if quantity is None and limit_price is None and stop_price is None:
            raise BadInput("replace needs a new quantity, limit price and/or stop price")
        stops = self.context.stops  # a halt or Cancel All of this process from here on stops its new order
        await self._ensure_not_halted()
        order, replacing, original, canceled_all = await self._db(self._to_replace, order_id)  # one read of the order
        spec = original.spec
        asked = (None if quantity is None else Decimal(quantity), None if limit_price is None else Decimal(limit_price))
        stop = None if stop_price is None else Decimal(stop_price)
        problem = replace_problem(order, *asked, stop_price=stop)
        if problem is None and (limit_price is not None or stop is not None):  # new prices on the listing's grid (IB: error 110)
            problem = replace_problem(order, *asked, await min_tick_of(self.provider, spec), stop_price=stop)
        if problem is not None:
            raise BadInput(f"order {order_id}: {problem}")
        new_quantity = Decimal(quantity) if quantity is not None else order.quantity
        new_limit = Decimal(limit_price) if limit_price is not None else order.limit_price
        new_stop = stop if stop is not None else order.stop_price
        payload = {"client_order_id": order.client_order_id, "quantity": str(new_quantity),
                   "limit_price": None if new_limit is None else str(new_limit)}
        if order.order_type.has_stop:
            payload["stop_price"] = None if new_stop is None else str(new_stop)
        # the order as it would stand after the replace: the stored one with only these changed
        # (the risk check values a stop order at its stop)
        wanted = dataclasses.replace(original, client_order_id=order.client_order_id + "-chk", quantity=new_quantity,
                                     limit_price=new_limit, stop_price=new_stop)
        # checked for what it still trades: its filled part is in the book already (checked for its
        # whole quantity, a partly filled sell re-priced was 'selling 30 of 20 held would go short')
        still = dataclasses.replace(wanted, quantity=new_quantity - (order.filled_quantity or Decimal(0)))
        try:
            await self._risk_check(still, project=replacing.project_id, replacing=replacing)
        except RiskBlocked as exc:
            # a refused replace is a decision too: the audit log says who asked for what and why not
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": str(exc)})
            raise
        why_new = "a market order cannot be changed in place"
        if order.order_type is OrderType.LMT or order.order_type.has_stop:
            coid = order.client_order_id
            confirmed = self.provider.expect(lambda ev: isinstance(ev, OpenOrderEvent) and ev.order_ref == coid
                                             and ev.quantity == new_quantity and (new_limit is None or ev.limit_price == new_limit)
                                             and (stop is None or ev.stop_price == new_stop))
            # a refusal (105, 104, 201, ...: services.core.ib_codes) answers at once, no timeout
            refused = self.provider.expect(lambda ev: isinstance(ev, BrokerErrorEvent) and ev.order_ref == coid
                                           and refuses_modify(ev.code))
            self.writer.submit(LocalOrderEvent(coid, EventKind.REPLACE_REQUESTED, EventSource.USER, quantity=new_quantity,
                                               limit_price=new_limit, stop_price=stop, payload=payload))
            try:
                await self.provider.modify_order(coid, new_quantity if quantity is not None else None, limit_price, stop)
            except BrokerError as exc:
                confirmed.cancel()
                refused.cancel()
                self.writer.submit(LocalOrderEvent(coid, EventKind.REPLACE_REJECTED, EventSource.USER, message=str(exc)))
                await self.writer.flush()
                raise
            done, _ = await asyncio.wait({confirmed, refused}, timeout=self.confirm_timeout, return_when=asyncio.FIRST_COMPLETED)
            ok = confirmed in done
            confirmed.cancel()
            refused.cancel()
            if ok:
                await self._db(self._audit, AuditAction.ORDER_REPLACE, order_id, {**payload, "method": "modify"})
                await self.writer.flush()
                return ReplaceResult(order_id, "modify", quantity=new_quantity, limit_price=new_limit,
                                     stop_price=new_stop if order.order_type.has_stop else None)
            if refused in done and not refused.cancelled():
                answer = refused.result()
                why = f"{answer.code}: {answer.message}"
                if classify(answer.code) is CodeClass.ORDER_REJECTED:
                    await self._change_rejected(order_id, coid, payload, why)
            else:
                why = "no confirmation"
            log.warning("modify of %s refused (%s): cancel and send a new order", coid, why)
            self.writer.submit(LocalOrderEvent(coid, EventKind.REPLACE_REJECTED, EventSource.USER, message=f"modify refused: {why}"))
            await self.writer.flush()
            if order.order_type.has_stop:
                await self._stop_kept(order_id, payload, why)
            why_new = f"the broker did not change it in place ({why})"
        return await self._cancel_and_new(order_id, wanted, payload, why_new, canceled_all, stops)

    async def _stop_kept(self, order_id: int, payload: dict, why: str) -> None:
        """A stop order the broker did not change in place is left working, never canceled and
        sent anew (its position would be without its stop meanwhile, and for good were the new
        order refused): said, with what the trader can do."""
        reason = f"the broker did not change it in place ({why})"
        await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": reason})
        raise BrokerError(f"order {order_id} not replaced: {reason}; a stop order is never canceled and sent anew, it "
                          f"keeps working as the broker holds it (its next status shows in the blotter); cancel it and "
                          f"enter a new one in the order ticket to change it otherwise", code="replace_refused")

    async def _change_rejected(self, order_id: int, coid: str, payload: dict, why: str) -> None:
        """IB rejected the order's new form itself (201: a margin check, a size or price limit),
        not the way of changing it (105): a new order of that form would be rejected alike, so
        the original is left working as it was, never canceled for it (the trader was left with
        no order once IB rejected the new one too)."""
        self.writer.submit(LocalOrderEvent(coid, EventKind.REPLACE_REJECTED, EventSource.USER, message=f"modify refused: {why}"))
        await self.writer.flush()
        reason = f"the broker rejected the change ({why})"
        await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": reason})
        raise BrokerError(f"order {order_id} not replaced, it is still working unchanged: {reason}; a new order of that "
                          f"form would be rejected alike", code="replace_refused")

    async def _cancel_and_new(self, order_id: int, wanted: OrderRequest, payload: dict, why_new: str,
                              canceled_all: datetime | None, stops: int) -> ReplaceResult:
        """Cancel, then send ``wanted`` (less what filled meanwhile) as a new linked order. Its gates
        run first: refused after the cancel, the trader would be left with no order at all; after
        it, only a halt or a Cancel All (its marker no longer ``canceled_all``, the one read when
        the replace began) pressed meanwhile stops the new order. (Risk
        was checked by ``replace`` for what the new quantity still trades, its total less what had filled;
        what goes after the cancel, less what filled by then, is no more.)"""
        try:
            problem = contract_problem(wanted.spec)
            if problem is not None:
                raise BadInput(f"{wanted.spec.key}: {problem[1]}")
            await self._ensure_not_halted()  # again: the modify's answer may have taken seconds
            # the session judged as for the original: a GTC outside-RTH limit order may rest now
            await self._check_market_health(wanted.spec, wanted.order_type, True, wanted.outside_rth)
        except (BadInput, RiskBlocked) as exc:  # MarketUnhealthy and TradingHalted are RiskBlocked
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": str(exc)})
            raise type(exc)(f"order {order_id} not replaced, it is still working unchanged: {why_new}, and a new order "
                            f"would be refused: {exc}", code=exc.code) from exc
        order = await self._db(self._order, order_id)
        coid = order.client_order_id
        # its final status, or the broker's refusal of the cancel: an order that filled before the
        # cancel (its Filled already in) gets only a refusal (10148 / 161), and the replace waited
        # out the whole confirm_timeout to say 'cancel not confirmed' of a filled order
        answered = self.provider.expect(answer_to_cancel(coid))
        try:
            await self.provider.cancel_order(coid, order.ib_order_id)
        except BaseException:
            answered.cancel()
            raise
        self.writer.submit(LocalOrderEvent(coid, EventKind.CANCEL_REQUESTED, EventSource.USER, message="replace: cancel first"))
        try:
            event = await asyncio.wait_for(answered, self.confirm_timeout)
        except TimeoutError:
            await self.writer.flush()
            raise BrokerError(f"cancel of {coid} not confirmed within {self.confirm_timeout} s: no new order sent") from None
        await self.writer.flush()  # the broker's news before its answer (a fill) is written
        order = await self._db(self._order, order_id)
        if order.status is OrderState.FILLED or (isinstance(event, OrderStatusEvent) and event.status == "Filled"):
            await self._db(self._audit, AuditAction.ORDER_REPLACE, order_id, {**payload, "method": "nothing", "reason": "filled before the cancel"})
            return ReplaceResult(order_id, "nothing", message="the order filled before it could be canceled",
                                 quantity=wanted.quantity, limit_price=wanted.limit_price)
        if isinstance(event, BrokerErrorEvent):
            refusal = f"the broker refused the cancel of {coid} ({event.code}: {event.message})"
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": refusal})
            raise BrokerError(f"order {order_id} not replaced: {refusal}; it is {order.status}: no new order sent",
                              code="not_cancelable")
        remaining = wanted.quantity - order.filled_quantity
        if remaining <= 0:  # said in the audit log as a fill before the cancel is
            reason = (f"{plain(order.filled_quantity)} filled before the cancel, of the {plain(wanted.quantity)} asked in "
                      "all: nothing left to send")
            await self._db(self._audit, AuditAction.ORDER_REPLACE, order_id, {**payload, "method": "nothing", "reason": reason})
            return ReplaceResult(order_id, "nothing", message=reason, quantity=wanted.quantity, limit_price=wanted.limit_price)
        try:
            # a halt pressed while the cancel was under way stops the new order: nothing new goes out
            await self._ensure_not_halted()
        except TradingHalted as exc:
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": str(exc)})
            raise TradingHalted(f"order {order_id} canceled, its replacement not sent: {exc}") from exc
        # a Cancel All pressed while the cancel was under way: the trader canceled everything, and
        # the new order would be working at the broker after Cancel All returned
        mark = await self._db(self._cancel_all_mark)
        if mark != canceled_all:
            reason = (f"a Cancel All at {mark:%Y-%m-%d %H:%M:%S} UTC, after this replace began, canceled everything: "
                      "nothing new goes out")
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": reason})
            raise SendingStopped(f"order {order_id} canceled, its replacement not sent: {reason}", code="cancel_all")
        # one new order per order replaced: its client order id is derived from the original's, so
        # that a second session replacing the same order at the same moment finds it taken (each
        # counted the replacements so far and, counting after the other's insert, sent a second)
        new_coid = f"{coid[:56]}-R1"
        request = await self._db(self._replacement_request, order_id, new_coid, remaining, wanted.limit_price)
        try:
            new = await self._place(request, replaces_order_id=order_id, run_id=order.run_id, stops=stops)
        except SendingStopped as exc:
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": str(exc)})
            raise SendingStopped(f"order {order_id} canceled, its replacement not sent: {exc}", code="stopped") from exc
        except RepositoryError as exc:  # stored by the other session: nothing was sent here
            reason = f"another session replaced it at the same moment ({new_coid}): no second new order sent ({exc})"
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": reason})
            raise BrokerError(f"order {order_id} canceled, {reason}", code="replaced_elsewhere") from exc
        await self._db(self._audit, AuditAction.ORDER_REPLACE, order_id, {**payload, "method": "cancel_and_new", "new_order_id": new.id})
        return ReplaceResult(order_id, "cancel_and_new", new.id, quantity=wanted.quantity, limit_price=wanted.limit_price)

    def _to_replace(self, order_id: int) -> tuple[OrderRecord, Replacing, OrderRequest, datetime | None]:
        """The order as its record, as what its replacement replaces (the risk check's view) and
        as it went to the broker (its listing, TIF, outside-RTH), and the marker of the last
        Cancel All that concerns this session's account as the replace begins: one read."""
        with self.db.session() as session:
            try:
                order = OrderRepository(session).get(order_id)
            except NotFound:
                raise Missing(f"order {order_id} does not exist") from None
            return (to_order_record(order), _replacing(order), request_for_order(order),
                    SettingsRepository(session).cancel_all_concerning(self.provider.account or None))

    def _cancel_all_mark(self) -> datetime | None:
        """The marker of the last Cancel All that concerns this session's account (one of another
        account leaves its orders as they are, as a run's sender: ``cancel_all_concerning``)."""
        with self.db.session() as session:
            return SettingsRepository(session).cancel_all_concerning(self.provider.account or None)

    def _stop_in_database(self, mark: datetime | None) -> str | None:
        """A Cancel All of this session's account since ``mark`` (``_cancel_all_mark``), or trading
        HALTED (by any process); else None."""
        with self.db.session() as session:
            settings = SettingsRepository(session, read_once=True)
            if settings.cancel_all_concerning(self.provider.account or None) != mark:
                return CANCEL_ALL
            return "trading HALTED" if settings.trading_state() is TradingState.HALTED else None

    def _replacement_request(self, order_id: int, client_order_id: str, quantity: Decimal, limit_price: Decimal | None) -> OrderRequest:
        """The replaced order anew, as recovery re-places one (``request_for_order``): only the
        id, the quantity and the limit differ."""
        with self.db.session() as session:
            return request_for_order(OrderRepository(session).get(order_id), client_order_id=client_order_id,
                                     quantity=quantity, limit_price=limit_price)



def _replacing(order) -> Replacing:
    return Replacing(order.created_at, order.status, order.client_order_id, order.project_id)
