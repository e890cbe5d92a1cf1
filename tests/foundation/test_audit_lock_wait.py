"""A bulk append to the audit chain (``AuditLog.append_many``: an import, the benchmarks) that
meets a lock another connection keeps (another console's writer frozen in its transaction,
holding the chain's head) waits it out (SQLite and MariaDB).

Before, it failed with the lock wait's error (MariaDB's 1205, SQLite's "database is locked").
Run again, it must append its entries once, after what the chain holds then, and read its
entries (a generator, which runs out) only once."""

from __future__ import annotations

import pytest

from services.audit import AuditEntry, AuditLog
from tests.fixtures.locks import FrozenWriter, outlast_blocking, short_lock_waits

pytestmark = pytest.mark.timeout(60)


def test_a_bulk_append_while_a_frozen_writer_holds_the_chains_head_appends_each_entry_once(database, caplog):
    log = AuditLog(database)
    log.append("tester", "before")
    short_lock_waits(database, 1)
    frozen = FrozenWriter(database.url)
    entries = (AuditEntry("importer", f"bulk.{n}", payload={"n": n}) for n in range(3))  # read once
    try:
        assert outlast_blocking(frozen, lambda: log.append_many(entries), caplog) == 3
    finally:
        frozen.close()
    assert [e.action for e in log.list()] == ["before", "bulk.0", "bulk.1", "bulk.2"]
    verified = log.verify(full=True)
    assert verified.ok and verified.checked == 4


def test_a_bulk_append_with_a_bad_entry_writes_none_of_them(database):
    log = AuditLog(database)
    with pytest.raises(ValueError, match="audit entry 2 needs an actor and an action"):
        log.append_many([AuditEntry("importer", "bulk.0"), AuditEntry("importer", "")])
    assert log.count() == 0
