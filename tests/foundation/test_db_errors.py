"""First start and database errors: one clear line per problem (server unreachable at
host:port, access denied for user, unknown database NAME with the CREATE DATABASE to run, an
SQLite folder that does not exist), never SQLAlchemy's documentation link, never a password."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.commands.db import database_failure
from tests.fixtures.forked_app import run_sync

ROOT = Path(__file__).resolve().parents[2]


def _console(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TC_")}
    env.update(PYTHONPATH=str(ROOT), TC_CONFIG_FILE=str(tmp_path / "settings.toml"),
               TC_DATA_DIR=str(tmp_path / "data"), TC_LOG_DIR=str(tmp_path / "logs"))
    return run_sync([sys.executable, "-m", "app", *args], env=env, timeout=120)


def _one_clear_line(result: subprocess.CompletedProcess, *, code: int, says: str, secret: str = "") -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert says in lines[0], lines[0]
    assert "sqlalche.me" not in result.stderr and "Traceback" not in result.stderr
    if secret:
        assert secret not in result.stderr + result.stdout
    return lines[0]


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_unreachable_server_names_host_and_port(tmp_path):
    url = "mysql+pymysql://trader:Pw-unreachable-1@127.0.0.1:1/console"
    for command in (("snapshot", "list"), ("db", "upgrade"), ("orders",)):
        _one_clear_line(_console("--db-url", url, *command, tmp_path=tmp_path), code=5,
                        says="database server unreachable at 127.0.0.1:1", secret="Pw-unreachable-1")


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_access_denied_names_the_user(mysql_url, tmp_path):
    server = make_url(mysql_url)
    url = server.set(username="tc_nobody_" + uuid.uuid4().hex[:6], password="Pw-denied-22").render_as_string(hide_password=False)
    line = _one_clear_line(_console("--db-url", url, "db", "current", tmp_path=tmp_path), code=5,
                           says="access denied for user 'tc_nobody_", secret="Pw-denied-22")
    assert f"{server.host}:{server.port or 3306}" in line


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_unknown_database_says_how_to_create_it(mysql_url, tmp_path):
    name = "tc_missing_" + uuid.uuid4().hex[:8]
    url = make_url(mysql_url).set(database=name).render_as_string(hide_password=False)
    for command in (("db", "upgrade"), ("snapshot", "list")):
        line = _one_clear_line(_console("--db-url", url, *command, tmp_path=tmp_path), code=5, says=f"unknown database '{name}'")
        assert f"CREATE DATABASE `{name}`" in line and "trading-console db upgrade" in line


def test_sqlite_folder_that_does_not_exist_is_refused_not_created(tmp_path):
    missing = tmp_path / "no" / "such" / "folder"
    url = f"sqlite:///{(missing / 'console.sqlite3').as_posix()}"
    for command in (("snapshot", "list"), ("db", "upgrade")):
        _one_clear_line(_console("--db-url", url, *command, tmp_path=tmp_path), code=2, says="does not exist")
    assert not (tmp_path / "no").exists()


def test_a_read_only_sqlite_database_says_so_and_what_to_do(tmp_path):
    """A database file this process cannot write (a read-only file or mount, another user's
    file; opened read-only here, which SQLite refuses alike: SQLITE_READONLY) read "database
    error: attempt to write a readonly database": no file named, nothing said to do. Exit 2,
    the environment's (as a folder or file this user cannot write: test_db_not_writable.py)."""
    path = tmp_path / "kept.sqlite3"
    assert _console("--db-url", f"sqlite:///{path.as_posix()}", "db", "upgrade", tmp_path=tmp_path).returncode == 0
    url = f"sqlite:///file:{path.as_posix()}?mode=ro&uri=true"
    sample = ROOT / "resources" / "samples" / "momentum_2026-11-20.csv"
    line = _one_clear_line(_console("--db-url", url, "snapshot", "import", str(sample), "--project", "p", tmp_path=tmp_path),
                           code=2, says=f"the SQLite database {path} is read-only")
    assert line.endswith("make it writable (the file and its folder), or give another --db-url; nothing was written"), line


def test_db_current_of_a_missing_sqlite_file_creates_none(tmp_path):
    """`db current` asks; it left an empty file behind at a mistyped path, which the next
    command then took for a database (and upgraded)."""
    path = tmp_path / "typo.sqlite3"
    result = _console("--db-url", f"sqlite:///{path.as_posix()}", "db", "current", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("no schema (run `trading-console db upgrade`)\n"), result.stdout
    assert not path.exists()


def test_the_default_data_folder_is_still_created(tmp_path):
    result = _console("snapshot", "list", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "console.sqlite3").is_file()


def test_a_lock_wait_timed_out_reads_as_a_row_held_too_long(mysql_url):
    """MariaDB's 1205 ("Lock wait timeout exceeded; try restarting transaction"), raised once
    services.db.lock_conflicts' retries ran out, is said in the trader's words."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from services.db.errors import describe_db_error

    table = "tc_lock_" + uuid.uuid4().hex[:8]
    engine = create_engine(mysql_url)
    try:
        with engine.begin() as setup:
            setup.execute(text(f"CREATE TABLE {table} (id INT PRIMARY KEY, v INT) ENGINE=InnoDB"))
            setup.execute(text(f"INSERT INTO {table} VALUES (1, 0)"))
        with engine.connect() as holder, engine.connect() as waiter:
            holder.begin()
            holder.execute(text(f"SELECT v FROM {table} WHERE id = 1 FOR UPDATE"))  # the row stays locked
            waiter.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
            with pytest.raises(OperationalError) as raised:
                waiter.execute(text(f"UPDATE {table} SET v = 1 WHERE id = 1"))
            holder.rollback()
    finally:
        with engine.begin() as cleanup:
            cleanup.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()
    line = describe_db_error(raised.value, mysql_url)
    assert line == ("the database kept a row locked by another connection for too long (a process stopped inside a "
                    "transaction?); nothing was written, try again")
    # the command's code is the event writer's for the same wait (DatabaseLockHeld): a step other
    # than the writer meeting the locks first said "database_unreachable" of a database answering
    assert database_failure(raised.value, mysql_url) == ("database_lock_held", line, 5)


def test_a_deadlock_reads_as_a_deadlock_with_another_connection():
    """MariaDB's 1213 as the driver raises it (pymysql's error wrapped by SQLAlchemy)."""
    import pymysql
    from sqlalchemy.exc import OperationalError

    from services.db.errors import describe_db_error

    exc = OperationalError("UPDATE trade_orders SET status=%s", {}, pymysql.err.OperationalError(
        1213, "Deadlock found when trying to get lock; try restarting transaction"))
    line = describe_db_error(exc, "mysql+pymysql://trader:Pw-dead-3@127.0.0.1:3306/console")
    assert line.startswith("the database ended this change as a deadlock with another connection")
    assert line.endswith("nothing was written, try again") and "Deadlock found" not in line


def test_a_locked_sqlite_database_reads_as_held_by_another_process(tmp_path):
    import sqlite3

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from services.db.errors import describe_db_error

    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (v INT)")
    holder.execute("BEGIN IMMEDIATE")  # another process's write lock
    url = f"sqlite:///{path.as_posix()}"
    engine = create_engine(url, connect_args={"timeout": 0})
    try:
        with pytest.raises(OperationalError) as raised, engine.begin() as waiter:
            waiter.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        engine.dispose()
        holder.rollback()
        holder.close()
    line = describe_db_error(raised.value, url)
    assert line.startswith("the SQLite database stayed locked by another process for too long")
    assert database_failure(raised.value, url) == ("database_lock_held", line, 5)


def test_a_server_that_does_not_answer_is_still_unreachable():
    """The lock-held code is for a lock wait only: a refused connection stays ``database_unreachable``."""
    import pymysql
    from sqlalchemy.exc import OperationalError

    url = "mysql+pymysql://trader:Pw-x@127.0.0.1:1/console"
    refused = OperationalError("SELECT 1", {}, pymysql.err.OperationalError(2003, "Can't connect to MySQL server"))
    assert database_failure(refused, url)[0] == "database_unreachable"
