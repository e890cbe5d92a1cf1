"""What one transaction of the writer holds: the rows of the batch's orders, fills and positions,
loaded up front and changed in memory, and the fills it adds (inserted together at the end)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from services.core.positions_book import PositionState
from services.db.models import TradeFill, TradeOrder
from services.domain import OrderState, PositionRecord

from ..events import CommissionEvent
from .events import PositionTruth

PositionKey = tuple[int | None, str, str]  # (project_id, account, symbol); project None = the account row


NEW_FILL_COLUMNS = ("exec_id", "exec_base_id", "exec_revision", "superseded", "order_id", "symbol", "side", "quantity", "price",
                     "commission", "currency", "exchange", "account", "perm_id", "order_ref", "fill_time", "raw_payload")


@dataclass(eq=False, slots=True)
class NewFill:
    """A fill of this batch, inserted with one multi-row INSERT at the end (no ORM object per
    fill: that and RETURNING per row were most of the writer's cost)."""

    exec_id: str
    exec_base_id: str
    exec_revision: int
    superseded: bool
    order_id: int
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    commission: Decimal | None
    currency: str
    exchange: str | None
    account: str | None
    perm_id: int | None
    order_ref: str | None
    fill_time: datetime
    raw_payload: dict | None
    id: int | None = None
    client_order_id: str | None = None  # its order's (not inserted: TradeFill reads it from the order)

    def values(self) -> tuple:
        """The row's values in ``NEW_FILL_COLUMNS``' order."""
        return _NEW_FILL_VALUES(self)


@dataclass(eq=False, slots=True)
class OrderRow:
    """A ``trade_orders`` row as the writer reads and changes it (``TradeOrder``'s attributes),
    loaded with Core and written back by ``orders.write_orders``: one executemany UPDATE of the
    columns that changed (an ORM object per order and the unit of work's flush cost more than
    the statements). ``stored``: the values as the database holds them."""

    id: int
    run_id: int | None
    project_id: int | None
    client_order_id: str
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    primary_exchange: str | None
    side: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    tif: str
    status: OrderState
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    ib_order_id: int | None
    ib_perm_id: int | None
    ib_client_id: int | None
    account: str | None
    last_status_time: datetime | None
    rejected_reason: str | None
    replaces_order_id: int | None
    retry_count: int
    is_external: bool
    params: dict | None
    claimed_by: str | None
    claimed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    stored: dict[str, Any] = field(default_factory=dict, repr=False)
    # the state machine's view of the row (``orders.sm_status``) and what it was read from: the
    # params object, status and quantity it stands for (any of them replaced: read again)
    sm_memo: tuple[Any, ...] | None = field(default=None, repr=False)

    @classmethod
    def loaded(cls, values: Sequence[Any]) -> OrderRow:
        """The row of ``values`` (every column in ``ORDER_COLUMNS``' order, the table's: a Core
        row of the table as it comes) as stored. By position: a row's mapping and keyword
        arguments cost more than the rest of loading it."""
        row = cls(*values)
        row.stored = dict(zip(ORDER_COLUMNS, values, strict=True))
        return row

    @classmethod
    def of(cls, order: TradeOrder) -> OrderRow:
        """The row an ORM object holds (an external order ``insert_once`` just stored)."""
        return cls.loaded(_ORDER_VALUES(order))

    def changes(self) -> dict[str, Any]:
        """The columns whose value differs from the stored one (compared by value, as the ORM does).
        ``stored`` holds every column in ``ORDER_COLUMNS``' order (``loaded``; ``dict.update``
        keeps it): the row's values read in one step, not one ``getattr`` a column."""
        return {name: value for (name, stored), value in zip(self.stored.items(), _ORDER_VALUES(self), strict=True)
                if value != stored}


_NEW_FILL_VALUES = attrgetter(*NEW_FILL_COLUMNS)
ORDER_COLUMNS = tuple(f.name for f in fields(OrderRow) if f.name not in ("stored", "sm_memo"))
if tuple(TradeOrder.__table__.c.keys()) != ORDER_COLUMNS:  # OrderRow.loaded takes a row by position
    raise RuntimeError("OrderRow's fields are not trade_orders' columns in their order")
_ORDER_VALUES = attrgetter(*ORDER_COLUMNS)


class Batch:
    """What one transaction touched (for the change set), plus its caches: the orders, fills and
    positions of the whole batch are loaded with a few queries up front, changed in memory and
    flushed together (one commit per batch is what makes the writer fast)."""

    def __init__(self) -> None:
        self.orders: dict[int, OrderRow] = {}
        self.fills: dict[int, StoredFill] = {}
        self.new_fills: list[NewFill] = []
        self.positions: dict[tuple[int, str, str], PositionRecord] = {}  # the written rows
        self.runs: set[int] = set()
        self.ended_runs: set[int] = set()  # runs this batch moved to a final status
        self.run_params: dict[int, dict | None] = {}  # the params of its runs, read with their status
        self.orphan_commissions: dict[str, CommissionEvent] = {}
        self.by_ref: dict[str, OrderRow] = {}
        self.by_perm: dict[int, OrderRow] = {}
        self.fills_by_base: dict[str, list[StoredFill]] = {}
        self.fills_by_exec: dict[str, StoredFill] = {}
        self.exec_splits: dict[str, tuple[str, int]] = {}  # execId -> (base execId, revision): split once
        self.position_state: dict[PositionKey, PositionState] = {}
        self.dirty_positions: set[PositionKey] = set()
        # what this batch does to each position, in event order, booked once the batch's
        # commissions are known (positions.settle_positions); keys to rebuild from their stored fills
        self.position_ops: dict[PositionKey, list[PositionOp]] = {}
        self.replay_keys: set[PositionKey] = set()
        # the batch's fills of each position (booked or replayed): the latest one still counted
        # is the row's mark (positions.write_positions), a trade at a real price and time
        self.position_fills: dict[PositionKey, list[NewFill]] = {}
        # IB's account positions applied (each with the batch's fill before it, if any, and the
        # last stored fill's id): recorded once the fills are inserted (positions.record_truths)
        self.applied_truths: list[tuple[PositionTruth, NewFill | None, int]] = []


@dataclass(frozen=True, slots=True)
class LateCommission:
    """A commission (or a change of it) for a fill booked by an earlier batch, which was the
    last fill of its position: booked incrementally (positions_book.apply_late_commission)."""

    signed_quantity: Decimal
    amount: Decimal


StoredFill = TradeFill | NewFill  # a stored fill, or one of this batch (duck-typed alike)
PositionOp = NewFill | LateCommission | PositionTruth  # what a batch does to a position, in event order
