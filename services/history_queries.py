"""Pages of the order and fill history for the window's tables (docs/history-paging.md).

A year of history (100,000 orders, 1,000,000 fills) is never loaded at once: the tables ask
for one page at a time, newest first, by keyset on the primary key (``id < before_id``), so
a page costs the same at the top and at the bottom of the history. The table's filters are
applied here, in SQL, over the whole history; the tables apply the same rule to the rows they
hold (``services/core/record_filters.py``: the same fields, the same needle), so both agree on
what a filter shows.
Synchronous, no Qt: the controllers run these in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import String, cast, func, or_, select

from services.core.record_filters import ORDER_SEARCH_FIELDS, FillFilter, OrderFilter
from services.db.convert import to_fill_record, to_order_record
from services.db.models import TradeFill, TradeOrder
from services.db.scope import not_backtest
from services.domain import FillRecord, OrderRecord, OrderState

#: Rows per page: a few screens of the table, read and converted in a few milliseconds.
PAGE_SIZE = 250

R = TypeVar("R")

WORKING_STATES = tuple(s for s in OrderState if s.is_working)
EVERY_ORDER, EVERY_FILL = OrderFilter(), FillFilter()  # no filter


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    records: tuple[R, ...]
    #: The keyset cursor for the next page (the smallest id read); None: nothing was read.
    next_before_id: int | None
    #: True when this page reached the oldest matching row.
    exhausted: bool


def _page(records, more: bool) -> Page:
    # one row more than the page is read: "exhausted" is known without an empty last read
    return Page(records, records[-1].id if records else None, not more)


def _contains(column, needle: str):
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def _as_text(column):
    # ids and states as the text the Python side matches (record_filters.field_text)
    return column if type(column.type) is String else cast(column, String)


def order_page(db, order_filter: OrderFilter = EVERY_ORDER, before_id: int | None = None,
               limit: int = PAGE_SIZE) -> Page[OrderRecord]:
    """The newest ``limit`` orders matching the filter with an id below ``before_id``."""
    if limit < 1:
        raise ValueError(f"a page holds at least one row, not {limit}")
    query = select(TradeOrder).where(not_backtest(TradeOrder.account))
    if before_id is not None:
        query = query.where(TradeOrder.id < before_id)
    if order_filter.working_only:
        query = query.where(TradeOrder.status.in_(WORKING_STATES))
    if order_filter.run_id is not None:
        query = query.where(TradeOrder.run_id == order_filter.run_id)
    needle = order_filter.needle
    if needle:
        query = query.where(or_(*(_contains(_as_text(getattr(TradeOrder, name)), needle)
                                  for name in ORDER_SEARCH_FIELDS)))
    with db.session() as session:
        rows = list(session.scalars(query.order_by(TradeOrder.id.desc()).limit(limit + 1)))
        records = tuple(to_order_record(r) for r in rows[:limit])
    return _page(records, len(rows) > limit)


def fill_page(db, fill_filter: FillFilter = EVERY_FILL, before_id: int | None = None,
              limit: int = PAGE_SIZE) -> Page[FillRecord]:
    """The newest ``limit`` fills matching the filter with an id below ``before_id``."""
    if limit < 1:
        raise ValueError(f"a page holds at least one row, not {limit}")
    query = select(TradeFill).where(not_backtest(TradeFill.account))
    if before_id is not None:
        query = query.where(TradeFill.id < before_id)
    needle = fill_filter.needle
    if needle:
        query = query.where(_contains(TradeFill.symbol, needle))
    with db.session() as session:
        rows = list(session.scalars(query.order_by(TradeFill.id.desc()).limit(limit + 1)))
        records = tuple(to_fill_record(r) for r in rows[:limit])
    return _page(records, len(rows) > limit)


def run_history(db, run_id: int) -> tuple[tuple[OrderRecord, ...], tuple[FillRecord, ...]]:
    """Every order of one run and their fills (a run's progress chart), whatever its age."""
    with db.session() as session:
        orders = tuple(to_order_record(r) for r in session.scalars(
            select(TradeOrder).where(TradeOrder.run_id == run_id).order_by(TradeOrder.id)))
        fills = tuple(to_fill_record(f) for f in session.scalars(
            select(TradeFill).join(TradeOrder, TradeFill.order_id == TradeOrder.id)
            .where(TradeOrder.run_id == run_id).order_by(TradeFill.id)))
    return orders, fills
