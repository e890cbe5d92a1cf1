"""The activity log panel (every message of services.activity_log, filterable by level and text),
the transient notification for warnings and errors, and the optional sound on fills and rejects.

The panel shows entries it is given (``add``); the controller subscribes it to the one log, the
same log the status bar shows, so the two never disagree."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from services.activity_log import ActivityEntry, Category, Level

from ..common import COLUMNS_SIZED, make_table, plain_label
from ..models.base import CoalescingTableModel, Column, fmt_time

LEVEL_COLOURS = {Level.INFO: None, Level.WARNING: QColor("#d08a1c"), Level.ERROR: QColor("#d64545")}
#: Level filter choices: (label, levels shown).
LEVEL_CHOICES: tuple[tuple[str, frozenset[Level]], ...] = (
    ("All levels", frozenset(Level)),
    ("Warnings and errors", frozenset({Level.WARNING, Level.ERROR})),
    ("Errors", frozenset({Level.ERROR})),
)


class ActivityModel(CoalescingTableModel[ActivityEntry]):
    TIME, LEVEL, CATEGORY, MESSAGE = range(4)

    columns = (
        Column("Time", lambda e: e.time, fmt=lambda t: fmt_time(t)[11:], mutable=False, width=95),
        Column("Level", lambda e: e.level, mutable=False, width=75, foreground=lambda e: LEVEL_COLOURS[e.level]),
        Column("Kind", lambda e: e.category, mutable=False, width=55),
        Column("Message", lambda e: e.text, mutable=False, tooltip=lambda e: e.text),
    )
    order_key = staticmethod(lambda e: e.seq)  # newest first

    @staticmethod
    def key(record: ActivityEntry) -> Hashable:
        return record.seq


class ActivityFilterProxy(QSortFilterProxyModel):
    def __init__(self, source: ActivityModel, parent=None) -> None:
        super().__init__(parent)
        self._levels = LEVEL_CHOICES[0][1]
        self._needle = ""
        self._record = source.record_at
        self.setSourceModel(source)

    def set_levels(self, levels: Iterable[Level]) -> None:
        self.beginFilterChange()
        self._levels = frozenset(levels)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._needle = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def accepts(self, entry: ActivityEntry) -> bool:
        return entry.level in self._levels and (not self._needle or self._needle in entry.text.lower())

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        return self.accepts(self._record(source_row))

    def record_at(self, row: int) -> ActivityEntry:
        return self._record(self.mapToSource(self.index(row, 0)).row())


class ActivityView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ActivityModel(self)
        self.proxy = ActivityFilterProxy(self.model, self)
        self.level_combo = QComboBox()
        for label, _levels in LEVEL_CHOICES:
            self.level_combo.addItem(label)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Filter messages…")
        self.search_edit.setClearButtonEnabled(True)
        self.table = make_table(self.proxy, self, widths=[c.width for c in self.model.columns])
        # The declared widths already fit every level; sizing to the first (info) rows would cut
        # the word "warning" later.
        self.table.setProperty(COLUMNS_SIZED, True)
        bar = QHBoxLayout()
        bar.addWidget(self.level_combo)
        bar.addWidget(self.search_edit, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.level_combo.currentIndexChanged.connect(lambda i: self.proxy.set_levels(LEVEL_CHOICES[i][1]))
        self.search_edit.textChanged.connect(self.proxy.set_text)

    def add(self, entry: ActivityEntry) -> None:
        self.model.upsert((entry,))

    def visible_entries(self) -> list[ActivityEntry]:
        self.model.flush()
        return [self.proxy.record_at(r) for r in range(self.proxy.rowCount())]

    def set_level_filter(self, index: int) -> None:
        self.level_combo.setCurrentIndex(index)

    def set_text_filter(self, text: str) -> None:
        self.search_edit.setText(text)


class Toast(QFrame):
    """A transient notification in the bottom-right corner of its parent window: it never takes
    the focus or blocks, disappears by itself, and a click dismisses it."""

    SHOWN_MS = 6_000
    WIDTH = 440

    def __init__(self, parent: QWidget) -> None:
        # A window of its own (tool-tip kind: on top, never activated), so no dock raised later
        # covers it; owned by the main window, deleted with it.
        super().__init__(parent, Qt.WindowType.ToolTip | Qt.WindowType.FramelessWindowHint)
        self.setObjectName("toast")
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.label = plain_label("", self)
        self.label.setWordWrap(True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(12, 8, 12, 8)
        self._layout.addWidget(self.label)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self._stacked = 0
        self.hide()

    def show_entry(self, entry: ActivityEntry) -> None:
        # Several at once (a burst of rejects): the newest text and how many came before it.
        self._stacked = self._stacked + 1 if self.isVisible() else 1
        colour = LEVEL_COLOURS[entry.level] or QColor("#4f8fd6")
        self.setStyleSheet(f"QFrame#toast {{ background: #20242b; border: 2px solid {colour.name()};"
                           f" border-radius: 6px; }} QFrame#toast QLabel {{ color: #f0f0f0; }}")
        more = f"  (+{self._stacked - 1} more in the activity log)" if self._stacked > 1 else ""
        self.label.setText(f"{entry.level.value.upper()}: {entry.text}{more}")
        width = min(self.WIDTH, max(160, (self.parentWidget() or self).width() - 32))
        self.setFixedWidth(width)
        margins = self._layout.contentsMargins()
        text_height = self.label.heightForWidth(width - margins.left() - margins.right() - 4)
        self.setFixedHeight(max(text_height, self.label.sizeHint().height()) + margins.top() + margins.bottom() + 4)
        self._place()
        self.show()
        self.raise_()
        self._timer.start(self.SHOWN_MS)

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        margin = 16
        bottom = parent.height() - margin - 24  # above the status bar
        corner = QPoint(max(0, parent.width() - self.width() - margin), max(0, bottom - self.height()))
        self.move(parent.mapToGlobal(corner))

    def mousePressEvent(self, event) -> None:
        self._timer.stop()
        self.hide()


class ActivitySound:
    """A short sound on fills and rejects, off unless switched on; at most one per ``gap_s`` so
    a burst of fills is one sound, not a hundred."""

    def __init__(self, *, beep: Callable[[], Any] = QApplication.beep, gap_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = False
        self._beep = beep
        self._gap = gap_s
        self._clock = clock
        self._last: float | None = None

    def on_entry(self, entry: ActivityEntry) -> bool:
        """True when it sounded."""
        if not self.enabled or entry.category not in (Category.FILL, Category.REJECT):
            return False
        now = self._clock()
        if self._last is not None and now - self._last < self._gap:
            return False
        self._last = now
        self._beep()
        return True
