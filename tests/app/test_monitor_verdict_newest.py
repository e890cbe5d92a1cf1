"""A monitor window's audit verdict (the real window, offscreen, read-only): an older
verification coming back last must not say "verified" over a newer one's "broken" (the feed's
verifications and the full one the trader asks for run in worker threads)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from services.audit import AuditEntry, AuditLog
from tests.app.conftest import run
from tests.app.test_monitor_mode import open_monitor
from tests.fixtures.ib import wait_for

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_monitors_older_verified_coming_back_last_does_not_replace_a_newer_broken(
        qloop, qtbot, database, db_url, console_settings, monkeypatch):
    AuditLog(database).append_many(AuditEntry("test", "order.submit", "trade_order", k, {"qty": str(k)}, T0)
                                   for k in range(20))
    real_verify = AuditLog.verify
    held, release = threading.Event(), threading.Event()

    def answered_late(self, *, full=False):
        result = real_verify(self, full=full)  # walked now, before the entry is altered ...
        if not held.is_set():
            held.set()  # ... and its answer held in its thread until the newer one is shown
            assert release.wait(30), "the test never released the first verification"
        return result

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        controller, label = monitor.controller, monitor.window.audit_view.chain_label
        try:
            assert await controller.runner.drain(timeout=10) == []
            monkeypatch.setattr(AuditLog, "verify", answered_late)
            older = asyncio.ensure_future(controller.verify_audit())
            await wait_for(held.is_set, 10, "the first verification walked")
            with database.engine.begin() as c:
                c.execute(text("UPDATE audit_logs SET actor = 'mallory' WHERE id = (SELECT MIN(id) FROM audit_logs)"))
            assert not (await controller.verify_audit(full=True)).ok
            broken = label.text()
            release.set()
            assert (await older).ok
            assert label.text() == broken and label.property("state") == "broken"
        finally:
            release.set()
            await monitor.close()

    run(qloop, scenario(), timeout=100)
