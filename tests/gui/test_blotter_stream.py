"""The benchmark's stream, smaller: after it the visible rows match the model exactly."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from benchmarks.blotter_stream import (
    FILL,
    ORDER,
    OurConsole,
    check_ours,
    expected_working_newest_first,
    make_stream,
    run_stream,
    windows_for,
)
from services.domain import OrderState
from widgets.models.orders import OrderBlotterModel
from widgets.models.proxy import StatusFilter


def test_stream_shape():
    events = make_stream(100, lag=5)
    orders = [r for k, r in events if k == ORDER]
    assert len(orders) == 400  # insert + 3 status updates each
    assert sum(1 for k, _ in events if k == FILL) == 500
    final = {o.id: o for o in orders}
    assert sum(1 for o in final.values() if o.status is OrderState.PARTIALLY_FILLED) == 10
    assert sum(1 for o in final.values() if o.status is OrderState.FILLED) == 90


@pytest.mark.slow  # the benchmark's stream (1,200 orders) through the real widgets
def test_visible_rows_match_the_model_after_a_stream(qtbot):
    events = make_stream(1200)
    console = OurConsole()
    qtbot.addWidget(console.blotter)
    qtbot.addWidget(console.fills_view)
    result = run_stream(console, events, windows_for(events, 1200))
    assert result.finished and result.events_done == len(events)
    ok, detail = check_ours(console, events)
    assert ok, detail
    expected = expected_working_newest_first(events)
    assert len(expected) == 120
    assert console.blotter.proxy.visible_records() == expected
    # Coalesced: far fewer flushes than events.
    assert result.flushes < len(events) / 50
    # Another order, chosen by a header click, is still exact after the stream.
    console.blotter.table.sortByColumn(OrderBlotterModel.FILLED, Qt.SortOrder.AscendingOrder)
    console.blotter.set_status_filter(StatusFilter.ALL)
    shown = console.blotter.proxy.visible_records()
    assert [o.filled_quantity for o in shown] == sorted(o.filled_quantity for o in console.orders.records())
    assert len(shown) == 1200
    console.blotter.table.sortByColumn(OrderBlotterModel.TIME, Qt.SortOrder.DescendingOrder)
    assert console.blotter.proxy.is_native_order()
    assert console.blotter.proxy.visible_records() == console.orders.records()
