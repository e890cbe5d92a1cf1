"""Checkpoints of a SQLite file's write-ahead log, off the writers' path.

In WAL mode SQLite copies the log back into the database file (a checkpoint) inside whichever
commit finds the log past ``wal_autocheckpoint`` pages (1,000), and with ``synchronous=NORMAL``
that commit also waits for two fsyncs. The writer that happens to commit then stalls: a
backtest's commits spent 60 % of their time in these checkpoints. Here a thread of its own, on a
connection of its own, does the same checkpoints at the same point instead: every ``every``
commits it looks at the log's size and, once it holds ``pages`` pages, runs a PASSIVE checkpoint
(it never waits for a writer or a reader, and copies what it can). SQLite releases Python's lock
while it works, so the copy and the fsyncs overlap the engine; the disk sees no more of them than
before. The log file is cut back when SQLite starts it over (``journal_size_limit=0``), so its
size is what is waiting to be copied. The commits' own automatic checkpoint stays as the
backstop, at ``BACKSTOP_PAGES`` (a log of ~40 MB), should this thread fall behind or fail.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

BACKSTOP_PAGES = 10_000  # the commits' own wal_autocheckpoint while this thread does the work
CHECKPOINT_PAGES = 1_000  # SQLite's own default point for a checkpoint
EVERY_COMMITS = 16  # how often the log's size is looked at


class WalCheckpointer:
    """``committed()`` after each commit (cheap: a counter); the thread starts at the first look
    due (``every`` commits) and runs until ``stop()``. ``connect()`` opens the thread's own
    connection; ``log_path`` is the database's ``-wal`` file."""

    def __init__(self, connect: Callable[[], Any], log_path: str, *, every: int = EVERY_COMMITS,
                 pages: int = CHECKPOINT_PAGES) -> None:
        self._connect = connect
        self.log_path = log_path  # the database file's ``-wal``
        self.every = every
        self.pages = pages
        self._commits = 0
        self._due = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self.checkpoints = 0  # PASSIVE checkpoints run (tests, diagnostics)
        self.looks = 0  # times the log's size was looked at
        self.failure: str | None = None  # why the thread stopped checkpointing, if it did
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        self._commits += 1  # a lost increment between two threads only delays one checkpoint
        if self._commits < self.every:
            return
        self._commits = 0
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping:
                    self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpoints", daemon=True)
                    self._thread.start()
        self._due.set()

    def wait_for(self, count: int, timeout: float, *, looks: int = 0) -> bool:
        """True once ``count`` checkpoints have run and the log's size was looked at ``looks``
        times; False after ``timeout`` seconds or a failure."""
        def reached() -> bool:
            return self.checkpoints >= count and self.looks >= looks

        with self._done:
            return self._done.wait_for(lambda: reached() or self.failure is not None, timeout) and reached()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            connection = self._connect()
        except (sqlite3.Error, OSError) as exc:  # the commits' own checkpoints carry on (BACKSTOP_PAGES)
            self._fail(f"cannot open a connection for checkpoints: {exc}")
            return
        try:
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                ran = 0
                if self._log_bytes() >= self.pages * page_size:
                    try:
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.Error as exc:
                        self._fail(f"checkpoint failed: {exc}")
                        return
                    ran = 1
                with self._done:
                    self.checkpoints += ran
                    self.looks += 1
                    self._done.notify_all()
        finally:
            connection.close()

    def _log_bytes(self) -> int:
        try:
            return os.stat(self.log_path).st_size
        except FileNotFoundError:
            return 0

    def _fail(self, why: str) -> None:
        log.warning("SQLite log checkpoints left to the commits: %s", why)
        with self._done:
            self.failure = why
            self._done.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._due.set()
        if thread is not None:
            thread.join(timeout)
