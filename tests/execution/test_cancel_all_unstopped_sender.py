"""Cancel All and a run of this process whose sender did not stop within Cancel All's wait (its
next order waited its turn at the pacing limiter longer than that). Cancel All returned; the
sender then gave its claimed, unsent orders back (NEW), where a recovery pass or the run's next
execute sent them after the trader had canceled everything. A sender stopped by a Cancel All
closes what it had claimed as canceled, whenever it stops; and it sends nothing more, even when
another run of this process starts sending meanwhile."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.db.repositories import SettingsRepository
from services.domain import OrderState, TradeMode
from services.execution import sending
from services.execution.recovery import AutoRecovery
from tests.execution.conftest import build_stack, make_snapshot
from tests.execution.pacing_helpers import hold_the_second_order
from tests.execution.stop_helpers import run_statuses

pytestmark = pytest.mark.timeout(60)

SYMBOLS = ["AAPL", "MSFT", "AMZN"]



async def _run_sending(stack, name: str, symbols: list[str]):
    _, snapshot_id = make_snapshot(stack.db, name, {s: "0.01" for s in symbols})
    run = await stack.service.create_run(name, snapshot_id, TradeMode.PAPER, {})
    return run, asyncio.ensure_future(stack.service.execute(run.id, portfolio_value=Decimal(1_000_000)))


@pytest.mark.parametrize("one_by_one", [False, True])
async def test_claims_of_a_sender_that_stops_after_cancel_all_returned_are_canceled_not_given_back(
        database, make_simulator, one_by_one):
    sim = await make_simulator(state_file=None, ledger_file=None)
    stack = await build_stack(database, sim)
    stack.actions.confirm_timeout = 0.3  # Cancel All's wait for this process's senders: shorter than the turn
    try:
        waiting, turn = hold_the_second_order(stack)
        run, sending_run = await _run_sending(stack, "late", SYMBOLS)
        await asyncio.wait_for(waiting.wait(), 20)
        # the first order's fill (the simulator fills at once) booked before Cancel All: else one
        # by one it could cancel an order the broker had just filled, which IB refuses (error 161)
        await stack.provider.ib.reqCurrentTimeAsync()
        await stack.writer.flush()
        canceled = await stack.actions.cancel_all(one_by_one=one_by_one)
        assert not sending_run.done(), "the sender was to be still at work when Cancel All returned"
        # this process's stopped sender writes nothing more: Cancel All neither waited its whole
        # wait for other processes' senders on it nor told the trader it "still sent"
        assert canceled.senders_not_stopped == ()
        turn.set()  # its turn comes after Cancel All returned
        result = await asyncio.wait_for(sending_run, 20)
        await stack.writer.flush()
        assert len(result.sent) == 1 and result.stopped == "Cancel All"
        await stack.provider.ib.reqCurrentTimeAsync()  # the broker has read everything written before it
        assert {o.order_ref for o in sim.orders()} == set(result.sent)
        unsent = {c: s for c, s in run_statuses(database, run.id).items() if c not in result.sent}
        # given back NEW, they waited for the next execute or recovery pass to send them
        assert unsent and set(unsent.values()) == {OrderState.CANCELED}, unsent
        assert result.unsent == ()
        with database.unit_of_work() as session:
            SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 5})
        recovery = AutoRecovery(database, stack.provider, stack.writer, stack.reconciler, stack.service.leases,
                                actor="tester", busy_runs=stack.service.executing_runs)
        passed = await recovery.run_once(now=datetime.now(UTC) + timedelta(seconds=60))
        assert passed.sent == ()
        assert len(sim.orders()) == 1  # nothing more went out
    finally:
        await stack.close()


async def test_a_sender_stopped_by_cancel_all_sends_nothing_once_another_run_of_this_process_starts(
        database, make_simulator, monkeypatch):
    """The stop of this process's senders was one flag that every new sending cleared: a run
    started after the Cancel All let the stopped sender write its next order (only its look at the
    database, every ``SEND_WATCH_INTERVAL``, could still stop it)."""
    monkeypatch.setattr(sending, "SEND_WATCH_INTERVAL", 60.0)  # its next look at the database: after this test
    sim = await make_simulator(state_file=None, ledger_file=None)
    stack = await build_stack(database, sim)
    stack.actions.confirm_timeout = 0.3
    try:
        waiting, turn = hold_the_second_order(stack)
        run, sending_run = await _run_sending(stack, "stopped", SYMBOLS)
        await asyncio.wait_for(waiting.wait(), 20)
        await stack.actions.cancel_all()
        _, later_sending = await _run_sending(stack, "after", ["IBM"])  # started after the Cancel All: sent
        later_result = await asyncio.wait_for(later_sending, 20)
        assert len(later_result.sent) == 1
        turn.set()
        result = await asyncio.wait_for(sending_run, 20)
        await stack.writer.flush()
        await stack.provider.ib.reqCurrentTimeAsync()
        assert len(result.sent) == 1 and result.stopped == "Cancel All"
        assert {o.order_ref for o in sim.orders()} == set(result.sent) | set(later_result.sent)
        assert OrderState.NEW not in run_statuses(database, run.id).values()
    finally:
        await stack.close()
