"""A working order's replace: a new quantity, limit and/or stop price, changed in place at the
broker (modify), or for a LMT or MKT order the broker will not change, canceled and sent anew.

A stop order is never canceled and sent anew (its position would be without its stop meanwhile);
a change the broker rejects for its form leaves the original working. Every gate the new form
must pass runs before anything is changed or canceled; the new order of a cancel-and-new is
placed as a manual order is (place_order.py), and stopped by a halt or Cancel All made meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime
from decimal import Decimal

from services.audit_actions import AuditAction
from services.core.contracts import contract_problem
from services.core.ib_codes import CodeClass, classify, refuses_modify
from services.core.order_state import EventKind
from services.core.replace_rules import replace_problem, replaced_order
from services.core.typed_numbers import plain
from services.db.convert import to_order_record
from services.db.repositories import NotFound, OrderRepository, RepositoryError, SettingsRepository
from services.domain import EventSource, OrderRecord, OrderState, OrderType

from .action_context import ActionContext, ActionPart
from .action_outcomes import ReplaceCheck, ReplaceResult
from .cancel_order import answer_to_cancel, placed_by_another_client
from .errors import BadInput, BrokerError, Missing, RiskBlocked, SendingStopped, TradingHalted
from .events import BrokerErrorEvent, OpenOrderEvent, OrderStatusEvent
from .listings import request_for_order
from .order_risk import Replacing, block_lines, min_tick_of
from .place_order import PlaceOrder
from .provider import OrderRequest
from .writer import LocalOrderEvent

log = logging.getLogger(__name__)


class ReplaceOrder(ActionPart):
    def __init__(self, context: ActionContext, placing: PlaceOrder) -> None:
        super().__init__(context)
        self.placing = placing  # the new order of a cancel-and-new goes as a manual order does

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
        stops = self.context.stops  # a halt or Cancel All of this process from here on stops its new order
        gated = await self._gated(order_id, quantity, limit_price, stop_price)
        order, canceled_all, wanted, payload = gated.order, gated.canceled_all, gated.wanted, gated.payload
        new_quantity, new_limit, new_stop = wanted.quantity, wanted.limit_price, wanted.stop_price
        stop = None if stop_price is None else Decimal(stop_price)
        try:
            verdict = await self._verdict(gated)  # check()'s own: the two cannot disagree
            if not verdict.may_replace:
                raise RiskBlocked(verdict.refusal())
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
                return ReplaceResult(order_id, "modify", quantity=new_quantity, limit_price=new_limit, stop_price=new_stop)
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

    async def check(self, order_id: int, quantity: Decimal | None = None, limit_price: Decimal | None = None,
                    stop_price: Decimal | None = None) -> ReplaceCheck:
        """The replace's verdict before it is asked (the Replace dialog shows it as the trader
        types): the gates ``replace`` runs before anything is changed or canceled, the same calls,
        and nothing stored, audited or sent. A refusal that is not risk's (a halt, a price off the
        tick grid, a filled order, a missing one) is raised as ``replace`` raises it; risk's
        blocks are the value's. ``replace`` runs them again when it goes: prices move."""
        return await self._verdict(await self._gated(order_id, quantity, limit_price, stop_price))

    async def _gated(self, order_id: int, quantity: Decimal | None, limit_price: Decimal | None,
                     stop_price: Decimal | None) -> _Gated:
        """Every gate before risk's, in ``replace``'s order: something asked, trading not halted,
        the order's rule (``replace_problem``) and the listing's tick grid; then the order as it
        would stand and what it still trades."""
        if quantity is None and limit_price is None and stop_price is None:
            raise BadInput("replace needs a new quantity, limit price and/or stop price")
        await self._ensure_not_halted()
        order, replacing, original, canceled_all = await self._db(self._to_replace, order_id)  # one read of the order
        if (placed := placed_by_another_client(order, self.provider.placing_client(), "change")) is not None:
            raise BadInput(placed)  # its modify or cancel would fail at this session's broker client
        spec = original.spec
        asked = (None if quantity is None else Decimal(quantity), None if limit_price is None else Decimal(limit_price))
        stop = None if stop_price is None else Decimal(stop_price)
        problem = replace_problem(order, *asked, stop_price=stop)
        if problem is None and (limit_price is not None or stop is not None):  # new prices on the listing's grid (IB: error 110)
            problem = replace_problem(order, *asked, await min_tick_of(self.provider, spec), stop_price=stop)
        if problem is not None:
            raise BadInput(f"order {order_id}: {problem}")
        new = replaced_order(order, *asked, stop)  # the one rule: each not asked for is the order's own
        new_quantity, new_limit, new_stop = new.quantity, new.limit_price, new.stop_price
        # each number as ``plain`` writes it, as ``was`` below: one kept from the stored order was
        # read back at its column's scale and said "7.000000" beside was's "7"
        payload = {"client_order_id": order.client_order_id, "quantity": plain(new_quantity),
                   "limit_price": None if new_limit is None else plain(new_limit)}
        if order.order_type.has_stop:
            payload["stop_price"] = None if new_stop is None else plain(new_stop)
        # what it was: the history, the audit log and `audit list` said only what it became (8 @
        # 408.50), the order's 5 @ 407 before it nowhere (a trader's walk)
        payload["was"] = {"quantity": plain(order.quantity),
                          "limit_price": None if order.limit_price is None else plain(order.limit_price),
                          **({"stop_price": None if order.stop_price is None else plain(order.stop_price)}
                             if order.order_type.has_stop else {})}
        # the order as it would stand after the replace: the stored one with only these changed
        # (the risk check values a stop order at its stop)
        wanted = dataclasses.replace(original, client_order_id=order.client_order_id + "-chk", quantity=new_quantity,
                                     limit_price=new_limit, stop_price=new_stop)
        return _Gated(order, replacing, canceled_all, wanted, payload)

    async def _verdict(self, gated: _Gated) -> ReplaceCheck:
        """Risk's verdict on what the replaced order still trades: its filled part is in the book
        already (checked for its whole quantity, a partly filled sell re-priced was 'selling 30 of
        20 held would go short')."""
        wanted, order = gated.wanted, gated.order
        still = dataclasses.replace(wanted, quantity=wanted.quantity - (order.filled_quantity or Decimal(0)))
        report = await self.placing.risk_report(still, project=gated.replacing.project_id, replacing=gated.replacing)
        return ReplaceCheck(order.id, wanted.quantity, wanted.limit_price, wanted.stop_price, block_lines(report))

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
            await self.placing.check_market_health(wanted.spec, wanted.order_type, True, wanted.outside_rth)
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
        mark = await self._db(self.placing.cancel_all_mark)
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
            new = await self.placing.place(request, replaces_order_id=order_id, run_id=order.run_id, stops=stops)
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

    def _replacement_request(self, order_id: int, client_order_id: str, quantity: Decimal, limit_price: Decimal | None) -> OrderRequest:
        """The replaced order anew, as recovery re-places one (``request_for_order``): only the
        id, the quantity and the limit differ."""
        with self.db.session() as session:
            return request_for_order(OrderRepository(session).get(order_id), client_order_id=client_order_id,
                                     quantity=quantity, limit_price=limit_price)


@dataclasses.dataclass(frozen=True, slots=True)
class _Gated:
    """A replace past every gate but risk's: the order, what its replacement replaces (risk's
    view), the Cancel All marker read as it began, the order as it would stand and the audit
    payload of the ask."""

    order: OrderRecord
    replacing: Replacing
    canceled_all: datetime | None
    wanted: OrderRequest
    payload: dict


def _replacing(order) -> Replacing:
    return Replacing(order.created_at, order.status, order.client_order_id, order.project_id)
