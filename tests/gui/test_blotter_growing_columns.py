"""The blotter's columns that grow to their widest text (Status, Type, Limit, Stop) at a flush:
widened by the rows that flush changed or inserted, whichever rows they are, and measured by
those alone. Sampling the table's first 200 rows at every flush formatted up to 800 cells each
time in a stream's hot path, and never saw a row below the sample."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from PySide6.QtGui import QFontMetrics

from services.domain import OrderState
from widgets.common import SIZE_SAMPLE_ROWS
from widgets.models.orders import OrderBlotterModel
from widgets.views.blotter import BlotterView

from .factories import order

M = OrderBlotterModel


#: What the growing columns of ``CountingBlotterModel`` formatted, in order.
FORMATTED: list[Any] = []


def _counted(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    def fmt_counted(value: Any) -> str:
        FORMATTED.append(value)
        return fmt(value)
    return fmt_counted


class CountingBlotterModel(OrderBlotterModel):
    """The blotter's model whose growing columns count the values they format."""

    columns = tuple(replace(c, fmt=_counted(c.fmt)) if c.grows_into_room_left else c for c in OrderBlotterModel.columns)


def _settle(qapp) -> None:
    for _ in range(3):  # the columns are sized to the first rows after they are painted
        qapp.processEvents()


def _blotter(qtbot, qapp, model: OrderBlotterModel, rows: int) -> BlotterView:
    view = BlotterView(model)
    qtbot.addWidget(view)
    view.resize(1400, 500)
    view.show()
    model.reset([order(i) for i in range(1, rows + 1)])
    _settle(qapp)
    return view


def test_a_flush_that_changes_one_order_formats_that_row_alone(qtbot, qapp):
    model = CountingBlotterModel()
    _blotter(qtbot, qapp, model, 150)
    changed = replace(model.get(75), status=OrderState.PARTIALLY_FILLED, filled_quantity=Decimal(40))
    FORMATTED.clear()
    model.upsert([changed])
    model.flush()
    # the Status formats the record itself, the other growing columns one value of it each (Limit
    # and Stop by the places their rows share, a format set on the model, not counted here)
    statuses = [value for value in FORMATTED if isinstance(value, type(changed))]
    assert statuses == [changed]
    assert len(FORMATTED) <= len([c for c in M.columns if c.grows_into_room_left])


def test_a_changed_row_below_the_first_rows_widens_its_column(qtbot, qapp):
    """The oldest order, at the bottom of a table longer than the sample, fills in part: its
    "PARTIALLY_FILLED 40/100" reads whole."""
    rows = SIZE_SAMPLE_ROWS + 50
    model = OrderBlotterModel()
    view = _blotter(qtbot, qapp, model, rows)
    table = view.table
    model.upsert([replace(model.get(1), status=OrderState.PARTIALLY_FILLED, filled_quantity=Decimal(40))])
    model.flush()
    qapp.processEvents()
    bottom = view.proxy.rowCount() - 1
    assert view.proxy.record_at(bottom).id == 1
    text = str(view.proxy.index(bottom, M.STATUS).data())
    assert text == "PARTIALLY_FILLED 40/100"
    assert table.horizontalHeader().sectionSize(M.STATUS) >= QFontMetrics(table.font()).horizontalAdvance(text) + 2 * table._margin
    assert table.shown_text(bottom, M.STATUS) == text
    assert table.horizontalHeader().length() <= table.viewport().width()


def test_a_row_the_filter_hides_does_not_widen_its_column(qtbot, qapp):
    """Shown working orders only, an order canceled in an outage is not on screen: its
    "CANCELED (not recorded)" takes no room from the client order id."""
    model = OrderBlotterModel()
    view = _blotter(qtbot, qapp, model, 20)
    view.set_status_filter("working")
    qapp.processEvents()
    header = view.table.horizontalHeader()
    before = header.sectionSize(M.STATUS)
    model.upsert([replace(model.get(5), status=OrderState.CANCELED,
                          unrecorded_since=datetime(2026, 11, 20, 14, 31, tzinfo=UTC))])
    model.flush()
    qapp.processEvents()
    assert 5 not in [o.id for o in view.proxy.visible_records()]
    assert header.sectionSize(M.STATUS) == before
