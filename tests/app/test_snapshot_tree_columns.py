"""The Snapshots panel's project tree on a laptop: each snapshot's name, item count and import
time in view without scrolling sideways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from PySide6.QtCore import QSize, Qt

T0 = datetime(2026, 11, 20, 6, 43, tzinfo=UTC)
LONG_NAME = "momentum_rebalance_" + "large_cap_us_equities_" * 4 + "2026-11-22.csv"


def _snapshot(snapshot_id: int, name: str, days: int) -> SimpleNamespace:
    return SimpleNamespace(id=snapshot_id, project_id=1, source_name=name, item_count=12,
                           created_at=T0 + timedelta(days=days))


def _shown(window, qapp):
    window.docks["snapshots"].raise_()  # its tab clicked
    for _ in range(3):
        qapp.processEvents()
    return window.snapshots_view


def _assert_counts_and_times_whole(tree) -> None:
    header = tree.header()
    for column in (1, 2):
        needed = max(tree.sizeHintForColumn(column), header.sectionSizeHint(column))
        assert header.sectionSize(column) >= needed, (column, header.sectionSize(column), needed)
    assert header.sectionPosition(2) + header.sectionSize(2) <= tree.viewport().width()
    assert tree.horizontalScrollBar().maximum() == 0  # nothing a scroll away


def test_at_1366x768_the_snapshot_tree_shows_name_count_and_import_time(qtbot, qapp, monkeypatch):
    """Walked under Xvfb at 1366x768: the tree kept 255 px of a 1360 px panel, its name column
    fixed at 220 px; "Items" read "Item", the count was half hidden, "Imported" out of sight
    behind a horizontal scrollbar, while the items table beside it left 600 px empty."""
    from tests.app.test_window_layout import _window

    monkeypatch.setattr("app.main_window.default_window_size", lambda _w, _preferred: QSize(1366, 768 - 40))
    window = _window(qtbot, compact=True)
    view = _shown(window, qapp)
    tree = view.tree
    projects = [SimpleNamespace(id=1, name="Demo momentum")]
    # newest first, as the services list them (console_queries.snapshot_recency): the view keeps the order
    view.set_projects(projects, [_snapshot(2, "momentum_2026-11-21.json", 1), _snapshot(1, "momentum_2026-11-20.csv", 0)])
    qapp.processEvents()
    _assert_counts_and_times_whole(tree)
    assert tree.header().sectionSize(0) >= tree.sizeHintForColumn(0)  # the names whole too

    view.set_projects(projects, [_snapshot(3, LONG_NAME, 2), _snapshot(1, "momentum_2026-11-20.csv", 0)])
    qapp.processEvents()
    _assert_counts_and_times_whole(tree)
    assert view.splitter.sizes()[0] <= view.splitter.width() * 2 // 5  # the items keep most of the panel
    long_item = tree.topLevelItem(0).child(0)
    assert long_item.text(0) == LONG_NAME and long_item.toolTip(0) == LONG_NAME
    assert tree.header().sectionSize(0) < tree.sizeHintForColumn(0)  # too long: shown elided...
    assert tree.textElideMode() == Qt.TextElideMode.ElideMiddle  # ...keeping its start and its date


def test_the_width_a_trader_drags_the_snapshot_tree_to_stays(qtbot, qapp, monkeypatch):
    from tests.app.test_window_layout import _window

    monkeypatch.setattr("app.main_window.default_window_size", lambda _w, _preferred: QSize(1366, 768 - 40))
    window = _window(qtbot, compact=True)
    view = _shown(window, qapp)
    projects = [SimpleNamespace(id=1, name="Demo momentum")]
    view.set_projects(projects, [_snapshot(1, "momentum_2026-11-20.csv", 0)])
    qapp.processEvents()
    handle = view.splitter.handle(1)
    dragged_to = view.splitter.sizes()[0] + 150
    with qtbot.waitSignal(view.splitter.splitterMoved):
        qtbot.mousePress(handle, Qt.MouseButton.LeftButton)
        qtbot.mouseMove(handle, handle.rect().center() + type(handle.pos())(150, 0))
        qtbot.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=handle.rect().center() + type(handle.pos())(150, 0))
    assert abs(view.splitter.sizes()[0] - dragged_to) <= 2
    view.set_projects(projects, [_snapshot(1, "momentum_2026-11-20.csv", 0), _snapshot(2, LONG_NAME, 1)])
    qapp.processEvents()
    assert abs(view.splitter.sizes()[0] - dragged_to) <= 2  # new snapshots listed: the trader's width kept
