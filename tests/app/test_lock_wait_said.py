"""The window says a write waits for the database's write lock another connection holds (another
console or command in a long transaction), in its activity log and status bar, while the write
keeps waiting; and says when the lock came. Before, Execute showed nothing for a minute and a half.
The real window offscreen on SQLite; the lock held by a real second sqlite3 connection, let go once
the window said so."""

from __future__ import annotations

import pytest

from services.audit import AuditLog
from services.db import lock_waits
from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from tests.foundation.test_lock_wait_notice import Holder

pytestmark = [pytest.mark.timeout(90), pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)]


def test_the_window_says_a_write_waits_for_another_connections_write_lock(qloop, open_console, monkeypatch):
    monkeypatch.setattr(lock_waits, "NOTICE_S", 0.2)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        holder = Holder(console.stack.db)
        try:
            write = controller.runner.run(controller.ctx.db(AuditLog(console.stack.db).append, "tester", "test.waited"),
                                          what="Audit")
            await wait_for(lambda: any(e.text.startswith("waiting for the database") for e in w.activity_log.entries()),
                           15, "the window to say the write waits")
            assert not write.done(), "the write did not wait for the holder's lock"
            [entry] = [e for e in w.activity_log.entries() if e.text.startswith("waiting for the database")]
            assert entry.level == "warning" and entry.timeout_ms == 0 and "holds its write lock" in entry.text
            holder.commit()
            await write
            await wait_for(lambda: any(e.text.startswith("the database is free again") for e in w.activity_log.entries()),
                           15, "the window to say the lock came")
            assert controller.last_error is None
        finally:
            holder.commit()
            await console.close()

    run(qloop, scenario())
