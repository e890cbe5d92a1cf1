"""Halt and Cancel All while a run is still sending: nothing more goes out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.db.repositories import SettingsRepository
from services.domain import OrderState, TradeMode
from services.execution.recovery import AutoRecovery
from tests.execution.conftest import build_stack, make_snapshot
from tests.execution.pacing_helpers import hold_the_second_order
from tests.fixtures.ib import wait_for

SYMBOLS = ["AAPL", "MSFT", "AMZN", "NVDA", "META", "GOOGL", "IBM", "JPM", "XOM", "KO", "PG", "V"]


@pytest.fixture
async def slow_stack(database, simulator):
    from services.execution.pacing import PacingLimiter

    # A tight pacing budget spreads the run's orders over seconds, so the stop lands mid-run.
    built = await build_stack(database, simulator, pacing=PacingLimiter(capacity=5))
    try:
        yield built
    finally:
        await built.close()


@pytest.mark.parametrize("stop", ["halt", "cancel_all"])
@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_a_run_that_is_sending_stops_at_halt_or_cancel_all(slow_stack, stop):
    stack = slow_stack
    _, snapshot_id = make_snapshot(stack.db, "stop", {s: "0.01" for s in SYMBOLS})
    run = await stack.service.create_run("stop", snapshot_id, TradeMode.PAPER, {})
    sending = asyncio.ensure_future(stack.service.execute(run.id, portfolio_value=Decimal(1_000_000)))
    await wait_for(lambda: len(stack.sim.orders()) >= 3, 10, "the first orders at the broker")
    if stop == "halt":
        await stack.actions.halt()
    else:
        await stack.actions.cancel_all()
    result = await asyncio.wait_for(sending, 20)
    assert 3 <= len(result.sent) < len(SYMBOLS)  # stopped mid-run
    await wait_for(lambda: len(stack.sim.orders()) == len(result.sent), 10, "what was sent to arrive")
    await stack.writer.flush()
    at_broker = len(stack.sim.orders())
    assert {o.order_ref for o in stack.sim.orders()} == set(result.sent)
    view = await stack.service.view(run.id)
    assert result.stopped == ("trading HALTED" if stop == "halt" else "Cancel All")
    # a halt and Cancel All both cancel the unsent orders before they are sent: else recovery took
    # them for stuck ones and sent them once the timeout passed, after the trader had canceled
    # everything, or after a resume, with no fresh price check (tests/execution/test_halt_then_resume.py)
    unsent = [o for o in view.orders if o.ib_order_id is None]
    assert len(unsent) == len(SYMBOLS) - at_broker and {o.status for o in unsent} == {OrderState.CANCELED}
    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 5})
    recovery = AutoRecovery(stack.db, stack.provider, stack.writer, stack.reconciler, stack.service.leases,
                            actor="tester", busy_runs=stack.service.executing_runs)
    passed = await recovery.run_once(now=datetime.now(UTC) + timedelta(seconds=60))
    assert passed.considered == () and passed.sent == ()
    assert len(stack.sim.orders()) == at_broker  # nothing more went out


async def test_an_order_waiting_its_turn_at_the_pacing_limiter_is_not_written_after_a_halt(stack):
    """The sender looks at the halt before each order, but an order then waits its turn at the
    pacing limiter (seconds, in a large run): a halt or a Cancel All pressed meanwhile let it go
    out once its turn came. The last look, right before the write, now includes them."""
    _, snapshot_id = make_snapshot(stack.db, "turn", {s: "0.01" for s in SYMBOLS[:3]})
    run = await stack.service.create_run("turn", snapshot_id, TradeMode.PAPER, {})
    waiting, turn = hold_the_second_order(stack)  # the second order waits for its turn, as at a busy limiter
    sending = asyncio.ensure_future(stack.service.execute(run.id, portfolio_value=Decimal(1_000_000)))
    await asyncio.wait_for(waiting.wait(), 20)
    await stack.actions.halt()
    turn.set()
    result = await asyncio.wait_for(sending, 20)
    await stack.writer.flush()
    assert len(result.sent) == 1 and result.stopped == "trading HALTED"
    await stack.provider.ib.reqCurrentTimeAsync()  # the broker has read everything written before it
    assert {o.order_ref for o in stack.sim.orders()} == set(result.sent)  # the waiting one was not written
    view = await stack.service.view(run.id)
    # closed by the halt, never sent automatically after a resume (tests/execution/test_halt_then_resume.py)
    assert sorted(o.status for o in view.orders if o.ib_order_id is None) == [OrderState.CANCELED, OrderState.CANCELED]


async def test_a_run_started_after_a_stop_does_not_lift_it_for_a_run_still_sending(stack):
    """The stop (a halt or Cancel All of this process) was one flag of the service, cleared by
    every send that began: a run executed right after a Cancel All cleared it for a run still
    sending, whose next order then went out (until its watcher read the database, half a second
    later). Each send now has its own stop: one begun later never lifts another's."""
    _, first_snapshot = make_snapshot(stack.db, "first", {s: "0.01" for s in SYMBOLS[:3]})
    _, second_snapshot = make_snapshot(stack.db, "second", {s: "0.01" for s in SYMBOLS[6:8]})
    first = await stack.service.create_run("first", first_snapshot, TradeMode.PAPER, {})
    second = await stack.service.create_run("second", second_snapshot, TradeMode.PAPER, {})
    # the first run's second order waits for its turn
    waiting, turn = hold_the_second_order(stack, of=lambda contract: contract.symbol in SYMBOLS[:3])
    sending = asyncio.ensure_future(stack.service.execute(first.id, portfolio_value=Decimal(1_000_000)))
    await asyncio.wait_for(waiting.wait(), 20)
    stack.service.stop_sending("Cancel All")  # this process's stop alone (no marker in the database)
    later = await stack.service.execute(second.id, portfolio_value=Decimal(1_000_000))
    assert len(later.sent) == 2 and later.stopped is None  # begun after the stop: it sends
    turn.set()
    result = await asyncio.wait_for(sending, 20)
    assert len(result.sent) == 1 and result.stopped == "Cancel All"
    await stack.provider.ib.reqCurrentTimeAsync()  # the broker has read everything written before it
    assert {o.order_ref for o in stack.sim.orders()} == set(result.sent) | set(later.sent)
