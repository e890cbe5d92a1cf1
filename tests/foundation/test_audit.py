"""The audit chain on SQLite and MariaDB: hashing, verification, tampering, concurrency."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from services.audit import AuditEntry, AuditLog, AuditVerification, canonical_json, entry_hash
from services.db.models import GENESIS_HASH
from services.db.repositories import Repositories
from services.domain import AuditRecord
from tests.foundation import _workers

T0 = datetime(2026, 3, 2, 14, 30, 0, 5, tzinfo=UTC)
SPAWN = multiprocessing.get_context("spawn")
DEADLINE = 60


def test_canonical_json_is_sorted_compact_and_exact():
    value = {"b": Decimal("1.50"), "a": [1, "x"], "t": T0, "n": None, "é": True}
    assert canonical_json(value) == '{"a":[1,"x"],"b":"1.50","n":null,"t":"2026-03-02T14:30:00.000005Z","é":true}'


def test_first_entry_hash_is_sha256_over_genesis_and_canonical_entry(database):
    log = AuditLog(database)
    record = log.append("alice", "order.cancel", "order", 42, {"reason": "fat finger", "qty": Decimal("10")}, time=T0)
    expected_json = (
        '{"action":"order.cancel","actor":"alice","entity_id":"42","entity_type":"order","id":1,'
        '"payload":{"qty":"10","reason":"fat finger"},"time":"2026-03-02T14:30:00.000005Z"}'
    )
    expected = hashlib.sha256((GENESIS_HASH + expected_json).encode()).hexdigest()
    assert record == AuditRecord(
        id=1, time=T0, actor="alice", action="order.cancel", entity_type="order", entity_id="42",
        payload={"qty": "10", "reason": "fat finger"}, prev_hash=GENESIS_HASH, hash=expected,
    )
    second = log.append("bob", "trading.halt", time=T0)
    assert second.prev_hash == record.hash
    assert second.hash == entry_hash(record.hash, id=2, time=T0, actor="bob", action="trading.halt", entity_type=None, entity_id=None, payload={})
    assert log.verify() == AuditVerification(ok=True, checked=2)


def test_list_filters_and_orders(database):
    log = AuditLog(database)
    for n in range(3):
        log.append("system", "run.create" if n != 1 else "order.cancel", "run", n)
    assert [r.entity_id for r in log.list(action="run.create")] == ["0", "2"]
    assert [r.id for r in log.list(newest_first=True, limit=2)] == [3, 2]
    assert [r.id for r in log.list(entity_type="run", entity_id=1)] == [2]
    assert log.count() == 3


def test_append_inside_the_callers_transaction_rolls_back_with_it(database):
    log = AuditLog(database)
    with pytest.raises(RuntimeError), database.unit_of_work() as s:
        Repositories(s).settings.set_trading_state("HALTED")
        log.append("alice", "trading.halt", session=s)
        raise RuntimeError("the change failed")
    assert log.count() == 0
    with database.unit_of_work() as s:
        Repositories(s).settings.set_trading_state("HALTED")
        log.append("alice", "trading.halt", "settings", 1, {"state": "HALTED"}, session=s)
    assert [r.action for r in log.list()] == ["trading.halt"]
    assert log.verify().ok


def test_appends_in_one_session_and_a_bulk_append_after_them_keep_one_chain(database):
    """The first append ever makes the chain's head (an object of its session); the next ones in
    that session move the head by statements, and the object, kept in step, never goes stale."""
    log = AuditLog(database)
    with database.unit_of_work() as s:
        first = log.append("alice", "a.one", session=s)
        second = log.append("alice", "a.two", session=s)
        third = log.append("alice", "a.three", session=s)
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    assert log.append_many([AuditEntry("bob", "b.one"), AuditEntry("bob", "b.two")]) == 2
    assert log.append("alice", "a.four").prev_hash == log.list()[-2].hash
    with database.session() as s:
        head = s.execute(text("SELECT last_id, last_hash FROM audit_chain_head")).one()
    assert tuple(head) == (log.list()[-1].id, log.list()[-1].hash)
    assert log.verify(full=True).ok and log.count() == 6


def test_payload_keys_that_sort_otherwise_as_text_verify_in_both_appends(database):
    """A payload keyed by numbers (an order count per day, say) is stored as JSON, whose keys
    are text: {9: .., 10: ..} sorts as 9, 10 but reads back as "10", "9". The hash must be of
    the payload as stored, or ``verify`` flags an untouched entry; the bulk append hashed the
    text as given."""
    log = AuditLog(database)
    payload = {9: "nine", 10: {2: 1, 11: 2}}
    log.append("alice", "a.numbers", payload=payload)
    log.append_many([AuditEntry("bob", "b.numbers", payload=payload)])
    assert [r.payload for r in log.list()] == [{"9": "nine", "10": {"2": 1, "11": 2}}] * 2
    assert log.verify(full=True).ok


def test_a_payload_keyed_by_numbers_and_text_is_stored_and_verifies(database):
    """Sorting {1: .., "all": ..} as given compares a number with text: the append raised
    TypeError and the action it recorded went unrecorded."""
    log = AuditLog(database)
    payload = {1: "one", "all": 2, "nested": {3: "x", "y": 4}}
    log.append("alice", "a.mixed", payload=payload)
    log.append_many([AuditEntry("bob", "b.mixed", payload=payload)])
    assert [r.payload for r in log.list()] == [{"1": "one", "all": 2, "nested": {"3": "x", "y": 4}}] * 2
    assert log.verify(full=True).ok


def test_append_needs_a_unit_of_work_session_on_sqlite(database):
    log = AuditLog(database)
    with database.session() as s:
        if database.is_sqlite:
            with pytest.raises(ValueError, match="unit_of_work"):
                log.append("alice", "x", session=s)
        else:  # MySQL serializes with SELECT ... FOR UPDATE in any transaction
            assert log.append("alice", "x", session=s).id == 1


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "mallory"), ("payload", '{"qty": "1000"}'), ("entity_id", "43"), ("prev_hash", "f" * 64), ("hash", "e" * 64)],
)
def test_changing_one_field_of_one_row_names_that_row(database, column, value):
    log = AuditLog(database)
    for n in range(5):
        log.append("alice", "order.submit", "order", n, {"qty": "10"}, time=T0)
    with database.engine.begin() as c:
        c.execute(text(f"UPDATE audit_logs SET {column} = :value WHERE id = 3"), {"value": value})
    result = log.verify()
    assert (result.ok, result.first_broken_id, result.checked) == (False, 3, 2)
    assert "altered" in result.reason


def test_changing_the_time_by_one_microsecond_is_detected(database):
    log = AuditLog(database)
    for _n in range(3):
        log.append("alice", "x", time=T0)
    with database.engine.begin() as c:
        c.execute(text("UPDATE audit_logs SET time = :t WHERE id = 2"), {"t": datetime(2026, 3, 2, 14, 30, 0, 6)})
    assert log.verify().first_broken_id == 2


def test_deleting_entries_is_detected(database):
    log = AuditLog(database)
    for n in range(4):
        log.append("alice", "x", payload={"n": n})
    with database.engine.begin() as c:
        c.execute(text("DELETE FROM audit_logs WHERE id = 2"))
    gap = log.verify()
    assert (gap.ok, gap.checked, gap.first_broken_id) == (False, 1, 3)
    assert "removed" in gap.reason
    with database.engine.begin() as c:
        c.execute(text("DELETE FROM audit_logs WHERE id >= 2"))
    tail = log.verify()
    assert (tail.ok, tail.checked, tail.first_broken_id) == (False, 1, 4)


def test_threads_appending_concurrently_keep_one_chain(database):
    log = AuditLog(database)
    threads, per_thread = 4, 15
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    ids: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        try:
            barrier.wait(timeout=DEADLINE)
            for n in range(per_thread):
                record = log.append(name, "thread.append", payload={"n": n})
                with lock:
                    ids.append(record.id)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=DEADLINE)
    assert errors == []
    assert sorted(ids) == list(range(1, threads * per_thread + 1))
    assert log.verify() == AuditVerification(ok=True, checked=threads * per_thread)


@pytest.mark.slow  # spawns writer processes
def test_processes_appending_concurrently_keep_one_chain(database, db_url):
    log = AuditLog(database)
    log.append("parent", "start")
    racers, per_process = 3, 10
    barrier = SPAWN.Barrier(racers)
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(target=_workers.append_audit, args=(db_url, f"p{i}", per_process, barrier, results)) for i in range(racers)
    ]
    for p in processes:
        p.start()
    try:
        outcomes = [results.get(timeout=DEADLINE) for _ in range(racers)]
    finally:
        for p in processes:
            p.join(timeout=DEADLINE)
    assert [status for status, _ in outcomes] == ["ok"] * racers, outcomes
    all_ids = sorted(i for _, ids in outcomes for i in ids)
    assert all_ids == list(range(2, racers * per_process + 2))
    assert log.verify() == AuditVerification(ok=True, checked=racers * per_process + 1)
    assert {r.actor for r in log.list()} == {"parent", "p0", "p1", "p2"}
