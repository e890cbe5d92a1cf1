"""A verification of the audit chain (``AuditLog.verify``) walking while its MariaDB database is
dropped (a reset of the paper database, a restore) must neither hold the DROP for the length of
its walk nor end on a missing table's error, nor call the new database's chain broken.

Before, the walk was one transaction: it kept a shared metadata lock on the audit tables until it
ended, so the DROP DATABASE waited for the whole walk (``lock_wait_timeout``: a day by default),
and every statement of every other connection on those tables queued behind the DROP; the walk
then failed on "Table ... doesn't exist" (the checkpoint's table, gone meanwhile)."""

from __future__ import annotations

import threading

import pytest

from services.audit import AuditEntry, AuditLog, ChainReadInterrupted
from services.db import Database
from tests.fixtures.waiting import wait_until_blocking

pytestmark = [pytest.mark.timeout(120), pytest.mark.mysql]

ENTRIES = 2_500  # more than one batch of the walk (services.audit.VERIFY_BATCH)
PAUSED_AT = 100  # the entry the walk is held at while the database is dropped


# created again: a second whole migration of a new MariaDB database, 9 s of a loaded machine (slow)
@pytest.mark.parametrize("created_again", [pytest.param(False, id="dropped"),
                                           pytest.param(True, id="created_again", marks=pytest.mark.slow)])
def test_a_verification_the_database_is_dropped_under_lets_the_drop_through_and_says_so(private_mysql_db, monkeypatch,
                                                                                       created_again):
    import services.audit as audit_module

    url = private_mysql_db.url
    db = Database(url)
    log = AuditLog(db)
    log.append_many([AuditEntry("tester", "trading.halt", "x", n, {"n": n}) for n in range(ENTRIES)])
    paused, resume = threading.Event(), threading.Event()
    row_hash = audit_module._row_hash

    def held_row_hash(row):  # the walk held at one entry, as a long walk is busy there
        if row.id == PAUSED_AT and not paused.is_set():
            paused.set()
            resume.wait(60)
        return row_hash(row)
    monkeypatch.setattr(audit_module, "_row_hash", held_row_hash)
    ended: dict[str, object] = {}

    def verify():
        try:
            ended["result"] = log.verify()
        except Exception as exc:  # what it ended with is the test's to read
            ended["error"] = exc

    walker = threading.Thread(target=verify, daemon=True)
    dropped = threading.Event()

    def drop():
        private_mysql_db.drop()
        dropped.set()

    dropper = threading.Thread(target=drop, daemon=True)
    try:
        walker.start()
        wait_until_blocking(paused.is_set, 30, "the walk at entry 100")
        dropper.start()
        wait_until_blocking(dropped.is_set, 15,
                            "the DROP DATABASE done while the walk is held (it waited for the walk's transaction)")
        if created_again:  # another chain under the same name before the walk reads on
            private_mysql_db.create()
            AuditLog(Database(url)).append_many([AuditEntry("tester", "trading.resume", "x", n) for n in range(3)])
    finally:
        resume.set()
        walker.join(30)
        dropper.join(30)
    assert not walker.is_alive(), "the verification ended"
    error = ended.get("error")
    assert isinstance(error, ChainReadInterrupted), ended
    assert "dropped or replaced while it was read" in str(error)
    if created_again:  # nothing of the old walk lands in the new database, whose chain is intact
        fresh = AuditLog(Database(url))
        assert fresh.checkpoint() is None
        verified = fresh.verify()
        assert verified.ok and verified.checked == 3, verified
    db.dispose()
