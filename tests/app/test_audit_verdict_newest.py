"""The audit panel's chain verdict (the real window, offscreen): verifications run in worker
threads and finish in any order; an older "verified" coming back last must not replace a newer
"broken", and a full walk's "broken" is shown even when a later refresh's walk from the
checkpoint, which cannot see an old entry altered, came back first. A full walk says it is
verifying while it runs."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from services.audit import AuditEntry, AuditLog
from tests.app.conftest import run
from tests.fixtures.ib import wait_for

# end-to-end in the whole window (a console each): the whole suite, not --quick
pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
sqlite_only = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


def _entries(n: int):
    return (AuditEntry("test", "order.submit", "trade_order", k, {"qty": str(k)}, T0) for k in range(n))


def _alter_the_first_entry(console) -> None:
    with console.stack.db.engine.begin() as c:
        c.execute(text("UPDATE audit_logs SET actor = 'mallory' WHERE id = (SELECT MIN(id) FROM audit_logs)"))


@sqlite_only
@pytest.mark.timeout(120)
def test_an_older_verified_coming_back_last_does_not_replace_a_newer_broken(qloop, open_console, monkeypatch):
    real_verify = AuditLog.verify
    held, release = threading.Event(), threading.Event()

    def answered_late(self, *, full=False):
        result = real_verify(self, full=full)  # walked now, before the entry is altered ...
        if not held.is_set():
            held.set()  # ... and its answer held in its thread until the newer one is shown
            assert release.wait(30), "the test never released the first verification"
        return result

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            assert await controller.runner.drain(timeout=10) == []
            monkeypatch.setattr(AuditLog, "verify", answered_late)
            older = asyncio.ensure_future(controller.audit.verify())
            await wait_for(held.is_set, 10, "the first verification walked")
            assert not older.done()
            _alter_the_first_entry(console)
            newer = await controller.verify_full_chain()
            assert not newer.ok and w.audit_view.chain_label.property("state") == "broken"
            broken_label = w.audit_view.chain_label.text()
            release.set()
            assert (await older).ok
            assert w.audit_view.chain_label.text() == broken_label
            assert w.audit_view.chain_label.property("state") == "broken"
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@sqlite_only
@pytest.mark.timeout(120)
def test_a_full_walks_broken_coming_back_after_a_refreshs_verified_is_shown(qloop, open_console, monkeypatch):
    real_verify = AuditLog.verify
    held, release = threading.Event(), threading.Event()

    def full_walks_late(self, *, full=False):
        if full and not held.is_set():
            held.set()  # the full walk starts only once the refresh's has been shown
            assert release.wait(30), "the test never released the full verification"
        return real_verify(self, full=full)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            assert await controller.runner.drain(timeout=10) == []
            await asyncio.to_thread(console.stack.audit.append_many, _entries(50))
            assert (await controller.audit.verify()).ok  # the checkpoint moves to the newest entry
            _alter_the_first_entry(console)  # behind the checkpoint: a walk from it cannot see it
            monkeypatch.setattr(AuditLog, "verify", full_walks_late)
            full = asyncio.ensure_future(controller.verify_full_chain())
            await wait_for(held.is_set, 10, "the full verification asked")
            refreshed = await controller.audit.verify()
            # its "verified" would say the full check done while it runs on
            assert refreshed.ok and w.audit_view.chain_label.property("state") == "verifying"
            release.set()
            assert not (await full).ok
            assert w.audit_view.chain_label.property("state") == "broken"
            assert w.audit_view.chain_label.text().startswith("Chain broken at entry")
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@sqlite_only
@pytest.mark.timeout(120)
def test_a_full_walk_says_it_is_verifying_until_its_verdict(qloop, open_console, monkeypatch):
    """Walked under Xvfb: "Verify full chain" on a long chain left the green "Chain verified (N
    entries)" of the last refresh in view for the seconds of the walk, as if it were its answer."""
    real_verify = AuditLog.verify
    held, release = threading.Event(), threading.Event()

    def full_walks_late(self, *, full=False):
        if full and not held.is_set():
            held.set()
            assert release.wait(30), "the test never released the full verification"
        return real_verify(self, full=full)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        label = w.audit_view.chain_label
        try:
            assert await controller.runner.drain(timeout=10) == []
            await asyncio.to_thread(console.stack.audit.append_many, _entries(50))
            assert (await controller.audit.verify()).ok
            total = await asyncio.to_thread(console.stack.audit.count)
            # the change feed may have asked a refresh of its own since (the log grew), whose
            # verification is then the newest and the one shown: its verdict, when it comes
            await wait_for(lambda: (label.text(), label.property("state")) == (f"Chain verified ({total} entries)", "ok"),
                           10, lambda: f"the newest verdict on {total} entries, not {label.text()!r}")
            monkeypatch.setattr(AuditLog, "verify", full_walks_late)
            w.audit_view.full_verify_button.click()
            await wait_for(held.is_set, 10, "the full verification walking")
            assert (label.text(), label.property("state")) == ("Verifying the full chain…", "verifying")
            assert f"found {total} entries intact" in label.toolTip()  # the last verdict, as the tip says it
            release.set()
            await wait_for(lambda: label.text() == f"Chain verified in full ({total} entries)", 10,
                           lambda: f"the full walk's verdict, not {label.text()!r}")
            assert label.property("state") == "ok"
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@sqlite_only
@pytest.mark.timeout(120)
def test_a_verification_that_walked_before_a_break_was_found_does_not_undo_it(qloop, open_console, monkeypatch):
    """Seen in a fresh-clone run: while a full walk ran, the change feed asked a refresh whose walk
    from the checkpoint (blind to an old entry altered) read "verified"; it came back after the
    full walk's break was shown and turned the label green. A verification asked before a break
    was shown never undoes it."""
    real_verify = AuditLog.verify
    full_held, refresh_walked = threading.Event(), threading.Event()
    release_full, release_refresh = threading.Event(), threading.Event()

    def ordered(self, *, full=False):
        if full:
            full_held.set()
            assert release_full.wait(30), "the test never released the full walk"
            return real_verify(self, full=True)
        result = real_verify(self, full=False)  # walked from the checkpoint before the break is known
        refresh_walked.set()
        assert release_refresh.wait(30), "the test never released the refresh"
        return result

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        label = w.audit_view.chain_label
        try:
            assert await controller.runner.drain(timeout=10) == []
            await asyncio.to_thread(console.stack.audit.append_many, _entries(50))
            assert (await controller.audit.verify()).ok  # the checkpoint moves to the newest entry
            assert await controller.runner.drain(timeout=10) == []
            _alter_the_first_entry(console)  # behind the checkpoint
            monkeypatch.setattr(AuditLog, "verify", ordered)
            full = asyncio.ensure_future(controller.verify_full_chain())
            await wait_for(full_held.is_set, 10, "the full walk asked")
            refresh = asyncio.ensure_future(controller.audit.verify())  # as the feed's refresh asks it
            await wait_for(refresh_walked.is_set, 10, "the refresh's walk from the checkpoint")
            release_full.set()
            assert not (await full).ok
            assert label.property("state") == "broken"
            release_refresh.set()
            assert (await refresh).ok  # it read "verified" before the break was known ...
            assert label.property("state") == "broken"  # ... and does not undo it
            assert label.text().startswith("Chain broken at entry")
        finally:
            release_full.set()
            release_refresh.set()
            await console.close()

    run(qloop, scenario(), timeout=100)
