"""The blotter's Status at 1366x768: a partial fill's "PARTIALLY_FILLED 40/100" and an outage's
"CANCELED (not recorded)" read whole (seen cut under Xvfb, the whole text in the tooltip only),
whether the rows come with those states or change to them, with nothing to scroll sideways to."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QFontMetrics

from services.core.builder import client_order_id
from services.domain import OrderState, Side
from tests.gui.factories import order
from widgets.models.orders import OrderBlotterModel as M

LONG_STATES = ("PARTIALLY_FILLED 40/100", "CANCELED (not recorded)")


def _orders(rows: int):
    return [replace(o, client_order_id=client_order_id(1, o.symbol, Side.BUY, o.id, "X4J39Q"))
            for o in (order(i) for i in range(1, rows + 1))]


def _with_long_states(orders):
    """The first two orders changed as the broker's reports change them: one filled in part, one
    canceled while the database did not answer."""
    partial = replace(orders[0], status=OrderState.PARTIALLY_FILLED, filled_quantity=Decimal(40))
    canceled = replace(orders[1], status=OrderState.CANCELED, unrecorded_since=datetime(2026, 11, 20, 14, 31, tzinfo=UTC))
    return [partial, canceled, *orders[2:]]


def _window(qtbot, qapp, monkeypatch):
    from app.main_window import MainWindow

    monkeypatch.setattr("app.main_window.default_window_size", lambda _w, _preferred: QSize(1366, 768))
    window = MainWindow(mode="demo", compact=True)
    qtbot.addWidget(window)
    window.show()
    qapp.processEvents()
    return window


def _settle(qapp) -> None:
    for _ in range(3):  # the columns are sized to the first rows after they are painted
        qapp.processEvents()


def _assert_status_whole(table) -> None:
    header, model = table.horizontalHeader(), table.model()
    assert header.length() <= table.viewport().width(), (header.length(), table.viewport().width())
    metrics = QFontMetrics(table.font())
    statuses = [str(model.index(row, M.STATUS).data()) for row in range(model.rowCount())]
    assert set(LONG_STATES) <= set(statuses), statuses
    for text in LONG_STATES:
        assert header.sectionSize(M.STATUS) >= metrics.horizontalAdvance(text) + 2 * table._margin, text
    for row, whole in enumerate(statuses):
        assert table.shown_text(row, M.STATUS) == whole
    # the client order id keeps its declared room: each row still reads its own end
    for row in range(model.rowCount()):
        whole = str(model.index(row, M.CLIENT_ID).data())
        assert table.shown_text(row, M.CLIENT_ID).endswith(whole.rsplit("-", 1)[1])


@pytest.mark.parametrize("rows", [12, 40])  # a run that fits, and one the table scrolls down through
def test_the_first_rows_long_states_read_whole(qtbot, qapp, monkeypatch, rows):
    window = _window(qtbot, qapp, monkeypatch)
    window.orders_model.reset(_with_long_states(_orders(rows)))
    _settle(qapp)
    _assert_status_whole(window.blotter_view.table)


@pytest.mark.parametrize("rows", [12, 40])
def test_a_status_that_changes_to_a_longer_one_reads_whole(qtbot, qapp, monkeypatch, rows):
    """Sized to the first rows (all working) and never again, the Status kept the width of
    ACCEPTED when an order filled in part or was canceled in an outage."""
    window = _window(qtbot, qapp, monkeypatch)
    orders = _orders(rows)
    window.orders_model.reset(orders)
    _settle(qapp)
    window.orders_model.upsert(_with_long_states(orders)[:2])
    window.orders_model.flush()
    qapp.processEvents()
    _assert_status_whole(window.blotter_view.table)
