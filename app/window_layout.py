"""The window's layout, kept apart from the user's settings file: dock arrangement, each table's
columns (order, width, hidden ones), named layouts to switch between, the blotter's filters and
the small UI preferences (the activity sound). One QSettings INI file (``ui-state.ini`` in the
data folder); without a file (screenshots, most tests) nothing is read or written.

Also what makes the window fit a laptop screen: panel minimums frozen at their empty size (so
data arriving never widens a panel or the window's minimum) and the compact default arrangement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStackedWidget, QTableView, QTreeView, QWidget

from widgets.common import chosen_widths, restore_columns

if TYPE_CHECKING:
    from app.main_window import MainWindow

LAYOUT_VERSION = 1
#: Below this available screen size the default layout tabs the docks that share an area.
COMPACT_BELOW = QSize(1500, 950)
#: Below this available screen height a compact layout has one strip of panels above the blotter,
#: not one above and one below. Two strips, the preview's form above and a readable Decisions
#: below, left the blotter between them one and a half rows of orders at 1024x640, two at
#: 1280x720, two and a half at 1366x768, four at 1536x864 less a taskbar; from 1440x900 less a
#: taskbar (860) they leave six, and such screens keep them (1440x900 with a taskbar up to 50 px).
SHORT_BELOW = 850
#: A panel's minimum is its empty minimum, but never more than this: the window's minimum then
#: fits 1366x768 with every default dock shown (what does not fit scrolls or is clipped).
PANEL_MINIMUM_CAP = QSize(300, 120)
MAX_LAYOUT_NAME = 60


class LayoutError(ValueError):
    """A layout name the user can correct."""


def is_compact_screen(window: QWidget) -> bool:
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return False
    available = screen.availableGeometry().size()
    return available.width() < COMPACT_BELOW.width() or available.height() < COMPACT_BELOW.height()


def default_window_size(window: QWidget, preferred: QSize) -> QSize:
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return preferred
    return preferred.boundedTo(screen.availableGeometry().size())


def freeze_minimum(widget: QWidget, cap: QSize = PANEL_MINIMUM_CAP) -> None:
    """Fix a panel's minimum at its empty minimum (capped): an explicit minimum is what the dock
    layout uses, so a label that grows with the data never pushes the panel wider."""
    hint = widget.minimumSizeHint()
    widget.setMinimumSize(hint.boundedTo(cap).expandedTo(QSize(80, 60)))


def _item_views(widget: QWidget) -> Iterator[QAbstractItemView]:
    """The item views under ``widget``, depth first as ``findChildren`` walks them, but a stack's
    pages (a tab widget's) in one order whichever is shown: showing a tab raises its page, which
    moves it to the end of its parent's children, so findChildren's order (and the keys made from
    it) changed with the tab last shown, and a table got the saved columns of the other tab's.
    The order is the one findChildren gave with the first tab shown (as a panel opens), the first
    page last, so the arrangements saved that way keep their columns."""
    children = [c for c in widget.children() if isinstance(c, QWidget)]
    if isinstance(widget, QStackedWidget):
        pages = sorted((c for c in children if widget.indexOf(c) >= 0), key=widget.indexOf)
        children = [c for c in children if widget.indexOf(c) < 0] + pages[1:] + pages[:1]
    for child in children:
        if isinstance(child, QAbstractItemView):
            yield child
        yield from _item_views(child)


def _headers(widget: QWidget) -> list[tuple[QAbstractItemView, QHeaderView]]:
    views: list[tuple[QAbstractItemView, QHeaderView]] = []
    for view in _item_views(widget):
        if isinstance(view, QTableView):
            views.append((view, view.horizontalHeader()))
        elif isinstance(view, QTreeView):
            views.append((view, view.header()))
    return views


def window_tables(window: MainWindow) -> dict[str, tuple[QAbstractItemView, QHeaderView]]:
    """Every table of the window by a stable key: its panel's name and its place in the panel."""
    panels: dict[str, QWidget] = {"blotter": window.blotter_view}
    panels.update({name: dock.widget() for name, dock in window.docks.items()})
    tables: dict[str, tuple[QAbstractItemView, QHeaderView]] = {}
    for panel, widget in panels.items():
        for i, pair in enumerate(_headers(widget)):
            tables[f"{panel}.{i}"] = pair
    return tables


def _key(name: str) -> str:
    # Layout names are free text; QSettings keys treat "/" and "\" as separators.
    return name.encode("utf-8").hex()


class LayoutStore:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _settings(self) -> QSettings | None:
        if self.path is None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return QSettings(str(self.path), QSettings.Format.IniFormat)

    # -- the layout of the window as it was closed --------------------------------------------

    def save_current(self, window: MainWindow) -> None:
        store = self._settings()
        if store is None:
            return
        store.setValue("window/geometry", window.saveGeometry())
        self._write_arrangement(store, "window", window)
        store.setValue("blotter/filters", json.dumps(window.blotter_view.filter_state()))
        store.sync()

    def restore_current(self, window: MainWindow) -> bool:
        store = self._settings()
        if store is None:
            return False
        restored = False
        geometry = store.value("window/geometry")
        if isinstance(geometry, QByteArray):
            restored = window.restoreGeometry(geometry)
        restored = self._read_arrangement(store, "window", window) or restored
        filters = _json(store.value("blotter/filters"))
        if isinstance(filters, dict):
            window.blotter_view.restore_filter_state(filters)
        return restored

    # -- named layouts ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        store = self._settings()
        names = _json(store.value("layouts/names")) if store is not None else None
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    def save_named(self, window: MainWindow, name: str) -> str:
        name = name.strip()
        if not name:
            raise LayoutError("a layout needs a name")
        if len(name) > MAX_LAYOUT_NAME:
            raise LayoutError(f"a layout name has at most {MAX_LAYOUT_NAME} characters")
        store = self._settings()
        if store is None:
            raise LayoutError("this window keeps no layouts (no UI state file)")
        self._write_arrangement(store, f"layouts/{_key(name)}", window)
        names = self.names()
        if name not in names:
            store.setValue("layouts/names", json.dumps([*names, name]))
        store.setValue("window/layout_name", name)
        store.sync()
        return name

    def load_named(self, window: MainWindow, name: str) -> bool:
        store = self._settings()
        if store is None or name not in self.names():
            return False
        if not self._read_arrangement(store, f"layouts/{_key(name)}", window):
            return False
        store.setValue("window/layout_name", name)
        store.sync()
        return True

    def delete_named(self, name: str) -> None:
        store = self._settings()
        if store is None:
            return
        store.remove(f"layouts/{_key(name)}")
        store.setValue("layouts/names", json.dumps([n for n in self.names() if n != name]))
        if store.value("window/layout_name") == name:
            store.remove("window/layout_name")
        store.sync()

    def current_name(self) -> str | None:
        store = self._settings()
        value = store.value("window/layout_name") if store is not None else None
        return value if isinstance(value, str) and value else None

    # -- small preferences -------------------------------------------------------------------------

    def preference(self, key: str, default: Any = None) -> Any:
        store = self._settings()
        value = _json(store.value(f"preferences/{key}")) if store is not None else None
        return default if value is None else value

    def set_preference(self, key: str, value: Any) -> None:
        store = self._settings()
        if store is not None:
            store.setValue(f"preferences/{key}", json.dumps(value))
            store.sync()

    # -- one arrangement: docks and table columns -------------------------------------------------

    @staticmethod
    def _write_arrangement(store: QSettings, group: str, window: MainWindow) -> None:
        store.setValue(f"{group}/state", window.saveState(LAYOUT_VERSION))
        store.remove(f"{group}/tables")
        store.remove(f"{group}/chosen")
        for key, (view, header) in window_tables(window).items():
            store.setValue(f"{group}/tables/{key}", header.saveState())
            if chosen := chosen_widths(view):  # which of the widths the trader set (a tree that sizes its own)
                store.setValue(f"{group}/chosen/{key}", json.dumps(sorted(chosen)))

    @staticmethod
    def _read_arrangement(store: QSettings, group: str, window: MainWindow) -> bool:
        restored = False
        state = store.value(f"{group}/state")
        if isinstance(state, QByteArray):
            restored = window.restoreState(state, LAYOUT_VERSION)
        for key, (view, header) in window_tables(window).items():
            saved = store.value(f"{group}/tables/{key}")
            # a view that sizes its own columns (the positions tree) leaves the chosen: those dragged
            chosen = _json(store.value(f"{group}/chosen/{key}"))
            if isinstance(saved, QByteArray) and restore_columns(
                    view, header, saved, [c for c in chosen if isinstance(c, int)] if isinstance(chosen, list) else []):
                restored = True
        return restored


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None
