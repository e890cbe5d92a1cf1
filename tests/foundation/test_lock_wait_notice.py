"""A write waiting for the write lock another connection holds (SQLite: another console or command
in a long transaction, a process frozen in one) says so while it waits, once, with the time it
gives up at; and says when the lock came. Before, the trader clicked Execute and saw nothing for
a minute and a half (three busy timeouts of 30 s) before "database is locked".

The lock is held by a real second sqlite3 connection in ``BEGIN IMMEDIATE``; the holder lets go
once the waiting write said so (the test waits on the words, not on time)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import threading
from datetime import datetime, timedelta

import pytest

from services.audit import AuditLog
from services.db import lock_conflicts, lock_waits
from services.db.session import SQLITE_BUSY_TIMEOUT_MS
from services.trade_settings import TradeSettingsService
from tests.execution.cli_helpers import cli_args, start
from tests.fixtures.locks import short_lock_waits
from tests.fixtures.waiting import wait_until_blocking

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)]


class Holder:
    """Another process's connection in a transaction that holds the database's write lock
    (the database in WAL mode, as the console leaves it: ``database`` opened it once)."""

    def __init__(self, database) -> None:
        with database.core():  # the first connection turns the file to WAL
            pass
        url = database.url
        self.connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
        self.connection.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Its transaction committed and the connection closed (again: nothing)."""
        if self.connection is None:
            return
        connection, self.connection = self.connection, None
        connection.execute("COMMIT")
        connection.close()


class Said:
    """The observer the window subscribes: every call, and an event per kind."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.waiting, self.free = threading.Event(), threading.Event()

    def __call__(self, text: str, waiting: bool) -> None:
        self.calls.append((text, waiting))
        (self.waiting if waiting else self.free).set()


def _in_thread(work):
    got: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            got.append((True, work()))
        except BaseException as exc:  # raised in the test's thread
            got.append((False, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got


def _clock(text: str) -> datetime:
    """The ``until HH:MM:SS`` of the words, as today's (or tomorrow's, past midnight) time."""
    hh, mm, ss = map(int, re.search(r"until (\d\d):(\d\d):(\d\d)", text).groups())
    now = datetime.now()
    at = now.replace(hour=hh, minute=mm, second=ss, microsecond=0)
    return at + timedelta(days=1) if at < now - timedelta(hours=12) else at


@pytest.fixture
def said():
    observer = Said()
    unsubscribe = lock_waits.subscribe(observer)
    yield observer
    unsubscribe()


def test_a_write_behind_another_connections_write_lock_says_it_waits_and_writes_once_it_is_free(database, said, caplog):
    log = AuditLog(database)
    holder = Holder(database)
    try:
        with caplog.at_level(logging.WARNING, logger="services.db.lock_waits"):
            started = datetime.now()
            thread, got = _in_thread(lambda: log.append("tester", "test.waited"))
            assert said.waiting.wait(lock_waits.NOTICE_S + 10), "the waiting write said nothing"
            assert not got, "the write did not wait for the holder's lock: the test proves nothing"
            [(text, waiting)] = said.calls
            assert waiting and text.startswith("waiting for the database: another connection")
            assert "holds its write lock" in text and "AuditLog._append_alone" in text
            # the whole deadline: every lock wait retry_lock_conflicts allows, not the first one's
            budget = timedelta(milliseconds=SQLITE_BUSY_TIMEOUT_MS * lock_conflicts.LOCK_WAIT_ATTEMPTS)
            assert abs(_clock(text) - (started + budget)) < timedelta(seconds=3), text
            # the log says the same once (a command prints it on stderr)
            assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [text]
    finally:
        holder.commit()
    thread.join(20)
    assert got and got[0][0], got
    assert [e.action for e in log.list()] == ["test.waited"]
    assert said.free.wait(5)
    assert said.calls[-1][0].startswith("the database is free again: AuditLog._append_alone got its write lock")


def test_the_waiting_is_said_once_over_every_attempt_of_the_retried_work(database, said, caplog, monkeypatch):
    monkeypatch.setattr(lock_waits, "NOTICE_S", 0.2)
    short_lock_waits(database, 1)  # each attempt gives up after 1 s: the second one waits too
    log = AuditLog(database)
    holder = Holder(database)
    try:
        with caplog.at_level(logging.WARNING, logger="services.db.lock_conflicts"):
            thread, got = _in_thread(lambda: log.append("tester", "test.waited"))
            wait_until_blocking(lambda: "running it again (attempt 3)" in caplog.text or got, 20, "the second lock wait to time out")
    finally:
        holder.commit()
    thread.join(20)
    assert got and got[0][0], got
    assert [waiting for _text, waiting in said.calls] == [True, False], said.calls
    assert [e.action for e in log.list()] == ["test.waited"]


def test_a_write_that_does_not_wait_says_nothing(database, said):
    AuditLog(database).append("tester", "test.free")
    with database.unit_of_work():
        pass
    assert said.calls == []


@pytest.mark.slow  # the real 2 s wait before the words, in a `python -m app` child
async def test_a_command_behind_another_connections_write_lock_prints_that_it_waits_and_completes(database):
    holder = Holder(database)
    child = await start(cli_args(database.url, 0, "trade-settings", "set", "auto_recovery.new_timeout_seconds=7", "--json",
                                 connection=False))
    lines: list[str] = []
    try:
        while not any("waiting for the database" in line for line in lines):
            try:
                line = (await asyncio.wait_for(child.stderr.readline(), lock_waits.NOTICE_S + 20)).decode()
            except TimeoutError:
                pytest.fail(f"the waiting command said nothing on stderr: {lines}")
            assert line, f"the command ended without saying it waits: {lines}"
            lines.append(line)
        assert child.returncode is None, "the command did not wait for the holder's lock"
    finally:
        holder.commit()
    out, err = await asyncio.wait_for(child.communicate(), 30)
    assert child.returncode == 0, "".join(lines) + err.decode()
    [waiting] = [line for line in lines if "waiting for the database" in line]
    assert "WARNING" in waiting and "holds its write lock" in waiting and "still trying until" in waiting
    assert json.loads(out)["auto_recovery"]["new_timeout_seconds"] == 7
    assert TradeSettingsService(database, "tester").read()["auto_recovery"]["new_timeout_seconds"] == 7
