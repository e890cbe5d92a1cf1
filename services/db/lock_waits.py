"""A write waiting for the write lock another connection holds says so, once, while it waits.

On SQLite every unit of work takes the database's write lock at ``BEGIN IMMEDIATE``
(``services.db.session``); while another connection holds it (another console or command in a
long transaction, a process frozen mid-transaction) the BEGIN waits in SQLite's busy handler for
the whole busy timeout, and ``services.db.lock_conflicts.retry_lock_conflicts`` runs the unit of
work again up to ``LOCK_WAIT_ATTEMPTS`` times: the trader clicked Execute and saw nothing for a
minute and a half. Once a BEGIN has waited ``NOTICE_S``, one watcher thread says so (a WARNING on
this module's logger, which a command prints on stderr, and every ``subscribe``\\ d observer: the
window's activity log), and says it again when the lock came.

Python's sqlite3 has no busy handler of its own to hook, and a shorter busy timeout for the first
wait would cost a statement per transaction (or shorten every other lock wait of the connection),
so the BEGIN stays as it was and the watcher times it from outside: a BEGIN costs a set's add and
discard; the watcher wakes when the first of a burst of BEGINs starts and once ``NOTICE_S`` later,
never while the database is idle.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

NOTICE_S = 2.0  # how long a BEGIN waits for the write lock before the trader is told

Observer = Callable[[str, bool], None]  # (the words, still waiting: False once the lock came)


class Retrying:
    """What ``retry_lock_conflicts`` tells the BEGINs of its unit of work: whose it is, how many
    lock waits it has left (the deadline said covers them all), and whether the wait was said."""

    __slots__ = ("name", "said", "waits_left")

    def __init__(self, name: str, waits_left: int) -> None:
        self.name, self.waits_left, self.said = name, waits_left, False


RETRYING: contextvars.ContextVar[Retrying | None] = contextvars.ContextVar("tc_lock_retrying", default=None)


class Wait:
    """One BEGIN waiting (or about to wait) for the write lock."""

    __slots__ = ("retrying", "said", "started", "timeout_s")

    def __init__(self, timeout_s: float) -> None:
        self.started = time.monotonic()
        self.timeout_s = timeout_s
        self.retrying = RETRYING.get()
        self.said = False


_waiting: set[Wait] = set()
_observers: list[Observer] = []
_wake = threading.Event()
_watching = False  # the watcher is awake (a BEGIN need not wake it)
_start_lock = threading.Lock()
_thread: threading.Thread | None = None


def subscribe(observer: Observer) -> Callable[[], None]:
    """``observer(words, waiting)`` called from the watcher's thread when a write starts waiting,
    and from the writer's thread when the lock came; returns the unsubscribe."""
    _observers.append(observer)
    return lambda: _observers.remove(observer) if observer in _observers else None


def begin(timeout_s: float) -> Wait:
    """Before a BEGIN that takes the write lock (and waits up to ``timeout_s`` for it)."""
    wait = Wait(timeout_s)
    _waiting.add(wait)
    if not _watching:  # read after the add: the watcher going idle looks again after clearing it
        _start_or_wake()
    return wait


def end(wait: Wait, *, got_lock: bool) -> None:
    """After the BEGIN: it holds the write lock (``got_lock``) or gave up."""
    _waiting.discard(wait)
    if got_lock and (wait.said or (wait.retrying is not None and wait.retrying.said)):
        waited = time.monotonic() - wait.started
        if wait.retrying is not None:
            wait.retrying.said = False  # said and ended: another wait of the same work is new news
        _tell(f"the database is free again: {_whose(wait)}got its write lock"
              + (f" after {waited:.0f} s" if wait.said else ""), waiting=False, level=logging.INFO)


def _whose(wait: Wait) -> str:
    return f"{wait.retrying.name} " if wait.retrying is not None else ""


def words(wait: Wait, now: float) -> str:
    waits_left = wait.retrying.waits_left if wait.retrying is not None else 1
    until = datetime.now() + timedelta(seconds=wait.started + wait.timeout_s * waits_left - now)
    return (f"waiting for the database: another connection (a console or command in a long transaction?) "
            f"holds its write lock ({_whose(wait)}has waited {now - wait.started:.0f} s); "
            f"still trying until {until:%H:%M:%S}, then it gives up")


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


def _watch() -> None:
    global _watching
    while True:
        _wake.wait()
        _wake.clear()
        _watching = True
        while True:
            now = time.monotonic()
            due = None
            for wait in list(_waiting):
                if wait.said:
                    continue
                if now - wait.started < NOTICE_S:
                    at = wait.started + NOTICE_S
                    due = at if due is None else min(due, at)
                    continue
                wait.said = True
                if wait.retrying is not None:
                    if wait.retrying.said:  # its earlier attempt said so, with the whole deadline
                        continue
                    wait.retrying.said = True
                _tell(words(wait, now), waiting=True)
            if due is not None:
                time.sleep(max(0.0, due - time.monotonic()))  # until the next BEGIN's notice is due
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
