"""Following the database through the change feed (services.change_feed): the monitor window
and the trading window both poll a feed with this, in a worker thread, and hand each batch that
found something to their own ``on_batch``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.tasks import TaskRunner
from services.change_feed import ChangeFeed, FeedBatch

log = logging.getLogger(__name__)

WHAT = "Follow the database"  # how its failures are named


class FeedFollower:
    """``start()`` polls ``feed`` every ``interval`` (at once again after a batch: a run lands in
    bursts) until the runner's tasks are cancelled. A database that cannot be reached is said
    once through ``on_reach(error)``, the poll's error, and followed again after
    (``on_reach(None)``): services.change_feed.reach_line says either."""

    def __init__(self, feed: ChangeFeed, runner: TaskRunner, on_batch: Callable[[FeedBatch], Awaitable[None]], *,
                 interval: float, on_reach: Callable[[Exception | None], None] | None = None) -> None:
        self.feed = feed
        self.runner = runner
        self.interval = interval
        self._on_batch = on_batch
        self._on_reach = on_reach
        self._task: asyncio.Task | None = None
        self.unreachable = False

    def start(self) -> None:
        if self._task is None:
            self._task = self.runner.run(self._follow(), what=WHAT, lasting=True)

    async def _follow(self) -> None:
        while True:
            try:
                batch = await self.poll_once()
            except Exception as exc:  # noqa: BLE001 - said by report(), with its traceback in the log
                # the batch's handling failed (a read of its own after the poll: the monitor's
                # run plan, its equity): said, and the database followed on. This task ended
                # there, and the window showed what it had for good, every later change unseen
                self.runner.report(WHAT, exc)
                batch = None
            if not batch:
                await asyncio.sleep(self.interval)

    async def poll_once(self) -> FeedBatch | None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            batch = await asyncio.to_thread(self.feed.poll)
        except SQLAlchemyError as exc:  # the server restarting: said once, followed again after
            if not self.unreachable:
                log.warning("change feed: database unreachable: %s", exc)
                if self._on_reach is not None:
                    self._on_reach(exc)
            self.unreachable = True
            return None
        if self.unreachable:
            self.unreachable = False
            if self._on_reach is not None:
                self._on_reach(None)
        if batch:
            await self._on_batch(batch)
        return batch
