"""One order's Cancel (a row's Cancel in the window, ``cancel`` on the command line), and the
broker's answers to a cancel that Cancel All and a replace's cancel wait for too.

An order not sent yet (NEW) is canceled here, only while it is still NEW; one sent is canceled at
the broker. Cancels are always allowed, HALTED included.
"""

from __future__ import annotations

import asyncio
import logging

from services.audit_actions import AuditAction
from services.core.ib_codes import CodeClass, classify
from services.core.order_state import EventKind
from services.core.replace_rules import nothing_to
from services.domain import EventSource, OrderRecord, OrderState

from .action_context import ActionPart
from .action_outcomes import Canceled
from .cancel_all_outcome import reached_the_broker
from .errors import BadInput, BrokerError
from .events import BrokerErrorEvent, OrderStatusEvent
from .unrecorded import database_unavailable
from .writer import LocalOrderEvent

log = logging.getLogger(__name__)


class CancelOrder(ActionPart):
    async def cancel(self, order_id: int, live_token: str | None = None, *, wait: bool = False,
                     shown: OrderRecord | None = None) -> Canceled:
        """An order not sent yet (NEW) is canceled here, only while it is still NEW; one sent is
        canceled at the broker. Its run's sender may claim a NEW order as it is canceled, and
        send it: the cancel then follows it to the broker (``Canceled.note`` says so), or, not
        written from this session yet, ``BrokerError`` says it could not be canceled.
        ``shown``: the order as the window shows it, what a cancel goes by when the database
        does not answer (``_without_database``)."""
        self._check_live(live_token)
        try:
            order = await self._db(self._order, order_id)
        except Exception as exc:
            if shown is None or shown.id != order_id or not database_unavailable(exc):
                raise
            return await self._without_database(shown, exc)
        if not order.status.is_cancelable:
            raise BadInput(f"order {order_id}: {nothing_to(order.status, 'cancel')}")
        note = ""
        if not reached_the_broker(order):
            self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.CANCEL_REQUESTED, EventSource.USER,
                                               message="canceled before sending", unsent_only=True))
            await self.writer.flush()
            order = await self._db(self._order, order_id)
            if order.status.is_cancelable:  # not applied: its sender claimed it meanwhile
                refusal = await self._cancel_at_broker(order, wait, raced=True)
                note = (f"order {order.id} ({order.client_order_id}) was being sent by its run's sender as it was "
                        f"canceled: cancel requested at the broker" + (f"; {refusal}" if refusal else ""))
                log.warning("cancel: %s", note)
        else:
            note = await self._cancel_at_broker(order, wait)
        await self._db(self._audit, AuditAction.ORDER_CANCEL, order_id, {"client_order_id": order.client_order_id,
                                                               **({"note": note} if note else {})})
        await self.writer.flush()
        return Canceled(await self._db(self._order, order_id), note)

    async def _without_database(self, shown: OrderRecord, exc: BaseException) -> Canceled:
        """A row's Cancel while the database does not answer, by the order as the window shows it
        (its client order id and broker id): cancels always go out. One sent is canceled at the
        broker; one not sent yet cannot go meanwhile (its sender writes each order before it
        goes), and its cancel is the writer's to write when the database answers, as the
        broker's answer is. The audit entry waits for the database (services.execution.unrecorded)."""
        if not shown.status.is_cancelable:
            raise BadInput(f"order {shown.id}: {nothing_to(shown.status, 'cancel')}")
        at_the_broker = reached_the_broker(shown)
        if at_the_broker:
            await self._cancel_at_broker(shown, wait=False)
        else:
            self.writer.submit(LocalOrderEvent(shown.client_order_id, EventKind.CANCEL_REQUESTED, EventSource.USER,
                                               message="canceled before sending", unsent_only=True))
        payload = {"client_order_id": shown.client_order_id}
        unrecorded = self.context.unrecorded.add(
            f"the cancel of order {shown.id}",
            lambda late: self._audit(AuditAction.ORDER_CANCEL, shown.id, {**payload, "recorded_late": late}), exc,
            parts="its audit entry")
        where = "requested at the broker" if at_the_broker else "canceled before sending"
        return Canceled(shown, f"{where}; the database did not answer: the order's row shows it once it answers; "
                               + unrecorded)

    async def _cancel_at_broker(self, order: OrderRecord, wait: bool, *, raced: bool = False) -> str:
        """One cancel of ``order`` at the broker (never asked again: a retry repeats only the
        database steps), written as requested; with ``wait``, the broker's answer waited for: its
        final status, or its refusal of the cancel, returned said for the trader ("" otherwise)."""
        # the answer: a final status, or the broker's refusal of the cancel (IB's 10148 / 161 for an
        # order that filled meanwhile, whose Filled came before the cancel: waited for, the cancel
        # waited out the whole confirm_timeout and said 'not confirmed' of a filled order)
        answered = self.provider.expect(answer_to_cancel(order.client_order_id)) if wait else None
        try:
            await self.provider.cancel_order(order.client_order_id, order.ib_order_id)
        except BrokerError as exc:
            if answered is not None:
                answered.cancel()
            if raced:
                raise BrokerError(_raced_not_canceled(order, exc), code="not_cancelable") from exc
            if order.status is OrderState.SENDING:
                raise BrokerError(sending_elsewhere(order), code="not_cancelable") from exc
            if (why := placed_by_another_client(order, self.provider.placing_client(), "cancel")) is not None:
                raise BrokerError(why, code="not_cancelable") from exc  # not "reconcile, then cancel it"
            raise
        self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.CANCEL_REQUESTED, EventSource.USER))
        if answered is None:
            return ""
        try:
            answer = await asyncio.wait_for(answered, self.confirm_timeout)
        except TimeoutError:
            log.warning("cancel of %s not confirmed within %s s", order.client_order_id, self.confirm_timeout)
            return ""
        if isinstance(answer, BrokerErrorEvent):
            refusal = f"the broker refused the cancel ({answer.code}: {answer.message})"
            log.warning("cancel of %s: %s", order.client_order_id, refusal)
            return refusal
        return ""


def placed_by_another_client(order: OrderRecord, client_id: int | None, doing: str) -> str | None:
    """Why this session cannot ``doing`` ("change", "cancel") an order one by one: IB lets only
    the API client that placed it do that (the broker's statuses name it: ``ib_client_id``), and
    reconciling does not change who placed it. None: this session's client placed it, or who did
    is not known (no status yet)."""
    placer = order.ib_client_id
    if placer is None or client_id is None or placer == client_id:
        return None
    return (f"order {order.id} ({order.client_order_id}) was placed by API client id {placer}, not this session's "
            f"(client id {client_id}): IB lets only the client that placed an order {doing} it one by one; do it "
            f"from a session with client id {placer} (a command's --client-id {placer}), or cancel everything at "
            f"the broker (IB's global cancel)")


def sending_elsewhere(order: OrderRecord) -> str:
    """Why a SENDING order that this session does not hold cannot be canceled from here (by a
    row's Cancel or by Cancel All one by one): IB lets only the client that placed an order
    cancel it, and a bare order id is never canceled (it may name another order)."""
    return (f"order {order.id} ({order.client_order_id}) is SENDING and not open in this session: its run's sender "
            f"(another process, or this one a moment before its placeOrder) may have sent it; cancel it from the "
            f"session that placed it once the broker acknowledged it, halt trading to stop a run still sending, "
            f"or cancel everything at the broker (IB's global cancel)")


def _raced_not_canceled(order: OrderRecord, exc: Exception) -> str:
    """Why a row's Cancel of an unsent order did not cancel it: its sender claimed it first."""
    return (f"could not cancel order {order.id} ({order.client_order_id}): its run's sender claimed it for sending as it "
            f"was canceled, and it is not at the broker from this session yet ({exc}); it may go out now: cancel it "
            f"again once it shows as working, or halt trading and cancel everything at the broker (IB's global cancel)")


_REFUSE_A_CANCEL = frozenset({CodeClass.CANCEL_REFUSED, CodeClass.ORDER_REJECTED})


def answer_to_cancel(coid: str):
    """The broker's answer to a cancel of the order: a final status, or an error refusing the
    cancel (10147 not found, 10148 / 161 not cancelable, 201 'Cannot cancel the filled order');
    no other error about the order (105, 104: the refusal of a modify another session asked for
    at the same time is not this cancel's answer)."""
    final = final_for(coid)

    def predicate(ev) -> bool:
        if isinstance(ev, BrokerErrorEvent):
            return ev.order_ref == coid and classify(ev.code) in _REFUSE_A_CANCEL
        return final(ev)

    return predicate


def final_for(coid: str, perm_id: int | None = None):
    """A final status of the order: by its order ref, or by its permanent id (an order placed in
    TWS carries no ref of ours)."""
    def predicate(ev) -> bool:
        return (isinstance(ev, OrderStatusEvent) and (ev.order_ref == coid or (bool(perm_id) and ev.perm_id == perm_id))
                and ev.status in ("Cancelled", "ApiCancelled", "Filled", "Inactive"))

    return predicate
