"""The coalescing table model every panel table is built on.

High-rate feeds never reach Qt event by event (docs/style.md, practice 7): ``upsert`` and
``apply`` only buffer the newest record per key; a single-shot timer (about 100 ms) or an
explicit ``flush()`` applies the buffer with ONE ``dataChanged`` per contiguous row range and
ONE ``beginInsertRows`` for all new rows. A key -> row dict keeps lookups O(1), so the cost of
an update does not grow with the table.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache, partial
from itertools import islice
from math import ceil
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QMetaMethod,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor

from services.core.typed_numbers import plain
from services.core.wording import grouped, money, price

from ..plain_text import plain_tooltip

R = TypeVar("R")

DISPLAY = int(Qt.ItemDataRole.DisplayRole)
ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)

#: Role returning a primitive (float, str, int) that sorts the column correctly; proxies sort
#: on it so the comparison stays in C++ and never parses display text.
SortKeyRole = int(Qt.ItemDataRole.UserRole) + 1
#: Role returning the row's record itself.
RecordRole = int(Qt.ItemDataRole.UserRole) + 2

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
CENTER = Qt.AlignmentFlag.AlignCenter

DEFAULT_FLUSH_MS = 100
#: A timer flush applies at most this many buffered records and continues with the rest on the
#: next event-loop turn, so one flush never holds the GUI thread for long however fast the
#: feed.
DEFAULT_MAX_BATCH = 3000
#: GUI-thread time a timer flush aims to take (issue 15: no stall over one 16 ms frame): the
#: slice's size follows the measured cost per record of the previous slices (the proxies' work
#: on inserted and changed rows is most of it), which leaves the rest of the frame for painting.
FLUSH_SLICE_BUDGET_S = 0.004
#: The smallest slice, so that a slow moment does not shrink the flush to a trickle.
MIN_SLICE = 64
#: Rows whose texts, formatted off the GUI thread, wait for the view's first paint (a few
#: pages; about 1 KB a row).
KEPT_TEXTS_LIMIT = 5_000
#: Two models whose timers fire together (the blotter and the fills get the same stream) would
#: flush and then repaint in one frame: the window paints every view that changed since its last
#: paint, in one pass, at most one update interval (5 ms on Qt's platforms without vsync) after
#: the first change. So a model's slice waits until this long after another model's slice.
SLICE_SPACING_S = 0.008


# ----------------------------------------------------------------------------------------------
# Formatters: display text from domain values. Decimals keep their exactness; we only group.


def fmt_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def fmt_decimal(value: Decimal | None, places: int | None = None) -> str:
    """Grouped fixed-point text; without ``places`` it shows exactly the significant digits
    (services.core.wording.grouped: the commands write numbers alike)."""
    return grouped(value, places)


_DIGITS = re.compile(r"\d+")
_NATURAL_WIDTH = 20  # wider than any id's number


def natural_key(text: str | None) -> str:
    """A text's sort key with its runs of digits compared as numbers: an order id of a run's
    tenth order after its second ("R1.7-2-B", "R1.7-10-B"), not between its first and second.
    A string (digits zero-padded), so the proxy compares it in C++ like any other key."""
    return _DIGITS.sub(lambda digits: digits.group().zfill(_NATURAL_WIDTH), text or "")


def _remembered(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    """``fmt`` with its latest texts kept: a painted screen of history formats a few hundred
    numbers, most of them seen before (quantities, prices on a grid), at 5-6 µs each uncached.
    The texts are functions of the numeric value (normalized first), so equal Decimals such as
    1.0 and 1.00 may share one; a value that cannot be hashed (a signalling NaN) is formatted."""
    cached = lru_cache(maxsize=8192, typed=True)(fmt)

    def remembered(value: Any) -> str:
        if value is None:
            return ""
        try:
            return cached(value)
        except TypeError:
            return fmt(value)

    remembered.__doc__ = fmt.__doc__
    return remembered


@_remembered
def fmt_quantity(value: Decimal | None) -> str:
    return fmt_decimal(value)


fmt_money = _remembered(money)
fmt_price = _remembered(price)  # two to four places: sub-penny fills exist


def _plain_tooltip_of(tooltip: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    return lambda record: plain_tooltip(tooltip(record))
_PRICE_AT: dict[int, Callable[[Any], str]] = {}


def fmt_price_at(places: int) -> Callable[[Any], str]:
    """Prices at ``places`` (a column's, ``price_places``), remembered as ``fmt_price``."""
    fmt = _PRICE_AT.get(places)
    if fmt is None:
        fmt = _PRICE_AT[places] = _remembered(partial(price, places=places))
    return fmt


def fmt_time(value: datetime | None) -> str:
    """UTC wall time with milliseconds: orders arrive within the same second."""
    if value is None:
        return ""
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat: a quarter of strftime's cost (a painted screen of history formats 40 times)
    return value.isoformat(" ", "milliseconds")[:23]


def fmt_seconds(value: datetime | None) -> str:
    """UTC wall time to the second: a fill's time as IB gives it (an execution's time has no
    fraction of a second); with ``fmt_time``'s milliseconds every fill read ".000", a precision
    it does not have."""
    return fmt_time(value)[:19]


def fmt_day_seconds(value: datetime | None) -> str:
    """UTC month, day and wall time to the second (``12-07 03:26:50``): the blotter's Time, in
    the room a 1366x768 screen leaves it beside its prices (the whole ``fmt_time`` in its
    tooltip and its export)."""
    return fmt_time(value)[5:19]


def sort_key(value: Any) -> Any:
    """A QVariant-friendly key: numbers as float, times as POSIX seconds, enums as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (Decimal, int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _sorted_by(value: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A column's sort key from its value (a closure per column, not over the loop variable)."""
    return lambda record: sort_key(value(record))


def _always(result: Any) -> Callable[[Any], Any]:
    return lambda _record: result


def csv_value(value: Any) -> str:
    """Exact, locale-free text for CSV export (no thousands separators); a Decimal as the
    commands and ``watch`` write it (``0``, not the database's ``0E-8``)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column, declared once: title, how to read the value, how to show and colour it."""

    title: str
    value: Callable[[R], Any]
    align: Qt.AlignmentFlag = LEFT
    fmt: Callable[[Any], str] = fmt_text
    foreground: Callable[[R], QColor | None] | None = None
    background: Callable[[R], QColor | None] | None = None
    tooltip: Callable[[R], str | None] | None = None
    #: False for columns that never change for a key (creation time, symbol, side): updates
    #: then report dataChanged only over the mutable columns, so a proxy sorted by an
    #: immutable column never re-sorts on an update.
    mutable: bool = True
    width: int | None = None
    #: Overrides of the sort key / the CSV text when the raw value is not the right one.
    sort: Callable[[R], Any] | None = None
    export: Callable[[R], str] | None = None
    #: What the column means, on the header's tooltip (where the title alone could mislead).
    header_tooltip: str | None = None
    #: Where a text wider than its cell is cut: at the left for an id whose end tells one row
    #: from another (a run's ids share their installation's head, "TCX4J39Q.1-…" on every row).
    elide: Qt.TextElideMode = Qt.TextElideMode.ElideRight
    #: Given the room the other columns leave (it is the last one, and stretches), never widened
    #: to its content: sized to a long id, the blotter's last column ran past a 1366-px screen
    #: and a trader scrolled sideways to read which order was which. Its whole text is in its
    #: tooltip.
    takes_room_left: bool = False
    #: Widened to its widest text again whenever rows change (never narrowed meanwhile), into the
    #: room the column that ``takes_room_left`` has beyond its declared width: the blotter's
    #: Status. Sized once at a width for the plain states, "CANCELED (not recorded)" and
    #: "PARTIALLY_FILLED 40/100" read cut at 1366x768, though the client order id could spare it.
    grows_into_room_left: bool = False


class CoalescingTableModel(QAbstractTableModel, Generic[R]):
    """A table of immutable records keyed by ``key(record)``; writes are buffered.

    With ``order_key`` set (e.g. the creation time), rows are kept in that order, NEWEST
    FIRST, by the model itself: storage is an ascending list and the visible row ``r`` is
    storage index ``n - 1 - r``. A new record that is the newest (the normal case in a stream)
    is an O(1) append, shown at the top; all new rows of a flush then form ONE insert at row 0,
    and no proxy has to sort anything to show "time, newest first". A record arriving out of
    order is inserted at its place (bisect, its own beginInsertRows). The order key of a
    record must not change between its revisions.
    """

    #: Emitted after every flush that changed something: (updated rows, inserted rows).
    flushed = Signal(int, int)
    #: Emitted just before ``flushed``, while someone listens, with the rows that flush changed
    #: or inserted (as ``record_at`` numbers them once it is done): a view that measures its texts
    #: (the blotter's columns that grow to their widest text) reads those rows alone, not a
    #: sample of the table at every flush of a stream.
    rows_flushed = Signal(list)
    #: When the last timer slice of any model on the GUI thread ended (perf_counter seconds).
    _last_slice_end = 0.0

    columns: Sequence[Column] = ()
    #: A row's texts are a function of its record alone (records are immutable, so a view may
    #: keep them until the record is replaced); False when a column reads other state.
    texts_follow_records = True
    #: None: rows in arrival order, appended at the bottom.
    order_key: Callable[[R], Any] | None = None

    def __init__(self, parent=None, *, flush_interval_ms: int = DEFAULT_FLUSH_MS,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        super().__init__(parent)
        self._interval = flush_interval_ms
        self.max_batch = max_batch
        self._seconds_per_record = 0.0  # measured over the timer's slices
        self._rows: list[R] = []  # storage order (ascending order key when ordered)
        self._row_of: dict[Hashable, int] = {}  # key -> storage index
        self._order: list[Any] = []  # order keys, parallel to _rows (ordered models only)
        self._reversed = self.order_key is not None
        self._pending: dict[Hashable, R] = {}
        #: key -> (record, its texts) formatted off the GUI thread, until a view takes them
        self._kept_texts: dict[Hashable, tuple[R, list[str]]] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(flush_interval_ms)
        self._timer.timeout.connect(self._on_flush_timer)
        self._rows_flushed_signal = QMetaMethod.fromSignal(self.rows_flushed)
        mutable = [i for i, c in enumerate(self.columns) if c.mutable]
        self._first_mutable = mutable[0] if mutable else 0
        self._last_mutable = mutable[-1] if mutable else max(0, len(self.columns) - 1)
        self._column_count = len(self.columns)
        self._fmt = [c.fmt for c in self.columns]
        self._value = [c.value for c in self.columns]
        self._align = [int(c.align) for c in self.columns]
        self._sort = [c.sort if c.sort is not None else _sorted_by(c.value) for c in self.columns]
        self._role_getters: list[dict[int, Callable[[R], Any]]] = []
        for i, c in enumerate(self.columns):
            getters: dict[int, Callable[[R], Any]] = {
                SortKeyRole: self._sort[i],
                ALIGNMENT: _always(self._align[i]),
                RecordRole: (lambda r: r),
            }
            for role, fn in ((FOREGROUND, c.foreground), (BACKGROUND, c.background)):
                if fn is not None:
                    getters[role] = fn
            if c.tooltip is not None:  # a cell's tooltip holds what the broker said, a name typed: as written
                getters[TOOLTIP] = _plain_tooltip_of(c.tooltip)
            self._role_getters.append(getters)
        #: (format, value, alignment, foreground, background) per column, for RecordTableView.
        self._paint_columns = tuple((c.fmt, c.value, int(c.align), c.foreground, c.background) for c in self.columns)
        self._elide_modes = tuple(c.elide for c in self.columns)
        #: columns whose format was set for the rows (``set_column_format``): texts of them
        #: formatted elsewhere may be of an older format, and are formatted again when kept
        self._set_formats: set[int] = set()

    def set_column_format(self, column: int, fmt: Callable[[Any], str]) -> None:
        """Show ``column`` with ``fmt`` from now on (a format that depends on every row, such as
        the places a column of numbers shares: set before the rows it is for are shown)."""
        self._fmt[column] = fmt
        # texts formatted before (off the GUI thread too) are of the format replaced; a view
        # sees the new ``paint_columns`` and formats its rows again
        self._kept_texts = {}
        self._set_formats.add(column)
        painted = list(self._paint_columns)
        _old, value, align, foreground, background = painted[column]
        painted[column] = (fmt, value, align, foreground, background)
        self._paint_columns = tuple(painted)

    # -- to override -----------------------------------------------------------------------

    @staticmethod
    def key(record: R) -> Hashable:
        return record.id  # type: ignore[attr-defined]

    def records_from(self, change_set: Any) -> Iterable[R]:
        """The part of a ``ChangeSet`` this model shows."""
        return ()

    def _on_record_added(self, record: R) -> None:
        """Hook for running totals."""

    def _on_record_replaced(self, old: R, new: R) -> None:
        """Hook for running totals."""

    def _on_record_removed(self, record: R) -> None:
        """Hook for running totals."""

    def _on_reset(self) -> None:
        """Hook for running totals."""

    # -- writes (buffered) -----------------------------------------------------------------

    def upsert(self, records: Iterable[R]) -> None:
        pending = self._pending
        key = self.key
        for record in records:
            pending[key(record)] = record
        if pending and not self._timer.isActive():
            self._timer.start()

    def apply(self, change_set: Any) -> None:
        self.upsert(self.records_from(change_set))

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def _visible(self, storage_index: int) -> int:
        return len(self._rows) - 1 - storage_index if self._reversed else storage_index

    def slice_size(self) -> int:
        """How many buffered records a timer slice applies: what fits the time budget at the
        cost measured so far, within [MIN_SLICE, max_batch]."""
        if self._seconds_per_record <= 0:
            return min(self.max_batch, max(MIN_SLICE, 500))
        return max(min(MIN_SLICE, self.max_batch), min(self.max_batch, int(FLUSH_SLICE_BUDGET_S / self._seconds_per_record)))

    def _on_flush_timer(self) -> None:
        started = time.perf_counter()
        wait = min(SLICE_SPACING_S, CoalescingTableModel._last_slice_end + SLICE_SPACING_S - started)
        if wait > 0:
            # another model's slice is being painted in this frame: the next one
            self._timer.setInterval(max(1, ceil(wait * 1000)))
            self._timer.start()
            return
        self._timer.setInterval(self._interval)
        limit = self.slice_size()
        applied = min(limit, len(self._pending))
        self.flush(limit)
        ended = time.perf_counter()
        CoalescingTableModel._last_slice_end = ended
        if applied:
            cost = (ended - started) / applied
            # smoothed, but quick to follow a slower table (a filter that hides rows costs more)
            previous = self._seconds_per_record
            self._seconds_per_record = cost if previous <= 0 or cost > previous else 0.7 * previous + 0.3 * cost
        if self._pending:
            # The rest of a large buffer: the next slice right after pending events.
            self._timer.setInterval(0)
            self._timer.start()

    def flush(self, limit: int | None = None) -> tuple[int, int]:
        """Apply the buffer now (at most ``limit`` records, oldest first, when given);
        returns (updated rows, inserted rows)."""
        self._timer.stop()
        if not self._pending:
            return 0, 0
        if limit is None or len(self._pending) <= limit:
            pending, self._pending = self._pending, {}
        else:
            items = iter(self._pending.items())
            pending = dict(islice(items, limit))
            self._pending = dict(items)
        rows, row_of = self._rows, self._row_of
        changed: list[int] = []
        changed_keys: list[Hashable] = []  # the inserts below move the changed rows
        new: list[R] = []
        for key, record in pending.items():
            index = row_of.get(key)
            if index is None:
                new.append(record)
            else:
                old = rows[index]
                if old is record or old == record:
                    continue
                rows[index] = record
                self._on_record_replaced(old, record)
                changed.append(index)
                changed_keys.append(key)
        if changed:
            visible = sorted(self._visible(i) for i in changed)
            start = prev = visible[0]
            for row in visible[1:]:
                if row != prev + 1:
                    self._emit_changed(start, prev)
                    start = row
                prev = row
            self._emit_changed(start, prev)
        if new:
            if self._reversed:
                self._insert_ordered(new)
            else:
                first = len(rows)
                self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
                key = self.key
                for offset, record in enumerate(new):
                    row_of[key(record)] = first + offset
                    rows.append(record)
                    self._on_record_added(record)
                self.endInsertRows()
        # the rows named where the inserts left them (new rows at the top move every row down, an
        # older record's those below it); built only for a table whose view listens (the blotter's)
        if (changed or new) and self.isSignalConnected(self._rows_flushed_signal):
            key, shown_row = self.key, self._visible
            self.rows_flushed.emit([shown_row(row_of[k]) for k in changed_keys] + [shown_row(row_of[key(r)]) for r in new])
        if changed or new:
            self.flushed.emit(len(changed), len(new))
        return len(changed), len(new)

    def _insert_ordered(self, new: list[R]) -> None:
        order_key, key = self.order_key, self.key
        assert order_key is not None  # only ordered models insert in order
        rows, order, row_of = self._rows, self._order, self._row_of
        new.sort(key=order_key)  # stable: equal keys keep their arrival order
        newest = order[-1] if order else None
        cut = 0
        if newest is not None:
            # Records older than the newest shown go to their place one by one (rare).
            while cut < len(new) and order_key(new[cut]) < newest:
                record = new[cut]
                k = order_key(record)
                index = bisect_right(order, k)
                visible = len(rows) - index
                self.beginInsertRows(QModelIndex(), visible, visible)
                rows.insert(index, record)
                order.insert(index, k)
                for i in range(index, len(rows)):
                    row_of[key(rows[i])] = i
                self._on_record_added(record)
                self.endInsertRows()
                cut += 1
        tail = new[cut:]
        if tail:
            # The newest records: one batch, at the top.
            self.beginInsertRows(QModelIndex(), 0, len(tail) - 1)
            for record in tail:
                row_of[key(record)] = len(rows)
                rows.append(record)
                order.append(order_key(record))
                self._on_record_added(record)
            self.endInsertRows()

    def _emit_changed(self, first: int, last: int) -> None:
        self.dataChanged.emit(
            self.index(first, self._first_mutable), self.index(last, self._last_mutable), []
        )

    def reset(self, records: Iterable[R] = ()) -> None:
        """Replace everything (a panel showing a new selection); drops the buffer too."""
        self._timer.stop()
        self.beginResetModel()
        self._pending = {}
        self._kept_texts = {}
        self._on_reset()
        latest: dict[Hashable, R] = {}
        key = self.key
        for record in records:
            latest[key(record)] = record
        ordered = list(latest.values())
        order_key = self.order_key
        if order_key is not None:
            ordered.sort(key=order_key)
        self._rows = ordered
        self._row_of = {key(r): i for i, r in enumerate(ordered)}
        self._order = [order_key(r) for r in ordered] if order_key is not None else []
        for record in ordered:
            self._on_record_added(record)
        self.endResetModel()

    def clear(self) -> None:
        self.reset(())

    # -- reads -----------------------------------------------------------------------------

    def record_at(self, row: int) -> R:
        """The record shown at (visible) ``row``."""
        return self._rows[len(self._rows) - 1 - row if self._reversed else row]

    def records(self) -> list[R]:
        """Every record, in the order shown."""
        return self._rows[::-1] if self._reversed else list(self._rows)

    def row_of(self, key: Hashable) -> int | None:
        index = self._row_of.get(key)
        return None if index is None else self._visible(index)

    def get(self, key: Hashable) -> R | None:
        index = self._row_of.get(key)
        return None if index is None else self._rows[index]

    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:
        # Qt's own index() asks rowCount() and columnCount() (two Python calls) for every index
        # a proxy maps, several per painted cell; one call is enough.
        if 0 <= row < len(self._rows) and 0 <= column < self._column_count and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._column_count

    def paint_columns(self) -> tuple[tuple[Callable[[Any], str], Callable[[R], Any], int,
                                           Callable[[R], QColor | None] | None,
                                           Callable[[R], QColor | None] | None], ...]:
        """What a painter needs per column: (format, value, alignment flags, foreground,
        background); ``format(value(record))`` is the display text, as in ``data()``."""
        return self._paint_columns

    def elide_modes(self) -> tuple[Qt.TextElideMode, ...]:
        """Where each column cuts a text wider than its cell (``Column.elide``)."""
        return self._elide_modes

    def format_row(self, record: R) -> list[str]:
        """The display text of each column of ``record``. A function of the record and the
        columns alone (no Qt, no model state), so a worker thread may call it: the history
        pager formats a page where it reads it, off the GUI thread (``keep_texts``)."""
        return [fmt(value(record)) for fmt, value, *_colours in self._paint_columns]

    def keep_texts(self, records: Iterable[R], texts: Iterable[list[str]]) -> None:
        """Texts formatted elsewhere (``format_row``) for records about to be shown: the view
        takes them (``take_texts``) when it first paints the record instead of formatting on
        the GUI thread (issue 15: a screen of new rows formatted 400 cells in the frame)."""
        if self.texts_follow_records:
            key, kept = self.key, self._kept_texts
            records, texts = list(records), list(texts)
            for column in self._set_formats:  # a worker formatted them at the format of then
                fmt, value = self._fmt[column], self._value[column]
                for record, row in zip(records, texts, strict=True):
                    row[column] = fmt(value(record))  # the lists are handed over: set in place
            kept.update((key(r), (r, t)) for r, t in zip(records, texts, strict=True))
            # rows never painted (scrolled past, filtered out) would keep theirs: the oldest go
            for stale in list(islice(kept, max(0, len(kept) - KEPT_TEXTS_LIMIT))):
                del kept[stale]

    def take_texts(self, record: R) -> list[str] | None:
        """The texts kept for this very record (None: none, or kept for another revision);
        handed over once (the view keeps them while the row is in sight)."""
        if not self._kept_texts:
            return None
        kept = self._kept_texts.pop(self.key(record), None)
        return kept[1] if kept is not None and kept[0] is record else None

    def display_text(self, row: int, column: int) -> str:
        return self._fmt[column](self._value[column](self.record_at(row)))

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY) -> Any:
        # Hot path (every painted cell asks ~7 roles): plain ints, one dict lookup per role.
        row = index.row()
        n = len(self._rows)
        if not 0 <= row < n:
            return None
        column = index.column()
        if role == DISPLAY:
            record = self._rows[n - 1 - row if self._reversed else row]
            return self._fmt[column](self._value[column](record))
        getter = self._role_getters[column].get(role) if 0 <= column < len(self._role_getters) else None
        if getter is None:
            return None
        return getter(self._rows[n - 1 - row if self._reversed else row])

    def multiData(self, index: QModelIndex | QPersistentModelIndex, span: QModelRoleDataSpan | QModelRoleData) -> None:
        """Every role a delegate asks for one cell, in ONE call from Qt (a painted cell asks 7
        roles; through ``data()`` each is a separate C++ -> Python call)."""
        row = index.row()
        n = len(self._rows)
        if 0 <= row < n:
            self.fill_roles(self._rows[n - 1 - row if self._reversed else row], index.column(), span)

    def fill_roles(self, record: R, column: int, span: Any) -> None:
        """The roles of ``span`` for ``record``'s cell in ``column`` (proxies call this with the
        record they already hold). Every role is written: Qt's delegate reuses one span for all
        cells, so a role left alone would keep the previous cell's value (its colour)."""
        if not 0 <= column < self._column_count:
            for item in span:
                item.clearData()
            return
        getters = self._role_getters[column]
        for item in span:
            role = item.role()
            if role == DISPLAY:
                item.setData(self._fmt[column](self._value[column](record)))
            else:
                getter = getters.get(role)
                if getter is None:
                    item.clearData()
                else:
                    value = getter(record)
                    if value is None:
                        item.clearData()
                    else:
                        item.setData(value)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            if role == DISPLAY:
                return self.columns[section].title
            if role == ALIGNMENT:
                return self._align[section]
            if role == TOOLTIP:
                return self.columns[section].header_tooltip
        if orientation == Qt.Orientation.Vertical and role == DISPLAY:
            return section + 1
        return None

    _FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        return self._FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    # -- export ----------------------------------------------------------------------------

    def csv_header(self) -> list[str]:
        return [c.title for c in self.columns]

    def csv_row(self, row: int) -> list[str]:
        record = self.record_at(row)
        return [c.export(record) if c.export else csv_value(c.value(record)) for c in self.columns]
