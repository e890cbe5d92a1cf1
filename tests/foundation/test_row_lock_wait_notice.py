"""On MariaDB a write waiting for a row another connection keeps locked (another console or
command in a long transaction, a process frozen in one) says so while it waits, naming the
connection that holds the row, and says when it got it; as SQLite's wait for the write lock does
(test_lock_wait_notice.py). Before, the write waited up to innodb_lock_wait_timeout (50 s, three
times over with the retries) and the trader saw nothing. A statement that is merely slow waits for
no lock and is not said.

The row is held by a real second connection in an open transaction (``SELECT ... FOR UPDATE``);
the holder lets go once the waiting write said so (the test waits on the words, not on time)."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from services.db import Database, lock_waits
from services.db.lock_conflicts import is_interrupted
from services.trade_settings import TradeSettingsService
from tests.fixtures.locks import FrozenWriter, outlast_blocking, short_lock_waits
from tests.fixtures.waiting import wait_until_blocking
from tests.foundation.test_lock_wait_notice import Said, _in_thread

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("db_backend", [pytest.param("mysql", marks=pytest.mark.mysql)],
                                                              indirect=True)]
CHANGE = ["auto_recovery.new_timeout_seconds=7"]


class RowHolder:
    """Another connection in a transaction that keeps the trade settings' row locked."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, poolclass=NullPool)
        self.connection = self.engine.connect()
        self.id = self.connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()
        self.connection.execute(text("SELECT id FROM trade_settings WHERE id = 1 FOR UPDATE")).all()

    def commit(self) -> None:
        """Its transaction committed and the connection closed (again: nothing)."""
        if self.connection is not None:
            connection, self.connection = self.connection, None
            connection.commit()
            connection.close()
        self.engine.dispose()


@pytest.fixture
def said(monkeypatch):
    monkeypatch.setattr(lock_waits, "NOTICE_S", 0.2)
    observer = Said()
    unsubscribe = lock_waits.subscribe(observer)
    yield observer
    unsubscribe()


def _settings_write_behind(holder: RowHolder, service: TradeSettingsService, said: Said) -> str:
    """The settings change run while ``holder`` keeps the row; its waiting words, once said."""
    try:
        thread, got = _in_thread(lambda: service.set(CHANGE))
        assert said.waiting.wait(15), f"the waiting write said nothing: {said.calls}, {got}"
        assert not got, "the write did not wait for the holder's lock: the test proves nothing"
        [(words, waiting)] = said.calls
        assert waiting
    finally:
        holder.commit()
    thread.join(20)
    assert got and got[0][0], got
    assert service.read()["auto_recovery"]["new_timeout_seconds"] == 7
    assert said.free.wait(5), f"the end of the wait was not said: {said.calls}"
    return words


def test_a_write_behind_another_connections_row_lock_says_who_holds_it_and_when_it_is_free(database, said, caplog):
    service = TradeSettingsService(database, "tester")
    service.read()  # the settings' row, written on the first read
    holder = RowHolder(database.url)
    with caplog.at_level(logging.WARNING, logger="services.db.lock_waits"):
        words = _settings_write_behind(holder, service, said)
    assert words.startswith("waiting for the database: another connection holds a row this write needs: "
                            f"connection {holder.id} from "), words
    assert "TradeSettingsService._store has waited" in words and "still trying until" in words
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [words]
    assert [waiting for _words, waiting in said.calls] == [True, False], said.calls
    assert said.calls[-1][0].startswith("the database is free again: TradeSettingsService._store got its write lock after ")


def test_a_slow_statement_that_waits_for_no_lock_is_not_said(database, said, caplog):
    connection_ids: list[int] = []

    def slow_write() -> None:
        with database.unit_of_work() as session:
            connection_ids.append(session.execute(text("SELECT CONNECTION_ID()")).scalar_one())
            session.execute(text("SELECT SLEEP(60)"))  # ended below, once the watcher looked at it

    with caplog.at_level(logging.DEBUG, logger="services.db.lock_waits"):
        thread, got = _in_thread(slow_write)
        try:
            wait_until_blocking(lambda: "waits for no lock" in caplog.text or said.calls or got, 15,
                                "the watcher to look at the slow statement")
            assert said.calls == [], "a statement waiting for no lock was said as a lock wait"
            assert not got, f"the slow statement ended before the watcher looked at it: {got}"
        finally:
            with database.core() as connection:
                connection.execute(text(f"KILL QUERY {int(connection_ids[0])}"))
        thread.join(20)
    assert got and not got[0][0] and is_interrupted(got[0][1]), f"the slow statement did not end by the KILL: {got}"
    assert said.calls == []


def test_a_row_lock_wait_over_retried_attempts_is_said_once_and_its_end_too(database, said, caplog):
    """The first attempt gives up (1205) while the holder keeps the row; the holder lets go and
    the next attempt gets it at once, too soon for a notice of its own: the end is still said."""
    service = TradeSettingsService(database, "tester")
    service.read()
    short_lock_waits(database, 2)
    frozen = FrozenWriter(database.url)  # holds the audit chain's head, which the change audits
    try:
        outlast_blocking(frozen, lambda: service.set(CHANGE), caplog)
    finally:
        frozen.close()
    assert [waiting for _words, waiting in said.calls] == [True, False], said.calls
    assert said.calls[0][0].startswith("waiting for the database: another connection holds a row this write needs: connection ")
    assert said.calls[1][0].startswith("the database is free again: TradeSettingsService._store got its write lock")
    assert service.read()["auto_recovery"]["new_timeout_seconds"] == 7


@pytest.fixture
def without_process_privilege(database):
    """``database``'s URL for a user of its own who may do anything in it but read the server's
    lock tables (no PROCESS privilege), dropped after the test."""
    url = make_url(database.url)
    user, password = f"tc_noproc_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    host = url.host or "localhost"
    with database.core() as connection:
        connection.execute(text(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'"))
        connection.execute(text(f"GRANT ALL ON `{url.database}`.* TO '{user}'@'{host}'"))
    try:
        yield url.set(username=user, password=password).render_as_string(hide_password=False)
    finally:
        with database.core() as connection:
            connection.execute(text(f"DROP USER '{user}'@'{host}'"))


def test_a_row_lock_wait_the_server_does_not_explain_is_said_without_the_holder(database, said, without_process_privilege):
    TradeSettingsService(database, "tester").read()
    limited = Database(without_process_privilege)
    try:
        words = _settings_write_behind(RowHolder(database.url), TradeSettingsService(limited, "tester"), said)
    finally:
        limited.dispose()
    assert words.startswith("waiting for the database: another connection (a console or command in a long transaction?) "
                            "holds a row this write needs (TradeSettingsService._store has waited "), words
    assert "the server does not say which" in words
