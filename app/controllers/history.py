"""The blotter's and the fills table's history, a page at a time (docs/history-paging.md).

The window opens on the newest page of each; scrolling to the bottom pages in older rows
(the models' ``more_wanted``); a filter change reads the first page matching it from the whole
history, in SQL. Every read runs in a worker thread (services/history_queries.py); a page that
lands after a newer filter was chosen is dropped. Live records keep arriving through the
models' coalescing buffer, from the writer's change sets or the monitor's change feed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QObject, QTimer

from services.history_queries import PAGE_SIZE, FillFilter, OrderFilter, fill_page, order_page

#: Typing in a search box reads the database once the typing pauses.
FILTER_DEBOUNCE_MS = 150


class HistoryPager(QObject):
    def __init__(self, db, blotter_view, fills_view, runner, *, page_size: int = PAGE_SIZE,
                 debounce_ms: int = FILTER_DEBOUNCE_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.blotter_view, self.fills_view = blotter_view, fills_view
        self.orders_model, self.fills_model = blotter_view.model, fills_view.model
        self.runner: Any = runner
        self.page_size = page_size
        # a generation per table: a page read for an older filter is dropped when it lands
        self._orders_generation = self._fills_generation = 0
        self._orders_timer = self._debounce(debounce_ms, self.reload_orders)
        self._fills_timer = self._debounce(debounce_ms, self.reload_fills)
        self.orders_model.more_wanted.connect(
            lambda: self.runner.run(self.more_orders(), what="Older orders"))
        self.fills_model.more_wanted.connect(
            lambda: self.runner.run(self.more_fills(), what="Older fills"))
        blotter_view.filters_changed.connect(self._orders_timer.start)
        fills_view.filters_changed.connect(self._fills_timer.start)
        self._stopped = False

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
        working_only, run_id, text = self.blotter_view.proxy.filter_state()
        return OrderFilter(working_only=working_only, run_id=run_id, text=text)

    def fill_filter(self) -> FillFilter:
        return FillFilter(symbol=self.fills_view.search_edit.text())

    async def load(self) -> None:
        """The newest page of both tables (the window's first paint)."""
        await asyncio.gather(self.reload_orders(), self.reload_fills())

    async def reload_orders(self) -> None:
        self._orders_generation += 1
        generation = self._orders_generation
        self.orders_model.begin_first_page()
        try:
            page = await asyncio.to_thread(order_page, self.db, self.order_filter(), None, self.page_size)
        except BaseException:
            if generation == self._orders_generation:  # a newer read still collects for itself
                self.orders_model.first_page_failed()
            raise
        if generation == self._orders_generation:
            self.orders_model.show_first_page(page)

    async def reload_fills(self) -> None:
        self._fills_generation += 1
        generation = self._fills_generation
        self.fills_model.begin_first_page()
        try:
            page = await asyncio.to_thread(fill_page, self.db, self.fill_filter(), None, self.page_size)
        except BaseException:
            if generation == self._fills_generation:  # a newer read still collects for itself
                self.fills_model.first_page_failed()
            raise
        if generation == self._fills_generation:
            self.fills_model.show_first_page(page)

    async def more_orders(self) -> None:
        model, generation = self.orders_model, self._orders_generation
        try:
            page = await asyncio.to_thread(order_page, self.db, self.order_filter(), model.next_before_id,
                                           self.page_size)
        except BaseException:
            model.page_failed()
            raise
        if generation == self._orders_generation:
            model.append_page(page)

    async def more_fills(self) -> None:
        model, generation = self.fills_model, self._fills_generation
        try:
            page = await asyncio.to_thread(fill_page, self.db, self.fill_filter(), model.next_before_id,
                                           self.page_size)
        except BaseException:
            model.page_failed()
            raise
        if generation == self._fills_generation:
            model.append_page(page)
