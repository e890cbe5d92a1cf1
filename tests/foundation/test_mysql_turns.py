"""The MariaDB tests take the session's two private databases in turns (tests/fixtures/db.py): what
a test wrote is emptied in the background while the next test runs on the other database, and the
test after that finds its database empty again, ids from 1. Emptied in each test's setup, the
TRUNCATEs (a file recreated and synced each) cost 0.1-0.3 s of every MariaDB test's time."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from services.db.models import Base


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return {t.name: connection.execute(sa.text(f"SELECT COUNT(*) FROM `{t.name}`")).scalar_one()
                    for t in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


@pytest.mark.mysql
def test_the_next_test_does_not_wait_for_the_emptying_of_what_the_test_before_it_wrote(mysql_url, _mysql_databases,
                                                                                     monkeypatch):
    from services.audit import AuditLog
    from services.audit_actions import AuditAction
    from services.db import Database
    from tests.fixtures import db as fixtures

    first = _mysql_databases.take()
    database = Database(first.url)
    try:
        AuditLog(database).append("cli", AuditAction.TRADING_HALT, "trade_settings", 1, {})
    finally:
        database.dispose()
    emptying = _empty_held_until_released(monkeypatch, fixtures, first.url)
    _mysql_databases.give_back(first)  # the first test's teardown is over
    second = _mysql_databases.take()  # the next test's setup: the first's emptying still held
    try:
        assert second.name != first.name
        assert emptying.started.wait(30), "the first database's emptying never started"
        assert emptying.threads != [threading.main_thread().name], emptying.threads
    finally:
        emptying.release.set()
        _mysql_databases.give_back(second)
    third = _mysql_databases.take()
    try:
        assert third is first
        assert _counts(third.url) == dict.fromkeys(_counts(third.url), 0)
        database = Database(third.url)
        try:  # ids from 1 again, as on a fresh SQLite copy
            assert AuditLog(database).append("cli", AuditAction.TRADING_HALT, "trade_settings", 1, {}).id == 1
        finally:
            database.dispose()
    finally:
        _mysql_databases.give_back(third)


class _HeldEmptying:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.threads: list[str] = []


def _empty_held_until_released(monkeypatch, fixtures, held_url: str) -> _HeldEmptying:
    """The emptying of ``held_url`` waits for ``release``; any other database's goes on at once."""
    held = _HeldEmptying()
    real = fixtures._empty_mysql_tables

    def empty(url: str) -> None:
        if url != held_url:
            real(url)
            return
        held.threads.append(threading.current_thread().name)
        held.started.set()
        if not held.release.wait(30):
            raise AssertionError("the held emptying was never released")
        real(url)

    monkeypatch.setattr(fixtures, "_empty_mysql_tables", empty)
    return held
