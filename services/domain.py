"""Domain vocabulary shared by every layer: enums and immutable values.

Money and quantities are ``Decimal``; times are timezone-aware UTC ``datetime``. The frozen
record types are what the GUI receives (never ORM objects), so they must stay cheap to build
and hashable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

# the positions book's one rule for P&L (it imports nothing of the services: no cycle)
from services.core.positions_book import PositionState


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MKT = "MKT"
    LMT = "LMT"
    STP = "STP"  # a market order once the stop price is touched (IB's auxPrice)
    STP_LMT = "STP LMT"  # a limit order once the stop price is touched

    @property
    def has_limit(self) -> bool:
        return self in (OrderType.LMT, OrderType.STP_LMT)

    @property
    def has_stop(self) -> bool:
        return self in (OrderType.STP, OrderType.STP_LMT)


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"  # immediate or cancel: what does not fill at once is canceled


class OrderState(StrEnum):
    NEW = "NEW"  # stored, not sent
    SENDING = "SENDING"  # claimed by one sender (atomically, NEW -> SENDING) right before placeOrder
    SUBMITTED = "SUBMITTED"  # sent, not acknowledged
    ACCEPTED = "ACCEPTED"  # working at the broker
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCELED = "CANCELED"
    REPLACE_REQUESTED = "REPLACE_REQUESTED"
    REJECTED = "REJECTED"
    BLOCKED = "BLOCKED"  # by pre-trade risk; never sent
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_ORDER_STATES

    @property
    def is_working(self) -> bool:
        """At the broker (or on its way there) and able to fill or be canceled."""
        return self in WORKING_ORDER_STATES

    @property
    def is_cancelable(self) -> bool:
        """What Cancel may be asked of: every order not final, a NEW one too (an unsent order a
        halted or stopped run left: canceled before it is sent). The one rule of the blotter's
        Cancel and ``OrderActions.cancel``."""
        return self not in TERMINAL_ORDER_STATES


TERMINAL_ORDER_STATES = frozenset(
    {OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.BLOCKED, OrderState.EXPIRED}
)
WORKING_ORDER_STATES = frozenset(
    {
        OrderState.SENDING,
        OrderState.SUBMITTED,
        OrderState.ACCEPTED,
        OrderState.PARTIALLY_FILLED,
        OrderState.CANCEL_REQUESTED,
        OrderState.REPLACE_REQUESTED,
    }
)
# The states of an order that will or may still trade: working at the broker, or stored NEW and
# not sent yet (a run halted or stopped mid-send, a process that crashed between storing and
# sending: recovery or a resumed ``execute`` sends it later). What a project's preview and the
# account's exposure count as if it filled (services.books.working_orders, which leaves out the
# NEW orders nothing will send, and also counts, in any state, what an order reported filled and
# had no execution booked yet: docs/project-books.md). Not WORKING_ORDER_STATES, which means "at
# the broker": what a cancel asks the broker for, reconciliation expects IB to list, a replace
# may change, the blotter shows as working.
INTENT_ORDER_STATES = WORKING_ORDER_STATES | {OrderState.NEW}


class RunStatus(StrEnum):
    QUEUED = "queued"
    BLOCKED = "blocked"
    RUNNING = "running"
    DONE = "done"  # every order filled
    PARTIAL = "partial"
    FAILED = "failed"  # any order rejected
    CANCELED = "canceled"


class TradeMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"
    # a replay of dated snapshots against historical bars (services.backtest): its runs, plans and
    # orders go through the same engine but never reach a broker, and never appear in paper or
    # live views, queries or risk counts (their orders and positions carry a BACKTEST- account)
    BACKTEST = "backtest"

    @property
    def simulated(self) -> bool:
        """No broker, no market: prices and the clock are the simulation's."""
        return self is TradeMode.BACKTEST


# The account of a backtest's simulated books: "BACKTEST-<backtest id>-<project id>". No IB
# account starts with it, so one prefix test keeps backtests out of every paper or live view.
BACKTEST_ACCOUNT_PREFIX = "BACKTEST-"


def is_backtest_account(account: str | None) -> bool:
    return bool(account) and str(account).startswith(BACKTEST_ACCOUNT_PREFIX)


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    HALTED = "HALTED"  # blocks everything but cancels
    REDUCING = "REDUCING"  # blocks orders that grow exposure

    @property
    def meaning(self) -> str:
        """What the state lets out, in the trader's words (the window's banner and activity log)."""
        return _TRADING_STATE_MEANINGS[self]


_TRADING_STATE_MEANINGS = {
    TradingState.ACTIVE: "new orders and replaces go out",
    TradingState.HALTED: "only cancels go out",
    TradingState.REDUCING: "orders that add exposure are blocked",
}


class EventSource(StrEnum):
    BROKER = "broker"
    USER = "user"
    RECOVERY = "recovery"
    RECONCILE = "reconcile"
    RISK = "risk"
    SYSTEM = "system"


LIVE_CONFIRM_WORD = "LIVE"


def is_live_token(token: str | None) -> bool:
    """The LIVE confirmation word, trimmed and case-insensitive (docs/plans.md, plan 000)."""
    return (token or "").strip().upper() == LIVE_CONFIRM_WORD


def is_paper_account(account: str | None) -> bool:
    """IB paper accounts start with DU (individual) or DF (advisor)."""
    return account is not None and account.strip().upper().startswith(("DU", "DF"))


# ---------------------------------------------------------------------------------------------
# Immutable records handed to the GUI and the command line.


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: int
    client_order_id: str
    run_id: int | None
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    status: OrderState
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    created_at: datetime
    updated_at: datetime
    ib_order_id: int | None = None
    ib_perm_id: int | None = None
    account: str | None = None
    rejected_reason: str | None = None
    replaces_order_id: int | None = None
    external: bool = False
    stop_price: Decimal | None = None  # STP / STP LMT
    tif: str = "DAY"
    ib_client_id: int | None = None  # the API client that placed it, as the broker's statuses name it
    # the broker's report this row shows, not in the database yet (it did not answer): the
    # report's time (services.execution.unrecorded_reports); None: the row as stored
    unrecorded_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class FillRecord:
    id: int
    order_id: int
    exec_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal | None
    fill_time: datetime
    currency: str = "USD"
    exchange: str | None = None
    superseded: bool = False  # an execution correction replaced this revision
    # the order's (TC<installation>.<run>-<sequence>-...: it names the run too), so that a fill
    # says which order and run it is of; None: read without its order
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderEventInfo:
    """One step of an order's history as stored (the details dialog's History row)."""

    time: datetime
    source: str
    event_type: str
    from_state: str | None
    to_state: str | None
    flagged: bool  # recorded but flagged by the state machine (a fill after CANCELED)
    message: str | None
    payload: dict | None


@dataclass(frozen=True, slots=True)
class OrderDetails:
    """An order with its fills and its history (services.console_queries.order_details): the
    details dialog shows it as read, the blotter's and the monitor's alike."""

    order: OrderRecord
    fills: tuple[FillRecord, ...]
    events: tuple[OrderEventInfo, ...]


@dataclass(frozen=True, slots=True)
class PositionRecord:
    project_id: int | None
    account: str
    symbol: str
    quantity: Decimal
    average_cost: Decimal
    realized_pnl: Decimal
    updated_at: datetime
    market_price: Decimal | None = None
    currency: str = "USD"  # the listing's (``symbol`` is its key: SAP@IBIS:EUR for Xetra)
    exchange: str = "SMART"
    marked_at: datetime | None = None  # when ``market_price`` was the price (a fill's time, a quote's)
    quoted: bool = False  # the mark is a quote the window was given, newer than the stored one (services.position_marks)
    # the broker said it does not list the symbol: no quote marks it, it keeps its stored mark (services.position_marks)
    unlisted: bool = False

    @property
    def market_value(self) -> Decimal | None:
        """What the holding is worth at its mark (quantity x price, in the listing's currency);
        None without a mark. A book's market value is the sum of its lines'."""
        return None if self.market_price is None else self.quantity * self.market_price

    @property
    def unrealized_pnl(self) -> Decimal | None:
        if self.market_price is None:
            return None
        return PositionState(self.quantity, self.average_cost).unrealized_pnl(self.market_price)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    time: datetime
    actor: str
    action: str
    entity_type: str | None
    entity_id: str | None
    payload: dict
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Quote:
    """One listing's latest market data (streamed: services.execution.ib_quotes), prices in the
    listing's currency."""

    key: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    close: Decimal | None = None  # the previous session's close: the change is against it
    volume: Decimal | None = None
    kind: str = "live"  # live | frozen | delayed | delayed_frozen (IB's market data type)
    time: datetime | None = None
    # why no quotes come: the listing's stream was refused or ended by IB (no market data line
    # left, not subscribed, ...), said in full in its watchlist row's tooltip ...
    refused: str | None = None
    refused_word: str = "refused"  # ... and in a word in the row ("not subscribed", "no such listing")

    @property
    def price(self) -> Decimal | None:
        """What a trade would be valued at: the last price inside the spread, else the mid, else
        the last, else the close (ib_async's ``marketPrice`` rule, plus the close)."""
        mid = (self.bid + self.ask) / 2 if self.bid and self.ask and self.bid > 0 and self.ask > 0 else None
        if self.last and mid is not None and self.bid is not None and self.ask is not None and self.bid <= self.last <= self.ask:
            return self.last
        return mid or self.last or self.close

    @property
    def change(self) -> Decimal | None:
        now = self.last or self.price
        return None if now is None or not self.close else now - self.close

    @property
    def change_pct(self) -> Decimal | None:
        change = self.change
        return None if change is None or not self.close else change * 100 / self.close


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What one committed batch of broker events changed: the GUI refreshes exactly this."""

    orders: tuple[OrderRecord, ...] = ()
    fills: tuple[FillRecord, ...] = ()
    positions: tuple[PositionRecord, ...] = ()
    runs: tuple[int, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.positions or self.runs)
