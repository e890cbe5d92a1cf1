"""Positions and P&L per (project, account, symbol)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from decimal import Decimal
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor

from services.console_books import UNNAMED
from services.domain import PositionRecord

from .base import RIGHT, CoalescingTableModel, Column, fmt_money, fmt_price, fmt_quantity
from .price_columns import SharedPricePlaces

GAIN = QColor("#2e9d55")
LOSS = QColor("#d64545")


def pnl_colour(value: Decimal | None) -> QColor | None:
    if value is None or value == 0:
        return None
    return GAIN if value > 0 else LOSS


ACCOUNT_TOTAL = "(account total)"


class PositionsModel(SharedPricePlaces[PositionRecord], CoalescingTableModel[PositionRecord]):
    PROJECT, ACCOUNT, SYMBOL, QUANTITY, AVG_COST, MARKET, UNREALIZED, REALIZED = range(8)
    #: One number of places down each (SharedPricePlaces): 229.5 sat above 229.125.
    PRICE_COLUMNS = (AVG_COST, MARKET)
    texts_follow_records = False  # the project column reads the names set apart
    # the project names changed (a view built from whole books, not rows, rebuilds on this, on
    # ``flushed`` and on ``modelReset``: one rebuild per batch of changes)
    names_changed = Signal()

    def __init__(self, parent=None, *, project_names: dict[int, str] | None = None, **kwargs) -> None:
        self._project_names: dict[int, str] = dict(project_names or {})
        self.columns = (
            # A row without a project is the whole account (every project and manual orders).
            # never a bare id: a project whose name is not loaded yet says so
            Column("Project", lambda p: self.project_label(p.project_id), mutable=False),
            Column("Account", lambda p: p.account, mutable=False),
            Column("Symbol", lambda p: p.symbol, mutable=False),
            Column("Quantity", lambda p: p.quantity, align=RIGHT, fmt=fmt_quantity),
            Column("Avg cost", lambda p: p.average_cost, align=RIGHT, fmt=fmt_price),
            Column("Market", lambda p: p.market_price, align=RIGHT, fmt=fmt_price),
            Column("Unrealized", lambda p: p.unrealized_pnl, align=RIGHT, fmt=fmt_money,
                   foreground=lambda p: pnl_colour(p.unrealized_pnl)),
            Column("Realized", lambda p: p.realized_pnl, align=RIGHT, fmt=fmt_money,
                   foreground=lambda p: pnl_colour(p.realized_pnl)),
        )
        super().__init__(parent, **kwargs)

    @staticmethod
    def key(record: PositionRecord) -> Hashable:
        return (record.project_id, record.account, record.symbol)

    def records_from(self, change_set: Any) -> Iterable[PositionRecord]:
        return change_set.positions

    def set_project_names(self, names: dict[int, str]) -> None:
        self._project_names.clear()
        self._project_names.update(names)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0), [])
        self.names_changed.emit()

    def project_label(self, project_id: int | None) -> str:
        """What the project column says for a project's id (None: the whole account)."""
        return self._project_names.get(project_id, UNNAMED) if project_id is not None else ACCOUNT_TOTAL

    def project_names(self) -> dict[int, str]:
        return dict(self._project_names)
