"""A long history in the blotter and fills, a page at a time (docs/history-paging.md): the real
views offscreen, the real pager and queries on SQLite and MariaDB, a generated history
(devtools/history_db.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.fixtures.waiting import wait_until

ORDERS, FILLS, PAGE = 600, 1200, 100


class _Runner:
    def __init__(self) -> None:
        self.tasks: set = set()

    def run(self, coro, *, what: str):
        import asyncio

        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


@pytest.fixture
def history(db_url, qloop, qapp):
    from app.controllers.history import HistoryPager
    from devtools.history_db import generate
    from services.db.session import Database
    from widgets.models.fills import FillsModel
    from widgets.models.orders import OrderBlotterModel
    from widgets.views.blotter import BlotterView
    from widgets.views.fills import FillsView

    generate(db_url, ORDERS, FILLS, days=30)
    db = Database(db_url)
    blotter, fills = BlotterView(OrderBlotterModel()), FillsView(FillsModel())
    for view in (blotter, fills):
        view.resize(900, 400)
        view.show()
    pager = HistoryPager(db, blotter, fills, _Runner(), page_size=PAGE, debounce_ms=10)
    qloop.run_until_complete(pager.load())
    yield pager
    for view in (blotter, fills):
        view.close()
        view.deleteLater()  # run at the test's end (tests/fixtures/widgets_freed.py): closed, they stayed alive
    db.engine.dispose()


def _run(qloop, coro):
    return qloop.run_until_complete(coro)


def _ids(db, model, where=None) -> list[int]:
    with db.session() as session:
        query = select(model.id).order_by(model.id.desc())
        if where is not None:
            query = query.where(where)
        return list(session.scalars(query))


def test_the_blotter_and_fills_page_in_older_rows_when_scrolled_to_the_bottom(history, qloop):
    from services.db.models import TradeFill, TradeOrder

    blotter, fills = history.blotter_view, history.fills_view
    assert blotter.model.rowCount() == PAGE and fills.model.rowCount() == PAGE
    assert fills.totals_label.text().startswith(f"{PAGE} fills loaded (older on scrolling) · ")
    assert blotter.model.canFetchMore()

    async def scroll_to_the_end(view, total):
        while view.model.rowCount() < total:
            before = view.model.rowCount()
            view.table.scrollToBottom()  # the view asks the model for more (fetchMore)
            await wait_until(lambda before=before: view.model.rowCount() > before, 10, f"an older page ({before} rows)")
        await wait_until(lambda: not history.runner.tasks, 10, "the last read")

    _run(qloop, scroll_to_the_end(blotter, ORDERS))
    _run(qloop, scroll_to_the_end(fills, FILLS))
    shown = [blotter.proxy.record_at(r).id for r in range(blotter.proxy.rowCount())]
    assert shown == _ids(history.db, TradeOrder)  # every order once, newest first
    assert [fills.model.record_at(r).id for r in range(fills.model.rowCount())] == _ids(history.db, TradeFill)
    assert not blotter.model.canFetchMore() and not fills.model.canFetchMore()
    assert fills.totals_label.text().startswith(f"{FILLS} fills · ")  # all of them: the totals are the history's


def test_a_filter_reads_its_rows_from_the_whole_history_in_sql(history, qloop):
    from services.db.models import TradeFill, TradeOrder
    from services.domain import OrderState

    blotter, fills = history.blotter_view, history.fills_view
    first_page = {blotter.model.record_at(r).id for r in range(PAGE)}
    msft = _ids(history.db, TradeOrder, TradeOrder.symbol == "MSFT")
    assert any(i not in first_page for i in msft[:PAGE])  # not all of them were loaded yet

    blotter.search_edit.setText("MSFT")
    expected = msft[:PAGE]
    _run(qloop, wait_until(lambda: [blotter.proxy.record_at(r).id for r in range(blotter.proxy.rowCount())] == expected,
                           10, "the newest MSFT orders of the whole history"))
    assert blotter.model.canFetchMore() == (len(msft) >= PAGE)

    blotter.search_edit.clear()
    blotter.set_status_filter("working")  # the generator leaves the newest 20 orders working
    working = _ids(history.db, TradeOrder, TradeOrder.status == OrderState.ACCEPTED)
    _run(qloop, wait_until(lambda: sorted(blotter.proxy.record_at(r).id for r in range(blotter.proxy.rowCount()))
                           == sorted(working), 10, "the working orders"))

    nvda = _ids(history.db, TradeFill, TradeFill.symbol == "NVDA")
    fills.search_edit.setText("nvd")
    _run(qloop, wait_until(lambda: [fills.model.record_at(r).id for r in range(fills.model.rowCount())] == nvda[:PAGE]
                           and fills.proxy.rowCount() == len(nvda[:PAGE]), 10, "the newest NVDA fills of the whole history"))


def test_a_filter_after_scrolling_filters_the_newest_page_at_once_and_then_reads_the_history(history, qloop):
    """The pages scrolled in are dropped before the proxy filters (it filters one page on the GUI
    thread, not every row scrolled in); the filter's first page then comes from the database."""
    from services.db.models import TradeFill

    fills = history.fills_view

    async def two_more_pages():
        for expected in (2 * PAGE, 3 * PAGE):
            fills.table.scrollToBottom()
            await wait_until(lambda expected=expected: fills.model.rowCount() >= expected, 10, "an older page")
        await wait_until(lambda: not history.runner.tasks, 10, "the last read")

    _run(qloop, two_more_pages())
    newest_page = [fills.model.record_at(r) for r in range(PAGE)]
    fills.search_edit.setText("nvd")
    assert fills.model.rowCount() == PAGE  # at once, before the database is read
    assert [f.id for f in (fills.proxy.sourceModel().record_at(fills.proxy.mapToSource(fills.proxy.index(r, 0)).row())
                           for r in range(fills.proxy.rowCount()))] == [f.id for f in newest_page if f.symbol == "NVDA"]
    assert fills.model.totals_count() == PAGE  # the totals follow the rows kept
    assert fills.model.canFetchMore()
    nvda = _ids(history.db, TradeFill, TradeFill.symbol == "NVDA")
    _run(qloop, wait_until(lambda: [fills.model.record_at(r).id for r in range(fills.model.rowCount())] == nvda[:PAGE],
                           10, "the newest NVDA fills of the whole history"))


def test_live_orders_and_fills_appear_on_the_paged_tables(history, qloop):
    from services.domain import ChangeSet, OrderState

    blotter, fills = history.blotter_view, history.fills_view
    newest_order, newest_fill = blotter.model.record_at(0), fills.model.record_at(0)
    later = datetime.now(UTC) + timedelta(days=1)
    live_order = replace(newest_order, id=ORDERS + 1, client_order_id="live-1", created_at=later, updated_at=later)
    live_fill = replace(newest_fill, id=FILLS + 1, order_id=live_order.id, exec_id="live.1", fill_time=later)
    oldest_loaded = blotter.model.record_at(PAGE - 1)
    updated = replace(oldest_loaded, status=OrderState.CANCELED)

    blotter.model.apply(ChangeSet(orders=(live_order, updated)))
    fills.model.apply(ChangeSet(fills=(live_fill,)))
    _run(qloop, wait_until(lambda: blotter.proxy.record_at(0).id == live_order.id
                           and fills.model.record_at(0).id == live_fill.id, 5, "the live rows on top"))
    assert blotter.model.get(oldest_loaded.id).status is OrderState.CANCELED

    # paging on below the live rows: nothing twice, nothing lost
    blotter.table.scrollToBottom()
    _run(qloop, wait_until(lambda: blotter.model.rowCount() == 2 * PAGE + 1, 10, "the next page"))
    ids = [blotter.model.record_at(r).id for r in range(blotter.model.rowCount())]
    assert len(set(ids)) == len(ids) and ids[0] == live_order.id


@pytest.mark.parametrize("shown_before_the_page", [False, True], ids=["buffered", "flushed"])
def test_a_live_row_buffered_while_a_filter_page_is_read_is_kept(history, qloop, shown_before_the_page):
    from services.domain import ChangeSet

    blotter = history.blotter_view
    later = datetime.now(UTC) + timedelta(days=1)
    live = replace(blotter.model.record_at(0), id=ORDERS + 7, client_order_id="live-7", created_at=later)
    blotter.model.apply(ChangeSet(orders=(live,)))  # in the coalescing buffer
    blotter.model.begin_first_page()  # as reload_orders does before it reads
    if shown_before_the_page:
        blotter.model.flush()  # the coalescing timer fired while the page was read
    _run(qloop, history.reload_orders())  # a new first page that does not hold it
    _run(qloop, wait_until(lambda: blotter.model.get(live.id) is not None, 5, "the buffered live order"))
    assert blotter.proxy.record_at(0).id == live.id


# end to end: a real window (or the engine) against the simulator; left out by dev.py test --quick
pytestmark = pytest.mark.slow


def test_a_page_is_formatted_in_the_worker_thread_and_its_texts_handed_to_the_view(history, qloop, monkeypatch):
    import threading

    fills = history.fills_view
    model = fills.model
    threads: set[str] = set()
    format_row = model.format_row

    def recording(record):
        threads.add(threading.current_thread().name)
        return format_row(record)

    monkeypatch.setattr(model, "format_row", recording)
    before = model.rowCount()
    _run(qloop, history.more_fills())
    assert model.rowCount() == before + PAGE
    assert threads and threading.main_thread().name not in threads
    oldest = model.record_at(model.rowCount() - 1)  # below the screen: not painted yet
    assert model.take_texts(oldest) == format_row(oldest)
    assert model.take_texts(oldest) is None  # handed over once
