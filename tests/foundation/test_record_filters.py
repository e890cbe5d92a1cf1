"""The blotter's and the fills table's filters are one rule (services/core/record_filters.py):
the Python predicate the tables apply to the rows they hold and the SQL the history pager
applies to the rows it reads give the same rows, on SQLite and MariaDB."""

from __future__ import annotations

from dataclasses import replace

import pytest

NEEDLES = ["", "msft", "  MSFT  ", "hist-00001", "accep", "filled", "12", "104", "1004",
           # a search spanning two fields: the old blotter matched it in its joined text, SQL never did
           "msft hist", "hist-0000012 msft",
           # LIKE's wildcards are plain characters here
           "%", "_", "\\"]


@pytest.fixture
def history(db_url):
    from devtools.history_db import generate
    from services.db.session import Database
    from services.history_queries import fill_page, order_page

    generate(db_url, 300, 400, days=10)
    db = Database(db_url)
    orders = order_page(db, limit=10_000).records
    fills = fill_page(db, limit=10_000).records
    yield db, orders, fills
    db.dispose()


@pytest.mark.parametrize("needle", NEEDLES)
def test_the_blotters_filter_shows_the_same_orders_loaded_or_read_from_the_database(history, needle):
    from services.core.record_filters import OrderFilter
    from services.history_queries import order_page

    db, orders, _fills = history
    for order_filter in (OrderFilter(text=needle), OrderFilter(working_only=True, text=needle),
                         OrderFilter(run_id=orders[5].run_id, text=needle)):
        in_memory = [o.id for o in orders if order_filter.accepts(o)]
        assert [o.id for o in order_page(db, order_filter, limit=10_000).records] == in_memory, order_filter


@pytest.mark.parametrize("needle", ["", "nvd", " NVDA ", "a", "msft nvda", "%"])
def test_the_fills_filter_shows_the_same_fills_loaded_or_read_from_the_database(history, needle):
    from services.core.record_filters import FillFilter
    from services.history_queries import fill_page

    db, _orders, fills = history
    in_memory = [f.id for f in fills if FillFilter(needle).accepts(f)]
    assert [f.id for f in fill_page(db, FillFilter(needle), limit=10_000).records] == in_memory


def test_a_search_matches_one_field_at_a_time_without_the_spaces_around_it():
    from datetime import UTC, datetime
    from decimal import Decimal

    from services.core.record_filters import OrderFilter
    from services.domain import OrderRecord, OrderState, OrderType, Side

    now = datetime(2026, 12, 4, tzinfo=UTC)
    order = OrderRecord(id=12, client_order_id="tc-7-AAPL", run_id=7, symbol="AAPL", side=Side.BUY,
                        quantity=Decimal(5), order_type=OrderType.MKT, limit_price=None,
                        status=OrderState.ACCEPTED, filled_quantity=Decimal(0), avg_fill_price=None,
                        created_at=now, updated_at=now, ib_order_id=None)
    assert OrderFilter(text="  aapl ").accepts(order)
    assert OrderFilter(text="accepted").accepts(order)
    assert OrderFilter(text="12").accepts(order)
    assert not OrderFilter(text="aapl tc").accepts(order)  # two fields: not one field's text
    assert not OrderFilter(text="none").accepts(order)  # no IB order id is no text, not "None"
    assert not OrderFilter(working_only=True).accepts(replace(order, status=OrderState.FILLED))
    assert not OrderFilter(run_id=8).accepts(order)


@pytest.mark.parametrize("needle", ["msft hist", " NVDA ", "accepted"])
def test_the_tables_proxies_show_what_the_pager_reads(history, qtbot, needle):
    """The real blotter and fills views offscreen, holding the whole history: what their proxies
    show is what the pager's SQL gives for the same filter (the blotter used to match a search
    across its fields' joined text, the fills table an unstripped search)."""
    from services.history_queries import fill_page, order_page
    from widgets.models.fills import FillsModel
    from widgets.models.orders import OrderBlotterModel
    from widgets.views.blotter import BlotterView
    from widgets.views.fills import FillsView

    db, orders, fills = history
    blotter, fills_view = BlotterView(OrderBlotterModel()), FillsView(FillsModel())
    qtbot.addWidget(blotter)  # closed and deleted after the test, with their models
    qtbot.addWidget(fills_view)
    blotter.model.reset(orders)
    fills_view.model.reset(fills)
    blotter.search_edit.setText(needle)
    fills_view.search_edit.setText(needle)
    shown_orders = [blotter.proxy.record_at(r).id for r in range(blotter.proxy.rowCount())]
    shown_fills = sorted(fills_view.model.record_at(fills_view.proxy.mapToSource(fills_view.proxy.index(r, 0)).row()).id
                         for r in range(fills_view.proxy.rowCount()))
    assert shown_orders == [o.id for o in order_page(db, blotter.proxy.order_filter(), limit=10_000).records]
    assert shown_fills == sorted(f.id for f in fill_page(db, fills_view.proxy.fill_filter(), limit=10_000).records)
