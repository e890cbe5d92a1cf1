"""The broker adapter over ib_async, on the running asyncio loop (qasync in the GUI).

Only ``*Async`` and non-blocking calls are used. The handlers are tiny: they hook the wrapper's
raw callbacks (orderStatus, openOrder, execDetails, commissionReport, error) *after* ib_async has
processed them and put a frozen domain event on ``self.events``. We hook the raw callbacks
rather than ``IB.orderStatusEvent`` because ib_async emits that event for its own local
statuses too (a "Cancelled" after any error, ``ValidationError`` after warnings: docs/ib-notes.md,
pitfall 5), and drops execDetails/commissionReport of orders it has no Trade for; the raw
stream carries only what IB said.

Orders are keyed by ``orderRef`` (= our ``client_order_id``) and ``permId``; the session map
from IB order id to orderRef is rebuilt per connection because order ids can roll back.

Every message to IB leaves one at a time through the shared pacing limiter (``self.sender``,
see ``paced.py`` and docs/ib-pacing.md); the queries (contracts, prices, reconciliation) are in
``ib_queries.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.core.contracts import ContractSpec
from services.core.ib_codes import CodeClass, classify, is_informational
from services.domain import OrderType, TradeMode

from .errors import AccountGuardError, BrokerError, NotConnected, Refused
from .events import (
    BrokerErrorEvent,
    CommissionEvent,
    ConnectionEvent,
    ConnectionState,
    ExecutionEvent,
    OpenOrderEvent,
    OrderStatusEvent,
    dec,
    side_from_ib,
)
from .ib_queries import IbQueries
from .paced import DEFAULT_ATTEMPTS, DEFAULT_SETTLE, InFlight, InFlightOrders, PacedSender
from .pacing import PacingLimiter
from .provider import ConnectionListener, ExecutionProvider, OrderRequest, ReconnectHook, check_account

log = logging.getLogger(__name__)

MARKET_DATA_TYPES = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}
BACKOFF_START = 1.0
BACKOFF_MAX = 60.0


# ib_async keeps every trade and fill of a connection in its wrapper (a Trade with its 21
# eventkit Events is ~12 KB): memory grew with the orders sent. A finished trade quiet for this
# long (late commission reports come within seconds; the adapter's hooks read the raw messages,
# not these books) is dropped from them; the database has it. The answers to reconciliation's
# reqCompletedOrders / reqExecutions never enter them (see _on_completedOrder, _answer_execDetails).
FORGET_FINISHED_AFTER = 10.0


def backoff_delays(start: float = BACKOFF_START, maximum: float = BACKOFF_MAX):
    """1, 2, 4, ... seconds, capped at ``maximum`` (forever)."""
    delay = start
    while True:
        yield delay
        delay = min(delay * 2, maximum)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return _now()


# IB errors that end a connection attempt (client id in use, TWS not connected / out of date).
CONNECT_FATAL_CODES = frozenset({326, 502, 503, 504})


class _ConnectAttempt:
    """Watches one ``connectAsync``: every failure comes back with its reason, and an attempt the
    server ends early (client id in use, closed socket) fails at once rather than at the timeout."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.data = False
        self.closed: str | None = None
        self.fatal: tuple[int, str] | None = None
        self._early: asyncio.Future = asyncio.get_running_loop().create_future()
        self._watching = False
        self._task: asyncio.Future | None = None

    def _on_data(self, _data) -> None:
        self.data = True

    def _on_closed(self, message: str) -> None:
        if self._task is None or self._task.done():
            return  # ib_async closing the socket itself after a failure (a timeout): not the server
        self.closed = message or "closed"
        if not self._early.done():
            self._early.set_result(None)

    def on_error(self, code: int, message: str) -> None:
        if code in CONNECT_FATAL_CODES and self.fatal is None:
            self.fatal = (code, message)
            if not self._early.done():
                self._early.set_result(None)

    async def run(self, connect) -> None:
        if self.conn.transport is not None:
            # a previous socket still closing: its close must not count as this attempt's
            self.conn.disconnect()
            try:
                await asyncio.wait_for(self.conn.disconnected, 5)
            except TimeoutError:
                pass
        self.conn.hasData += self._on_data
        self.conn.disconnected += self._on_closed
        self._watching = True
        task = self._task = asyncio.ensure_future(connect())
        try:
            done, _ = await asyncio.wait({task, self._early}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        if task in done:
            task.result()
            return
        task.cancel()  # ib_async disconnects on the way out
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:  # the handshake's own failure: the ConnectionError below says what matters
            log.debug("handshake task ended with an error", exc_info=True)
        raise ConnectionError("connection ended by the server during the handshake")

    def close(self) -> None:
        if self._watching:
            self.conn.hasData -= self._on_data
            self.conn.disconnected -= self._on_closed
        if not self._early.done():
            self._early.cancel()

    def reason(self, exc: BaseException, timeout: float, client_id: int) -> str:
        """Why the attempt failed, never empty."""
        if self.fatal is not None:
            code, message = self.fatal
            if code == 326:
                return f"client id {client_id} already in use (IB error 326)"
            return f"IB error {code}: {message}"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused (nothing listens on that port: is TWS / IB Gateway running with the API enabled?)"
        tcp_open = self.conn.numBytesSent > 0  # the API handshake went out (the count restarts per socket)
        if self.closed is not None and tcp_open:
            return "the server closed the connection during the handshake" + ("" if self.data else " (before answering)")
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            if not tcp_open:
                return f"timed out after {timeout:g} s opening the TCP connection (host unreachable or the port filtered?)"
            if self.data:
                return (f"timed out after {timeout:g} s: the server answered, but not with the IB API handshake "
                        f"(is this a TWS / IB Gateway API port?)")
            return f"timed out after {timeout:g} s: the server accepted the connection but never answered the API handshake"
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror[:1].lower() + exc.strerror[1:]
        text = str(exc)
        if isinstance(exc, ConnectionError) and "broken" in text.lower():
            return "the server closed the connection during the handshake"
        return text or type(exc).__name__


class IbExecutionProvider(IbQueries, ExecutionProvider):
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 7497,
        client_id: int = 1,
        account: str = "",
        mode: TradeMode = TradeMode.PAPER,
        live_token: str | None = None,
        connect_timeout: float = 10.0,
        request_timeout: float = 15.0,
        market_data_type: str = "delayed",
        pacing: PacingLimiter | None = None,
        auto_reconnect: bool = True,
        sleep: Callable[[float], Any] = asyncio.sleep,
        ib: Any = None,
        contract_store: Any = None,
        request_attempts: int = DEFAULT_ATTEMPTS,
        pacing_settle: float = DEFAULT_SETTLE,
    ) -> None:
        from ib_async import IB

        self.host = host
        self.port = port
        self.client_id = client_id
        self.requested_account = (account or "").strip()
        self.account = self.requested_account
        self.mode = TradeMode(mode)
        self._live_token = live_token
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        if market_data_type not in MARKET_DATA_TYPES:
            raise ValueError(f"market data type must be one of {', '.join(MARKET_DATA_TYPES)}")
        self.market_data_type = market_data_type
        # 5 ms margin: ib_async's own throttle (45 per second by its loop clock) must never have
        # to hold back a message we already counted as sent
        self.pacing = pacing or PacingLimiter(margin=0.005)
        self.auto_reconnect = auto_reconnect
        self._sleep = sleep
        self.ib = ib or IB()
        self.ib.RequestTimeout = request_timeout
        self.events: asyncio.Queue = asyncio.Queue()
        self.state = ConnectionState.DISCONNECTED
        self._listeners: list[ConnectionListener] = []
        self._resync_hooks: list[ReconnectHook] = []
        self._waiters: list[tuple[Callable[[object], bool], asyncio.Future]] = []
        self._contracts: dict[ContractSpec, Any] = {}  # by the listing asked for, never by bare symbol
        # listing key -> (time, kind) of the last price market_prices returned: a plan stores them
        self.quote_info: dict[str, tuple[datetime, str]] = {}
        # listing key -> (loop time asked, hours): the contract details' tradingHours / liquidHours
        self._hours: dict[str, tuple[float, Any]] = {}  # TradingHours | None
        self._notice_listeners: list[Callable[[int, str], None]] = []
        self.contract_store = contract_store  # e.g. contracts.DbContractStore: qualified once, kept
        self._ref_by_order_id: dict[int, str] = {}
        self._ref_by_perm_id: dict[int, str] = {}
        self._trades: dict[str, Any] = {}
        # execId -> (reqId, position) of an execution in the reqExecutions answer being collected
        self._answered_executions: dict[str, tuple[int, int]] = {}
        self._closing = False
        self._reconnect_task: asyncio.Task | None = None
        self._hook_tasks: set[asyncio.Task] = set()
        self.connected_at: datetime | None = None
        self.reconnect_attempts: list[float] = []  # the last delays actually waited (tests, GUI)
        self._connect_attempt: _ConnectAttempt | None = None
        self._query_locks: dict[str, asyncio.Lock] = {}
        self._forgotten_at = 0.0  # loop time of the last forget_finished
        self._install_hooks()
        # every message to IB goes through ``self.sender`` (one at a time, paced); error 100 is
        # answered by asking again (queries) or by the in-flight order check (orders)
        self.sender = PacedSender(self.ib.client, self.pacing, request_timeout=request_timeout,
                                  attempts=request_attempts, settle=pacing_settle)
        self.inflight = InFlightOrders(self.sender, self._orders_at_broker, self._report_in_flight,
                                       check=self._require_connected)
        self.ib.disconnectedEvent += self._on_disconnected

    # ------------------------------------------------------------------ connection state
    def subscribe(self, listener: ConnectionListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe_notices(self, listener: Callable[[int, str], None]) -> Callable[[], None]:
        """``listener(code, message)`` for every connectivity and data-farm notice (1100-1102,
        2103-2108, 2157/2158): the market-health gate follows them."""
        self._notice_listeners.append(listener)
        return lambda: self._notice_listeners.remove(listener) if listener in self._notice_listeners else None

    def add_resync_hook(self, hook: ReconnectHook) -> None:
        self._resync_hooks.append(hook)

    def _set_state(self, state: ConnectionState, detail: str = "", retry_in: float | None = None) -> None:
        self.state = state
        event = ConnectionEvent(state, detail, _now(), retry_in)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a failing subscriber must not stop the others
                log.exception("connection listener failed")

    @property
    def is_connected(self) -> bool:
        return self.ib.isConnected() and self.state in (ConnectionState.CONNECTED, ConnectionState.RESTORED, ConnectionState.LOST)

    def _require_connected(self) -> None:
        if not self.ib.isConnected():
            raise NotConnected(f"not connected to IB at {self.host}:{self.port}")

    # ------------------------------------------------------------------ connect
    async def connect(self) -> None:
        self._closing = False
        await self._connect_once()
        await self._run_resync_hooks(ConnectionState.CONNECTED)

    async def _connect_once(self) -> None:
        from ib_async import StartupFetch

        self._set_state(ConnectionState.CONNECTING, f"{self.host}:{self.port} client {self.client_id}")
        self._ref_by_order_id.clear()
        self._trades.clear()
        self.inflight.clear()
        attempt = _ConnectAttempt(self.ib.client.conn)
        self._connect_attempt = attempt
        try:
            await attempt.run(lambda: self.ib.connectAsync(
                self.host,
                self.port,
                clientId=self.client_id,
                timeout=self.connect_timeout,
                account=self.requested_account,
                # open orders so that ib_async can modify our own orders; the rest is reconciled
                fetchFields=StartupFetch.POSITIONS | StartupFetch.ORDERS_OPEN,
            ))
        except (OSError, TimeoutError, ConnectionError) as exc:
            reason = attempt.reason(exc, self.connect_timeout, self.client_id)
            self._set_state(ConnectionState.DISCONNECTED, reason)
            raise NotConnected(f"cannot connect to IB at {self.host}:{self.port}: {reason}") from exc
        finally:
            attempt.close()
            self._connect_attempt = None
        accounts = [a.strip() for a in self.ib.managedAccounts() if a.strip()]
        try:
            if self.requested_account:
                if accounts and self.requested_account not in accounts:
                    raise AccountGuardError(f"account {self.requested_account!r} is not managed by this login ({', '.join(accounts)})")
                account = self.requested_account
            elif len(accounts) == 1:
                account = accounts[0]
            else:
                raise AccountGuardError(f"several accounts ({', '.join(accounts)}); choose one with --account")
            check_account(self.mode, account, self._live_token)
        except Refused as exc:
            self._closing = True
            self.ib.disconnect()
            self._set_state(ConnectionState.DISCONNECTED, str(exc))
            raise
        self.account = account
        await self._send(self.ib.reqMarketDataType, MARKET_DATA_TYPES[self.market_data_type])
        for trade in self.ib.openTrades():
            if trade.order.orderRef and trade.order.clientId == self.client_id:
                self._remember(trade.order.orderId, trade.order.permId, trade.order.orderRef, trade)
        self.connected_at = _now()
        self._set_state(ConnectionState.CONNECTED, account)

    async def disconnect(self) -> None:
        self._closing = True
        if self._reconnect_task:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        for task in list(self._hook_tasks):
            task.cancel()
        self.inflight.clear()
        if self.ib.isConnected():
            self.ib.disconnect()
        if self.state is not ConnectionState.DISCONNECTED:
            self._set_state(ConnectionState.DISCONNECTED, "closed")

    def _on_disconnected(self) -> None:
        if self._closing:
            return
        self._set_state(ConnectionState.DISCONNECTED, "connection lost")
        if self.auto_reconnect and (self._reconnect_task is None or self._reconnect_task.done()):
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        for delay in backoff_delays():
            if self._closing:
                return
            self.reconnect_attempts.append(delay)
            del self.reconnect_attempts[:-100]  # the recent ones: a long session must not grow it
            self._set_state(ConnectionState.DISCONNECTED, f"reconnecting in {delay:g} s", retry_in=delay)
            await self._sleep(delay)
            if self._closing:
                return
            try:
                await self._connect_once()
            except Refused:
                log.error("reconnect refused by the account guard; not retrying")
                return
            except NotConnected as exc:
                log.warning("reconnect failed: %s", exc)
                continue
            await self._run_resync_hooks(ConnectionState.CONNECTED)
            if self.is_connected or self._closing:
                return
            # lost again while resynchronising: _on_disconnected saw this loop still running and
            # left the reconnecting to it, so it must go on
            log.warning("connection lost again during the resync after reconnecting; reconnecting")

    async def _run_resync_hooks(self, state: ConnectionState) -> None:
        for hook in list(self._resync_hooks):
            try:
                await hook(state)
            except Exception:
                log.exception("resync hook failed after %s", state)

    def _schedule_resync(self, state: ConnectionState) -> None:
        task = asyncio.get_running_loop().create_task(self._run_resync_hooks(state))
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    @property
    def pacing_violations(self) -> int:
        """Errors 100 IB sent on this provider's connections."""
        return self.sender.violations

    async def _send(self, fn, *args):
        """One message to IB through the shared limiter (``fn`` writes it synchronously)."""
        try:
            return await self.sender.send(fn, *args, check=self._require_connected)
        except ConnectionError as exc:  # the connection dropped between the check and the write
            raise NotConnected(f"not connected to IB at {self.host}:{self.port} ({exc})") from exc

    def _report_in_flight(self, entry: InFlight, message: str, gave_up: bool) -> None:
        (log.error if gave_up else log.warning)("order %s (IB id %s, %s): %s", entry.order_ref, entry.order_id, entry.kind, message)
        self._emit(BrokerErrorEvent(req_id=entry.order_id, code=100, message=message, order_ref=entry.order_ref or None,
                                    time=_now(), raw={"reqId": entry.order_id, "errorCode": 100, "errorString": message,
                                                      "local": True, "kind": entry.kind}))

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
            why_held=whyHeld or "", order_ref=ref, time=_now(), raw=raw,
        )

    def _order_event(self, orderId, contract, order, status: str, completed: bool) -> OpenOrderEvent:
        lmt = dec(order.lmtPrice) if order.orderType == "LMT" else None
        raw = {"orderId": orderId, "permId": order.permId, "clientId": order.clientId, "orderRef": order.orderRef,
               "account": order.account, "symbol": contract.symbol, "action": order.action,
               "totalQuantity": order.totalQuantity, "orderType": order.orderType,
               "lmtPrice": None if lmt is None else str(lmt), "status": status, "completed": completed}
        return OpenOrderEvent(
            ib_order_id=orderId, perm_id=order.permId, client_id=order.clientId, order_ref=order.orderRef or "",
            account=order.account or "", symbol=contract.symbol, side=side_from_ib(order.action),
            quantity=dec(order.totalQuantity) or Decimal(0), order_type=order.orderType, limit_price=lmt,
            status=status, completed=completed, time=_now(), raw=raw,
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
        self._remember(orderId if order.clientId == self.client_id else 0, order.permId, order.orderRef)
        if before:  # reconciliation reads the reply itself
            return None
        return self._order_event(orderId, contract, order, orderState.status, False)

    def _execution_event(self, contract, execution, commission=None, source="broker") -> ExecutionEvent:
        raw = {"execId": execution.execId, "orderId": execution.orderId, "permId": execution.permId,
               "clientId": execution.clientId, "orderRef": execution.orderRef, "acctNumber": execution.acctNumber,
               "symbol": contract.symbol, "side": execution.side, "shares": execution.shares,
               "price": execution.price, "time": _aware(execution.time).isoformat(), "exchange": execution.exchange,
               "cumQty": execution.cumQty, "avgPrice": execution.avgPrice}
        return ExecutionEvent(
            exec_id=execution.execId, ib_order_id=execution.orderId, perm_id=execution.permId,
            client_id=execution.clientId,
            order_ref=execution.orderRef or self._ref_for(execution.orderId, execution.permId, execution.clientId) or "",
            account=execution.acctNumber, symbol=contract.symbol, side=side_from_ib(execution.side),
            shares=dec(execution.shares) or Decimal(0), price=dec(execution.price) or Decimal(0),
            time=_aware(execution.time), exchange=execution.exchange, currency=contract.currency or "USD",
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
            self._set_state(ConnectionState.RESTORED, errorString)
            self._schedule_resync(ConnectionState.RESTORED)
        ref = self._ref_by_order_id.get(reqId) if reqId and reqId > 0 else None
        raw = {"reqId": reqId, "errorCode": errorCode, "errorString": errorString,
               "advancedOrderRejectJson": advancedOrderRejectJson or ""}
        return BrokerErrorEvent(req_id=reqId, code=errorCode, message=errorString, order_ref=ref, time=_now(), raw=raw)

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

    # ------------------------------------------------------------------ orders
    def _build_order(self, request: OrderRequest):
        from ib_async import LimitOrder, MarketOrder, Order

        quantity = float(request.quantity)
        order: Order
        if request.order_type == OrderType.LMT:
            if request.limit_price is None:
                raise BrokerError("a LMT order needs a limit price", code="bad_input")
            order = LimitOrder(str(request.side), quantity, float(request.limit_price))
        else:
            order = MarketOrder(str(request.side), quantity)
        order.orderRef = request.client_order_id
        order.account = self.account
        order.tif = request.tif
        order.outsideRth = request.outside_rth
        return order

    async def place_order(self, request: OrderRequest) -> int:
        spec = request.spec
        contract = (await self.qualify([spec]))[spec.key]
        order = self._build_order(request)
        self._forget_finished_now_and_then()
        trade = await self._send(self.ib.placeOrder, contract, order)
        self._remember(trade.order.orderId, 0, request.client_order_id, trade)
        # the same Trade, the same orderId: sent again only if IB provably dropped it
        self.inflight.track(trade.order.orderId, request.client_order_id, "place",
                            lambda: self.ib.placeOrder(trade.contract, trade.order))
        return trade.order.orderId

    def forget_finished(self, older_than: float | None = None) -> int:
        """Drop finished trades (and their fills, and fills of no live trade) quiet for
        ``older_than`` seconds from ib_async's books and ours; returns how many trades."""
        older_than = FORGET_FINISHED_AFTER if older_than is None else older_than
        self._forgotten_at = asyncio.get_running_loop().time()
        wrapper = self.ib.wrapper
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        quiet = lambda t: _aware(t) <= cutoff  # noqa: E731
        live_perms, live_ids, forgotten = set(), set(), 0
        for key, trade in list(wrapper.trades.items()):
            if trade.isDone() and (not trade.log or quiet(trade.log[-1].time)):
                del wrapper.trades[key]
                if wrapper.permId2Trade.get(trade.order.permId) is trade:
                    del wrapper.permId2Trade[trade.order.permId]
                ref = trade.order.orderRef
                if self._trades.get(ref) is trade:
                    del self._trades[ref]
                self._forget_ids(trade.order)
                forgotten += 1
            else:
                live_perms.add(trade.order.permId)
                live_ids.add((trade.order.clientId, trade.order.orderId))
        for exec_id, fill in list(wrapper.fills.items()):
            execution = fill.execution
            if quiet(fill.time) and execution.permId not in live_perms and (execution.clientId, execution.orderId) not in live_ids:
                del wrapper.fills[exec_id]
        return forgotten

    def _forget_ids(self, order) -> None:
        """Our maps to a finished order's orderRef (one entry per order: a session's worth grew
        for good). A late message about it still finds the order by its permId in the database."""
        ref = order.orderRef
        if ref and self._ref_by_perm_id.get(order.permId) == ref:
            del self._ref_by_perm_id[order.permId]
        if ref and order.clientId == self.client_id and self._ref_by_order_id.get(order.orderId) == ref:
            del self._ref_by_order_id[order.orderId]

    def _forget_finished_now_and_then(self) -> None:
        if asyncio.get_running_loop().time() - self._forgotten_at >= FORGET_FINISHED_AFTER / 2:
            self.forget_finished()

    def _trade_for(self, client_order_id: str):
        trade = self._trades.get(client_order_id)
        if trade is None:
            for candidate in self.ib.trades():
                if candidate.order.orderRef == client_order_id and candidate.order.clientId == self.client_id:
                    trade = candidate
        return trade

    async def modify_order(self, client_order_id: str, quantity: Decimal | None, limit_price: Decimal | None) -> int:
        """Same orderId, same Order object, placeOrder again (docs/ib-notes.md, pitfall 7)."""
        self._require_connected()
        trade = self._trade_for(client_order_id)
        if trade is None:
            raise BrokerError(f"order {client_order_id} is not open in this session", code="not_modifiable")
        if trade.isDone():
            raise BrokerError(f"order {client_order_id} is already {trade.orderStatus.status}", code="not_modifiable")
        if quantity is not None:
            trade.order.totalQuantity = float(quantity)
        if limit_price is not None:
            trade.order.lmtPrice = float(limit_price)
        await self._send(self.ib.placeOrder, trade.contract, trade.order)
        self.inflight.track(trade.order.orderId, client_order_id, "modify",
                            lambda: self.ib.placeOrder(trade.contract, trade.order))
        return trade.order.orderId

    async def cancel_order(self, client_order_id: str, ib_order_id: int | None = None) -> None:
        self._require_connected()
        trade = self._trade_for(client_order_id)
        if trade is None:
            # Never cancel by a bare orderId: ids are per client and restart from a lower value
            # after a Gateway restart, so the id could now name another order (docs/ib-notes.md, ids).
            raise BrokerError(f"order {client_order_id} is not open in this session (IB order id "
                              f"{ib_order_id or 'unknown'}); reconcile, then cancel it", code="not_cancelable")
        await self._send(self.ib.cancelOrder, trade.order)
        self.inflight.track(trade.order.orderId, client_order_id, "cancel", lambda: self.ib.cancelOrder(trade.order))

    async def cancel_all(self) -> None:
        self._require_connected()
        await self._send(self.ib.reqGlobalCancel)


