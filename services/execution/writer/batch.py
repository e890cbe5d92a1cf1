"""What one transaction of the writer holds: the rows of the batch's orders, fills and positions,
loaded up front and changed in memory, and the fills it adds (inserted together at the end)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.core.positions_book import PositionState
from services.db.models import TradeFill, TradeOrder

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

    def row(self) -> dict:
        return {name: getattr(self, name) for name in NEW_FILL_COLUMNS}


class Batch:
    """What one transaction touched (for the change set), plus its caches: the orders, fills and
    positions of the whole batch are loaded with a few queries up front, changed in memory and
    flushed together (one commit per batch is what makes the writer fast)."""

    def __init__(self) -> None:
        self.orders: dict[int, TradeOrder] = {}
        self.fills: dict[int, StoredFill] = {}
        self.new_fills: list[NewFill] = []
        self.positions: dict[tuple[int, str, str], Any] = {}  # the written rows (plain rows with Position's attributes)
        self.runs: set[int] = set()
        self.ended_runs: set[int] = set()  # runs this batch moved to a final status
        self.orphan_commissions: dict[str, CommissionEvent] = {}
        self.by_ref: dict[str, TradeOrder] = {}
        self.by_perm: dict[int, TradeOrder] = {}
        self.fills_by_base: dict[str, list[StoredFill]] = {}
        self.fills_by_exec: dict[str, StoredFill] = {}
        self.position_state: dict[PositionKey, PositionState] = {}
        self.dirty_positions: set[PositionKey] = set()
        # what this batch does to each position, in event order, booked once the batch's
        # commissions are known (positions.settle_positions); keys to rebuild from their stored fills
        self.position_ops: dict[PositionKey, list[PositionOp]] = {}
        self.replay_keys: set[PositionKey] = set()


@dataclass(frozen=True, slots=True)
class LateCommission:
    """A commission (or a change of it) for a fill booked by an earlier batch, which was the
    last fill of its position: booked incrementally (positions_book.apply_late_commission)."""

    signed_quantity: Decimal
    amount: Decimal


StoredFill = TradeFill | NewFill  # a stored fill, or one of this batch (duck-typed alike)
PositionOp = NewFill | LateCommission | PositionTruth  # what a batch does to a position, in event order
