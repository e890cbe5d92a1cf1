"""The order preview's table at 1366x768: its columns fill the panel's width. Its figures were
sized to their content and its last column, the Weight, a figure, was not stretched (a figure
alone at the far edge reads as no part of its row): the table ended a third of the way short of
the panel's edge, an empty band at its right (seen under Xvfb after Preview in the demo)."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QSize, Qt

from tests.gui.test_panels import drafts
from widgets.models.preview import PreviewOrdersModel as P

FIGURES = (P.CURRENT, P.TARGET, P.QUANTITY, P.LIMIT, P.REFERENCE, P.NOTIONAL, P.WEIGHT)


def _preview(qtbot, qapp, monkeypatch, orders):
    from app.main_window import MainWindow

    monkeypatch.setattr("app.main_window.default_window_size", lambda _w, _preferred: QSize(1366, 768))
    window = MainWindow(mode="demo", compact=True)
    qtbot.addWidget(window)
    window.show()
    window.preview_model.reset(orders)
    window.preview_view.preview_requested.emit({})  # the Preview button: the preview in front
    for _ in range(3):  # the columns are sized to the set after it is painted
        qapp.processEvents()
    return window.preview_view.table


def _assert_fills_the_viewport(table) -> None:
    """The last column shown ends at the viewport's right edge: no empty band, nothing beyond."""
    header = table.horizontalHeader()
    last = header.logicalIndex(header.count() - 1)
    end = header.sectionViewportPosition(last) + header.sectionSize(last)
    assert end == table.viewport().width(), (end, table.viewport().width())


def test_at_1366x768_the_previews_columns_fill_its_width_the_figures_at_their_contents(qtbot, qapp, monkeypatch):
    orders = [replace(d, client_order_id=f"TCX4J39Q.1-{i}-B-{d.symbol}-7D6B0F") for i, d in enumerate(drafts(), 1)]
    table = _preview(qtbot, qapp, monkeypatch, orders)
    header, model = table.horizontalHeader(), table.model()
    assert not any(header.isSectionHidden(c) for c in range(header.count()))
    _assert_fills_the_viewport(table)
    titles = header.fontMetrics()
    for column in FIGURES:  # as wide as their title or their widest figure, no wider
        title = str(model.headerData(column, Qt.Orientation.Horizontal))
        needed = max(table.content_width(column, 200), titles.horizontalAdvance(title) + 18)
        assert header.sectionSize(column) <= needed, (title, header.sectionSize(column), needed)
    # the room left goes to the text last: each order's id, whole, as the blotter shows it once sent
    assert header.visualIndex(P.CLIENT_ID) == header.count() - 1
    for row, order in enumerate(orders):
        assert table.shown_text(row, P.CLIENT_ID) == order.client_order_id
        assert model.index(row, P.CLIENT_ID).data(Qt.ItemDataRole.ToolTipRole) == order.client_order_id


def test_a_layout_saved_before_the_previews_id_column_shows_it_last_taking_the_room(qtbot, qapp, monkeypatch, tmp_path):
    """A layout the console saved with the preview's ten columns (the Weight last): the column
    gained comes after it, in view, and takes the room left."""
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QStandardItemModel
    from PySide6.QtWidgets import QTableView

    from app.main_window import MainWindow

    old = QTableView()  # the preview's table as it was saved, a column moved as a trader may have
    old.setModel(QStandardItemModel(0, 10, old))
    old.horizontalHeader().moveSection(1, 2)
    state = tmp_path / "ui-state.ini"
    store = QSettings(str(state), QSettings.Format.IniFormat)
    store.setValue("window/tables/preview.0", old.horizontalHeader().saveState())
    store.sync()

    monkeypatch.setattr("app.main_window.default_window_size", lambda _w, _preferred: QSize(1366, 768))
    window = MainWindow(mode="demo", ui_state_file=state, compact=True)
    qtbot.addWidget(window)
    window.show()
    window.resize(1366, 768)  # (offscreen's 800 px screen narrows a restored window)
    window.preview_model.reset(drafts())
    window.preview_view.preview_requested.emit({})
    for _ in range(3):
        qapp.processEvents()
    table = window.preview_view.table
    header = table.horizontalHeader()
    assert not header.isSectionHidden(P.CLIENT_ID) and header.visualIndex(P.CLIENT_ID) == header.count() - 1
    _assert_fills_the_viewport(table)


def test_at_1366x768_the_empty_preview_has_nothing_to_scroll_sideways_to(qtbot, qapp, monkeypatch):
    """Before the first preview its eleven columns at Qt's 100 px ran 1,100 px in the table's
    1,011: a sideways scrollbar under an empty table (seen in a screenshot of the window). Each
    starts at its title's width, the id taking the room left."""
    table = _preview(qtbot, qapp, monkeypatch, [])
    header = table.horizontalHeader()
    assert header.length() <= table.viewport().width(), (header.length(), table.viewport().width())
    assert not table.horizontalScrollBar().isVisible()
    _assert_fills_the_viewport(table)
