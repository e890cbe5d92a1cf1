"""Opening the database (``app.composition.open_database``: every command but the few that only
read what is stored) takes no write lock once the settings row exists: a reading command answers
behind another console's writer frozen in its transaction (SQLite and MariaDB). Before, it asked
for SQLite's write lock to create that row, waited the whole busy timeout (30 s) and failed with
"database is locked". The row is still created by the first start, also when another process
creates it at the same moment. ``audit verify`` moves its checkpoint only if the write lock is free
(it waited the busy timeout for it too); left where it was, the next verification walks from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from app.composition import ensure_settings_row
from services.audit import AuditLog
from services.db import Database
from services.db.models import TradeSettings
from services.db.repositories.settings import SettingsRepository
from tests.fixtures.forked_app import run_sync
from tests.fixtures.locks import FrozenWriter, short_lock_waits

ROOT = Path(__file__).resolve().parents[2]
ANSWER_WITHIN = 20  # seconds; the old code waited out the 30 s busy timeout, then failed

pytestmark = pytest.mark.timeout(120)


def _command(db_url: str, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "app", "--db-url", db_url, "--log-level", "WARNING", *args]
    try:
        # PYTHONPATH as cli_helpers.child_env gives it (cwd is ROOT either way): forked, not exec'd
        return run_sync(argv, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=ANSWER_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(args)}` did not answer within {ANSWER_WITHIN} s behind the frozen writer")


def _installation_ids(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(TradeSettings.installation_id)))


def test_opening_with_the_row_stored_waits_for_no_frozen_writer(database):
    ensure_settings_row(database)
    short_lock_waits(database, 1)  # the old code: "database is locked" after 1 s on SQLite
    frozen = FrozenWriter(database.url)
    try:
        ensure_settings_row(database)
        assert not frozen.released
    finally:
        frozen.close()
    assert len(_installation_ids(database)) == 1


@pytest.mark.slow  # four `python -m app` subprocesses
def test_reading_commands_answer_behind_a_frozen_writer(database):
    ensure_settings_row(database)
    AuditLog(database).append("tester", "test.entry")  # verify has one to walk: it moves the checkpoint
    frozen = FrozenWriter(database.url)
    try:
        positions = _command(database.url, "positions")
        orders = _command(database.url, "orders", "--json")
        shown = _command(database.url, "trade-settings", "--json")
        verified = _command(database.url, "audit", "verify")
        assert not frozen.released  # all four answered while it still held its locks
    finally:
        frozen.close()
    results = (positions, orders, shown, verified)
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    assert verified.stdout.strip() == "audit chain intact: 1 entries verified"
    assert positions.stdout.strip() == "no positions"
    assert json.loads(orders.stdout) == []
    assert json.loads(shown.stdout)["trading_state"] == "ACTIVE"


# the second moment exists on MariaDB only: SQLite's create holds the write lock from its start
@pytest.mark.parametrize(("db_backend", "commits_after_read"), [
    pytest.param("sqlite", 1, id="sqlite-after-the-first-look"),
    pytest.param("mysql", 1, id="mysql-after-the-first-look", marks=pytest.mark.mysql),
    pytest.param("mysql", 2, id="mysql-after-the-create-looked", marks=pytest.mark.mysql),
], indirect=["db_backend"])
def test_the_row_another_process_creates_meanwhile_is_kept(database, commits_after_read):
    """The other creator commits right after this one found no row (first look), or, on MariaDB,
    even after the create's own look, just before its insert: this one takes the row the other
    stored, and one installation id stays. (SQLite's create holds the write lock from its
    start: the other cannot commit between its look and its insert.)"""
    assert _installation_ids(database) == []
    other = Database(database.url)
    scope = other.unit_of_work()
    created = SettingsRepository(scope.__enter__()).get()  # inserted, not committed: invisible to a reader
    reads = []

    @event.listens_for(database.engine, "after_cursor_execute")
    def _other_commits_after_the_first_look(_conn, _cursor, statement, *_rest):
        if "trade_settings" in statement and statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)
            if len(reads) == commits_after_read:
                scope.__exit__(None, None, None)

    done: list[BaseException | None] = []

    def open_it() -> None:
        try:
            ensure_settings_row(database)
            done.append(None)
        except BaseException as exc:
            done.append(exc)

    thread = threading.Thread(target=open_it, daemon=True)
    thread.start()
    thread.join(30)
    other.dispose()
    assert done == [None], done
    assert len(reads) > commits_after_read, "the row was found before the other committed: the test proves nothing"
    assert _installation_ids(database) == [created.installation_id]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(TradeSettings)) == 1


def test_a_verification_behind_a_frozen_writer_answers_and_the_next_one_moves_the_checkpoint(database):
    log = AuditLog(database)
    log.append("tester", "test.first")
    assert log.verify().ok and log.checkpoint()[0] == 1
    log.append("tester", "test.second")
    short_lock_waits(database, 1)  # the old code: "database is locked" after 1 s on SQLite
    frozen = FrozenWriter(database.url)
    try:
        behind = log.verify()
        assert not frozen.released
    finally:
        frozen.close()
    assert (behind.ok, behind.checked) == (True, 2)
    # SQLite: not moved (the lock was held); MariaDB locks rows: the checkpoint's was free
    assert log.checkpoint()[0] == (1 if database.is_sqlite else 2)
    after = log.verify()
    assert (after.ok, after.checked, log.checkpoint()[0]) == (True, 2, 2)
    if database.is_sqlite:  # the no-wait write gave the pooled connection its own busy timeout back
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1000
