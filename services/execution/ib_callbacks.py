"""The tiny handlers: ib_async's raw wrapper callbacks (orderStatus, openOrder, execDetails,
commissionReport, error, completedOrder) hooked after ib_async processed them, each turned into a
frozen domain event on ``events`` (see ib_provider.py's docstring for why the raw callbacks); the
orderRef maps by IB order id and permId. A mixin of ``IbExecutionProvider``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from services.core.ib_codes import CodeClass, classify, is_informational, refuses_modify

from .events import (
    BrokerErrorEvent,
    CommissionEvent,
    ConnectionState,
    ExecutionEvent,
    OpenOrderEvent,
    OrderStatusEvent,
    dec,
    side_from_ib,
)
from .ib_connection import ProviderState, as_aware, utc_now

log = logging.getLogger("services.execution.ib_provider")  # one logger for the adapter (log filters, tests)


class IbCallbacks(ProviderState):
    """Needs from the provider: ``ib``, ``events``, ``account``, ``inflight``, the orderRef maps,
    ``_waiters``, ``_answered_executions`` and ``_notice_listeners``."""

    # ------------------------------------------------------------------ tiny handlers
    def _install_hooks(self) -> None:
        wrapper = self.ib.wrapper
        for name in ("orderStatus", "openOrder", "execDetails", "commissionReport", "error"):
            original = getattr(wrapper, name)
            translate = getattr(self, f"_on_{name}")
            probe = getattr(self, f"_before_{name}", None)
            answer = getattr(self, f"_answer_{name}", None)
            setattr(wrapper, name, self._hooked(original, translate, probe, answer))
        wrapper.completedOrder = self._on_completedOrder  # replaced, not hooked: see there
        # ib_async subscribes to the account summary again on every 1102 without cancelling the
        # subscription it has (IB allows two at once: error 322 beyond); the adapter renews its own
        # (ib_queries._renew_account_summary), and only when it has one
        self.ib.errorEvent -= self.ib._onError

    def _on_completedOrder(self, contract, order, orderState) -> None:
        """One finished order of the day answering reqCompletedOrders, kept as our compact event
        only. ib_async would build a Trade per finished order (with its 21 eventkit Events,
        ~12 KB) and add it to its books: every reconnect's reconciliation materialised the whole
        day's orders at once, and the process kept that peak (the soak's steps at each drop)."""
        answer = self.ib.wrapper._results.get("completedOrders")
        if answer is None:  # not asked for: no request open
            return
        try:
            answer.append(self._order_event(order.orderId, contract, order, orderState.status, True))
        except Exception:  # never let a translation error stop the decoder
            log.exception("cannot translate completed order %s", getattr(order, "orderRef", "?"))

    def _hooked(self, original, translate, probe, answer=None):
        def hooked(*args):
            if answer is not None and answer(*args):
                return  # a reply the adapter collected itself: ib_async builds nothing for it
            # state ib_async is about to change (e.g. a request future it will pop)
            before = probe(*args) if probe is not None else None
            original(*args)
            try:
                event = translate(*args, before=before)
                if event is not None:
                    self._emit(event)
            except Exception:  # never let a translation error stop the decoder
                log.exception("cannot translate broker callback %s%r", getattr(original, "__name__", "?"), args)

        return hooked

    def _emit(self, event: object) -> None:
        self.events.put_nowait(event)
        if self._waiters:
            for predicate, future in list(self._waiters):
                if not future.done():
                    try:
                        if predicate(event):
                            future.set_result(event)
                    except Exception:
                        log.exception("event waiter predicate failed")

    def expect(self, predicate: Callable[[object], bool]) -> asyncio.Future:
        """A future for the first event from now on that matches ``predicate`` (registered
        synchronously, so call it before the request whose answer it waits for)."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        future.add_done_callback(lambda _f: self._waiters.remove(entry) if entry in self._waiters else None)
        return future

    async def wait_for(self, predicate: Callable[[object], bool], timeout: float) -> object | None:
        future = self.expect(predicate)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None

    def _remember(self, order_id: int, perm_id: int, order_ref: str, trade: Any = None) -> None:
        if not order_ref:
            return
        if order_id:
            self._ref_by_order_id[order_id] = order_ref
        if perm_id:
            self._ref_by_perm_id[perm_id] = order_ref
        if trade is not None:
            self._trades[order_ref] = trade

    def _ref_for(self, order_id: int, perm_id: int, client_id: int | None = None) -> str | None:
        """Our orderRef for an IB message: by permId, or by orderId only when the message is
        about this connection's client id (order ids are per client and can be reused)."""
        ref = self._ref_by_perm_id.get(perm_id)
        if ref or client_id != self.client_id:
            return ref
        return self._ref_by_order_id.get(order_id)

    def _on_orderStatus(self, orderId, status, filled, remaining, avgFillPrice, permId, parentId,
                        lastFillPrice, clientId, whyHeld, mktCapPrice=0.0, *, before=None):
        raw = {"orderId": orderId, "status": status, "filled": filled, "remaining": remaining,
               "avgFillPrice": avgFillPrice, "permId": permId, "lastFillPrice": lastFillPrice,
               "clientId": clientId, "whyHeld": whyHeld}
        if clientId == self.client_id:
            self.inflight.answered(orderId)
        ref = self._ref_by_perm_id.get(permId) or (self._ref_by_order_id.get(orderId) if clientId == self.client_id else None)
        if ref and permId:
            self._ref_by_perm_id.setdefault(permId, ref)
        return OrderStatusEvent(
            ib_order_id=orderId, perm_id=permId, client_id=clientId, status=status,
            filled=dec(filled) or Decimal(0), remaining=dec(remaining) or Decimal(0),
            avg_fill_price=dec(avgFillPrice) or None, last_fill_price=dec(lastFillPrice) or None,
            why_held=whyHeld or "", order_ref=ref, time=utc_now(), raw=raw,
        )

    def _order_event(self, orderId, contract, order, status: str, completed: bool) -> OpenOrderEvent:
        lmt = dec(order.lmtPrice) if order.orderType in ("LMT", "STP LMT") else None
        stop = dec(order.auxPrice) if order.orderType in ("STP", "STP LMT") else None
        raw = {"orderId": orderId, "permId": order.permId, "clientId": order.clientId, "orderRef": order.orderRef,
               "account": order.account, "symbol": contract.symbol, "action": order.action,
               "totalQuantity": order.totalQuantity, "orderType": order.orderType,
               "lmtPrice": None if lmt is None else str(lmt), "auxPrice": None if stop is None else str(stop),
               "status": status, "completed": completed}
        return OpenOrderEvent(
            ib_order_id=orderId, perm_id=order.permId, client_id=order.clientId, order_ref=order.orderRef or "",
            account=order.account or "", symbol=contract.symbol, side=side_from_ib(order.action),
            quantity=dec(order.totalQuantity) or Decimal(0), order_type=order.orderType, limit_price=lmt,
            status=status, completed=completed, time=utc_now(), raw=raw, stop_price=stop,
        )

    def _before_openOrder(self, orderId, contract, order, orderState):
        return "openOrders" in self.ib.wrapper._results  # a reply to reqOpenOrders, not a live update

    def _before_execDetails(self, reqId, contract, execution):
        return reqId in self.ib.wrapper._futures  # a reply to reqExecutions

    def _before_error(self, reqId, errorCode, errorString, advancedOrderRejectJson=""):
        futures = self.ib.wrapper._futures
        if errorCode == 100 and reqId in futures:
            # IB dropped this request: ib_async would end it with an empty answer ("unknown
            # contract", "no price"); taken away, it stays unanswered and is asked again
            futures.pop(reqId)
            return False
        return reqId in futures  # an error answering a request, not an order

    def _on_openOrder(self, orderId, contract, order, orderState, *, before=None):
        if order.whatIf:
            return None
        if order.clientId == self.client_id:
            self.inflight.answered(orderId)
            self._modifying.discard(orderId)  # its modification taken (or the order as it is)
        self._remember(orderId if order.clientId == self.client_id else 0, order.permId, order.orderRef)
        if before:  # reconciliation reads the reply itself
            return None
        return self._order_event(orderId, contract, order, orderState.status, False)

    def _execution_event(self, contract, execution, commission=None, source="broker") -> ExecutionEvent:
        raw = {"execId": execution.execId, "orderId": execution.orderId, "permId": execution.permId,
               "clientId": execution.clientId, "orderRef": execution.orderRef, "acctNumber": execution.acctNumber,
               "symbol": contract.symbol, "side": execution.side, "shares": execution.shares,
               "price": execution.price, "time": as_aware(execution.time).isoformat(), "exchange": execution.exchange,
               "cumQty": execution.cumQty, "avgPrice": execution.avgPrice}
        return ExecutionEvent(
            exec_id=execution.execId, ib_order_id=execution.orderId, perm_id=execution.permId,
            client_id=execution.clientId,
            order_ref=execution.orderRef or self._ref_for(execution.orderId, execution.permId, execution.clientId) or "",
            account=execution.acctNumber, symbol=contract.symbol, side=side_from_ib(execution.side),
            shares=dec(execution.shares) or Decimal(0), price=dec(execution.price) or Decimal(0),
            time=as_aware(execution.time), exchange=execution.exchange, currency=contract.currency or "USD",
            cum_qty=dec(execution.cumQty), avg_price=dec(execution.avgPrice), commission=commission,
            source=source, raw=raw,
        )

    def _answer_execDetails(self, reqId, contract, execution) -> bool:
        """An execution answering reqExecutions goes straight into the answer as our event. ib_async
        would build a Fill (with its Execution, Contract and CommissionReport, ~5 KB) per execution
        of the day and keep it in its books: every reconnect's reconciliation materialised the
        whole day's executions at once (the soak's steps at each drop). Live executions are
        ib_async's as before (its Trade keeps them)."""
        from ib_async.util import UNSET_INTEGER

        wrapper = self.ib.wrapper
        answer = wrapper._results.get(reqId) if reqId in wrapper._futures else None
        if answer is None:
            return False
        if execution.orderId == UNSET_INTEGER:
            execution.orderId = 0  # as ib_async does: TWS leaves it unset for manual orders
        if execution.clientId == self.client_id:
            self.inflight.answered(execution.orderId)
        try:
            event = self._execution_event(contract, execution, source="reconcile")
        except Exception:  # never let a translation error stop the decoder
            log.exception("cannot translate execution %s answering reqExecutions", getattr(execution, "execId", "?"))
            return True
        self._answered_executions[execution.execId] = (reqId, len(answer))
        answer.append(event)
        return True

    def _on_execDetails(self, reqId, contract, execution, *, before=None):
        if execution.clientId == self.client_id:
            self.inflight.answered(execution.orderId)
        if before:  # a reply to reqExecutions: reconciliation reads it
            return None
        return self._execution_event(contract, execution)

    def _on_commissionReport(self, report, *, before=None):
        raw = {"execId": report.execId, "commission": report.commission, "currency": report.currency,
               "realizedPNL": report.realizedPNL}
        commission = dec(report.commission)
        if commission is None:
            return None
        answered = self._answered_executions.get(report.execId)
        if answered is not None and report.currency:  # its execution is in a reqExecutions answer being collected
            req_id, index = answered
            answer = self.ib.wrapper._results.get(req_id)
            if answer is not None and index < len(answer) and answer[index].exec_id == report.execId:
                answer[index] = replace(answer[index], commission=commission)
        return CommissionEvent(exec_id=report.execId, commission=commission, currency=report.currency or "USD",
                               realized_pnl=dec(report.realizedPNL), raw=raw)

    def _on_error(self, reqId, errorCode, errorString, advancedOrderRejectJson="", *, before=None):
        if before:  # the error answers a request (contract details, executions...), not an order
            return None
        kind = classify(errorCode)  # the one table of IB codes (services.core.ib_codes)
        if self._connect_attempt is not None and (reqId is None or reqId < 0):
            self._connect_attempt.on_error(errorCode, errorString)
        # informational codes ib_async wrongly treats as a reject (docs/ib-notes.md, pitfall 5)
        if is_informational(errorCode) and reqId and reqId > 0:
            self._undo_local_cancel(reqId, errorCode)
        elif reqId and reqId > 0 and reqId in self._modifying and refuses_modify(errorCode):
            # the answer to a modification: IB refused the change (105, 201, ...) and the order
            # works on as it was; ib_async took a 201 for the end of the order and refused every
            # later modify of it as 'already Cancelled'
            self._modifying.discard(reqId)
            self._undo_local_cancel(reqId, errorCode)
        if kind is CodeClass.PACING:
            # IB (by its own clock) saw more than its limit and dropped a message. Slow down;
            # what went unanswered is asked again (queries) or checked and resent (orders).
            lowered = self.pacing.slow_down(1.0)
            self.sender.on_violation()
            self.inflight.on_violation()
            if reqId and reqId > 0:
                self._undo_local_cancel(reqId, errorCode)  # ib_async marked the order Cancelled
            log.warning("pacing violation reported by IB (error 100): paused 1 s%s",
                        f", then {self.pacing.rate} messages/s for {self.pacing.recover_after:g} s" if lowered else "")
        elif reqId and reqId > 0:
            if reqId in self.inflight.resent_ids and errorCode in (103, 104):
                # the answer to a message sent again: IB had the order after all (same orderId)
                log.warning("order id %s sent again after error 100 was already at IB (%s): ignored", reqId, errorCode)
                self.inflight.answered(reqId)
                return None
            self.inflight.answered(reqId)
        if kind in (CodeClass.CONNECTIVITY_LOST, CodeClass.CONNECTIVITY_RESTORED, CodeClass.DATA_FARM):
            for listener in list(self._notice_listeners):
                try:
                    listener(errorCode, errorString)
                except Exception:  # a failing subscriber must not stop the decoder
                    log.exception("notice listener failed")
        if kind is CodeClass.CONNECTIVITY_LOST:
            self._set_state(ConnectionState.LOST, errorString)
        elif kind is CodeClass.CONNECTIVITY_RESTORED:
            self._renew_account_summary()
            self._set_state(ConnectionState.RESTORED, errorString)
            self._schedule_resync(ConnectionState.RESTORED)
        ref = self._ref_by_order_id.get(reqId) if reqId and reqId > 0 else None
        raw = {"reqId": reqId, "errorCode": errorCode, "errorString": errorString,
               "advancedOrderRejectJson": advancedOrderRejectJson or ""}
        return BrokerErrorEvent(req_id=reqId, code=errorCode, message=errorString, order_ref=ref, time=utc_now(), raw=raw)

    def _undo_local_cancel(self, order_id: int, code: int) -> None:
        """ib_async marks a trade Cancelled on informational codes such as 10349 (ib_async #191);
        the order is still working at IB, so its local status goes back to what it was (else a
        later modify would be refused as 'done')."""
        trade = self.ib.wrapper.trades.get((self.client_id, order_id))
        if trade is None or trade.orderStatus.status != "Cancelled" or not trade.log or trade.log[-1].errorCode != code:
            return
        previous = next((e.status for e in reversed(trade.log[:-1]) if e.status != "Cancelled"), "Submitted")
        trade.orderStatus.status = previous
        log.info("informational %s on order %s: kept it %s (ib_async had marked it Cancelled)", code, order_id, previous)

