"""The fills stream with running totals (kept incrementally, never recomputed per event)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from PySide6.QtGui import QColor

from services.domain import FillRecord, Side

from .base import CENTER, RIGHT, Column, fmt_money, fmt_price, fmt_quantity, fmt_time
from .orders import SIDE_COLOURS
from .paged import PagedTableModel

ZERO = Decimal(0)
SUPERSEDED = QColor("#8a8f98")


@dataclass(frozen=True)
class FillTotals:
    count: int = 0
    bought_quantity: Decimal = ZERO
    bought_notional: Decimal = ZERO
    sold_quantity: Decimal = ZERO
    sold_notional: Decimal = ZERO
    commission: Decimal = ZERO

    @property
    def gross_notional(self) -> Decimal:
        return self.bought_notional + self.sold_notional

    @property
    def net_cash(self) -> Decimal:
        """Cash in (+) or out (-) from the fills, after commissions."""
        return self.sold_notional - self.bought_notional - self.commission


def _superseded_colour(fill: FillRecord) -> QColor | None:
    return SUPERSEDED if fill.superseded else None


class FillsModel(PagedTableModel[FillRecord]):
    TIME, SYMBOL, SIDE, QUANTITY, PRICE, COMMISSION, EXEC_ID = range(7)

    columns = (
        Column("Time", lambda f: f.fill_time, fmt=fmt_time, mutable=False, width=165),
        Column("Symbol", lambda f: f.symbol, mutable=False, width=60),
        Column("Side", lambda f: f.side, align=CENTER, mutable=False,
               foreground=lambda f: SIDE_COLOURS.get(f.side.value)),
        Column("Quantity", lambda f: f.quantity, align=RIGHT, fmt=fmt_quantity, foreground=_superseded_colour),
        Column("Price", lambda f: f.price, align=RIGHT, fmt=fmt_price, foreground=_superseded_colour),
        Column("Commission", lambda f: f.commission, align=RIGHT, fmt=fmt_money),
        Column("Exec id", lambda f: f.exec_id, width=200,
               tooltip=lambda f: "superseded by an execution correction" if f.superseded else None),
    )

    order_key = staticmethod(lambda f: f.fill_time)

    def __init__(self, parent=None, **kwargs) -> None:
        self._totals = _Totals()
        super().__init__(parent, **kwargs)

    def records_from(self, change_set: Any) -> Iterable[FillRecord]:
        return change_set.fills

    def totals(self) -> FillTotals:
        return self._totals.freeze()

    def _on_record_added(self, record: FillRecord) -> None:
        self._totals.add(record, 1)

    def _on_record_removed(self, record: FillRecord) -> None:
        self._totals.add(record, -1)

    def _on_record_replaced(self, old: FillRecord, new: FillRecord) -> None:
        self._totals.add(old, -1)
        self._totals.add(new, 1)

    def _on_reset(self) -> None:
        self._totals = _Totals()


class _Totals:
    __slots__ = ("bn", "bq", "commission", "count", "sn", "sq")

    def __init__(self) -> None:
        self.count = 0
        self.bq = self.bn = self.sq = self.sn = self.commission = ZERO

    def add(self, fill: FillRecord, sign: int) -> None:
        if fill.superseded:  # a corrected revision no longer counts
            return
        notional = fill.quantity * fill.price
        self.count += sign
        if fill.side is Side.BUY:
            self.bq += sign * fill.quantity
            self.bn += sign * notional
        else:
            self.sq += sign * fill.quantity
            self.sn += sign * notional
        if fill.commission is not None:
            self.commission += sign * fill.commission

    def freeze(self) -> FillTotals:
        return FillTotals(self.count, self.bq, self.bn, self.sq, self.sn, self.commission)
