"""The audit panel after a verification that could not be made (the real windows, offscreen):
walked under Xvfb, a monitor whose database went away kept the green "Chain verified (N
entries)" of the verification before, after "Verify full chain" failed: a tamper-evidence panel
claiming a check its last attempt could not make. The failure replaces it now, with what happened
and when the chain was last verified (services.audit.ChainVerdicts, one wording for both
windows); a break found stays a break."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from services.audit import AuditEntry, AuditLog
from tests.app.conftest import feed_stopped, run
from tests.app.test_monitor_mode import open_monitor
from tests.fixtures.ib import wait_for
from tests.fixtures.proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
WHEN = r"\d\d:\d\d:\d\d UTC"


def _entries(n: int):
    return (AuditEntry("test", "order.submit", "trade_order", k, {"qty": str(k)}, T0) for k in range(n))


def _label(view) -> tuple[str, str, str]:
    label = view.chain_label
    return label.text(), label.property("state"), label.toolTip()


@pytest.mark.parametrize("db_backend", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
def test_a_monitor_whose_database_went_away_no_longer_says_verified(qloop, qtbot, database, db_url,
                                                                     console_settings):
    """The monitor's own line to MariaDB (a private proxy) cut, then Verify full chain."""
    AuditLog(database).append_many(_entries(3))
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)

    async def scenario():
        await proxy.start()
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=proxied, profile="paper"))
        view = monitor.window.audit_view
        try:
            before = _label(view)
            await proxy.cut()
            view.full_verify_button.click()
            await wait_for(lambda: view.chain_label.text().startswith("Chain not verified"), 20,
                           "the failed verification said")
            await monitor.controller.runner.drain(timeout=10)
            return before, _label(view), monitor.controller.last_error
        finally:
            await monitor.close()
            await proxy.cut()

    (verified, _state, _tip), (label, state, tip), error = run(qloop, scenario(), timeout=90)
    assert verified == "Chain verified in full (3 entries)"
    assert re.fullmatch(rf"Chain not verified: the database is unreachable \(last verified {WHEN}, 3 entries\)",
                        label), label
    assert state == "unverified"  # amber: neither the green of a verified chain nor the red of a break
    assert tip.startswith("audit chain not verified: database server unreachable at 127.0.0.1:"), tip
    assert re.search(rf"the last verification that finished, at {WHEN}, found 3 entries intact$", tip), tip
    assert error is not None and error[0] == "Verify the full audit chain"  # still said in the status bar


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_the_trading_window_says_a_failed_verification_and_keeps_a_break(qloop, open_console):
    """The trading window, its audit table made unreadable (renamed away) under it: the failed
    check is said in place of "verified"; once a break was found, a failed check leaves the break
    in view (red), never "not verified"."""

    def rename(console, old: str, new: str) -> None:
        with console.stack.db.engine.begin() as c:
            c.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    async def failed_verification(console) -> tuple[str, str, str]:
        # the change feed stopped meanwhile: its poll, finding the table gone, tells the window its
        # database is gone, and a check made then is said calmly instead (the CI run of 12-07 met
        # it); the subject here is the failed check itself
        view = console.window.audit_view
        await feed_stopped(console.controller)
        rename(console, "audit_logs", "audit_logs_away")
        try:
            with pytest.raises(Exception, match="audit_logs"):
                await console.controller.verify_full_chain()
            return _label(view)
        finally:
            rename(console, "audit_logs_away", "audit_logs")
            console.controller.feed.start()

    async def scenario():
        console = await open_console()
        controller = console.controller
        try:
            assert await controller.runner.drain(timeout=10) == []
            await asyncio.to_thread(console.stack.audit.append_many, _entries(4))
            total = await asyncio.to_thread(console.stack.audit.count)
            assert (await controller.verify_full_chain()).ok
            failed = await failed_verification(console)
            with console.stack.db.engine.begin() as c:
                c.execute(text("UPDATE audit_logs SET actor = 'mallory' WHERE id = (SELECT MIN(id) FROM audit_logs)"))
            assert not (await controller.verify_full_chain()).ok
            broken = _label(console.window.audit_view)
            after_break = await failed_verification(console)
            return total, failed, broken, after_break
        finally:
            await console.close()

    total, (label, state, tip), broken, (after_label, after_state, after_tip) = run(qloop, scenario(), timeout=100)
    assert re.fullmatch(rf"Chain not verified: the check failed \(last verified {WHEN}, {total} entries\)", label), label
    assert state == "unverified"
    assert tip.startswith("audit chain not verified: ") and "audit_logs" in tip, tip
    assert broken[0].startswith("Chain broken at entry ") and broken[1] == "broken"
    assert (after_label, after_state) == broken[:2]
    assert after_tip == f"{broken[2]} (the last attempt failed)"


def test_the_words_are_the_services():
    """One wording for both windows (services.audit.ChainVerdicts): a cancelled check (the
    window closing mid-walk) is said as unfinished, and nothing verified yet says so."""
    import pymysql
    from sqlalchemy.exc import OperationalError

    from services.audit import AuditVerification, ChainVerdicts

    verdicts = ChainVerdicts()
    refused = OperationalError("SELECT 1", {}, pymysql.err.OperationalError(
        2003, "Can't connect to MySQL server on 'db-host' ([Errno 111] Connection refused)"))
    never = verdicts.not_verified(refused, "mysql+pymysql://reader:secret@db-host:3306/trading")
    assert (never.state, never.label) == ("unverified", "Chain not verified: the database is unreachable")
    assert never.details.endswith("no verification has finished in this window") and "secret" not in never.details
    verdicts.verified(AuditVerification(True, 7, walked=7), datetime(2026, 11, 20, 14, 3, 12, tzinfo=UTC))
    unfinished = verdicts.not_verified(None)
    assert unfinished.label == "Chain not verified: the check did not finish (last verified 14:03:12 UTC, 7 entries)"


def test_a_full_walk_under_way_is_said_and_a_break_shown_stays_said():
    """While a full verification walks the chain the label says so (services.audit.ChainVerdicts,
    both windows), not the verdict of the one before; a break shown stays red, said to be
    checked again."""
    from services.audit import AuditVerification, ChainVerdicts

    verdicts = ChainVerdicts()
    first = verdicts.verifying()
    assert (first.state, first.label) == ("verifying", "Verifying the full chain…")
    assert "entries intact" not in first.details  # none finished yet
    verdicts.verified(AuditVerification(True, 7, walked=7), datetime(2026, 11, 20, 14, 3, 12, tzinfo=UTC))
    again = verdicts.verifying()
    assert (again.state, again.label) == ("verifying", "Verifying the full chain…")
    assert again.details.endswith("the last verification that finished, at 14:03:12 UTC, found 7 entries intact")
    verdicts.verified(AuditVerification(False, 3, first_broken_id=4, reason="hash mismatch"))
    broken = verdicts.verifying()
    assert (broken.state, broken.label) == ("broken", "Chain broken at entry 4 · verifying the full chain again…")
