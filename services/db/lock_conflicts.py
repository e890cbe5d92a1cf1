"""A unit of work the database ended over a lock another transaction held, run again.

InnoDB ends one of two transactions that wait for each other's row locks with error 1213,
"Deadlock found when trying to get lock; try restarting transaction", and rolls that transaction
back whole. Two ``execute`` processes of one run met this way (one creating the run while the
other's writer held it): the second exited 5 as if the database were unreachable.

A lock wait that timed out (1205, "Lock wait timeout exceeded", after ``innodb_lock_wait_timeout``:
50 s by default) is the same conflict with a process that keeps its transaction open: an adversarial
review stopped one ``execute`` (SIGSTOP) inside its transaction while another took its run over,
and the taker failed. InnoDB rolls back only the statement that waited (unless
``innodb_rollback_on_timeout``); the unit of work's own rollback (``Database.unit_of_work``,
``core``) ends the rest, so running the function again starts from scratch. SQLite says "database
is locked" once its busy timeout (30 s) passed without the write lock; every unit of work takes
that lock at ``BEGIN IMMEDIATE``, before doing anything, so nothing was done.

A function that is exactly one unit of work, and does nothing outside the database, can simply run
again: :func:`retry_lock_conflicts` does so a few times, after a short random pause so that two
victims do not meet again at once; a lock wait timed out is tried at most ``LOCK_WAIT_ATTEMPTS``
times (each already waited the server's whole timeout). What still fails is raised as it came;
``services.db.errors.describe_db_error`` says what it means.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from sqlalchemy import create_engine, pool, text
from sqlalchemy.exc import DBAPIError, OperationalError

from services.db import lock_waits
from services.db.links import connect_args
from services.db.lock_waits import RETRYING, Retrying

log = logging.getLogger(__name__)

DEADLOCK = 1213  # ER_LOCK_DEADLOCK
LOCK_WAIT_TIMEOUT = 1205  # ER_LOCK_WAIT_TIMEOUT
QUERY_INTERRUPTED = 1317  # ER_QUERY_INTERRUPTED: what KILL QUERY makes of the statement it ends
ATTEMPTS = 5
LOCK_WAIT_ATTEMPTS = 3  # each one waited innodb_lock_wait_timeout (or SQLite's busy timeout) already
PAUSE_S = (0.005, 0.05)  # the random pause before the next attempt, times the attempt's number
_SQLITE_LOCKED = ("database is locked", "database table is locked")

P = ParamSpec("P")
R = TypeVar("R")


def _code(exc: BaseException) -> object:
    args: tuple = tuple(getattr(getattr(exc, "orig", None), "args", ()))
    return args[0] if args else None


def is_deadlock(exc: BaseException) -> bool:
    """Whether ``exc`` is MariaDB/MySQL ending this transaction as a deadlock's victim."""
    return isinstance(exc, OperationalError) and _code(exc) == DEADLOCK


def is_lock_wait_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is a wait for a lock another transaction holds that gave up: MariaDB's 1205,
    or SQLite's "database is locked" after its busy timeout."""
    if not isinstance(exc, OperationalError):
        return False
    if _code(exc) == LOCK_WAIT_TIMEOUT:
        return True
    text = str(getattr(exc, "orig", "") or "")
    return any(marker in text for marker in _SQLITE_LOCKED)


def is_interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is a MariaDB/MySQL statement ended by KILL QUERY (``InterruptibleWork``)."""
    return isinstance(exc, OperationalError) and _code(exc) == QUERY_INTERRUPTED


def is_lock_conflict(exc: BaseException) -> bool:
    """A deadlock's victim or a lock wait timed out: another transaction held what this one needed."""
    return is_deadlock(exc) or is_lock_wait_timeout(exc)


def retry_lock_conflicts(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run again when the database ends it over another transaction's lock: up to
    ``ATTEMPTS`` times in all for a deadlock, ``LOCK_WAIT_ATTEMPTS`` for a lock wait timed out.
    Only for a function that is one unit of work (rolled back whole when it raises) and has no
    effect outside the database."""

    @functools.wraps(fn)
    def again(*args: P.args, **kwargs: P.kwargs) -> R:
        # its BEGINs' lock waits are said once, with the deadline of all its attempts (services.db.lock_waits)
        retrying = Retrying(fn.__qualname__, LOCK_WAIT_ATTEMPTS)
        token = RETRYING.set(retrying)
        try:
            waits = 0
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    result = fn(*args, **kwargs)
                    lock_waits.done(retrying)  # an earlier attempt's wait said: over
                    return result
                except OperationalError as exc:
                    if attempt == ATTEMPTS or not is_lock_conflict(exc):
                        raise
                    if is_lock_wait_timeout(exc):
                        waits += 1
                        retrying.waits_left = LOCK_WAIT_ATTEMPTS - waits
                        if waits >= LOCK_WAIT_ATTEMPTS:
                            log.error("%s: another connection held a lock it needed through %d lock waits; given up",
                                      fn.__qualname__, waits)
                            raise
                        log.warning("%s: a lock wait timed out (another connection keeps a transaction open); "
                                    "running it again (attempt %d)", fn.__qualname__, attempt + 1)
                    else:
                        log.info("%s: the database ended it as a deadlock's victim; running it again (attempt %d of %d)",
                                 fn.__qualname__, attempt + 1, ATTEMPTS)
                    time.sleep(random.uniform(*PAUSE_S) * attempt)
            raise AssertionError("unreachable")  # the loop returns or raises
        finally:
            RETRYING.reset(token)

    return again


def server_thread_id(session) -> int | None:
    """The MariaDB/MySQL server's id of the connection ``session`` works on (its transaction's
    ``trx_mysql_thread_id``), read from the driver without a query; None on SQLite or another driver."""
    driver = session.connection().connection.driver_connection
    thread_id = getattr(driver, "thread_id", None)
    return thread_id() if callable(thread_id) else None


class InterruptibleWork:
    """The server connection a unit of work runs on, while its statements run, so that its owner
    can end a lock wait it is blocked in (``interrupt``).

    A statement waiting for a row another connection keeps locked waits up to
    ``innodb_lock_wait_timeout`` (50 s by default) in the server, and the thread that sent it
    with it; a process cannot end before its worker threads return. The event writer gives up on
    such a lock (``DatabaseLockHeld``) and its command says so, then hung those 50 s before it
    exited. ``interrupt`` sends ``KILL QUERY`` for this connection, and only this one (its own
    ``CONNECTION_ID``, never the holder's): the statement fails at once with 1317 "Query
    execution was interrupted" and the unit of work rolls back whole as for any failure, its
    connection unharmed (KILL QUERY, not KILL: the connection stays, the pool's reset ends
    what is left of its transaction).

    Harmless when it races the statement: a KILL QUERY that finds the connection between two
    statements ends nothing (MariaDB does not carry it over to the next one), and none is sent
    once the unit of work's statements are over (``running`` ends before the commit and waits
    for a KILL under way), so a connection back in the pool, perhaps another thread's by then,
    is never interrupted. SQLite has no such wait (its busy timeout waits in this process): no
    connection id, nothing sent."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._running = False
        self.connection_id: int | None = None  # the last unit of work's (kept for lock_blockers)

    @contextmanager
    def running(self, session) -> Iterator[None]:
        """``with db.unit_of_work() as session, work.running(session):`` interruptible inside (the
        ORM's flushes included); left before the unit of work's commit."""
        thread_id = server_thread_id(session)
        with self._guard:
            self.connection_id, self._running = thread_id, thread_id is not None
        try:
            yield
        finally:
            with self._guard:  # a KILL under way is sent before the statements are said over
                self._running = False

    def interrupt(self, db) -> bool:
        """End the statement the unit of work runs now (its lock wait), from a connection of its
        own (the pool's may all be taken by waiting units of work); False when none runs."""
        if not self._running:
            return False
        engine = create_engine(db.url, poolclass=pool.NullPool,
                               connect_args={"connect_timeout": 5, "read_timeout": 5, **connect_args(db.url)})
        try:
            with engine.connect() as connection, self._guard:
                if not self._running or self.connection_id is None:
                    return False
                connection.exec_driver_sql(f"KILL QUERY {int(self.connection_id)}")
                log.info("the statement of connection %s interrupted (KILL QUERY)", self.connection_id)
                return True
        finally:
            engine.dispose()


# the transactions that hold a lock the transaction of the connection ``waiter`` waits for
# (MariaDB's information_schema; MySQL 8 moved these tables to performance_schema: no rows there)
_BLOCKERS = text("""
    SELECT b.trx_mysql_thread_id AS id, b.trx_started AS started, p.HOST AS host, p.COMMAND AS command, p.TIME AS idle
    FROM information_schema.INNODB_TRX r
    JOIN information_schema.INNODB_LOCK_WAITS w ON w.requesting_trx_id = r.trx_id
    JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
    LEFT JOIN information_schema.PROCESSLIST p ON p.ID = b.trx_mysql_thread_id
    WHERE r.trx_mysql_thread_id = :waiter AND r.trx_state = 'LOCK WAIT'""")


def lock_blockers(db, waiter: int) -> list[str] | None:
    """Whether the connection ``waiter`` waits for a row lock right now, and who holds it: None
    when it does not wait (or this cannot be read: no PROCESS privilege, MySQL 8), else each
    holding connection as ``connection 17535 from 127.0.0.1:37466, in a transaction since
    22:18:12, Sleep for 138 s``. A read of the server's tables: it takes no lock."""
    try:
        with db.core() as connection:
            return _blockers(connection, waiter)
    except DBAPIError as exc:
        log.info("who holds the lock connection %s waits for not read: %s", waiter, str(exc).splitlines()[0][:200])
        return None


def _blockers(connection, waiter: int) -> list[str] | None:
    rows = connection.execute(_BLOCKERS, {"waiter": waiter}).all()
    if not rows:
        return None
    return [f"connection {row.id}" + (f" from {row.host}" if row.host else "")
            + (f", in a transaction since {row.started:%H:%M:%S} (the server's time)" if row.started else "")
            + (f", {row.command} for {row.idle} s" if row.command else "") for row in rows]


def statement_lock_wait(url: str, driver_connection) -> tuple[list[str], float] | None:
    """``services.db.lock_waits``' probe: whether the statement ``driver_connection`` runs (a
    MariaDB/MySQL DBAPI connection of ``url``'s) has been running so long because it waits for a
    row lock. None when it does not (a merely slow statement), or when the server cannot be
    reached; else who holds the lock (``lock_blockers``' words; empty when the server does not
    say: no PROCESS privilege, MySQL 8) and the server's ``innodb_lock_wait_timeout``.

    Read once, on a connection of its own: the pool's may all be taken by waiting statements,
    and a read through one would queue behind them. It takes no lock."""
    thread_id = getattr(driver_connection, "thread_id", None)
    if not callable(thread_id):  # a driver that does not say which server thread it is: nothing to ask
        return None
    thread_id = thread_id()
    engine = create_engine(url, poolclass=pool.NullPool,
                           connect_args={"connect_timeout": 5, "read_timeout": 5, **connect_args(url)})
    try:
        with engine.connect() as connection:
            timeout = float(connection.exec_driver_sql("SELECT @@innodb_lock_wait_timeout").scalar_one())
            try:
                holders = _blockers(connection, thread_id)
            except DBAPIError as exc:  # no PROCESS privilege, or MySQL 8's tables elsewhere: say it without them
                log.info("who holds the lock connection %s waits for not read: %s", thread_id, str(exc).splitlines()[0][:200])
                return [], timeout
    except DBAPIError as exc:  # the server not reached: an outage is no lock wait
        log.info("whether connection %s waits for a lock not read: %s", thread_id, str(exc).splitlines()[0][:200])
        return None
    finally:
        engine.dispose()
    return None if holders is None else (holders, timeout)
