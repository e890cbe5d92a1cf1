"""A QTableView that paints rows of a CoalescingTableModel itself, in one Python pass.

Why (issue 15, measured by benchmarks/blotter_stream.py and history_scroll.py): Qt's own
painting of a 1400 x 700 blotter (about 32 rows x 11 columns) cost 24-48 ms of GUI-thread CPU
on the project's machine: per cell, QStyledItemDelegate calls the model once through the
binding (7 roles), then the style lays the text out with QTextLayout and measures it for
elision. Two such repaints in one event-loop turn (the blotter and the fills after a flush, or
one screen of scrolling) were the whole of the longest GUI stall. Painting here asks the model
for each visible row's record once, formats its cells in Python and draws each text as a
QStaticText laid out once and kept (rows move down as new ones arrive: the same texts are drawn
again): 2.4-4.5 ms, a screen of new rows 4.4-9.3 ms, instead of Qt's 24-48 ms (see the README's
benchmark rows).

What Qt's painting did that this keeps: alternating rows, the selected rows in the palette's
highlight colours (inactive and disabled groups too), the models' foreground and background
colours, left/centre/right alignment, right elision of a text wider than its cell, the grid,
hidden and moved columns, partial repaints (only the rows and columns inside the repainted
rectangle). What it leaves out: the focus rectangle around the
current cell (rows are selected whole; the selection shows where the keyboard is), spans,
word wrap and rows of different heights (make_table fixes the height). Any other model, or a
table that uses those, is painted by QTableView as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from math import ceil

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPaintEvent,
    QPalette,
    QStaticText,
    QTransform,
)
from PySide6.QtWidgets import QHeaderView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QTableView

from .models.base import CoalescingTableModel

#: Distinct texts kept laid out (QStaticText: drawing one again costs about half a drawText);
#: times and ids are unique per row, so the oldest are dropped beyond this many.
PREPARED_TEXTS_LIMIT = 10_000
#: Records whose cells' texts are kept between repaints (a few screens).
TEXTS_KEPT_LIMIT = 2_000
IDENTITY = QTransform()
PLACE_LEFT, PLACE_RIGHT, PLACE_CENTRE = "left", "right", "centre"
HORIZONTAL = int(Qt.AlignmentFlag.AlignHorizontal_Mask)
RIGHT = int(Qt.AlignmentFlag.AlignRight)
CENTRE = int(Qt.AlignmentFlag.AlignHCenter)
#: Sizing a column to its content measures its longest few texts only (a proportional font can
#: make a shorter text wider, but not by much among values of one kind).
MEASURED_PER_COLUMN = 8


class RecordTableView(QTableView):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        # oldest first, for eviction one entry at a time
        self._prepared: OrderedDict[str, tuple[QStaticText, int]] = OrderedDict()  # text -> (glyphs, width)
        self._texts: OrderedDict[int, tuple[object, list[str]]] = OrderedDict()  # id(record) -> (record, texts)
        self._cells: object = None  # the ``paint_columns`` those texts were formatted with
        self._metrics: QFontMetrics | None = None
        self._margin = self.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self) + 1

    def setModel(self, model) -> None:
        super().setModel(model)
        self._elide_as_the_columns_say()

    def _elide_as_the_columns_say(self) -> None:
        """Qt's delegate cuts every text at the right (the view's one ``textElideMode``); a
        column that cuts elsewhere (the blotter's client order id, at the left: ``Column.elide``)
        gets a delegate that cuts as it says, so a row Qt paints (``_record_source`` None: a
        hidden row, word wrap, rows of their own heights) reads as the rows painted here."""
        found = self._record_source_model()
        for column in range(self.model().columnCount() if self.model() is not None else 0):
            self.setItemDelegateForColumn(column, None)  # type: ignore[arg-type]
        if found is None:
            return
        for column, mode in enumerate(found.elide_modes()):
            if mode != self.textElideMode():
                self.setItemDelegateForColumn(column, _ElidingDelegate(mode, self))

    def _record_source_model(self) -> CoalescingTableModel | None:
        model = self.model()
        if isinstance(model, QSortFilterProxyModel):
            model = model.sourceModel()
        return model if isinstance(model, CoalescingTableModel) else None

    # -- what can be painted here -----------------------------------------------------------

    def _record_source(self) -> tuple[CoalescingTableModel, QSortFilterProxyModel | None] | None:
        """The coalescing model behind the view and the proxy in between (if any), or None when
        Qt must paint (another model, rows of their own heights, hidden rows)."""
        model = self.model()
        proxy = None
        if isinstance(model, QSortFilterProxyModel):
            proxy, model = model, model.sourceModel()
        if not isinstance(model, CoalescingTableModel) or self.wordWrap():
            return None
        rows = self.verticalHeader()
        if rows.sectionResizeMode(0) != QHeaderView.ResizeMode.Fixed or rows.hiddenSectionCount():
            return None
        return model, proxy

    # -- painting ---------------------------------------------------------------------------

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        self._metrics = None  # a font or style change: texts laid out again
        self._prepared.clear()
        self._texts.clear()

    def paintEvent(self, event: QPaintEvent) -> None:
        found = self._record_source()
        if found is None:
            super().paintEvent(event)
            return
        source, proxy = found
        count = self.model().rowCount()
        rect = event.rect()
        rows = self.verticalHeader()
        first = rows.visualIndexAt(rect.top())
        if count == 0 or first < 0:
            return
        height = rows.defaultSectionSize()
        top = rows.sectionViewportPosition(first)
        last = min(count - 1, first + (rect.bottom() - top) // height)
        columns = self._columns_in(rect.left(), rect.right())
        if not columns:
            return
        if proxy is None:
            records = [source.record_at(row) for row in range(first, last + 1)]
        else:
            map_to_source, index = proxy.mapToSource, proxy.index
            records = [source.record_at(map_to_source(index(row, 0)).row()) for row in range(first, last + 1)]
        painter = QPainter(self.viewport())
        try:
            self._paint_rows(painter, source, records, first, top, height, columns)
        finally:
            painter.end()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if dx:
            # Qt moves the painted pixels sideways and paints the strip uncovered only; the column
            # that was cut at the right edge (its texts laid out in the part then in view) is
            # painted again where it now shows whole
            self.viewport().update()

    def _columns_in(self, left: int, right: int) -> list[tuple[int, int, int]]:
        """(logical column, x, width) of the visible columns that meet [left, right], in the order
        shown (columns can be moved and hidden)."""
        header = self.horizontalHeader()
        found = []
        for visual in range(header.count()):
            logical = header.logicalIndex(visual)
            if header.isSectionHidden(logical):
                continue
            x, width = header.sectionViewportPosition(logical), header.sectionSize(logical)
            if width > 0 and x + width > left and x <= right:
                found.append((logical, x, width))
        return found

    def _paint_rows(self, painter: QPainter, source: CoalescingTableModel, records: list, first: int, top: int,
                    height: int, columns: list[tuple[int, int, int]]) -> None:
        palette = self.palette()
        group = (QPalette.ColorGroup.Disabled if not self.isEnabled() else
                 QPalette.ColorGroup.Active if self.isActiveWindow() else QPalette.ColorGroup.Inactive)
        base, alternate = palette.brush(group, QPalette.ColorRole.Base), palette.brush(group, QPalette.ColorRole.AlternateBase)
        highlight = palette.brush(group, QPalette.ColorRole.Highlight)
        text_colour = palette.color(group, QPalette.ColorRole.Text)
        highlighted_text = palette.color(group, QPalette.ColorRole.HighlightedText)
        alternating = self.alternatingRowColors()
        grid = self.showGrid()
        inset = 1 if grid else 0  # the grid takes each cell's last pixel column and row
        selection: QItemSelectionModel | None = self.selectionModel()
        if selection is not None and not selection.hasSelection():
            selection = None
        root = QModelIndex()
        metrics = self._metrics or QFontMetrics(self.font())
        self._metrics = metrics
        prepared, margin = self._prepared, self._margin
        text_top = (height - (1 if self.showGrid() else 0) - metrics.height()) // 2
        cells = source.paint_columns()
        texts_of = self._texts
        take_texts = source.take_texts
        if not source.texts_follow_records or cells is not self._cells:
            texts_of.clear()  # a column's format changed (``set_column_format``): its texts too
            self._cells = cells
        all_columns = range(len(cells))
        font = self.font()
        # what each painted column needs, worked out once per paint rather than per cell
        plan = []
        edge = self.viewport().width()
        elide_modes = source.elide_modes()
        for logical, x, width in columns:
            _fmt, _value, align, foreground, background = cells[logical]
            horizontal = align & HORIZONTAL
            placing = PLACE_RIGHT if horizontal == RIGHT else PLACE_CENTRE if horizontal == CENTRE else PLACE_LEFT
            room = self._text_room(x, width, edge)
            plan.append((logical, x, width, x + margin, room, placing, align, foreground, background,
                         elide_modes[logical]))
        left = columns[0][1]
        right = max(x + width for _, x, width in columns)
        y = top
        for offset, record in enumerate(records):
            row = first + offset
            selected = selection is not None and selection.isRowSelected(row, root)
            if selected:
                painter.fillRect(left, y, right - left, height, highlight)
            elif alternating and row & 1:
                painter.fillRect(left, y, right - left, height, alternate)
            else:
                painter.fillRect(left, y, right - left, height, base)
            default = highlighted_text if selected else text_colour
            pen: QColor | None = None
            kept = texts_of.get(id(record))
            if kept is None or kept[0] is not record:
                # formatted once per record revision (the record is kept with them, so its id
                # cannot be reused while they are), or already formatted off the GUI thread
                texts = take_texts(record)
                kept = texts_of[id(record)] = (record, texts if texts is not None else
                                               [cells[c][0](cells[c][1](record)) for c in all_columns])
                if len(texts_of) > TEXTS_KEPT_LIMIT:
                    texts_of.popitem(last=False)
            texts = kept[1]
            text_y = y + text_top
            for logical, x, width, text_x, room, placing, align, foreground, background, elide in plan:
                if background is not None and not selected:
                    fill = background(record)
                    if fill is not None:
                        painter.fillRect(x, y, width - inset, height - inset, fill)
                text = texts[logical]
                if not text:
                    continue
                colour = (foreground(record) if foreground is not None and not selected else None) or default
                if colour is not pen:
                    painter.setPen(colour)
                    pen = colour
                glyphs = prepared.get(text)
                if glyphs is None:
                    glyphs = prepared[text] = self._prepare(text, font)
                    if len(prepared) > PREPARED_TEXTS_LIMIT:
                        # the oldest one at a time: emptying 10,000 QStaticTexts at once took 40 ms
                        prepared.popitem(last=False)
                static, advance = glyphs
                if advance > room:
                    painter.drawText(text_x, y, room, height - inset, align, self.fitted_text(text, room, elide))
                elif placing is PLACE_LEFT:
                    painter.drawStaticText(text_x, text_y, static)
                elif placing is PLACE_RIGHT:
                    painter.drawStaticText(text_x + room - advance, text_y, static)
                else:
                    painter.drawStaticText(text_x + (room - advance) // 2, text_y, static)
            y += height
        if grid:
            self._paint_grid(painter, top, y, columns, height, left, right)

    def content_widths(self, sample_rows: int) -> list[int] | None:
        """Each column's width for the widest of its texts in the first ``sample_rows`` rows (as
        ``sizeHintForColumn``, without a delegate's size hint per cell: that took 100-200 ms on
        a full table), or None when Qt paints this model. Only the longest few distinct texts
        of a column are measured."""
        found = self._first_records(sample_rows)
        if found is None:
            return None
        source, records = found
        return [self._widest_text(records, fmt, value) for fmt, value, *_colours in source.paint_columns()]

    def content_width(self, column: int, sample_rows: int) -> int | None:
        """``content_widths`` of one column."""
        widths = self.content_widths_of((column,), sample_rows)
        return None if widths is None else widths[column]

    def content_widths_of(self, columns: Sequence[int], sample_rows: int) -> dict[int, int] | None:
        """``content_widths`` of some columns only, their rows read once."""
        found = self._first_records(sample_rows)
        if found is None:
            return None
        source, records = found
        return self._widths_of(source, records, columns)

    def content_widths_of_rows(self, columns: Sequence[int], rows: Sequence[int]) -> dict[int, int] | None:
        """``content_widths_of`` over the model's ``rows`` (numbered as its ``record_at`` does)
        that this view shows: the rows a flush changed or inserted (``rows_flushed``), what a
        stream's flushes can afford, where the first rows of the table cost the same at every
        flush whatever changed. A row the proxy's filter hides is not measured (not shown, it
        needs no room)."""
        found = self._record_source()
        if found is None:
            return None
        source, proxy = found
        record_at = source.record_at
        if proxy is None:
            records = [record_at(row) for row in rows]
        else:
            # the proxy's own test of a row (a flat table shows the rows it accepts): mapping each
            # row through it, a source index made per row, cost eight times the test (9 us a row)
            accepts, root = proxy.filterAcceptsRow, QModelIndex()
            records = [record_at(row) for row in rows if accepts(row, root)]
        return self._widths_of(source, records, columns)

    def _widths_of(self, source: CoalescingTableModel, records: list, columns: Sequence[int]) -> dict[int, int]:
        painted = source.paint_columns()
        return {column: self._widest_text(records, painted[column][0], painted[column][1]) for column in columns}

    def _first_records(self, sample_rows: int) -> tuple[CoalescingTableModel, list] | None:
        found = self._record_source()
        if found is None:
            return None
        source, proxy = found
        count = min(sample_rows, self.model().rowCount())
        if proxy is None:
            return source, [source.record_at(row) for row in range(count)]
        map_to_source, index = proxy.mapToSource, proxy.index
        return source, [source.record_at(map_to_source(index(row, 0)).row()) for row in range(count)]

    def _widest_text(self, records: list, fmt, value) -> int:
        texts = sorted({fmt(value(record)) for record in records}, key=len, reverse=True)[:MEASURED_PER_COLUMN]
        # measured as the paint lays them out (QStaticText's width): the font metrics' advance
        # came a few pixels short, and a column sized by it showed "ZZZZNOPE" as "ZZZZNO…"
        font, prepared = self.font(), self._prepared
        advances = [(prepared.get(text) or self._prepare(text, font))[1] for text in texts if text]
        return max(advances, default=0) + 2 * self._margin + (1 if self.showGrid() else 0)

    @staticmethod
    def _prepare(text: str, font: QFont) -> tuple[QStaticText, int]:
        # Laid out now for the view's font (drawing an unprepared one lays it out on the way,
        # at twice the cost); its width comes with the layout, without shaping the text again.
        static = QStaticText(text)
        static.setTextFormat(Qt.TextFormat.PlainText)
        static.prepare(IDENTITY, font)
        return static, ceil(static.size().width())

    def fitted_text(self, text: str, room: int, elide: Qt.TextElideMode = Qt.TextElideMode.ElideRight) -> str:
        """``text`` elided (on the right unless its column says otherwise) to fit ``room``
        pixels, as Qt's delegate shows it."""
        metrics = self._metrics or QFontMetrics(self.font())
        return metrics.elidedText(text, elide, room)

    def _text_room(self, x: int, width: int, edge: int) -> int:
        """The pixels a cell's text may take in a column at ``x`` (the viewport's) ``width`` wide.
        A column the viewport's right edge cuts (the table scrolls sideways) lays its texts out in
        the part in view: a figure placed at the column's hidden right edge lost its last digits
        there ("0.0" for "0.00" under the fills' vertical scrollbar at 1366x768), and read as
        another number; a text too long for that part is elided as any other."""
        inset = 1 if self.showGrid() else 0  # the grid takes each cell's last pixel column
        return min(width - inset, edge - x) - 2 * self._margin

    def shown_text(self, row: int, column: int) -> str:
        """The text painted in the cell at (``row``, ``column``) of the view's model as it is laid
        out now: elided as its column elides, to the part of the column in view."""
        index = self.model().index(row, column)
        text = str(index.data() or "")
        room = self._text_room(self.columnViewportPosition(column), self.columnWidth(column), self.viewport().width())
        found = self._record_source()
        elide = found[0].elide_modes()[column] if found is not None else self.textElideMode()
        advance = (self._prepared.get(text) or self._prepare(text, self.font()))[1]
        return text if advance <= room else self.fitted_text(text, room, elide)

    def _paint_grid(self, painter: QPainter, top: int, bottom: int, columns: list[tuple[int, int, int]],
                    height: int, left: int, right: int) -> None:
        option = QStyleOptionViewItem()
        option.initFrom(self)
        colour = QColor.fromRgba(self.style().styleHint(QStyle.StyleHint.SH_Table_GridLineColor, option, self)
                                 & 0xFFFFFFFF)
        # one-pixel rectangles: a seventh of drawLine's cost on the raster engine
        for _logical, x, width in columns:
            painter.fillRect(x + width - 1, top, 1, bottom - top, colour)
        for y in range(top + height - 1, bottom, height):
            painter.fillRect(left, y, right - left, 1, colour)


class _ElidingDelegate(QStyledItemDelegate):
    """Qt's delegate, cutting a text too wide for its cell where its column says."""

    def __init__(self, mode: Qt.TextElideMode, parent=None) -> None:
        super().__init__(parent)
        self._mode = mode

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex) -> None:  # type: ignore[override]
        super().initStyleOption(option, index)
        option.textElideMode = self._mode
