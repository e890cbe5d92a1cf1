"""The blotter's rows are painted by RecordTableView from the records, without a data() call per
cell; what it paints keeps Qt's colours (selection, the models' foregrounds, alternate rows); other
models are painted by Qt as before."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtGui import QColor, QImage, QStandardItem, QStandardItemModel

from services.domain import OrderState, Side
from tests.fixtures.menus import shown_text
from tests.gui.factories import order, replace
from tests.gui.showing import shown
from widgets.common import make_table
from widgets.models.orders import SIDE_COLOURS, STATUS_COLOURS, OrderBlotterModel
from widgets.models.proxy import BlotterFilterProxyModel
from widgets.record_table import RecordTableView


def _colours(image: QImage, top: int, bottom: int) -> set[int]:
    return {image.pixel(x, y) & 0xFFFFFF for y in range(top, bottom) for x in range(0, image.width(), 1)}


def _blotter(qtbot):
    model = OrderBlotterModel()
    model.reset([order(i, side=Side.SELL if i % 2 else Side.BUY,
                       status=OrderState.FILLED if i == 3 else OrderState.ACCEPTED) for i in range(1, 40)])
    proxy = BlotterFilterProxyModel(model)
    proxy.sort_newest_first()
    view = shown(qtbot, make_table(proxy), (900, 400))
    return model, proxy, view


def test_rows_are_painted_from_the_records_without_a_data_call_per_cell(qtbot, monkeypatch):
    model, proxy, view = _blotter(qtbot)
    assert isinstance(view, RecordTableView)
    asked: list[int] = []
    monkeypatch.setattr(model, "data", lambda index, role=0: asked.append(role))
    monkeypatch.setattr(model, "multiData", lambda index, span: asked.append(-1))
    monkeypatch.setattr(proxy, "multiData", lambda index, span: asked.append(-2))
    image = view.viewport().grab().toImage()
    assert asked == []
    height = view.rowHeight(0)
    row_colours = _colours(image, 0, height - 1)
    newest = proxy.record_at(0)
    assert SIDE_COLOURS[newest.side.value].rgb() & 0xFFFFFF in row_colours
    assert STATUS_COLOURS[newest.status].rgb() & 0xFFFFFF in row_colours


def test_the_selected_row_takes_the_highlight_and_rows_alternate(qtbot):
    _model, _proxy, view = _blotter(qtbot)
    view.setAlternatingRowColors(True)
    view.selectRow(2)
    image = view.viewport().grab().toImage()
    palette = view.palette()
    height = view.rowHeight(0)
    highlight = palette.highlight().color().rgb() & 0xFFFFFF
    assert highlight in _colours(image, 2 * height + 2, 2 * height + 4)
    assert highlight not in _colours(image, 1 * height + 2, 1 * height + 4)
    assert palette.alternateBase().color().rgb() & 0xFFFFFF in _colours(image, 1 * height + 2, 1 * height + 4)
    assert palette.base().color().rgb() & 0xFFFFFF in _colours(image, 2, 4)


def test_a_text_wider_than_its_column_is_elided_and_stays_in_its_cell(qtbot):
    _model, _proxy, view = _blotter(qtbot)
    view.setColumnWidth(OrderBlotterModel.CLIENT_ID, 40)
    narrow = view.viewport().grab().toImage()
    # nothing of the client id is painted beyond its cell (the next column starts with a grid line)
    x = view.columnViewportPosition(OrderBlotterModel.CLIENT_ID) + 40
    text = QColor(view.palette().text().color()).rgb() & 0xFFFFFF
    assert text not in {narrow.pixel(x + dx, y) & 0xFFFFFF for y in range(view.rowHeight(0)) for dx in range(3)}
    fitted = view.fitted_text("r1-AAPL-B-0001", 30)
    assert fitted.endswith("…") and view.fontMetrics().horizontalAdvance(fitted) <= 30


def test_another_model_is_painted_by_qt(qtbot):
    model = QStandardItemModel(3, 2)
    for row in range(3):
        for column in range(2):
            model.setItem(row, column, QStandardItem(f"{row},{column}"))
    view = shown(qtbot, make_table(model))
    assert isinstance(view, RecordTableView) and view._record_source() is None
    image = view.viewport().grab().toImage()
    assert QColor(view.palette().text().color()).rgb() & 0xFFFFFF in _colours(image, 0, view.rowHeight(0))


def test_columns_sized_to_content_as_qt_would_without_a_size_hint_per_cell(qtbot, monkeypatch):
    _model, _proxy, view = _blotter(qtbot)
    from widgets.common import size_columns_to_content

    size_columns_to_content(view)
    ours = [view.columnWidth(c) for c in range(OrderBlotterModel.RUN)]  # the last one stretches
    monkeypatch.setattr(view, "content_widths", lambda _rows: None)  # Qt's sizeHintForColumn instead
    size_columns_to_content(view)
    qt = [view.columnWidth(c) for c in range(OrderBlotterModel.RUN)]
    # within a pixel or two: Qt lays text out in fractional pixels and rounds the sum
    assert all(abs(a - b) <= 2 for a, b in zip(ours, qt, strict=True)), (ours, qt)


def test_a_replaced_record_is_painted_anew(qtbot):
    model, proxy, view = _blotter(qtbot)
    newest = proxy.record_at(0)
    assert newest.status is OrderState.ACCEPTED
    height = view.rowHeight(0)
    filled = STATUS_COLOURS[OrderState.FILLED].rgb() & 0xFFFFFF
    assert filled not in _colours(view.viewport().grab().toImage(), 0, height - 1)
    model.upsert([replace(newest, status=OrderState.FILLED)])
    model.flush()
    assert filled in _colours(view.viewport().grab().toImage(), 0, height - 1)


def test_texts_formatted_elsewhere_are_painted_once_and_only_for_their_own_revision(qtbot):
    # the history pager formats a page in its worker thread (model.format_row) and hands the
    # texts over with the page; the view paints those instead of formatting again
    model, proxy, view = _blotter(qtbot)
    newest = proxy.record_at(0)
    texts = model.format_row(newest)
    assert texts == [model.display_text(0, column) for column in range(model.columnCount())]
    marked = ["kept"] * len(texts)
    model.keep_texts([newest], [marked])
    assert model.take_texts(replace(newest, status=OrderState.FILLED)) is None  # another revision
    model.keep_texts([newest], [marked])
    view._texts.clear()  # the view formats on its next paint unless it is handed the texts
    view.viewport().grab()
    assert model.take_texts(newest) is None  # the paint took them
    assert view._texts[id(newest)][1] is marked


def test_texts_kept_for_rows_never_painted_are_bounded(qtbot, monkeypatch):
    import widgets.models.base as base

    monkeypatch.setattr(base, "KEPT_TEXTS_LIMIT", 10)
    model = OrderBlotterModel()
    records = [order(i) for i in range(1, 31)]
    model.keep_texts(records, [model.format_row(r) for r in records])
    assert len(model._kept_texts) == 10
    assert model.take_texts(records[0]) is None  # the oldest went first
    assert model.take_texts(records[-1]) == model.format_row(records[-1])


def test_a_watched_symbol_sized_before_its_first_quote_keeps_room_for_its_prices(qtbot):
    """The watchlist's columns are sized to content when its first row arrives, which is a symbol
    with no quote yet: Bid, Ask and % were sized to their titles and cut every price ("22...")."""
    from decimal import Decimal

    from services.domain import Quote
    from widgets.common import size_columns_to_content
    from widgets.models.quotes import QuotesModel
    from widgets.views.watchlist import WatchlistView

    model = QuotesModel()
    panel = shown(qtbot, WatchlistView(model), (450, 200))
    model.upsert([Quote("AAPL")])
    model.flush()
    size_columns_to_content(panel.table)  # what the first rows trigger
    model.upsert([Quote("AAPL", bid=Decimal("229.53"), ask=Decimal("229.55"), last=Decimal("229.54"),
                        close=Decimal("227.71"), volume=Decimal(1_234_567))])
    model.flush()
    metrics = panel.table.fontMetrics()
    record = model.record_at(0)
    for column in range(QuotesModel.VOLUME + 1):
        spec = model.columns[column]
        text = spec.fmt(spec.value(record))
        assert panel.table.columnWidth(column) >= metrics.horizontalAdvance(text) + 6, (spec.title, text)


def test_a_watchlist_row_says_in_a_word_why_it_has_no_quotes(qtbot, qtmodeltester):
    """A stream IB ended (354 not subscribed, 200 no such listing, ...) or refused for want of a
    line: the Data column says the word, its tooltip the whole reason."""
    from PySide6.QtCore import Qt

    from services.domain import Quote
    from widgets.models.quotes import QuotesModel

    model = QuotesModel()
    qtmodeltester.check(model)
    why = "AAPL: no quotes, not subscribed (IB error 354: Requested market data is not subscribed.)"
    model.upsert([Quote("AAPL", refused=why, refused_word="not subscribed"), Quote("MSFT", refused="MSFT: no line")])
    model.flush()
    rows = {model.record_at(row).key: row for row in range(model.rowCount())}
    assert model.display_text(rows["AAPL"], model.DATA) == "not subscribed"
    assert model.data(model.index(rows["AAPL"], model.DATA), Qt.ItemDataRole.ToolTipRole) == why
    assert model.display_text(rows["MSFT"], model.DATA) == "refused"  # no line left: as before


def test_the_last_column_shown_takes_the_room_left_only_when_it_is_text(qtbot):
    """The preview's last column (the weight) stretched over the room left and sat alone at the
    far edge, a gap away from the notional beside it. A text column last (the blotter's client
    order id, where the trader put it) takes that room: more of it shows. Decided again when a
    column is moved, hidden or shown, and when a saved arrangement (which holds the stretch of
    its day) is restored."""
    from widgets.common import column_menu, fit_last_section
    from widgets.models.base import RIGHT, CoalescingTableModel, Column

    class WeightsModel(CoalescingTableModel):  # the preview's columns then: a figure last
        columns = (Column("Symbol", lambda d: d.symbol), Column("Notional", lambda d: d.notional, align=RIGHT),
                   Column("Weight", lambda d: d.target_weight, align=RIGHT))

    preview = shown(qtbot, make_table(WeightsModel()), (1200, 300))
    header = preview.horizontalHeader()
    assert not header.stretchLastSection()  # Weight, a figure
    saved = header.saveState()
    header.moveSection(header.visualIndex(0), header.count() - 1)  # Symbol, text, moved last
    assert header.stretchLastSection()
    header.restoreState(saved)
    fit_last_section(preview)
    assert not header.stretchLastSection()
    [hide_symbol] = [a for a in column_menu(preview).actions() if shown_text(a.text()) == "Symbol"]
    header.moveSection(header.visualIndex(0), header.count() - 1)
    hide_symbol.toggle()  # the text column last hidden: a figure is last again
    assert header.isSectionHidden(0) and not header.stretchLastSection()

    _, _, blotter = _blotter(qtbot)  # its client order id last, as the window arranges it
    blotter_header = blotter.horizontalHeader()
    blotter_header.moveSection(blotter_header.visualIndex(1), blotter_header.count() - 1)
    assert blotter_header.stretchLastSection()


def test_a_watched_symbol_added_later_is_shown_whole(qtbot):
    """The columns are sized to content once, at the first row: a longer listing key added
    afterwards (SAP@IBIS:EUR after AAPL) showed as "SAP@I..." (seen under Xvfb). The Symbol
    column widens for a symbol the trader adds; it never narrows under them."""
    from services.domain import Quote
    from widgets.common import size_columns_to_content
    from widgets.models.quotes import QuotesModel
    from widgets.views.watchlist import WatchlistView

    model = QuotesModel()
    panel = shown(qtbot, WatchlistView(model), (450, 200))
    model.upsert([Quote("AAPL")])
    model.flush()
    size_columns_to_content(panel.table)  # what the first rows trigger
    model.upsert([Quote("SAP@IBIS:EUR")])
    model.flush()
    metrics = panel.table.fontMetrics()
    width = panel.table.columnWidth(QuotesModel.SYMBOL)
    assert width >= metrics.horizontalAdvance("SAP@IBIS:EUR") + 6
    model.remove("SAP@IBIS:EUR")
    model.upsert([Quote("MSFT")])
    model.flush()
    assert panel.table.columnWidth(QuotesModel.SYMBOL) == width  # never narrower


def test_rows_painted_before_a_price_of_more_places_are_painted_at_the_new_places(qtbot):
    """The blotter's price columns share one number of places (OrderBlotterModel.PRICE_COLUMNS):
    when an average fill of four places comes, the rows the view painted at two are painted
    again at four, not kept at the texts it formatted before."""
    model, proxy, view = _blotter(qtbot)
    avg = OrderBlotterModel.AVG_PRICE
    second = proxy.record_at(1)
    model.upsert([replace(second, status=OrderState.FILLED, filled_quantity=second.quantity,
                          avg_fill_price=Decimal("101.5"))])
    model.flush()
    view.viewport().grab()
    assert view._texts[id(proxy.record_at(1))][1][avg] == "101.50"
    newest = proxy.record_at(0)
    model.upsert([replace(newest, status=OrderState.FILLED, filled_quantity=newest.quantity,
                          avg_fill_price=Decimal("100.2371"))])
    model.flush()
    view.viewport().grab()
    assert [view._texts[id(proxy.record_at(row))][1][avg] for row in (0, 1)] == ["100.2371", "101.5000"]


def test_a_row_qt_paints_cuts_the_client_order_id_at_the_left_as_the_rows_painted_here(qtbot):
    """Twice, right after a restart, the blotter's id read 'TC9XA749.3-1…', cut at the right as
    Qt's delegate cuts (the view's one text elide mode), where its column cuts at the left: a row
    painted by Qt rather than by the view (a hidden row, word wrap) shows every order's same head.
    The style option Qt's delegate paints each cell with cuts where the cell's column says."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QStyleOptionViewItem

    _model, proxy, view = _blotter(qtbot)
    view.setRowHidden(proxy.rowCount() - 1, True)  # out of view; the view leaves its painting to Qt
    assert view._record_source() is None

    def cut_by_qt(column: int) -> Qt.TextElideMode:
        index = proxy.index(0, column)
        option = QStyleOptionViewItem()
        view.initViewItemOption(option)
        view.itemDelegateForIndex(index).initStyleOption(option, index)
        return option.textElideMode

    left, right = Qt.TextElideMode.ElideLeft, Qt.TextElideMode.ElideRight
    assert [cut_by_qt(c) for c in range(proxy.columnCount())] == [
        left if c == OrderBlotterModel.CLIENT_ID else right for c in range(proxy.columnCount())]
