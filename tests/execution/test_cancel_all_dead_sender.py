"""A run's orders that a Cancel All stopped are never sent automatically afterwards, whatever
became of the sender that held them: they are closed (CANCELED, never sent, Cancel All named as
the reason, audited), and the trader sends them again only by previewing and executing again.

The case: another process's sender had started before the Cancel All and claimed the run's
orders right after its marker was written, before it looked at the marker again (its claim of
the next batch, as its watcher reads the marker every half second); the Cancel All waited for it,
said it was still sending and left its claims to it; then that process died (SIGKILL) holding
them. Reconciliation gives a dead sender's claim made after the Cancel All back NEW, as IB never
saw it; before, the run's next execute sent them, and a recovery pass left them NEW forever
(refused for good, yet counted as the project's intent). The same when the sender, which had
claimed them before the Cancel All, gives them back NEW once the Cancel All returned, stopped for
another reason first (its lease ran out: a process paused past its lease, woken). The sender is a
real second process (tests/execution/claiming_sender.py); SQLite and MariaDB, against the
simulator over a real socket.

Orders stored after the Cancel All (a new preview and execute) are sent as before."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.db.repositories import SettingsRepository
from services.domain import OrderState, TradeMode
from tests.execution.stop_helpers import audits as _audits
from tests.execution.stop_helpers import closing_messages as _closing_messages
from tests.execution.stop_helpers import recovery_of as _recovery
from tests.execution.stop_helpers import run_orders as _run_orders

from .cli_helpers import ROOT, child_env
from .conftest import make_snapshot

pytestmark = [pytest.mark.timeout(90), pytest.mark.parametrize("db_backend", ["sqlite", "mysql"], indirect=True)]

SYMBOLS = ["AAPL", "MSFT"]
TIMEOUT = 5  # auto-recovery's new_timeout_seconds here; the injected clock steps over it
CHILD_ANSWER = 30  # seconds: a deadline for the child's answers, not a wait


async def _answer(child, expected: str) -> None:
    line = await asyncio.wait_for(child.stdout.readline(), CHILD_ANSWER)
    if line.decode().strip() != expected:
        err = await asyncio.wait_for(child.stderr.read(), CHILD_ANSWER) if child.stdout.at_eof() else b""
        raise AssertionError(f"the sender process said {line!r}, not {expected!r}: {err.decode()[-2000:]}")


async def _stored_run(stack, project: str) -> tuple[int, int, list[str]]:
    """A run whose orders are stored, for its sender: (run id, snapshot id, the orders)."""
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": TIMEOUT})
    _, snapshot_id = make_snapshot(stack.db, project, {s: "0.01" for s in SYMBOLS})
    run = await stack.service.create_run(project, snapshot_id, TradeMode.PAPER, {})
    preview = await stack.service.preview(run.id, Decimal(1_000_000))
    await stack.service._db(stack.service._insert_orders, run.id, preview.plan)
    return run.id, snapshot_id, [d.client_order_id for d in preview.plan.orders]


async def _canceled_all_while_a_sender_held_them(stack, db_url: str, project: str, *,
                                                 lets_go: bool = False) -> tuple[int, int, list[str]]:
    """The run's sender (another process) started, then the Cancel All; the sender claims the
    run's orders right after the Cancel All's marker, the Cancel All waits for it, gives up and
    leaves its claims to it; the sender dies. ``lets_go``: the sender had claimed them before the
    Cancel All, and once the Cancel All returned it gives them back NEW (its lease ran out before
    it looked at the marker again) and ends. Returns (run id, snapshot id, the orders)."""
    run_id, snapshot_id, coids = await _stored_run(stack, project)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.execution.claiming_sender", db_url, str(run_id), *coids, cwd=ROOT, env=child_env(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def claim() -> None:
        child.stdin.write(b"claim\n")
        await child.stdin.drain()
        await _answer(child, f"claimed {len(coids)}")

    try:
        await _answer(child, "sending")
        if lets_go:
            await claim()
        actions = stack.actions
        wait_for_senders = actions.canceling_all._senders_stopped

        async def claimed_after_the_marker(*waited_for):
            if not lets_go:  # the marker is written: the sender, which has not looked at it again, claims
                await claim()
            return await wait_for_senders(*waited_for)

        actions.canceling_all._senders_stopped = claimed_after_the_marker
        actions.senders_timeout = 0.5  # the sender does not stop: Cancel All gives up waiting for it
        try:
            canceled = await actions.cancel_all()
        finally:
            del actions.canceling_all._senders_stopped
        assert list(canceled) == [] and len(canceled.senders_not_stopped) == 1, canceled.senders_not_stopped
        assert {o.status for o in _run_orders(stack.db, run_id)} == {OrderState.SENDING}  # left to its sender
        if lets_go:
            child.stdin.write(b"let go\n")
            await child.stdin.drain()
            await _answer(child, f"let go {len(coids)}")
            assert {o.status for o in _run_orders(stack.db, run_id)} == {OrderState.NEW}
    finally:
        if child.returncode is None and not lets_go:
            child.kill()  # dies holding its claims
        await asyncio.wait_for(child.wait(), CHILD_ANSWER)
    return run_id, snapshot_id, coids


def _assert_closed_by_the_cancel_all(stack, run_id: int) -> None:
    orders = _run_orders(stack.db, run_id)
    assert {(o.status, o.ib_order_id) for o in orders} == {(OrderState.CANCELED, None)}, [(o.client_order_id, o.status) for o in orders]
    for order in orders:
        assert any("Cancel All" in message for message in _closing_messages(stack.db, order.id)), order.client_order_id
    assert stack.sim.orders() == []  # nothing of the run reached the broker


async def test_executing_the_run_after_a_cancel_all_sends_nothing_a_dead_sender_held(stack, db_url):
    run_id, _, coids = await _canceled_all_while_a_sender_held_them(stack, db_url, "dead-held")
    # the run executed again: it takes the dead sender's lease over and reconciles first, which
    # gives the claims back NEW (IB never saw them, claimed after the marker)
    again = await stack.service.execute(run_id, portfolio_value=Decimal(1_000_000))
    assert again.sent == ()
    await stack.provider.ib.reqCurrentTimeAsync()  # the broker has read everything written before it
    _assert_closed_by_the_cancel_all(stack, run_id)
    [closed] = _audits(stack.db, "run.unsent_closed_by_cancel_all")
    assert sorted(closed["orders"]) == sorted(coids) and "Cancel All" in closed["reason"]


async def test_executing_the_run_after_a_cancel_all_sends_nothing_its_sender_let_go_new(stack, db_url):
    run_id, _, coids = await _canceled_all_while_a_sender_held_them(stack, db_url, "let-go", lets_go=True)
    again = await stack.service.execute(run_id, portfolio_value=Decimal(1_000_000))
    assert again.sent == ()
    await stack.provider.ib.reqCurrentTimeAsync()
    _assert_closed_by_the_cancel_all(stack, run_id)
    [closed] = _audits(stack.db, "run.unsent_closed_by_cancel_all")
    assert sorted(closed["orders"]) == sorted(coids)


async def test_a_recovery_pass_after_a_cancel_all_closes_what_a_dead_sender_held(stack, db_url):
    run_id, _, coids = await _canceled_all_while_a_sender_held_them(stack, db_url, "dead-recovered")
    report = await stack.reconciler.reconcile()  # the next connect's: the dead sender's claims back NEW
    assert sorted(report.released) == sorted(coids)
    result = await _recovery(stack).run_once(now=datetime.now(UTC) + timedelta(seconds=TIMEOUT + 60))
    assert result.sent == () and sorted(s.client_order_id for s in result.skipped) == sorted(coids)
    assert all("Cancel All" in s.reason and "closed as canceled" in s.reason for s in result.skipped), result.skipped
    assert sorted(p["client_order_id"] for p in _audits(stack.db, "order.recovery_refused")) == sorted(coids)
    # decided for good: a later pass considers them no more
    later = await _recovery(stack).run_once(now=datetime.now(UTC) + timedelta(seconds=TIMEOUT + 120))
    assert later.considered == () and later.sent == ()
    await stack.provider.ib.reqCurrentTimeAsync()
    _assert_closed_by_the_cancel_all(stack, run_id)


async def test_after_the_cancel_all_a_new_preview_and_execute_sends_them(stack, db_url):
    run_id, snapshot_id, _ = await _canceled_all_while_a_sender_held_them(stack, db_url, "dead-again")
    assert (await stack.service.execute(run_id, portfolio_value=Decimal(1_000_000))).sent == ()
    # the trader previews again (prices for the market as it is) and executes: every order goes
    preview = await stack.service.preview_snapshot("dead-again", snapshot_id, TradeMode.PAPER,
                                                   portfolio_value=Decimal(1_000_000), new_run=True)
    assert preview.plan is not None and {o.symbol for o in preview.plan.orders} == set(SYMBOLS)
    result = await stack.service.execute_plan(preview.plan_id)
    assert sorted(result.sent) == sorted(o.client_order_id for o in preview.plan.orders)
    await stack.provider.ib.reqCurrentTimeAsync()
    assert {o.order_ref for o in stack.sim.orders()} == set(result.sent)


async def test_an_order_stored_after_the_cancel_all_and_never_sent_is_still_sent_by_recovery(stack):
    """A run's order stored after the last Cancel All and left NEW (its process crashed between
    storing and sending) is the plan's order, not one the Cancel All stopped: recovery sends it."""
    assert list(await stack.actions.cancel_all()) == []
    _, _, coids = await _stored_run(stack, "stored-after")
    result = await _recovery(stack).run_once(now=datetime.now(UTC) + timedelta(seconds=TIMEOUT + 60))
    assert sorted(result.sent) == sorted(coids), result.describe()
    await stack.provider.ib.reqCurrentTimeAsync()
    assert {o.order_ref for o in stack.sim.orders()} == set(coids)
