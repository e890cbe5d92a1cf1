"""A write waiting for a lock another connection holds says so, once, while it waits.

On SQLite every unit of work takes the database's write lock at ``BEGIN IMMEDIATE``
(``services.db.session``); while another connection holds it (another console or command in a
long transaction, a process frozen mid-transaction) the BEGIN waits in SQLite's busy handler for
the whole busy timeout, and ``services.db.lock_conflicts.retry_lock_conflicts`` runs the unit of
work again up to ``LOCK_WAIT_ATTEMPTS`` times: the trader clicked Execute and saw nothing for a
minute and a half. Once a BEGIN has waited ``NOTICE_S``, one watcher thread says so (a WARNING on
this module's logger, which a command prints on stderr, and every ``subscribe``\\ d observer: the
window's activity log), and says it again when the lock came.

On MySQL/MariaDB the locks are rows, met by any statement of the transaction, which waits up to
``innodb_lock_wait_timeout`` (50 s by default) in the server. Every statement of a writable
database is timed the same way (``statement``); one that has run ``NOTICE_S`` is not said at
once, for a merely slow statement waits for no lock: the watcher asks the server once, on a
connection of its own (``Probe``: ``services.db.lock_conflicts.statement_lock_wait``), and says
the wait, naming the connections that hold the row, only if the statement waits for a lock;
otherwise it asks again ``NOTICE_S`` later (the wait may begin after a slow start), never more
often (information_schema.INNODB_TRX, which it reads, stays stale while read more often than every 100 ms).
When the server does not say (no PROCESS privilege, MySQL 8), the wait is said without the holder.

Python's sqlite3 has no busy handler of its own to hook, and a shorter busy timeout for the first
wait would cost a statement per transaction (or shorten every other lock wait of the connection),
so the BEGIN stays as it was and the watcher times it from outside: a BEGIN (a MariaDB statement)
costs a set's add and discard; the watcher wakes when the first of a burst of them starts and once
``NOTICE_S`` later, never while the database is idle.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

NOTICE_S = 2.0  # how long a BEGIN waits for the write lock (a MariaDB statement runs) before the trader is told

Observer = Callable[[str, bool], None]  # (the words, still waiting: False once the lock came)
# a MariaDB statement's: given its driver connection, whether it waits for a row lock now: None
# when not, else the holders' words (empty when the server does not say) and the lock wait timeout
Probe = Callable[[Any], "tuple[list[str], float] | None"]


class Retrying:
    """What ``retry_lock_conflicts`` tells the BEGINs of its unit of work: whose it is, how many
    lock waits it has left (the deadline said covers them all), and whether the wait was said."""

    __slots__ = ("name", "said", "waits_left")

    def __init__(self, name: str, waits_left: int) -> None:
        self.name, self.waits_left, self.said = name, waits_left, False


RETRYING: contextvars.ContextVar[Retrying | None] = contextvars.ContextVar("tc_lock_retrying", default=None)


class Wait:
    """One BEGIN waiting (or about to wait) for the write lock, or one MariaDB statement running
    (``probe`` says whether it waits for a lock)."""

    __slots__ = ("connection", "ended", "looked", "looking", "probe", "retrying", "said", "started", "timeout_s")

    def __init__(self, timeout_s: float, probe: Probe | None = None, connection: Any = None) -> None:
        self.started = time.monotonic()
        self.timeout_s = timeout_s
        self.retrying = RETRYING.get()
        self.said = False
        self.probe, self.connection = probe, connection
        self.looked: float | None = None  # when the probe last found no lock wait
        self.looking = False  # the watcher is at it: its end takes ``_saying`` (not said twice, nor said after it)
        self.ended = False


_waiting: set[Wait] = set()
_observers: list[Observer] = []
_wake = threading.Event()
_watching = False  # the watcher is awake (a BEGIN need not wake it)
_start_lock = threading.Lock()
_saying = threading.RLock()  # a wait is said before its end, or not at all
_thread: threading.Thread | None = None


def subscribe(observer: Observer) -> Callable[[], None]:
    """``observer(words, waiting)`` called from the watcher's thread when a write starts waiting,
    and from the writer's thread when the lock came; returns the unsubscribe."""
    _observers.append(observer)
    return lambda: _observers.remove(observer) if observer in _observers else None


def begin(timeout_s: float) -> Wait:
    """Before a BEGIN that takes the write lock (and waits up to ``timeout_s`` for it)."""
    return _started(Wait(timeout_s))


def statement(connection: Any, probe: Probe) -> Wait:
    """Before a MariaDB statement on ``connection`` (a driver connection), which may wait for a row
    lock: said only if ``probe(connection)`` finds it waiting once it has run ``NOTICE_S``."""
    return _started(Wait(0.0, probe, connection))


def _started(wait: Wait) -> Wait:
    _waiting.add(wait)
    if not _watching:  # read after the add: the watcher going idle looks again after clearing it
        _start_or_wake()
    return wait


def end(wait: Wait, *, got_lock: bool) -> None:
    """After the BEGIN (the statement): it holds the write lock (``got_lock``, or ran) or gave up."""
    _waiting.discard(wait)
    # an earlier attempt's wait said: SQLite's BEGIN is the work's one lock, so its end is the news
    retried = wait.probe is None and wait.retrying is not None and wait.retrying.said
    if not (wait.looking or retried):
        return
    with _saying:
        wait.ended = True
        if got_lock and (wait.said or retried):
            _tell_free(wait, f" after {time.monotonic() - wait.started:.0f} s" if wait.said else "")


def done(retrying: Retrying) -> None:
    """After the retried work succeeded: a wait its earlier attempt said is over, though no
    statement of the last attempt waited long enough to be said (MariaDB: the holder let go
    between the attempts)."""
    if retrying.said:
        with _saying:
            if retrying.said:
                retrying.said = False
                _tell(f"the database is free again: {retrying.name} got its write lock", waiting=False, level=logging.INFO)


def _tell_free(wait: Wait, after: str) -> None:
    if wait.retrying is not None:
        wait.retrying.said = False  # said and ended: another wait of the same work is new news
    _tell(f"the database is free again: {_whose(wait)}got its write lock{after}", waiting=False, level=logging.INFO)


def _whose(wait: Wait) -> str:
    return f"{wait.retrying.name} " if wait.retrying is not None else ""


def words(wait: Wait, now: float, holders: list[str] | None = None) -> str:
    """What a wait says: SQLite's write lock (``holders`` None), or MariaDB's row lock held by
    ``holders`` (each as ``lock_conflicts.lock_blockers`` words it; empty: the server did not say)."""
    waits_left = wait.retrying.waits_left if wait.retrying is not None else 1
    until = datetime.now() + timedelta(seconds=wait.started + wait.timeout_s * waits_left - now)
    waited = f"{_whose(wait)}has waited {now - wait.started:.0f} s"
    deadline = f"still trying until {until:%H:%M:%S}, then it gives up"
    if holders is None:
        return (f"waiting for the database: another connection (a console or command in a long transaction?) "
                f"holds its write lock ({waited}); {deadline}")
    if holders:
        return f"waiting for the database: another connection holds a row this write needs: {'; '.join(holders)} ({waited}); {deadline}"
    return (f"waiting for the database: another connection (a console or command in a long transaction?) "
            f"holds a row this write needs ({waited}; the server does not say which); {deadline}")


def _tell(text: str, *, waiting: bool, level: int = logging.WARNING) -> None:
    log.log(level, "%s", text)
    for observer in list(_observers):
        try:
            observer(text, waiting)
        except Exception:  # an observer's fault must not stop the watcher nor the write
            log.exception("lock wait observer %r failed", observer)


def _start_or_wake() -> None:
    global _thread
    if _thread is None:
        with _start_lock:
            if _thread is None:
                _thread = threading.Thread(target=_watch, name="db-lock-waits", daemon=True)
                _thread.start()
    _wake.set()


def _notice(wait: Wait) -> None:
    """Say ``wait``, due its notice, if it waits for a lock (a MariaDB statement: ask the server)."""
    wait.looking = True  # before the look whether it still waits: its end, if after, takes _saying
    if wait not in _waiting:
        return
    holders = None
    if wait.probe is not None:
        try:
            found = wait.probe(wait.connection)
        except Exception:  # the notice's fault must not stop the watcher: the statement goes on
            log.exception("whether a statement waits for a lock not read")
            found = None
        if found is None:
            wait.looked = time.monotonic()
            log.debug("a statement has run %.1f s and waits for no lock", wait.looked - wait.started)
            return
        holders, wait.timeout_s = found
    with _saying:
        if wait.ended:
            return
        wait.said = True
        if wait.retrying is not None:
            if wait.retrying.said:  # its earlier attempt said so, with the whole deadline
                return
            wait.retrying.said = True
        _tell(words(wait, time.monotonic(), holders), waiting=True)


def _watch() -> None:
    global _watching
    while True:
        _wake.wait()
        _wake.clear()
        _watching = True
        while True:
            due = None
            for wait in list(_waiting):
                if wait.said:
                    continue
                at = (wait.looked if wait.looked is not None else wait.started) + NOTICE_S
                if time.monotonic() < at:
                    due = at if due is None else min(due, at)
                    continue
                _notice(wait)
                if not wait.said and wait.looked is not None and not wait.ended:  # slow, no lock yet: look again later
                    at = wait.looked + NOTICE_S
                    due = at if due is None else min(due, at)
            if due is not None:
                time.sleep(max(0.0, due - time.monotonic()))  # until the next notice is due
                continue
            _watching = False
            if not any(not wait.said for wait in list(_waiting)):  # a BEGIN that saw it still True
                break
            _watching = True


def _forget_thread_after_fork() -> None:
    global _thread, _watching
    _thread, _watching = None, False
    _waiting.clear()
    _wake.clear()


os.register_at_fork(after_in_child=_forget_thread_after_fork)
