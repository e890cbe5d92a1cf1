"""The events the writer takes besides the broker's own (``services.execution.events``): our side
of an order's life, reconciliation's verdicts and IB's account positions; and the journal's codec
for every kind of event the writer may have to keep on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.core.order_state import EventKind
from services.domain import EventSource

from ..events import BrokerErrorEvent, CommissionEvent, ExecutionEvent, OpenOrderEvent, OrderStatusEvent
from ..journal import EventCodec


@dataclass(frozen=True, slots=True)
class LocalOrderEvent:
    """Our own side of an order's life (sent, cancel requested, ack timeout, replace...)."""

    client_order_id: str
    kind: EventKind
    source: EventSource = EventSource.SYSTEM
    ib_order_id: int | None = None
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # a cancel of an order not sent yet (canceled here, nothing asked of the broker): it applies
    # only while the order is still NEW, never to one its run's sender claimed meanwhile
    unsent_only: bool = False
    stop_price: Decimal | None = None  # a replace's new stop (a STP / STP LMT order's); None: unchanged


@dataclass(frozen=True, slots=True)
class ReconciledStatus:
    """Reconciliation's verdict on one order (from open/completed orders at IB)."""

    client_order_id: str
    status: str  # IB status string
    filled: Decimal | None = None
    perm_id: int | None = None
    ib_order_id: int | None = None
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class PositionTruth:
    """IB's account-level position (reconciliation overwrites the account row with it).

    ``as_of`` is the writer's :meth:`EventWriter.position_mark` taken just before the positions
    were asked for: a live execution of the symbol received after it may or may not be in IB's
    answer, so the truth is stale for that symbol and is not applied (the next pass corrects a
    real difference). None (an old journal line): applied."""

    account: str
    symbol: str
    quantity: Decimal
    average_cost: Decimal
    as_of: int | None = None


JOURNAL_CODEC = EventCodec(
    (ExecutionEvent, CommissionEvent, OrderStatusEvent, OpenOrderEvent, BrokerErrorEvent, LocalOrderEvent, ReconciledStatus,
     PositionTruth),
    (EventKind, EventSource),
)
