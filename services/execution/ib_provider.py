"""The broker adapter over ib_async, on the running asyncio loop (qasync in the GUI).

Only ``*Async`` and non-blocking calls are used. The handlers are tiny: they hook the wrapper's
raw callbacks (orderStatus, openOrder, execDetails, commissionReport, error) *after* ib_async has
processed them and put a frozen domain event on ``self.events``. We hook the raw callbacks
rather than ``IB.orderStatusEvent`` because ib_async emits that event for its own local
statuses too (a "Cancelled" after any error, ``ValidationError`` after warnings: ib-notes
pitfall 5), and drops execDetails/commissionReport of orders it has no Trade for; the raw
stream carries only what IB said.

Orders are keyed by ``orderRef`` (= our ``client_order_id``) and ``permId``; the session map
from IB order id to orderRef is rebuilt per connection because order ids can roll back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from services.core.contracts import ContractSpec, spec_of
from services.domain import OrderType, TradeMode

from .errors import AccountGuardError, BrokerError, NotConnected, QueryFailed, Refused
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
from .ib_contracts import FxRates, fx_from_account_values, ib_contract, is_listing, spec_of_ib
from .pacing import PacingLimiter
from .provider import BrokerPosition, ConnectionListener, ExecutionProvider, OrderRequest, ReconnectHook, check_account

log = logging.getLogger(__name__)

# Informational order codes ib_async wrongly treats as a reject (ib-notes pitfall 5).
INFORMATIONAL_ORDER_CODES = frozenset({10349, 10167, 399})
MARKET_DATA_TYPES = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}
BACKOFF_START = 1.0
BACKOFF_MAX = 60.0


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


class IbExecutionProvider(ExecutionProvider):
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
        self.contract_store = contract_store  # e.g. contracts.DbContractStore: qualified once, kept
        self._ref_by_order_id: dict[int, str] = {}
        self._ref_by_perm_id: dict[int, str] = {}
        self._trades: dict[str, Any] = {}
        self._closing = False
        self._reconnect_task: asyncio.Task | None = None
        self._hook_tasks: set[asyncio.Task] = set()
        self.connected_at: datetime | None = None
        self.pacing_violations = 0
        self.reconnect_attempts: list[float] = []  # the delays actually waited (tests, GUI)
        self._install_hooks()
        self._install_send_counter()
        self.ib.disconnectedEvent += self._on_disconnected

    # ------------------------------------------------------------------ connection state
    def subscribe(self, listener: ConnectionListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

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
        self._send_credit = 0
        try:
            await self.ib.connectAsync(
                self.host,
                self.port,
                clientId=self.client_id,
                timeout=self.connect_timeout,
                account=self.requested_account,
                # open orders so that ib_async can modify our own orders; the rest is reconciled
                fetchFields=StartupFetch.POSITIONS | StartupFetch.ORDERS_OPEN,
            )
        except (OSError, TimeoutError, asyncio.TimeoutError, ConnectionError) as exc:
            self._set_state(ConnectionState.DISCONNECTED, str(exc) or type(exc).__name__)
            raise NotConnected(f"cannot connect to IB at {self.host}:{self.port}: {exc or type(exc).__name__}") from exc
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
        self.ib.reqMarketDataType(MARKET_DATA_TYPES[self.market_data_type])
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
            return

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

    def _install_send_counter(self) -> None:
        """Every message ib_async sends counts against the shared budget: those we paced were
        counted by ``acquire`` (a credit), the others (connect-time requests, market data type,
        ...) are recorded here. So our limiter is always at least as strict as ib_async's
        throttle, which then never queues an order we have already recorded as sent."""
        client = self.ib.client
        original = client.sendMsg
        self._send_credit = 0

        def counted(msg):
            if msg:
                if self._send_credit > 0:
                    self._send_credit -= 1
                else:
                    self.pacing.record()
            return original(msg)

        client.sendMsg = counted

    async def _paced(self, messages: int = 1) -> None:
        """Wait for ``messages`` tokens of the shared budget before sending that many."""
        for _ in range(messages):
            await self.pacing.acquire()
            self._send_credit += 1

    # ------------------------------------------------------------------ tiny handlers
    def _install_hooks(self) -> None:
        wrapper = self.ib.wrapper
        for name in ("orderStatus", "openOrder", "execDetails", "commissionReport", "error"):
            original = getattr(wrapper, name)
            translate = getattr(self, f"_on_{name}")
            probe = getattr(self, f"_before_{name}", None)
            setattr(wrapper, name, self._hooked(original, translate, probe))

    def _hooked(self, original, translate, probe):
        def hooked(*args):
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
        except (asyncio.TimeoutError, TimeoutError):
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
        return reqId in self.ib.wrapper._futures  # an error answering a request, not an order

    def _on_openOrder(self, orderId, contract, order, orderState, *, before=None):
        if order.whatIf:
            return None
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

    def _on_execDetails(self, reqId, contract, execution, *, before=None):
        if before:  # a reply to reqExecutions: reconciliation reads it
            return None
        return self._execution_event(contract, execution)

    def _on_commissionReport(self, report, *, before=None):
        raw = {"execId": report.execId, "commission": report.commission, "currency": report.currency,
               "realizedPNL": report.realizedPNL}
        commission = dec(report.commission)
        if commission is None:
            return None
        return CommissionEvent(exec_id=report.execId, commission=commission, currency=report.currency or "USD",
                               realized_pnl=dec(report.realizedPNL), raw=raw)

    def _on_error(self, reqId, errorCode, errorString, advancedOrderRejectJson="", *, before=None):
        if before:  # the error answers a request (contract details, executions...), not an order
            return None
        if errorCode in INFORMATIONAL_ORDER_CODES and reqId and reqId > 0:
            self._undo_local_cancel(reqId, errorCode)
        if errorCode == 100:
            # IB (by its own clock) saw more than its limit: the message was dropped. Back off;
            # an order lost this way stays SUBMITTED and reconciliation resolves it, never resends.
            self.pacing_violations += 1
            self.pacing.pause(1.0)
            log.warning("pacing violation reported by IB (error 100): sending paused for 1 s")
        if errorCode == 1100:
            self._set_state(ConnectionState.LOST, errorString)
        elif errorCode in (1101, 1102):
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

    # ------------------------------------------------------------------ contracts and prices
    async def _query(self, awaitable, what: str):
        try:
            return await asyncio.wait_for(awaitable, self.request_timeout)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise QueryFailed(f"{what}: no answer within {self.request_timeout:g} s") from exc
        except (ConnectionError, OSError) as exc:
            raise QueryFailed(f"{what}: {exc}") from exc
        except Exception as exc:  # RequestError and friends
            raise QueryFailed(f"{what}: {exc}") from exc

    async def qualify(self, symbols: list[str | ContractSpec]) -> dict[str, Any]:
        """Qualified contracts by listing key (a bare symbol is the US stock). A listing IB does
        not know, or answers with another listing, is refused: never swapped."""
        self._require_connected()
        specs = list(dict.fromkeys(spec_of(s) for s in symbols))
        missing = [s for s in specs if s not in self._contracts]
        for spec in missing:
            ib_contract(spec)  # refuses what the console cannot trade before asking anyone
        if missing and self.contract_store is not None:
            try:
                known = await asyncio.to_thread(self.contract_store.load, missing)
            except Exception:  # the cache is an optimisation: on any trouble, ask IB
                log.exception("contract cache unreadable")
                known = {}
            for spec in missing:
                if spec.key in known:
                    con_id, primary = known[spec.key]
                    self._contracts[spec] = ib_contract(spec, con_id=con_id, primary_exchange=primary or spec.primary_exchange)
            missing = [s for s in missing if s not in self._contracts]
        if missing:
            contracts = [ib_contract(s) for s in missing]
            for _ in contracts:
                await self._paced()
            result = await self._query(self.ib.qualifyContractsAsync(*contracts), "contract qualification")
            fresh = {}
            for spec, contract in zip(missing, result):
                if contract is None or isinstance(contract, list):
                    continue
                if not is_listing(spec, contract):
                    log.error("%s: IB answered with %s %s %s/%s: refused", spec.key, contract.symbol, contract.currency,
                              contract.exchange, contract.primaryExchange)
                    continue
                self._contracts[spec] = contract
                fresh[spec] = (contract.conId, contract.primaryExchange)
            if fresh and self.contract_store is not None:
                try:
                    await asyncio.to_thread(self.contract_store.save, fresh)
                except Exception:
                    log.exception("contract cache not written")
        unknown = [s for s in specs if s not in self._contracts]
        if unknown:
            raise BrokerError(f"unknown contract(s): {', '.join(sorted({s.key for s in unknown}))}", code="unknown_contract")
        return {s.key: self._contracts[s] for s in specs}

    async def market_prices(self, symbols: list[str | ContractSpec]) -> dict[str, Decimal | None]:
        """Prices in each listing's own currency, by listing key."""
        contracts = await self.qualify(symbols)
        unique = list(contracts)
        for _ in unique:
            await self._paced()
        tickers = await self._query(self.ib.reqTickersAsync(*[contracts[s] for s in unique]), "market data snapshot")
        prices: dict[str, Decimal | None] = {}
        for symbol, ticker in zip(unique, tickers):
            value = None
            for candidate in (ticker.marketPrice(), ticker.last, ticker.close):
                value = dec(candidate)
                if value is not None and value > 0:
                    break
                value = None
            prices[symbol] = value
        return prices

    async def net_liquidation(self) -> Decimal | None:
        self._require_connected()
        if not self.ib.wrapper.acctSummary:  # ib_async asks once per connection, then keeps it
            await self._paced()
        values = await self._query(self.ib.accountSummaryAsync(self.account), "account summary")
        for value in values:
            if value.tag == "NetLiquidation" and value.currency != "BASE":  # in the base currency
                return dec(value.value)
        return None

    async def exchange_rates(self) -> FxRates:
        """From the account summary kept for the NetLiquidation (its $LEDGER:ALL ExchangeRate
        values): no extra request once it is there."""
        self._require_connected()
        if not self.ib.wrapper.acctSummary:
            await self._paced()
        values = await self._query(self.ib.accountSummaryAsync(self.account), "account summary")
        return fx_from_account_values(values)

    # ------------------------------------------------------------------ orders
    def _build_order(self, request: OrderRequest):
        from ib_async import LimitOrder, MarketOrder

        quantity = float(request.quantity)
        if request.order_type == OrderType.LMT:
            if request.limit_price is None:
                raise BrokerError("a LMT order needs a limit price", code="bad_input")
            order = LimitOrder(str(request.side), quantity, float(request.limit_price))
        else:
            order = MarketOrder(str(request.side), quantity)
        order.orderRef = request.client_order_id
        order.account = self.account
        order.tif = request.tif
        return order

    async def place_order(self, request: OrderRequest) -> int:
        spec = request.spec
        contract = (await self.qualify([spec]))[spec.key]
        order = self._build_order(request)
        await self._paced()
        self._require_connected()
        trade = self.ib.placeOrder(contract, order)
        self._remember(trade.order.orderId, 0, request.client_order_id, trade)
        return trade.order.orderId

    def _trade_for(self, client_order_id: str):
        trade = self._trades.get(client_order_id)
        if trade is None:
            for candidate in self.ib.trades():
                if candidate.order.orderRef == client_order_id and candidate.order.clientId == self.client_id:
                    trade = candidate
        return trade

    async def modify_order(self, client_order_id: str, quantity: Decimal | None, limit_price: Decimal | None) -> int:
        """Same orderId, same Order object, placeOrder again (ib-notes pitfall 7)."""
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
        await self._paced()
        self.ib.placeOrder(trade.contract, trade.order)
        return trade.order.orderId

    async def cancel_order(self, client_order_id: str, ib_order_id: int | None = None) -> None:
        from ib_async import Order

        self._require_connected()
        trade = self._trade_for(client_order_id)
        if trade is None:
            # Never cancel by a bare orderId: ids are per client and restart from a lower value
            # after a Gateway restart, so the id could now name another order (ib-notes, ids).
            raise BrokerError(f"order {client_order_id} is not open in this session (IB order id "
                              f"{ib_order_id or 'unknown'}); reconcile, then cancel it", code="not_cancelable")
        await self._paced()
        self.ib.cancelOrder(trade.order)

    async def cancel_all(self) -> None:
        self._require_connected()
        await self._paced()
        self.ib.reqGlobalCancel()

    # ------------------------------------------------------------------ reconciliation queries
    async def open_orders(self) -> list[OpenOrderEvent]:
        self._require_connected()
        await self._paced()
        trades = await self._query(self.ib.reqAllOpenOrdersAsync(), "open orders")
        return [self._order_event(t.order.orderId, t.contract, t.order, t.orderStatus.status, False) for t in trades]

    async def completed_orders(self) -> list[OpenOrderEvent]:
        self._require_connected()
        await self._paced()
        trades = await self._query(self.ib.reqCompletedOrdersAsync(False), "completed orders")
        return [self._order_event(t.order.orderId, t.contract, t.order, t.orderStatus.status, True) for t in trades]

    async def executions(self) -> list[ExecutionEvent]:
        self._require_connected()
        await self._paced()
        fills = await self._query(self.ib.reqExecutionsAsync(), "executions")
        out = []
        for fill in fills:
            report = fill.commissionReport
            commission = dec(report.commission) if report.currency else None
            out.append(self._execution_event(fill.contract, fill.execution, commission, source="reconcile"))
        return out

    async def positions(self) -> list[BrokerPosition]:
        self._require_connected()
        await self._paced()
        items = await self._query(self.ib.reqPositionsAsync(), "positions")
        return [self._broker_position(p) for p in items if not self.account or p.account == self.account]

    def _broker_position(self, p) -> BrokerPosition:
        # a listing qualified in this session is named as it was asked for; else as IB reports it
        spec = next((s for s, c in self._contracts.items() if c.conId and c.conId == p.contract.conId), None) or spec_of_ib(p.contract)
        return BrokerPosition(p.account, p.contract.symbol, dec(p.position) or Decimal(0), dec(p.avgCost) or Decimal(0),
                              currency=spec.currency, exchange=spec.venue, con_id=p.contract.conId or 0)

