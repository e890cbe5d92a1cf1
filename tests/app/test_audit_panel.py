"""The audit panel on a 100,000-entry chain, in the real window: the refresh after an action
loads only the new entries and verifies from the stored checkpoint (the number of audit rows
read is counted, not timed); "Verify full chain" walks everything and finds an altered old
entry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from services.audit import AuditEntry
from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from tests.foundation.test_audit_checkpoint import rows_read

CHAIN = 100_000
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _bulk(n: int):
    return (AuditEntry("bench", "order.submit", "trade_order", k, {"qty": str(k % 9)}, T0) for k in range(n))


# The row counting does not depend on the database (tests/foundation/test_audit_checkpoint.py
# runs the same checks on MariaDB); a 100,000-entry chain is built and walked once, on SQLite.
sqlite_only = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


@sqlite_only
@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_refresh_after_an_action_on_a_100k_chain_reads_only_new_rows(qloop, open_console):
    async def scenario():
        console = await open_console()
        w, controller, audit = console.window, console.controller, console.stack.audit
        try:
            assert await controller.runner.drain(timeout=10) == []
            await asyncio.to_thread(audit.append_many, _bulk(CHAIN))
            total = await asyncio.to_thread(audit.count)
            assert total >= CHAIN
            await controller.verify_full_chain()  # once: from now on the checkpoint vouches for them
            await controller.refresh_audit()  # the panel catches up with the bulk entries once
            # and the change feed's refresh on the bulk (its walk from the checkpoint before it) ends
            assert await controller.runner.drain(timeout=60) == []
            assert w.audit_view.chain_label.text() == f"Chain verified ({total} entries)"

            with rows_read() as read:
                w.blotter_view.halt_requested.emit()  # an action, as the blotter's button sends it
                await wait_for(lambda: "trading.halt" in w.audit_model.actions(), 20, "the halt in the audit panel")
                assert await controller.runner.drain(timeout=10) == []
            # the new entry into the panel, then the checkpoint's entry and the new entry verified:
            # a handful of rows, not 100,000. Twice when the change feed's refresh and the
            # action's own do not fall together (6 rows, once, in a fresh-clone CI on two loaded
            # cores): still each reads only what is new
            assert read["rows"] <= 10, read
            assert w.audit_view.chain_label.text() == f"Chain verified ({total + 1} entries)"
        finally:
            await console.close()

    run(qloop, scenario(), timeout=240)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_the_panels_full_verify_finds_an_altered_old_entry(qloop, open_console):
    async def scenario():
        console = await open_console()
        w, controller, audit = console.window, console.controller, console.stack.audit
        try:
            assert await controller.runner.drain(timeout=10) == []
            await asyncio.to_thread(audit.append_many, _bulk(2_000))
            total = await asyncio.to_thread(audit.count)
            w.audit_view.full_verify_button.click()
            await wait_for(lambda: w.audit_view.chain_label.text() == f"Chain verified in full ({total} entries)", 60,
                           "the full verification")
            # an old entry altered behind the console's back: the checkpoint cannot see it ...
            with console.stack.db.engine.begin() as c:
                c.execute(text("UPDATE audit_logs SET actor = 'mallory' WHERE id = 1000"))
            w.blotter_view.halt_requested.emit()
            await wait_for(lambda: "trading.halt" in w.audit_model.actions(), 20, "the halt in the audit panel")
            assert await controller.runner.drain(timeout=10) == []
            assert w.audit_view.chain_label.text() == f"Chain verified ({total + 1} entries)"
            # ... the panel's full verification does
            w.audit_view.full_verify_button.click()
            await wait_for(lambda: w.audit_view.chain_label.text() == "Chain broken at entry 1000", 60,
                           "the full verification's verdict")
            assert "altered" in w.audit_view.chain_label.toolTip()
            assert w.audit_view.chain_label.property("state") == "broken"
            await controller.refresh_audit()  # and every later refresh keeps saying so
            assert w.audit_view.chain_label.text() == "Chain broken at entry 1000"
        finally:
            await console.close()

    run(qloop, scenario(), timeout=120)
