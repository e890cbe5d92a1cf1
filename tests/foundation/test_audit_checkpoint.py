"""Verification from a stored checkpoint (SQLite and MariaDB): after an action only the new
entries are read; the checkpoint is checked against the row it names; a full walk finds a
tampered old entry, and after that every verification reports the break."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, text

from services.audit import AuditEntry, AuditLog
from services.db.models import AuditLog as AuditLogRow

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@contextmanager
def rows_read():
    """Counts audit entries loaded from the database (every ORM load of an audit row)."""
    counter = {"rows": 0}

    def on_load(_target, _context):
        counter["rows"] += 1

    event.listen(AuditLogRow, "load", on_load)
    try:
        yield counter
    finally:
        event.remove(AuditLogRow, "load", on_load)


def _entries(n: int, start: int = 0):
    return (AuditEntry("bench", "order.submit", "order", start + k, {"qty": str(k % 7)}, T0) for k in range(n))


def test_bulk_append_builds_the_same_chain_as_single_appends(database):
    log = AuditLog(database)
    log.append("alice", "first", time=T0)
    assert log.append_many(_entries(3)) == 3
    log.append("alice", "last", time=T0)
    records = log.list()
    assert [r.id for r in records] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert log.verify(full=True).ok and log.verify(full=True).checked == 5


def test_verification_after_an_action_reads_only_the_new_entries(database):
    log = AuditLog(database)
    log.append_many(_entries(3000))
    first = log.verify()
    assert (first.ok, first.checked, first.walked, first.full) == (True, 3000, 3000, True)
    assert log.checkpoint()[0] == 3000
    log.append("alice", "trading.halt", time=T0)
    with rows_read() as read:
        after = log.verify()
    assert (after.ok, after.checked, after.walked, after.since_id) == (True, 3001, 1, 3000)
    assert read["rows"] == 2  # the checkpoint's own entry, checked against it, and the new one
    with rows_read() as read:
        again = log.verify()
    assert (again.ok, again.checked, again.walked) == (True, 3001, 0)
    assert read["rows"] == 1
    assert log.checkpoint()[0] == 3001


def test_a_tampered_old_entry_is_found_by_the_full_walk_and_then_reported_every_time(database):
    log = AuditLog(database)
    log.append_many(_entries(50))
    assert log.verify().ok
    with database.engine.begin() as c:
        c.execute(text("UPDATE audit_logs SET actor = 'mallory' WHERE id = 7"))
    log.append("alice", "order.cancel", time=T0)
    assert log.verify().ok  # the checkpoint vouches for entries 1-50: only a full walk rereads them
    full = log.verify(full=True)
    assert (full.ok, full.first_broken_id, full.checked, full.walked) == (False, 7, 6, 7)
    assert "altered" in full.reason
    assert log.checkpoint() is None
    later = log.verify()  # no checkpoint any more: a walk from the first entry, the break again
    assert (later.ok, later.first_broken_id, later.full) == (False, 7, True)


@pytest.mark.parametrize(
    ("statement", "words"),
    [("UPDATE audit_logs SET hash = :h WHERE id = 20", "no longer matches"),
     ("UPDATE audit_logs SET payload = '{\"qty\": \"999\"}' WHERE id = 20", "no longer matches"),
     ("DELETE FROM audit_logs WHERE id >= 20", "no longer exists")],
)
def test_a_checkpoint_that_does_not_match_its_row_is_reported(database, statement, words):
    log = AuditLog(database)
    log.append_many(_entries(20))
    assert log.verify().ok and log.checkpoint()[0] == 20
    with database.engine.begin() as c:
        c.execute(text(statement), {"h": "e" * 64})
    result = log.verify()
    assert (result.ok, result.first_broken_id) == (False, 20)
    assert words in result.reason and "tampering or a broken chain" in result.reason


def test_a_break_among_the_new_entries_is_reported_from_the_checkpoint(database):
    log = AuditLog(database)
    log.append_many(_entries(10))
    assert log.verify().ok
    log.append_many(_entries(5, start=10))
    with database.engine.begin() as c:
        c.execute(text("UPDATE audit_logs SET action = 'x' WHERE id = 13"))
    result = log.verify()
    assert (result.ok, result.first_broken_id, result.checked, result.walked, result.since_id) == (False, 13, 12, 3, 10)


def test_entries_after_returns_only_newer_entries_oldest_first(database):
    log = AuditLog(database)
    log.append_many(_entries(10))
    with rows_read() as read:
        newer = log.entries_after(7)
    assert [r.id for r in newer] == [8, 9, 10] and read["rows"] == 3
    assert [r.id for r in log.entries_after(0, limit=2)] == [9, 10]
    assert log.entries_after(10) == []
