"""The blotter's and the fills table's history, a page at a time (docs/history-paging.md).

The window opens on the newest page of each; scrolling to the bottom pages in older rows
(the models' ``more_wanted``); a filter change reads the first page matching it from the whole
history, in SQL. Every read runs in a worker thread (services/history_queries.py); a page that
lands after a newer filter was chosen is dropped. Live records keep arriving through the
models' coalescing buffer, from the writer's change sets or the monitor's change feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

from services.console_queries import run_names
from services.history_queries import PAGE_SIZE, FillFilter, OrderFilter, fill_page, order_page

#: Typing in a search box reads the database once the typing pauses.
FILTER_DEBOUNCE_MS = 150


class _PagedTable:
    """One table's reads: the first page (a start or a filter) and the next older page. A
    generation per table: a page read for an older filter is dropped when it lands."""

    def __init__(self, model, read: Callable[..., Any], current_filter: Callable[[], Any], db, page_size: int) -> None:
        self.model, self._read, self._filter = model, read, current_filter
        self._db, self._page_size = db, page_size
        self.generation = 0

    async def _page(self, before_id: int | None):
        # the filter is read here, on the GUI thread; the query runs in the worker thread, and
        # so does the formatting of the page's texts (issue 15: a screen of new rows formatted
        # in the paint took a fifth of the frame)
        return await asyncio.to_thread(self._read_and_format, self._filter(), before_id)

    def _read_and_format(self, current_filter, before_id: int | None):
        page = self._read(self._db, current_filter, before_id, self._page_size)
        return page, [self.model.format_row(record) for record in page.records]

    async def reload(self) -> None:
        self.generation += 1
        generation = self.generation
        self.model.begin_first_page()
        try:
            page, texts = await self._page(None)
        except BaseException:
            if generation == self.generation:  # a newer read still collects for itself
                self.model.first_page_failed()
            raise
        if generation == self.generation:
            self.model.show_first_page(page, texts)

    async def more(self) -> None:
        generation = self.generation
        try:
            page, texts = await self._page(self.model.next_before_id)
        except BaseException:
            self.model.page_failed()
            raise
        if generation == self.generation:
            self.model.append_page(page, texts)


class HistoryPager(QObject):
    def __init__(self, db, blotter_view, fills_view, runner, *, profile: str | None = None, page_size: int = PAGE_SIZE,
                 debounce_ms: int = FILTER_DEBOUNCE_MS, parent: QObject | None = None) -> None:
        """``profile``: the window's, whose word the run filter's runs' mode is said in."""
        super().__init__(parent)
        self.db = db
        self.profile = profile
        self.blotter_view, self.fills_view = blotter_view, fills_view
        self.orders_model, self.fills_model = blotter_view.model, fills_view.model
        self.runner: Any = runner
        self.page_size = page_size
        self._orders = _PagedTable(self.orders_model, order_page, self.order_filter, db, page_size)
        self._fills = _PagedTable(self.fills_model, fill_page, self.fill_filter, db, page_size)
        self._orders_timer = self._debounce(debounce_ms, self.reload_orders)
        self._fills_timer = self._debounce(debounce_ms, self.reload_fills)
        self.orders_model.more_wanted.connect(
            lambda: self.runner.run(self.more_orders(), what="Older orders"))
        self.fills_model.more_wanted.connect(
            lambda: self.runner.run(self.more_fills(), what="Older fills"))
        blotter_view.filters_changed.connect(self._orders_timer.start)
        fills_view.filters_changed.connect(self._fills_timer.start)
        blotter_view.run_names_wanted.connect(self._name_runs_soon)
        self._stopped = False
        self._names_asked = 0  # a database replaced meanwhile: an older database's names dropped
        self._name_runs_soon(blotter_view.run_filter_ids())  # a filter restored before this was built

    def _name_runs_soon(self, run_ids: list[int]) -> None:
        if run_ids and not self._stopped:
            self.runner.run(self.name_runs(run_ids), what="Name the runs")

    async def name_runs(self, run_ids: list[int]) -> None:
        asked = self._names_asked
        names = await asyncio.to_thread(run_names, self.db, run_ids, self.profile)
        if asked == self._names_asked:
            self.blotter_view.name_runs(names)

    def forget_database(self) -> None:
        """The database was replaced under the window (dropped and created again, restored): the
        run filter's runs, names and choice were the old one's (a "Run 3" of it kept, or chosen,
        filtered the new database's history by another run). Forgotten before the window's
        re-read, which lists the new database's runs as their rows come; a naming still on its
        way was asked of the old one."""
        self._names_asked += 1
        self.blotter_view.forget_runs()

    def stop(self) -> None:
        """The window is closing: no filter read starts after this (a pending debounce would
        otherwise fire once the console's loop is gone)."""
        self._stopped = True
        self._orders_timer.stop()
        self._fills_timer.stop()

    def _debounce(self, interval_ms: int, reload) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(interval_ms)
        timer.timeout.connect(lambda: None if self._stopped else self.runner.run(reload(), what="Filter the history"))
        return timer

    def order_filter(self) -> OrderFilter:
        return self.blotter_view.proxy.order_filter()

    def fill_filter(self) -> FillFilter:
        return self.fills_view.proxy.fill_filter()

    async def load(self) -> None:
        """The newest page of both tables (the window's first paint)."""
        await asyncio.gather(self.reload_orders(), self.reload_fills())

    async def reload_orders(self) -> None:
        await self._orders.reload()

    async def reload_fills(self) -> None:
        await self._fills.reload()

    async def more_orders(self) -> None:
        await self._orders.more()

    async def more_fills(self) -> None:
        await self._fills.more()
