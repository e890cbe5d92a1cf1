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
import copy
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.core.contracts import ContractSpec
from services.domain import OrderType, TradeMode

from .errors import BrokerError, NotConnected
from .events import (
    BrokerErrorEvent,
    ConnectionState,
)
from .history_pacing import HistoricalPacing
from .ib_callbacks import IbCallbacks
from .ib_connection import MARKET_DATA_TYPES, ConnectAttempt, IbConnection, as_aware, utc_now
from .ib_queries import IbQueries
from .ib_quotes import IbQuotes
from .paced import (
    DEFAULT_ATTEMPTS,
    DEFAULT_SETTLE,
    MARKET_DATA_LINES,
    InFlight,
    InFlightOrders,
    PacedSender,
    both_checks,
)
from .pacing import PacingLimiter
from .provider import ConnectionListener, ExecutionProvider, OrderRequest, ReconnectHook

log = logging.getLogger(__name__)



# ib_async keeps every trade and fill of a connection in its wrapper (a Trade with its 21
# eventkit Events is ~12 KB): memory grew with the orders sent. A finished trade quiet for this
# long (late commission reports come within seconds; the adapter's hooks read the raw messages,
# not these books) is dropped from them; the database has it. The answers to reconciliation's
# reqCompletedOrders / reqExecutions never enter them (see _on_completedOrder, _answer_execDetails).
FORGET_FINISHED_AFTER = 10.0


class IbExecutionProvider(IbConnection, IbCallbacks, IbQueries, IbQuotes, ExecutionProvider):
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
        market_data_lines: int = MARKET_DATA_LINES,
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
        # the account of the first connection: every reconnect must find it again (_connect_once)
        self._session_account = ""
        self._login_accounts = ()  # IB's managedAccounts, once connected (IbConnection.login_accounts)
        self.mode = TradeMode(mode)
        self._live_token = live_token
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        if market_data_type not in MARKET_DATA_TYPES:
            raise ValueError(f"market data type must be one of {', '.join(MARKET_DATA_TYPES)}")
        self.market_data_type = market_data_type
        if market_data_lines < 1:
            raise ValueError(f"market data lines must be at least 1, got {market_data_lines}")
        self.market_data_lines = market_data_lines  # shared by the streams and the snapshots
        # 5 ms margin: ib_async's own throttle (45 per second by its loop clock) must never have
        # to hold back a message we already counted as sent
        self.pacing = pacing or PacingLimiter(margin=0.005)
        self.history_pacing = HistoricalPacing()  # IB's historical-data rules, on top (history_pacing.py)
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
        # when a snapshot price is seen: the engine's clock, so that the price-age rule measures
        # against the same clock as its "now" (an injected one in tests, the wall clock otherwise)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        # listing key -> (loop time asked, hours): the contract details' tradingHours / liquidHours
        self._hours: dict[str, tuple[float, Any]] = {}  # TradingHours | None
        self._min_ticks: dict[str, Decimal] = {}  # listing key -> minTick of its contract details
        self._notice_listeners: list[Callable[[int, str], None]] = []
        self.contract_store = contract_store  # e.g. contracts.DbContractStore: qualified once, kept
        self._ref_by_order_id: dict[int, str] = {}
        self._ref_by_perm_id: dict[int, str] = {}
        self._trades: dict[str, Any] = {}
        # order ids of this client whose modification IB has not answered yet (ib_callbacks:
        # a refusal of it leaves the order working, whatever ib_async marks it)
        self._modifying: set[int] = set()
        # execId -> (reqId, position) of an execution in the reqExecutions answer being collected
        self._answered_executions: dict[str, tuple[int, int]] = {}
        self._closing = False
        self._reconnect_task: asyncio.Task | None = None
        self._hook_tasks: set[asyncio.Task] = set()
        self.connected_at: datetime | None = None
        self.lost_at: datetime | None = None  # when the gateway dropped the connection this session had
        self.reconnect_attempts: list[float] = []  # the last delays actually waited (tests, GUI)
        self._connect_attempt: ConnectAttempt | None = None
        self._query_locks: dict[str, asyncio.Lock] = {}
        self._forgotten_at = 0.0  # loop time of the last forget_finished
        self._init_quotes()  # streaming quotes and the P&L subscription (ib_quotes.py)
        self._install_hooks()
        # every message to IB goes through ``self.sender`` (one at a time, paced); error 100 is
        # answered by asking again (queries) or by the in-flight order check (orders)
        self.sender = PacedSender(self.ib.client, self.pacing, request_timeout=request_timeout,
                                  attempts=request_attempts, settle=pacing_settle)
        self.inflight = InFlightOrders(self.sender, self._orders_at_broker, self._report_in_flight,
                                       check=self._require_connected)
        self.ib.disconnectedEvent += self._on_disconnected


    @property
    def live_token(self) -> str | None:
        """The LIVE word this session was opened with (the account guard checks it at connect)."""
        return self._live_token

    def placing_client(self) -> int | None:
        return self.client_id  # the orders it places and finds are this client id's (_trade_for)

    def arm_live_token(self, token: str | None) -> None:
        """The word typed after the session started (the trader declined it at start, then chose
        Connect): checked again by the account guard at the next connect."""
        self._live_token = token

    @property
    def pacing_violations(self) -> int:
        """Errors 100 IB sent on this provider's connections."""
        return self.sender.violations

    async def _send(self, fn, *args, check: Callable[[], None] | None = None):
        """One message to IB through the shared limiter (``fn`` writes it synchronously);
        ``check`` runs right before the write, after the connection's."""
        try:
            return await self.sender.send(fn, *args, check=both_checks(self._require_connected, check))
        except ConnectionError as exc:  # the connection dropped between the check and the write
            raise NotConnected(f"not connected to IB at {self.host}:{self.port} ({exc})") from exc

    def _report_in_flight(self, entry: InFlight, message: str, gave_up: bool) -> None:
        (log.error if gave_up else log.warning)("order %s (IB id %s, %s): %s", entry.order_ref, entry.order_id, entry.kind, message)
        self._emit(BrokerErrorEvent(req_id=entry.order_id, code=100, message=message, order_ref=entry.order_ref or None,
                                    time=utc_now(), raw={"reqId": entry.order_id, "errorCode": 100, "errorString": message,
                                                      "local": True, "kind": entry.kind}))

    # ------------------------------------------------------------------ orders
    def _build_order(self, request: OrderRequest):
        from ib_async import LimitOrder, MarketOrder, Order, StopLimitOrder, StopOrder

        quantity = float(request.quantity)
        order_type = OrderType(request.order_type)
        if order_type.has_limit and request.limit_price is None:
            raise BrokerError(f"a {order_type} order needs a limit price", code="bad_input")
        if order_type.has_stop and request.stop_price is None:
            raise BrokerError(f"a {order_type} order needs a stop price", code="bad_input")
        order: Order
        limit, stop = float(request.limit_price or 0), float(request.stop_price or 0)  # present when needed (checked above)
        if order_type is OrderType.LMT:
            order = LimitOrder(str(request.side), quantity, limit)
        elif order_type is OrderType.STP:
            order = StopOrder(str(request.side), quantity, stop)
        elif order_type is OrderType.STP_LMT:
            order = StopLimitOrder(str(request.side), quantity, limit, stop)
        else:
            order = MarketOrder(str(request.side), quantity)
        order.orderRef = request.client_order_id
        order.account = self.account
        order.tif = request.tif
        order.outsideRth = request.outside_rth
        return order

    async def place_order(self, request: OrderRequest, check: Callable[[], None] | None = None) -> int:
        spec = request.spec
        contract = (await self.qualify([spec]))[spec.key]
        order = self._build_order(request)
        self._forget_finished_now_and_then()
        trade = await self._send(self.ib.placeOrder, contract, order, check=check)
        self._remember(trade.order.orderId, 0, request.client_order_id, trade)
        # the same Trade, the same orderId: sent again only if IB provably dropped it (and
        # ``check`` still passes: a run's lease)
        self.inflight.track(trade.order.orderId, request.client_order_id, "place",
                            lambda: self.ib.placeOrder(trade.contract, trade.order), check=check)
        return trade.order.orderId

    def forget_finished(self, older_than: float | None = None) -> int:
        """Drop finished trades (and their fills, and fills of no live trade) quiet for
        ``older_than`` seconds from ib_async's books and ours; returns how many trades."""
        older_than = FORGET_FINISHED_AFTER if older_than is None else older_than
        self._forgotten_at = asyncio.get_running_loop().time()
        wrapper = self.ib.wrapper
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        quiet = lambda t: as_aware(t) <= cutoff  # noqa: E731
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

    async def modify_order(self, client_order_id: str, quantity: Decimal | None, limit_price: Decimal | None,
                           stop_price: Decimal | None = None) -> int:
        """Same orderId, placeOrder again (docs/ib-notes.md, pitfall 7) with a copy of the trade's
        Order carrying the change. The trade's own Order stays what IB holds: ib_async takes the
        quantity and prices from IB's openOrder once IB accepts the change. Changed in place, a
        refused or unanswered change stayed on it and went to IB with the next one (a refused
        quantity sent along with a later change of the limit alone)."""
        self._require_connected()
        trade = self._trade_for(client_order_id)
        if trade is None:
            raise BrokerError(f"order {client_order_id} is not open in this session", code="not_modifiable")
        if trade.isDone():
            raise BrokerError(f"order {client_order_id} is already {trade.orderStatus.status}", code="not_modifiable")
        changed = copy.copy(trade.order)
        if quantity is not None:
            changed.totalQuantity = float(quantity)
        if limit_price is not None:
            changed.lmtPrice = float(limit_price)
        if stop_price is not None:  # a STP / STP LMT order's trigger (ib_async's Order.auxPrice)
            changed.auxPrice = float(stop_price)
        self._modifying.add(changed.orderId)
        await self._send(self.ib.placeOrder, trade.contract, changed)
        self.inflight.track(changed.orderId, client_order_id, "modify", lambda: self.ib.placeOrder(trade.contract, changed))
        return changed.orderId

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


