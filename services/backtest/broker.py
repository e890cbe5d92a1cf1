"""The backtest's execution provider: the same interface the IB adapter implements
(``services.execution.provider.ExecutionProvider``), over a simulated account that fills from
daily bars. Trade runs, the sender, the one writer and the positions book cannot tell it from a
broker: orders are acknowledged and filled by the same domain events (execution, commission
report, order status) the IB adapter puts on ``events``.

One provider is one project's simulated account (``BACKTEST-<backtest>-<project>``): its cash,
its holdings (IB's average cost), its commissions. An order fills at the session's close
(``FillAt.CLOSE``: in one closing auction when the backtest closes the day, ``close_day``) or at
the next session's open (``FillAt.NEXT_OPEN``: acknowledged now, filled when the backtest opens
that day, ``open_day``), after slippage. A limit order (LMT) fills only when that simulated
price is at or better than its limit, and then at the simulated price: a conservative daily-bar
model (``costs.simulated_order_fill``, the TCA's backtest column's rule too), no intraday fill
is made up from the bar's high or low. An order that does not fill in its session (a limit not reached, or its listing has no bar that
day) is canceled like an unfilled DAY order, its cash and holdings untouched. Prices for a
preview are the close of the simulated day, seen at the simulated moment; an older close is
reported with its own time, so the stale-price rule judges it as it would a live quote.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from services.core.commissions import ZERO, CommissionModel
from services.core.contracts import ContractSpec
from services.core.positions_book import PositionState, apply_fill
from services.core.trading_hours import NEW_YORK, Session, regular_session, regular_sessions
from services.domain import OrderType, Side, TradeMode
from services.execution.events import (
    CommissionEvent,
    ConnectionEvent,
    ConnectionState,
    ExecutionEvent,
    OpenOrderEvent,
    OrderStatusEvent,
)
from services.execution.provider import (
    BrokerPosition,
    ConnectionListener,
    ExecutionProvider,
    OrderRequest,
    ReconnectHook,
)

from .costs import FillAt, simulated_order_fill
from .prices import PriceBook


class SimClock:
    """The simulated moment every part of the engine reads (``RunServiceBase.clock``)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        self._day: tuple[datetime, date] | None = None  # (moment, its New York day): asked often per moment

    def __call__(self) -> datetime:
        return self.moment

    @property
    def day(self) -> date:
        known = self._day
        if known is None or known[0] is not self.moment:
            known = self._day = (self.moment, self.moment.astimezone(NEW_YORK).date())
        return known[1]


_SESSIONS: dict[date, Session] = {}  # the calendar's regular sessions, looked up once (prime_sessions)


def prime_sessions(start: date, end: date) -> None:
    """Look the calendar's sessions of a backtest's window up at once."""
    _SESSIONS.update(regular_sessions(start, end))


def session_moments(day: date) -> tuple[datetime, datetime]:
    """(the open, the decision moment a minute before the close) of ``day``'s regular session."""
    session = _SESSIONS.get(day) or regular_session(day)
    if session is None:  # not a session day: the calendar's walk never gives one; stay sensible
        return (datetime.combine(day, time(9, 30), NEW_YORK), datetime.combine(day, time(15, 59), NEW_YORK))
    return session.start, session.end.replace(second=0, microsecond=0) - _MINUTE


_MINUTE = datetime(2000, 1, 1, 0, 1) - datetime(2000, 1, 1)


@dataclass
class _Pending:
    request: OrderRequest
    order_id: int
    perm_id: int


@dataclass
class AccountTotals:
    """What the simulated account did: the results' commissions, turnover and fill count."""

    commissions: Decimal = ZERO
    traded_value: Decimal = ZERO
    fills: int = 0


class BacktestBroker(ExecutionProvider):
    """A simulated account filling from bars (see the module's docstring)."""

    def __init__(self, account: str, prices: PriceBook, clock: SimClock, *, cash: Decimal, fill: FillAt,
                 slippage_bps: Decimal, commission: CommissionModel, order_id_base: int = 1) -> None:
        self.events: asyncio.Queue = asyncio.Queue()
        self.account = account
        self.mode = TradeMode.BACKTEST
        self.state = ConnectionState.DISCONNECTED
        self.prices = prices
        self.clock = clock
        self.cash = Decimal(cash)
        self.fill_at = FillAt(fill)
        self.slippage_bps = Decimal(slippage_bps)
        self.commission_model = commission
        self.holdings: dict[str, PositionState] = {}
        # (key, quantity) of the holdings not flat, in the holdings' order: what equity() values
        # every day, kept until a fill changes the holdings (every symbol ever traded stays in
        # ``holdings``, most of them flat after a few years of rebalancing)
        self._open: list[tuple[str, Decimal]] | None = None
        self.totals = AccountTotals()
        self.quote_info: dict[str, tuple[datetime, str]] = {}
        self._pending: list[_Pending] = []  # next-open orders waiting for the next session
        self._at_close: list[_Pending] = []  # close orders waiting for the closing auction
        self._next_id = order_id_base
        self._monthly_volume: dict[tuple[int, int], Decimal] = {}
        self._listeners: list[ConnectionListener] = []
        self._waiters: list[tuple[Callable[[object], bool], asyncio.Future]] = []

    # ------------------------------------------------------------------ connection
    def subscribe(self, listener: ConnectionListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def add_resync_hook(self, hook: ReconnectHook) -> None:
        """Nothing to reconcile: the simulated account is this object, and it never drops."""

    async def connect(self) -> None:
        self.state = ConnectionState.CONNECTED
        for listener in list(self._listeners):
            listener(ConnectionEvent(ConnectionState.CONNECTED, "backtest", self.clock()))

    async def disconnect(self) -> None:
        self.state = ConnectionState.DISCONNECTED

    @property
    def is_connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    # ------------------------------------------------------------------ prices and the account
    async def market_prices(self, symbols: Sequence[str | ContractSpec]) -> dict[str, Decimal | None]:
        out: dict[str, Decimal | None] = {}
        now = self.clock()
        for symbol in symbols:
            key = symbol.key if isinstance(symbol, ContractSpec) else str(symbol)
            quote = self.prices.last_quote(key, self.clock.day)
            if quote is None:
                out[key] = None
                continue
            day, out[key] = quote
            seen = now if day == self.clock.day else session_moments(day)[1]
            self.quote_info[key] = (seen, "close")
        return out

    def equity(self) -> Decimal:
        """Cash plus the holdings at their last close (the account's NetLiquidation)."""
        if self._open is None:
            self._open = [(key, state.quantity) for key, state in self.holdings.items() if state.quantity]
        return self.prices.value_at_close(self._open, self.clock.day, self.cash)

    async def net_liquidation(self) -> Decimal | None:
        return self.equity()

    async def positions(self) -> list[BrokerPosition]:
        return [BrokerPosition(self.account, key, s.quantity, s.average_cost) for key, s in sorted(self.holdings.items())
                if s.quantity]

    # ------------------------------------------------------------------ orders
    async def place_order(self, request: OrderRequest, check: Callable[[], None] | None = None) -> int:
        if check is not None:
            check()
        order_id, perm_id = self._next_id, 1_000_000_000 + self._next_id
        self._next_id += 1
        pending = _Pending(request, order_id, perm_id)
        if self.fill_at is FillAt.CLOSE:
            self._at_close.append(pending)  # the closing auction fills it (close_day)
        else:
            self._pending.append(pending)
            # after the sender recorded the order as sent (it does so right after this returns):
            # a broker's answers always come after its placeOrder
            acknowledged: list[object] = [self._status(pending, "Submitted", ZERO, None, self.clock())]
            asyncio.get_running_loop().call_soon(self._emit_all, acknowledged)
        return order_id

    def close_day(self) -> int:
        """The session closes: orders placed for the close fill at the day's close (one batch of
        answers, as a closing auction reports), or not at all that session (``_session``).
        Returns how many orders were waiting."""
        waiting, self._at_close = self._at_close, []
        moment, day = self.clock(), self.clock.day
        events: list[object] = []
        for pending in waiting:
            events.extend(self._session(pending, day, FillAt.CLOSE, moment))
        self._emit_all(events)
        return len(waiting)

    def open_day(self, day: date) -> int:
        """The session ``day`` opens: orders waiting for it fill at its open, or not at all that
        session (``_session``). Returns how many orders were waiting."""
        waiting, self._pending = self._pending, []
        opened = session_moments(day)[0]
        for pending in waiting:
            self._emit_all(self._session(pending, day, FillAt.NEXT_OPEN, opened))
        return len(waiting)

    def _session(self, pending: _Pending, day: date, fill: FillAt, moment: datetime) -> list[object]:
        """The order's one chance in session ``day``: filled at the simulated price, else (its
        listing has no bar that day, or that price is beyond its limit) canceled as a DAY order
        that did not fill, nothing booked. Told at ``moment`` (the fill's would-be time): the
        bar's one price is all the session offers it, and a next-open order told at the
        session's end would still be working when the same day's rebalance is decided."""
        request = pending.request
        spec = request.spec
        side = Side(request.side)
        price = simulated_order_fill(self.prices, spec.key, day, fill, side, self.slippage_bps,
                                     request.order_type, request.limit_price).price
        if price is None:
            return [self._status(pending, "Cancelled", ZERO, None, moment)]
        return self._fill(pending, price, moment, spec)

    def _fill(self, pending: _Pending, price: Decimal, moment: datetime, spec: ContractSpec | None = None) -> list[object]:
        """The order filled at ``price`` (``simulated_fill``'s: slippage included); ``spec``: its
        request's listing when the caller has it already."""
        request = pending.request
        if spec is None:
            spec = request.spec
        side = Side(request.side)
        quantity = Decimal(request.quantity)
        month = (moment.year, moment.month)
        commission = Decimal(self.commission_model.commission(
            quantity, price, monthly_volume=self._monthly_volume.get(month, ZERO), side=side))
        self._monthly_volume[month] = self._monthly_volume.get(month, ZERO) + quantity
        key = spec.key
        self.holdings[key], _ = apply_fill(self.holdings.get(key, PositionState()), side.sign * quantity, price, commission)
        self._open = None
        self.cash -= side.sign * quantity * price + commission
        self.totals.commissions += commission
        self.totals.traded_value += quantity * price
        self.totals.fills += 1
        exec_id = f"BT{self.account[len('BACKTEST-'):]}.{pending.order_id:08d}.01"
        execution = ExecutionEvent(
            exec_id=exec_id, ib_order_id=pending.order_id, perm_id=pending.perm_id, client_id=0,
            order_ref=request.client_order_id, account=self.account, symbol=request.symbol, side=str(side),
            shares=quantity, price=price, time=moment, exchange="BACKTEST", currency=spec.currency,
            cum_qty=quantity, avg_price=price)
        return [execution, CommissionEvent(exec_id, commission, spec.currency),
                self._status(pending, "Filled", quantity, price, moment)]

    def _status(self, pending: _Pending, status: str, filled: Decimal, price: Decimal | None, moment: datetime) -> OrderStatusEvent:
        quantity = Decimal(pending.request.quantity)
        return OrderStatusEvent(ib_order_id=pending.order_id, perm_id=pending.perm_id, client_id=0, status=status,
                                filled=filled, remaining=quantity - filled, avg_fill_price=price, last_fill_price=price,
                                order_ref=pending.request.client_order_id, time=moment)

    def _emit_all(self, events: list[object]) -> None:
        if not self._waiters:  # nobody expects an answer (a backtest's day): only the queue hears them
            for event in events:
                self.events.put_nowait(event)
            return
        for event in events:
            self.events.put_nowait(event)
            for predicate, future in list(self._waiters):
                if not future.done() and predicate(event):
                    future.set_result(event)
            self._waiters = [(p, f) for p, f in self._waiters if not f.done()]

    async def modify_order(self, client_order_id: str, quantity: Decimal | None, limit_price: Decimal | None,
                           stop_price: Decimal | None = None) -> int:
        from services.execution.errors import BrokerError

        raise BrokerError(f"order {client_order_id}: a backtest's orders cannot be modified", code="not_modifiable")

    async def cancel_order(self, client_order_id: str, ib_order_id: int | None = None) -> None:
        # a working order: one waiting for the next open or for today's close (a closing
        # auction's order can be canceled until the auction, as IB's MOC / LOC orders can)
        for waiting in (self._pending, self._at_close):
            for pending in [p for p in waiting if p.request.client_order_id == client_order_id]:
                waiting.remove(pending)
                self._emit_all([self._status(pending, "Cancelled", ZERO, None, self.clock())])

    async def cancel_all(self) -> None:
        for pending in [*self._pending, *self._at_close]:
            await self.cancel_order(pending.request.client_order_id)

    # ------------------------------------------------------------------ reconciliation queries
    async def open_orders(self) -> list[OpenOrderEvent]:
        """Every working order: those waiting for the next session's open and those waiting for
        today's close (recovery and the blotter read both as the IB adapter reports them)."""
        return [self._open_order(p) for p in (*self._pending, *self._at_close)]

    def _open_order(self, pending: _Pending) -> OpenOrderEvent:
        # as the IB adapter reads an order back (ib_callbacks._order_event): a limit only on the
        # types that have one, a stop (IB's auxPrice) only on STP / STP LMT: recovery, the blotter
        # and describe_order read it without knowing which provider answered
        request = pending.request
        kind = OrderType(request.order_type)
        return OpenOrderEvent(pending.order_id, pending.perm_id, 0, request.client_order_id, self.account, request.symbol,
                              str(request.side), Decimal(request.quantity), str(kind),
                              request.limit_price if kind.has_limit else None, "Submitted",
                              stop_price=request.stop_price if kind.has_stop else None)

    async def completed_orders(self) -> list[OpenOrderEvent]:
        return []

    async def executions(self, since: datetime | None = None) -> list[ExecutionEvent]:
        return []

    def expect(self, predicate: Callable[[object], bool]) -> asyncio.Future:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return future

    async def wait_for(self, predicate: Callable[[object], bool], timeout: float) -> object | None:
        try:
            return await asyncio.wait_for(self.expect(predicate), timeout)
        except TimeoutError:
            return None
