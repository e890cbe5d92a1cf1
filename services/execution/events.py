"""Domain events produced by the broker adapter's handlers and consumed by the one writer.

They are plain frozen values built in microseconds inside the eventkit/wrapper callback; all
work (matching, state machine, database) happens in the writer. ``raw`` keeps the broker's
payload for ``order_events``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.core.ib_codes import is_warning


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOST = "lost"  # 1100: TWS lost its connection to IB
    RESTORED = "restored"  # 1101/1102
    DISCONNECTED = "disconnected"


# IB message codes: one table, services.core.ib_codes (information and warnings never end an
# order, docs/ib-notes.md, pitfall 5).
# Execution ids and their revisions: services.core.positions_book.split_exec_id (one definition).


@dataclass(frozen=True, slots=True)
class OrderStatusEvent:
    ib_order_id: int
    perm_id: int
    client_id: int
    status: str  # IB's string, never ib_async's local one
    filled: Decimal
    remaining: Decimal
    avg_fill_price: Decimal | None
    last_fill_price: Decimal | None
    why_held: str = ""
    order_ref: str | None = None  # resolved by the adapter from its session map when known
    time: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class OpenOrderEvent:
    ib_order_id: int
    perm_id: int
    client_id: int
    order_ref: str
    account: str
    symbol: str
    side: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    status: str
    completed: bool = False  # from completedOrder
    time: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    stop_price: Decimal | None = None  # STP / STP LMT: IB's auxPrice (a replace of the stop waits for it)


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    exec_id: str
    ib_order_id: int
    perm_id: int
    client_id: int
    order_ref: str
    account: str
    symbol: str
    side: str  # BUY / SELL (IB sends BOT / SLD; normalised)
    shares: Decimal
    price: Decimal
    time: datetime
    exchange: str = ""
    currency: str = "USD"
    cum_qty: Decimal | None = None
    avg_price: Decimal | None = None
    commission: Decimal | None = None  # set when a reconciliation already knows it
    source: str = "broker"  # broker | reconcile
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


#: What the broker reports of an order: what a window shows while the database has not taken it
#: (EventWriter.subscribe_unrecorded).
BrokerReport = OrderStatusEvent | ExecutionEvent


@dataclass(frozen=True, slots=True)
class CommissionEvent:
    exec_id: str
    commission: Decimal
    currency: str = "USD"
    realized_pnl: Decimal | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class BrokerErrorEvent:
    req_id: int
    code: int
    message: str
    order_ref: str | None = None
    time: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_warning(self) -> bool:
        return is_warning(self.code)


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    state: ConnectionState
    detail: str = ""
    time: datetime | None = None
    retry_in: float | None = None  # seconds until the next automatic reconnect attempt
    refused: bool = False  # the account guard refused this login: no reconnect follows, ``detail`` says why


def side_from_ib(value: str) -> str:
    value = (value or "").upper()
    if value in {"BOT", "BUY"}:
        return "BUY"
    if value in {"SLD", "SELL", "SSHORT"}:
        return "SELL"
    return value


def dec(value: Any) -> Decimal | None:
    """IB floats to Decimal via their shortest repr; unset sentinels become None."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if f != f or abs(f) >= 1.7e308:  # NaN or UNSET_DOUBLE
        return None
    return Decimal(repr(f)).normalize() if f != int(f) else Decimal(int(f))
