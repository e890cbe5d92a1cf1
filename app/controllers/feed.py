"""Following the database through the change feed (services.change_feed): the monitor window
and the trading window both poll a feed with this, in a worker thread, and hand each batch that
found something to their own ``on_batch``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.tasks import TaskRunner
from services.activity_log import Level
from services.change_feed import REPLACED_LINE, ChangeFeed, FeedBatch
from services.db.errors import is_database_gone

log = logging.getLogger(__name__)

WHAT = "Follow the database"  # how its failures are named
# a database created again under the followed name is read again until its tables answer (its
# migration may still be under way when the feed first finds it)
READ_AGAIN_SECONDS = 1.0
READ_AGAIN_TRIES = 60


async def read_again(window, load: Callable[[], Awaitable[None]]) -> None:
    """The database a window follows was dropped and created again (or restored) under its name
    (FeedBatch.replaced): its panels held the old one's rows, run, audit entries and last event.
    ``load`` (the window's own reading of every panel) is retried while the new database's tables
    are still being created, then REPLACED_LINE is said, lasting (the trader must know the history
    changed). Both windows, the monitor and the trading window, read a replaced database this way;
    what each resets before is its own. An error after the last try is raised (the follower says it)."""
    from sqlalchemy.exc import SQLAlchemyError

    window.connection_status.clear_last_event()
    for attempt in range(READ_AGAIN_TRIES):
        try:
            await load()
            break
        except SQLAlchemyError as exc:  # its tables still being created (a migration under way)
            if attempt == READ_AGAIN_TRIES - 1:
                raise
            log.info("the new database not read yet (%s); again in %s s", exc, READ_AGAIN_SECONDS)
            await asyncio.sleep(READ_AGAIN_SECONDS)
    window.activity_log.append(REPLACED_LINE, Level.WARNING, timeout_ms=0)


class FeedFollower:
    """``start()`` polls ``feed`` every ``interval`` (at once again after a batch: a run lands in
    bursts) until the runner's tasks are cancelled. A database that cannot be reached is said
    once through ``on_reach(error)``, the poll's error, and followed again after
    (``on_reach(None)``): services.change_feed.reach_line says either. ``on_gone()``: a poll
    found the database itself gone (dropped, or created again and not migrated yet); the feed
    reads whatever answers next under its name as a replaced database."""

    def __init__(self, feed: ChangeFeed, runner: TaskRunner, on_batch: Callable[[FeedBatch], Awaitable[None]], *,
                 interval: float, on_reach: Callable[[Exception | None], None] | None = None,
                 on_gone: Callable[[], None] | None = None) -> None:
        self.feed = feed
        self.runner = runner
        self.interval = interval
        self._on_batch = on_batch
        self._on_reach = on_reach
        self._on_gone = on_gone  # each poll that found the database itself gone (services.db.errors.is_database_gone)
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
            if self._on_gone is not None and is_database_gone(exc):  # what the window shows is no database's now
                self._on_gone()
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
