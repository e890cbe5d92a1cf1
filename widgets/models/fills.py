"""The fills stream with running totals (kept incrementally, never recomputed per event, by
``services.core.fill_totals``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from services.core.fill_totals import FillTally, FillTotals
from services.domain import FillRecord

from .base import CENTER, RIGHT, Column, fmt_day_seconds, fmt_money, fmt_price, fmt_quantity, fmt_seconds
from .orders import SIDE_COLOURS
from .paged import PagedTableModel
from .price_columns import SharedPricePlaces

SUPERSEDED = QColor("#8a8f98")


def _superseded_colour(fill: FillRecord) -> QColor | None:
    return SUPERSEDED if fill.superseded else None


class FillsModel(SharedPricePlaces[FillRecord], PagedTableModel[FillRecord]):
    TIME, SYMBOL, SIDE, QUANTITY, PRICE, COMMISSION, EXEC_ID, CLIENT_ID = range(8)

    columns = (
        # to the second without the year, as the blotter's (the whole time in its tooltip): with
        # the year (134 px) it read "2026-12-07 …" at 1366x768 in the 100 px a layout saved
        # before the first fill keeps (the 165 of a time to the millisecond pushed the order's id
        # out of the panel). The blotter's widths for the figures, so that the empty table fits
        Column("Time", lambda f: f.fill_time, fmt=fmt_day_seconds, mutable=False, width=100,
               tooltip=lambda f: fmt_seconds(f.fill_time)),
        Column("Symbol", lambda f: f.symbol, mutable=False, width=60),
        Column("Side", lambda f: f.side, align=CENTER, mutable=False, width=45,
               foreground=lambda f: SIDE_COLOURS.get(f.side.value)),
        Column("Quantity", lambda f: f.quantity, align=RIGHT, fmt=fmt_quantity, width=65, foreground=_superseded_colour),
        Column("Price", lambda f: f.price, align=RIGHT, fmt=fmt_price, width=65, foreground=_superseded_colour),
        Column("Commission", lambda f: f.commission, align=RIGHT, fmt=fmt_money),
        Column("Exec id", lambda f: f.exec_id, width=200,
               tooltip=lambda f: "superseded by an execution correction" if f.superseded else None),
        # which order (and run: TC<installation>.<run>-<sequence>-...) the fill is of, shown last
        # (FillsView) as the blotter shows it: cut at the left, its end (sequence, side, symbol,
        # digest) telling the orders apart, whole in its tooltip, in the room the columns before
        # it leave, so that nothing is a sideways scroll away at 1366x768
        Column("Client order id", lambda f: f.client_order_id, mutable=False, width=90,
               tooltip=lambda f: f.client_order_id, elide=Qt.TextElideMode.ElideLeft, takes_room_left=True),
    )

    # IB's execution times are to the second: a run's partial fills share one, and the id (their
    # arrival) orders them within it, streamed or loaded alike (the time alone kept a load's order)
    order_key = staticmethod(lambda f: (f.fill_time, f.id))
    #: One number of places down the column (SharedPricePlaces): 229.5 sat above 229.125.
    PRICE_COLUMNS = (PRICE,)

    def __init__(self, parent=None, **kwargs) -> None:
        self._totals = FillTally()
        super().__init__(parent, **kwargs)

    def csv_header(self) -> list[str]:
        return [*super().csv_header(), "Superseded"]

    def csv_row(self, row: int) -> list[str]:
        # the table greys a revision an execution correction replaced; the file says it in a
        # column, so that a sum over the export counts each execution once, as the totals do
        # (services.core.fill_totals leaves superseded revisions out)
        return [*super().csv_row(row), "yes" if self.record_at(row).superseded else ""]

    def records_from(self, change_set: Any) -> Iterable[FillRecord]:
        return change_set.fills

    def totals(self) -> tuple[FillTotals, ...]:
        """The loaded fills' totals, one per currency (never added across currencies)."""
        return self._totals.totals()

    def totals_count(self) -> int:
        return self._totals.count

    def _on_record_added(self, record: FillRecord) -> None:
        super()._on_record_added(record)
        self._totals.add(record, 1)

    def _on_record_removed(self, record: FillRecord) -> None:
        super()._on_record_removed(record)
        self._totals.add(record, -1)

    def _on_record_replaced(self, old: FillRecord, new: FillRecord) -> None:
        super()._on_record_replaced(old, new)
        self._totals.add(old, -1)
        self._totals.add(new, 1)

    def _on_reset(self) -> None:
        super()._on_reset()
        self._totals = FillTally()
