"""Filtering and sorting of the blotter that stays cheap at 10,000+ rows under a stream.

Why it stays flat (measured by ``benchmarks/blotter_stream.py``):
- the default order, time newest first, is the source model's own row order (it keeps rows
  ordered by creation time, newest on top), so for it the proxy does not sort at all
  (``sort(TIME, Descending)`` maps to ``sort(-1)``): an insert costs no comparisons and an
  update never moves a row. QSortFilterProxyModel would otherwise binary-search every new row
  with two Python ``data()`` calls per comparison, which at 10,000 rows was the single
  largest cost of a flush;
- other sort orders (a header click) compare ``SortKeyRole`` primitives (floats, short
  strings) in C++; no display text is parsed and no Python ``lessThan`` is called;
- the source model reports updates only over its *mutable* columns, so when the sort column
  is immutable (the time column, the default newest-first view) QSortFilterProxyModel sees
  that the sort column did not change and does not re-sort: it only re-runs the filter on the
  changed rows (removing the ones that stopped working);
- the filter reads the record straight from the source's row list (no ``data()`` round trip);
- inserts arrive as one batch per flush, which the proxy merges into its sorted mapping with a
  binary search per new row.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from PySide6.QtCore import (
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from services.core.record_filters import FillFilter, OrderFilter, search_needle
from services.domain import OrderRecord

from .base import CoalescingTableModel, SortKeyRole
from .fills import FillsModel
from .orders import OrderBlotterModel


class StatusFilter(StrEnum):
    WORKING = "working"
    ALL = "all"


class RecordProxyModel(QSortFilterProxyModel):
    """A sorting proxy over a coalescing model: sorted by ``SortKeyRole`` (numbers by value,
    compared in C++), kept sorted as rows change, and one Python call per painted cell."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(SortKeyRole)
        self.setDynamicSortFilter(True)

    def multiData(self, index: QModelIndex | QPersistentModelIndex, span: QModelRoleDataSpan | QModelRoleData) -> None:
        # One Python call per painted cell instead of one per role (QSortFilterProxyModel would
        # map and ask the source once for each of the 7 roles a delegate wants).
        source = self.sourceModel()
        if isinstance(source, CoalescingTableModel) and index.isValid():
            source.fill_roles(source.record_at(self.mapToSource(index).row()), index.column(), span)
        else:
            super().multiData(index, span)


class NativeOrderProxyModel(RecordProxyModel):
    """A proxy whose source is already in (``native_column``, descending) order: asking for
    that order restores the source order instead of sorting."""

    def __init__(self, native_column: int, parent=None) -> None:
        super().__init__(parent)
        self.native_column = native_column

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if column == self.native_column and order == Qt.SortOrder.DescendingOrder:
            # Column -1 means "source row order" (in the given direction): ascending source
            # order is already newest first.
            column, order = -1, Qt.SortOrder.AscendingOrder
        super().sort(column, order)

    def is_native_order(self) -> bool:
        return self.sortColumn() == -1


class RecordFilterProxyModel(NativeOrderProxyModel):
    """A table's rows through a filter of ``services.core.record_filters`` (an immutable value
    with ``accepts(record)``), the rule the history pager applies in SQL to the rows not loaded."""

    def __init__(self, source, native_column: int, empty_filter, parent=None) -> None:
        super().__init__(native_column, parent)
        self._filter = empty_filter
        self._records = source.record_at
        self.setSourceModel(source)

    def _set(self, changed) -> None:
        if changed != self._filter:
            self.beginFilterChange()
            self._filter = changed
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        return self._filter.accepts(self._records(source_row))


class BlotterFilterProxyModel(RecordFilterProxyModel):
    """The blotter's rows through its filters: the rule is ``services.core.record_filters``,
    the one the history pager applies in SQL to the rows not loaded yet."""

    _filter: OrderFilter

    def __init__(self, source: OrderBlotterModel, parent=None) -> None:
        super().__init__(source, OrderBlotterModel.TIME, OrderFilter(), parent)

    # -- filters ----------------------------------------------------------------------------

    def set_status_filter(self, value: StatusFilter | str) -> None:
        self._set(replace(self._filter, working_only=StatusFilter(value) is StatusFilter.WORKING))

    def set_run_filter(self, run_id: int | None) -> None:
        self._set(replace(self._filter, run_id=run_id))

    def set_text_filter(self, text: str) -> None:
        self._set(replace(self._filter, text=search_needle(text)))

    def order_filter(self) -> OrderFilter:
        """The filters as they stand: what the history query applies in SQL over the rows not
        loaded (services/history_queries.py ``order_page``)."""
        return self._filter

    def accepts(self, order: OrderRecord) -> bool:
        return self._filter.accepts(order)

    # -- convenience ------------------------------------------------------------------------

    def record_at(self, proxy_row: int) -> OrderRecord:
        return self._records(self.mapToSource(self.index(proxy_row, 0)).row())

    def visible_records(self) -> list[OrderRecord]:
        return [self.record_at(r) for r in range(self.rowCount())]

    def sort_newest_first(self) -> None:
        self.sort(OrderBlotterModel.TIME, Qt.SortOrder.DescendingOrder)


class FillFilterProxyModel(RecordFilterProxyModel):
    """The fills table's rows through its symbol filter."""

    _filter: FillFilter

    def __init__(self, source: FillsModel, parent=None) -> None:
        super().__init__(source, FillsModel.TIME, FillFilter(), parent)

    def set_symbol_filter(self, text: str) -> None:
        self._set(FillFilter(search_needle(text)))

    def fill_filter(self) -> FillFilter:
        return self._filter
