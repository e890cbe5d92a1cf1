"""``Database``: one engine per URL, a short session per unit of work, safe across threads.

SQLite: WAL journal, foreign keys on, a busy timeout, and every unit of work opens with
``BEGIN IMMEDIATE`` (it takes the write lock up front, so two writers queue on the busy timeout
instead of one failing half-way with "database is locked"). Read-only sessions use a plain
deferred ``BEGIN``. The log's checkpoints run in a thread of their own, not inside a writer's
commit (``services.db.wal_checkpoints``).
MySQL/MariaDB: READ COMMITTED, pre-ping (a restarted server costs one reconnect, not an error),
utf8mb4, a short connect timeout so that an unreachable server is reported quickly. Every
statement of a writable database is timed, so that a long wait for a row lock another connection
holds is said (``services.db.lock_waits``).

Read-only (``Database(url, read_only=True)``: monitor windows and ``watch``): every connection is
refused writes by the database itself (SQLite ``PRAGMA query_only``, MariaDB ``SET SESSION
TRANSACTION READ ONLY``) and ``unit_of_work`` raises :class:`ReadOnlyDatabase` before it starts.

The repositories are synchronous; GUI/async callers run them in a worker thread.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from services.db import lock_waits
from services.db.links import connect_args
from services.db.lock_conflicts import statement_lock_wait
from services.db.wal_checkpoints import BACKSTOP_PAGES, WalCheckpointer
from services.urls import redact_url, remember_url_secrets

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_BEGIN_OPTION = "tc_sqlite_begin"  # execution option: the BEGIN statement SQLite units use


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# one encoder for every value: json.dumps given options builds a new one per call, a quarter of
# the cost of a small payload (the engine stores one per order, per order event, per audit entry)
_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False)


def json_dumps(value: Any) -> str:
    """JSON for the database: Decimals as strings (exact), datetimes as ISO 8601."""
    return _ENCODER.encode(value)


def _sqlite_begin(dbapi_connection) -> None:
    """The BEGIN the transaction's ``begin`` event chose (``Database._sqlite_engine``); one that
    takes the write lock is timed, so that a long wait for it is said (``services.db.lock_waits``)."""
    statement = dbapi_connection.info.pop(SQLITE_BEGIN_OPTION, "BEGIN")
    if statement == "BEGIN":  # deferred: it takes no lock, it never waits
        dbapi_connection.driver_connection.execute(statement)
        return
    wait = lock_waits.begin(SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        dbapi_connection.driver_connection.execute(statement)
    except BaseException:
        lock_waits.end(wait, got_lock=False)
        raise
    lock_waits.end(wait, got_lock=True)


def _timed_statements(dialect, probe: lock_waits.Probe) -> None:
    """Every statement the MySQL/MariaDB ``dialect`` sends is timed, so that one waiting long for
    a row lock is said (``services.db.lock_waits``). On the dialect's own calls, where it hands the
    statement to the driver's cursor (as ``do_begin`` for SQLite): the engine's cursor events
    would add their dispatch to every statement; this adds a set's add and discard."""

    def timed(execute):
        def statement(cursor, *args, **kwargs):
            wait = lock_waits.statement(cursor.connection, probe)
            try:
                result = execute(cursor, *args, **kwargs)
            except BaseException:
                lock_waits.end(wait, got_lock=False)
                raise
            lock_waits.end(wait, got_lock=True)
            return result

        return statement

    dialect.do_execute = timed(dialect.do_execute)
    dialect.do_executemany = timed(dialect.do_executemany)
    dialect.do_execute_no_params = timed(dialect.do_execute_no_params)


class ReadOnlyDatabase(RuntimeError):
    """A write was asked of a database opened read-only (a monitor)."""


class Database:
    """``Database(url)``; ``with db.unit_of_work() as s:`` commits on success, rolls back on error."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5, read_only: bool = False) -> None:
        self.url = str(url)
        self.read_only = read_only
        self.checkpointer: WalCheckpointer | None = None  # a writable SQLite file's (services.db.wal_checkpoints)
        remember_url_secrets(self.url)
        parsed = make_url(self.url)
        self.backend = parsed.get_backend_name()  # "sqlite" | "mysql" | "mariadb"
        if self.backend == "sqlite":
            self.engine = self._sqlite_engine(parsed, echo)
        elif self.backend in ("mysql", "mariadb"):
            self.engine = create_engine(
                self.url,
                echo=echo,
                pool_pre_ping=True,
                pool_recycle=3600,
                pool_size=pool_size,
                max_overflow=10,
                isolation_level="READ COMMITTED",
                json_serializer=json_dumps,
                connect_args={"charset": "utf8mb4", "connect_timeout": 5, **connect_args(self.url)},
            )
            if not read_only:  # a monitor's reads wait for no row lock (READ COMMITTED reads take none)
                url = self.url
                _timed_statements(self.engine.dialect, lambda connection: statement_lock_wait(url, connection))
        else:
            self.engine = create_engine(self.url, echo=echo, json_serializer=json_dumps)
        if read_only:
            self._refuse_writes_on_connect()
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False, autoflush=True)

    # -- engines ---------------------------------------------------------------------------------

    def _sqlite_engine(self, parsed, echo: bool) -> Engine:
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in database
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": json_dumps,
            "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        }
        if in_memory:
            kwargs["poolclass"] = StaticPool
        else:
            from services.db.errors import check_sqlite_folder, check_sqlite_writable

            check_sqlite_folder(self.url)  # never create folders silently: a typo would start an empty database
            if not self.read_only:  # WAL: even a read creates -wal and -shm beside the file
                check_sqlite_writable(self.url)
        engine = create_engine(self.url, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # Let SQLAlchemy, not pysqlite, emit BEGIN (pysqlite would defer it past SELECTs and
            # could never say IMMEDIATE).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if not in_memory and not self.read_only:  # a reader leaves the file's journal mode alone
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # the checkpointer's thread does it
                cursor.execute("PRAGMA journal_size_limit=0")  # the log's size: what waits for a checkpoint
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection):
            # which BEGIN: told to the dialect's do_begin, which SQLAlchemy calls right after this
            connection.connection.info[SQLITE_BEGIN_OPTION] = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "BEGIN")

        # the BEGIN on the driver's connection, where SQLAlchemy emits a DBAPI's own begin (its
        # errors wrapped as any statement's): through exec_driver_sql, a statement's whole
        # machinery, it cost a sixth of a short transaction (a backtest opens a dozen per rebalance)
        engine.dialect.do_begin = _sqlite_begin  # type: ignore[method-assign]
        if not in_memory and not self.read_only:
            # the log's checkpoints (and their fsyncs) in a thread of their own, not in a commit
            def connect():
                cargs, cparams = engine.dialect.create_connect_args(engine.url)
                return engine.dialect.loaded_dbapi.connect(*cargs, **{**cparams, "check_same_thread": False,
                                                                       "isolation_level": None, "timeout": 5})

            checkpointer = self.checkpointer = WalCheckpointer(connect, os.path.abspath(f"{database}-wal"))
            event.listen(engine, "commit", lambda _connection: checkpointer.committed())
        return engine

    def _refuse_writes_on_connect(self) -> None:
        """Every new connection is read-only at the server: a write anywhere fails there, whatever
        code path asks for it."""
        statement = "PRAGMA query_only=ON" if self.is_sqlite else "SET SESSION TRANSACTION READ ONLY"

        @event.listens_for(self.engine, "connect")
        def _read_only(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()

    # -- properties ------------------------------------------------------------------------------

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @property
    def is_mysql(self) -> bool:
        return self.backend in ("mysql", "mariadb")

    @property
    def redacted_url(self) -> str:
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"Database({self.redacted_url!r})"

    # -- sessions --------------------------------------------------------------------------------

    @contextmanager
    def _scope(self, begin: str | None) -> Iterator[Session]:
        session = self._sessions()
        if begin is not None and self.is_sqlite:
            session.connection(execution_options={SQLITE_BEGIN_OPTION: begin})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def unit_of_work(self) -> AbstractContextManager[Session]:
        """A transaction for writes: commits when the block ends, rolls back if it raises.
        On SQLite it holds the write lock from the start (``BEGIN IMMEDIATE``)."""
        if self.read_only:
            raise ReadOnlyDatabase(f"{self.redacted_url} is open read-only (a monitor): nothing is written")
        return self._scope("BEGIN IMMEDIATE")

    @contextmanager
    def unit_of_work_if_free(self) -> Iterator[Session]:
        """``unit_of_work`` for a write that can be left to a later time (the audit checkpoint, a
        cache of how far the chain was verified): on SQLite it does not wait for the write lock
        another connection holds (a writer frozen in its transaction would keep it waiting the
        whole busy timeout) but raises "database is locked" at once
        (``services.db.lock_conflicts.is_lock_wait_timeout``). MySQL/MariaDB lock rows, not the
        database: there it is ``unit_of_work``."""
        if not self.is_sqlite:
            with self.unit_of_work() as session:
                yield session
            return
        if self.read_only:
            raise ReadOnlyDatabase(f"{self.redacted_url} is open read-only (a monitor): nothing is written")
        with self.engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            waits = driver.execute("PRAGMA busy_timeout").fetchone()[0]
            driver.execute("PRAGMA busy_timeout=0")  # on the driver: no BEGIN before it
            try:
                connection.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
                with Session(bind=connection, expire_on_commit=False, autoflush=True) as session, session.begin():
                    yield session
            finally:
                driver.execute(f"PRAGMA busy_timeout={int(waits)}")

    def session(self) -> AbstractContextManager[Session]:
        """A transaction for reads (and small writes that cannot race): commits at the end,
        rolls back on error; on SQLite it does not take the write lock up front."""
        return self._scope(None)

    @contextmanager
    def core(self, *, write: bool = False) -> Iterator[Connection]:
        """A transaction on a plain connection, for Core statements only (no ORM objects): the
        same commit / rollback and, with ``write``, the same locking as ``unit_of_work``, at a
        third of an ORM session's cost (a backtest opens a dozen transactions per rebalance)."""
        if write and self.read_only:
            raise ReadOnlyDatabase(f"{self.redacted_url} is open read-only (a monitor): nothing is written")
        with self.engine.connect() as connection:
            if write and self.is_sqlite:
                connection.execution_options(**{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"})
            with connection.begin():
                yield connection

    def ensure_schema(self) -> str | None:
        from services.db.migrate import ensure_schema

        return ensure_schema(self.url)

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()

