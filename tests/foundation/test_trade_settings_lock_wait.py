"""A trade settings change (the Settings dialog, ``trade-settings set``) that meets a lock another
connection keeps (another console's writer frozen in its transaction) waits it out (SQLite and
MariaDB). Before, it failed with the lock wait's error (MariaDB's 1205, SQLite's "database is
locked") and nothing was stored: validated first, the change is stored and audited in one unit of
work of the database alone, which now runs again from scratch, and is written once."""

from __future__ import annotations

import pytest

from services.audit import AuditLog
from services.trade_settings import TradeSettingsService
from tests.fixtures.locks import FrozenWriter, outlast_blocking, short_lock_waits

pytestmark = pytest.mark.timeout(60)


def test_a_settings_change_while_a_frozen_writer_holds_the_audit_chain_is_stored_and_audited_once(database, caplog):
    service = TradeSettingsService(database, "tester")
    short_lock_waits(database, 1)
    frozen = FrozenWriter(database.url)
    try:
        stored = outlast_blocking(frozen, lambda: service.set(["auto_recovery.new_timeout_seconds=7"]), caplog)
    finally:
        frozen.close()
    assert stored["auto_recovery"]["new_timeout_seconds"] == 7
    assert service.read()["auto_recovery"]["new_timeout_seconds"] == 7
    changes = [e.payload for e in AuditLog(database).list(action="settings.trade")]
    assert changes == [{"auto_recovery": {"new_timeout_seconds": 7}}]
