"""A coalescing table model that holds a window of a long history and pages in older rows
(docs/history-paging.md).

The view asks through Qt's own protocol: when the table is scrolled to its bottom it calls
``canFetchMore``/``fetchMore``; the model then emits ``more_wanted`` and a controller reads the
next page in a worker thread (services/history_queries.py) and hands it to ``append_page``.
Nothing here touches the database. Live records keep arriving through ``apply``/``upsert``
(newest on top) exactly as without paging. Paging is off until ``enable_paging``: a model
fed only by a stream (tests, benchmarks) behaves as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Signal

from .base import CoalescingTableModel

R = TypeVar("R")


class PageLike(Protocol):
    """services.history_queries.Page, structurally (widgets do not import the database layer)."""

    records: tuple[Any, ...]
    next_before_id: int | None
    exhausted: bool


class PagedTableModel(CoalescingTableModel[R]):
    #: The view reached the bottom: read the page before ``next_before_id``.
    more_wanted = Signal()

    def __init__(self, parent=None, **kwargs) -> None:
        self._paging = False
        self._first_page_rows = 0
        self._exhausted = True
        self._loading = False
        self._before_id: int | None = None
        # records streamed in while a first page is being read (None: no read under way): a
        # coalescing flush may move them from the buffer into the rows before the page lands
        self._live_during_read: dict[Any, R] | None = None
        super().__init__(parent, **kwargs)

    # -- the paging state ----------------------------------------------------------------

    def enable_paging(self) -> None:
        self._paging = True

    @property
    def next_before_id(self) -> int | None:
        return self._before_id

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    @property
    def loading(self) -> bool:
        return self._loading

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:
        return not parent.isValid() and self._paging and not self._exhausted and not self._loading

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> None:
        if self.canFetchMore(parent):
            self._loading = True  # one page in flight; the view asks again when it lands
            self.more_wanted.emit()

    def page_failed(self) -> None:
        """The read failed: let the view ask again."""
        self._loading = False

    # -- pages in -----------------------------------------------------------------------------

    def upsert(self, records: Iterable[R]) -> None:
        if self._live_during_read is not None:
            records = list(records)
            key = self.key
            for record in records:
                self._live_during_read[key(record)] = record
        super().upsert(records)

    def begin_first_page(self) -> None:
        """A first page is about to be read: what is buffered now and what streams in from
        now on survives its reset (a read already under way keeps what it collected)."""
        if self._live_during_read is None:
            self._live_during_read = dict(self._pending)

    def first_page_failed(self) -> None:
        """The read failed: stop collecting (the rows shown stay as they are)."""
        self._live_during_read = None

    def show_first_page(self, page: PageLike, texts: list[list[str]] | None = None) -> None:
        """The newest page (a start, or a new filter): replaces the rows. Records still in the
        live buffer, and those that streamed in since ``begin_first_page`` (whether or not a
        flush already showed them), are laid over the page: nothing streamed in while the page
        was being read is lost."""
        # the state first: the reset's signals already see it (the fills' totals label)
        self._before_id, self._exhausted, self._loading = page.next_before_id, page.exhausted, False
        self.enable_paging()
        self._first_page_rows = len(page.records)
        pending = {**(self._live_during_read or {}), **self._pending}
        self._live_during_read = None
        self.reset(page.records)
        if texts is not None:
            self.keep_texts(page.records, texts)
        if pending:
            self._pending = pending
            self._timer.start()

    def drop_older_pages(self) -> None:
        """Keep the newest page's worth of rows only. A new filter is about to be read from the
        whole history (its first page replaces the rows); meanwhile the proxies filter what is
        loaded, on the GUI thread, in one pass: over every page scrolled in that took 20 ms and
        more (issue 15), over one page it takes a couple."""
        keep = self._first_page_rows
        count = len(self._rows)
        if not self._paging or not self._reversed or count <= keep or keep == 0:
            return
        drop = count - keep
        # storage is oldest first and shown reversed: the oldest rows are the view's bottom
        self.beginRemoveRows(QModelIndex(), keep, count - 1)
        dropped = self._rows[:drop]
        del self._rows[:drop]
        del self._order[:drop]
        key = self.key
        self._row_of = {key(record): index for index, record in enumerate(self._rows)}
        kept = self._kept_texts
        for record in dropped:
            self._on_record_removed(record)
            kept.pop(key(record), None)
        self._before_id = key(self._rows[0])  # type: ignore[assignment]  # ids are the keys of paged models
        self._exhausted = False
        self.endRemoveRows()

    def append_page(self, page: PageLike, texts: list[list[str]] | None = None) -> None:
        """An older page: its rows go below the ones shown, in one insert. ``texts``: the
        page's rows formatted off the GUI thread (``format_row``), kept for the view."""
        self._loading = False
        if page.next_before_id is not None:
            self._before_id = page.next_before_id
        self._exhausted = page.exhausted
        if texts is not None:
            # only the records that become rows (a record already shown keeps its texts)
            row_of, key = self._row_of, self.key
            fresh = [(r, t) for r, t in zip(page.records, texts, strict=True) if key(r) not in row_of]
            self.keep_texts([r for r, _ in fresh], [t for _, t in fresh])
        self._append_older(page.records)
        self._on_page_appended()

    def _on_page_appended(self) -> None:
        """Hook: an older page's rows are shown (a column's format that follows its rows)."""

    def _append_older(self, records: Iterable[R]) -> None:
        key, order_key = self.key, self.order_key
        row_of = self._row_of
        fresh = [r for r in records if key(r) not in row_of]
        if not fresh:
            return
        if order_key is None:  # unordered models append at the end (history, not live records)
            super().upsert(fresh)
            self.flush()
            return
        fresh.sort(key=order_key)
        if self._order and order_key(fresh[-1]) > self._order[0]:
            # Ids and times disagree (a clock step): the ordinary ordered insert places them.
            for record in fresh:
                self._pending.setdefault(key(record), record)
            self.flush()
            return
        rows, count = self._rows, len(fresh)
        # Storage is oldest first and shown reversed: older rows go to the storage's front,
        # which is the view's bottom.
        self.beginInsertRows(QModelIndex(), len(rows), len(rows) + count - 1)
        rows[:0] = fresh
        self._order[:0] = [order_key(r) for r in fresh]
        for stored_key in row_of:
            row_of[stored_key] += count
        for index, record in enumerate(fresh):
            row_of[key(record)] = index
            self._on_record_added(record)
        self.endInsertRows()
