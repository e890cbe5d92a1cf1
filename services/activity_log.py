"""The console's activity log: every message the window shows the trader, in one bounded list.

The status bar and the activity panel both show what this log holds (each subscribes), so the
two can never disagree: a controller never writes to the status bar itself, it appends here.
Fills and rejections are noted from the writer's change sets (``note_changes``) with their own
categories, so the window can sound them and the status bar can leave the fill stream to the
panel. No Qt here: the window's adapters live in app/ and widgets/.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from services.core.wording import grouped, price
from services.domain import ChangeSet, FillRecord, OrderRecord, OrderState, TradingState
from services.execution.connection_words import ConnectionStory
from services.execution.events import ConnectionEvent

DEFAULT_CAPACITY = 2_000
#: Rejections and cancels (by order) and fills already reported, remembered so a later revision of
#: the same row is not reported again (bounded like the log itself).
_SEEN_ORDERS = 10_000
_SEEN_FILLS = 50_000


class _SaidOnce:
    """The ids of rows already said (an order's, a fill's), in the order said, the oldest
    forgotten past ``limit``."""

    def __init__(self, limit: int) -> None:
        self._ids: dict[int, None] = {}  # insertion-ordered set
        self._limit = limit

    def first_time(self, rows: Iterable) -> list:
        """The ``rows`` (each with an ``id``) not said before, now remembered as said."""
        new = []
        for row in rows:
            if row.id not in self._ids:
                self._ids[row.id] = None
                new.append(row)
        while len(self._ids) > self._limit:
            del self._ids[next(iter(self._ids))]
        return new

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._ids


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def notifies(self) -> bool:
        """Warnings and errors are also shown as a transient notification."""
        return self is not Level.INFO


class Category(StrEnum):
    STATUS = "status"  # what the console says about its own actions and health
    FILL = "fill"
    REJECT = "reject"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    seq: int  # strictly increasing: the entry's identity and order
    time: datetime
    level: Level
    text: str
    category: Category = Category.STATUS
    #: How long the status bar keeps it (ms); 0: until the next message (a lasting condition).
    timeout_ms: int = 10_000

    @property
    def in_status_bar(self) -> bool:
        # A run's fills arrive by the hundred: the panel lists them, the status bar keeps the
        # console's own messages readable.
        return self.category is not Category.FILL


Listener = Callable[[ActivityEntry], None]


class ActivityLog:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, clock: Callable[[], datetime] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._entries: deque[ActivityEntry] = deque(maxlen=capacity)
        self._listeners: list[Listener] = []
        self._seq = 0
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rejected = _SaidOnce(_SEEN_ORDERS)  # the rejected orders said
        self._canceled = _SaidOnce(_SEEN_ORDERS)  # the orders said canceled at the broker
        self._filled = _SaidOnce(_SEEN_FILLS)  # the fills said
        self._connection = ConnectionStory()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def append(self, text: str, level: Level | str = Level.INFO, *, category: Category | str = Category.STATUS,
               timeout_ms: int = 10_000) -> ActivityEntry:
        self._seq += 1
        entry = ActivityEntry(self._seq, self._clock(), Level(level), str(text), Category(category), timeout_ms)
        self._entries.append(entry)
        for listener in list(self._listeners):
            listener(entry)
        return entry

    def info(self, text: str, timeout_ms: int = 10_000) -> ActivityEntry:
        return self.append(text, Level.INFO, timeout_ms=timeout_ms)

    def warning(self, text: str, timeout_ms: int = 10_000) -> ActivityEntry:
        return self.append(text, Level.WARNING, timeout_ms=timeout_ms)

    def error(self, text: str, timeout_ms: int = 15_000) -> ActivityEntry:
        return self.append(text, Level.ERROR, timeout_ms=timeout_ms)

    def entries(self) -> list[ActivityEntry]:
        """Oldest first (at most ``capacity``: the oldest are dropped)."""
        return list(self._entries)

    @property
    def last(self) -> ActivityEntry | None:
        return self._entries[-1] if self._entries else None

    # -- broker events ----------------------------------------------------------------------

    def note_changes(self, changes: ChangeSet) -> list[ActivityEntry]:
        """One entry for the fills of a change set, one per newly rejected order, one for the
        orders whose cancel the broker confirmed (a Cancel All, a Cancel, IB's own: the log
        said the request and nothing of its end)."""
        added: list[ActivityEntry] = []
        # each fill once: its commission report (the feed's next version of it) is no new fill
        fills = self._filled.first_time(f for f in changes.fills if not f.superseded)
        if fills:
            added.append(self.append(describe_fills(fills), category=Category.FILL))
        for order in self._rejected.first_time(o for o in changes.orders if o.status is OrderState.REJECTED):
            added.append(self.append(describe_rejection(order), Level.WARNING, category=Category.REJECT,
                                     timeout_ms=15_000))
        # the broker's own word: an order it never had (no permanent id: closed as never received,
        # or canceled before it was sent) is no cancel at the broker
        canceled = self._canceled.first_time(o for o in changes.orders
                                             if o.status is OrderState.CANCELED and o.ib_perm_id is not None)
        if canceled:
            added.append(self.append(describe_cancels(canceled), category=Category.CANCEL))
        return added

    def confirmed_canceled(self, order_ids: Iterable[int]) -> int:
        """How many of ``order_ids`` this log has said canceled at the broker (a Cancel All's
        line, said once its call returns, counts them: ``CanceledOrders.headline``)."""
        return sum(1 for order_id in order_ids if order_id in self._canceled)

    def note_trading_state(self, state: TradingState, line: str) -> ActivityEntry:
        """A trading state set, the trader's own or another process's, said in ``line`` (the
        service's words: services.execution.action_outcomes.trading_state_line, ``halt``'s and
        ``resume``'s too), a halt as a warning: the trading window and a monitor say it alike."""
        return self.append(line, Level.WARNING if state is TradingState.HALTED else Level.INFO)

    def note_connection(self, event: ConnectionEvent) -> ActivityEntry | None:
        """The broker connection's changes worth a line: connected, lost (a warning until the
        next message), restored (services.execution.connection_words)."""
        line = self._connection.line(event)
        if line is None:
            return None
        if line.warning:
            return self.append(line.text, Level.WARNING, timeout_ms=0)  # a lasting condition
        return self.info(line.text)

    def note_connected_before(self, endpoint: str, account: str | None, since: datetime | None) -> ActivityEntry:
        """The connection made before the log followed the events (the demo's, at the start)."""
        return self.info(self._connection.already_connected(endpoint, account, since).text)


def describe_fills(fills: Iterable[FillRecord], shown: int = 3) -> str:
    fills = list(fills)
    # the quantity's significant digits and the price at two to four places, as the fills panel
    # reads them: a fill read back from the database (the change feed's) said "BUY 5.000000 AAPL @
    # 228.50000000", its columns' scale
    parts = [f"{f.side.value} {grouped(f.quantity)} {f.symbol} @ {price(f.price)}" for f in fills[:shown]]
    more = f" and {len(fills) - shown} more" if len(fills) > shown else ""
    noun = "Fill" if len(fills) == 1 else f"{len(fills)} fills"
    return f"{noun}: {', '.join(parts)}{more}"


def describe_cancels(orders: Iterable[OrderRecord], shown: int = 3) -> str:
    """``Canceled at the broker: BUY 7 AAPL LMT 223.00 (TC...-AAPL-7648AC)``, several in one line
    as the fills are, a partly filled order with what it filled."""
    orders = list(orders)

    def one(o: OrderRecord) -> str:
        limit = f" {o.order_type.value} {price(o.limit_price)}" if o.limit_price is not None else f" {o.order_type.value}"
        filled = f", {grouped(o.filled_quantity)} of {grouped(o.quantity)} filled" if o.filled_quantity else ""
        return f"{o.side.value} {grouped(o.quantity)} {o.symbol}{limit} ({o.client_order_id}{filled})"

    parts = [one(o) for o in orders[:shown]]
    more = f" and {len(orders) - shown} more" if len(orders) > shown else ""
    head = "Canceled at the broker" if len(orders) == 1 else f"{len(orders)} canceled at the broker"
    return f"{head}: {', '.join(parts)}{more}"


def describe_rejection(order: OrderRecord) -> str:
    reason = f": {order.rejected_reason}" if order.rejected_reason else ""
    return f"Rejected {order.side.value} {grouped(order.quantity)} {order.symbol} ({order.client_order_id}){reason}"
