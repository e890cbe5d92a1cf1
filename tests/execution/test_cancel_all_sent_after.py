"""A run's sender in another process learns of a Cancel All only from the database marker,
which its watcher reads every ``SEND_WATCH_INTERVAL`` and it reads again per chunk. Cancel All
waits a few seconds for such a sender, then cancels at the broker anyway and names the run
(``senders_not_stopped``): what the sender wrote between that cancel and its next look at the
marker reached the broker after the cancel and stayed working, though the trader had pressed
Cancel All. A sender that ends under a Cancel All made while it sent now cancels, at the
broker, every order it wrote that is still working there, and its outcome names them.

Two stacks (client ids 1 and 2) on one simulator, the sender's watcher interval beyond the test
(as test_resend_after_cancel_all.py does), its second placeOrder held at the pacing limiter until
the other stack's Cancel All has returned."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from services.audit import AuditLog
from services.domain import OrderState, TradeMode

# loaded before the watcher's interval is patched: its SENDERS_TIMEOUT is computed from that
# interval at import (imported first under the patch, every later test's Cancel All waited 64.5 s)
from services.execution import cancel_all as _cancel_all  # noqa: F401
from services.execution import sending
from tests.fixtures.waiting import wait_until

from .conftest import build_stack, make_snapshot
from .pacing_helpers import hold_the_second_order, synthetic_symbols
from .stop_helpers import ended_canceled, run_statuses

pytestmark = pytest.mark.timeout(90)

N = 5



def _audit_payloads(db, action: str, run_id: int) -> list[dict]:
    return [e.payload for e in AuditLog(db).list(action=action, entity_type="trade_run", entity_id=run_id)]


async def _two_stacks(database, make_simulator, monkeypatch):
    """(the simulator, the sender's stack, the canceler's stack): the sender's watcher looks
    next after the test, the canceler gives up waiting for the held sender at once."""
    monkeypatch.setattr(sending, "SEND_WATCH_INTERVAL", 60.0)  # its watcher's next look: after this test
    sim = await make_simulator(synthetic_symbols=N, state_file=None, ledger_file=None, market_hours="closed")
    sender = await build_stack(database, sim, client_id=1)
    canceler = await build_stack(database, sim, client_id=2)
    canceler.actions.senders_timeout = 0.3  # it gives up waiting for the held sender
    return sim, sender, canceler


async def _sending_held(database, sender, project: str):
    """A run of N orders executing on ``sender``, its second placeOrder held at the pacing
    limiter: (the run, the execute task, the event that lets it go on)."""
    waiting, turn = hold_the_second_order(sender)
    _, snapshot_id = make_snapshot(database, project, {s: "0.004" for s in synthetic_symbols(N)})
    run = await sender.service.create_run(project, snapshot_id, TradeMode.PAPER, {})
    sending_run = asyncio.ensure_future(sender.service.execute(run.id, portfolio_value=Decimal(1_000_000),
                                                               require_market_health=False))
    await asyncio.wait_for(waiting.wait(), 20)
    return run, sending_run, turn


@pytest.mark.parametrize("one_by_one", [False, True])
async def test_orders_a_sender_of_another_process_wrote_after_cancel_all_are_canceled_by_it(
        database, make_simulator, monkeypatch, one_by_one):
    sim, sender, canceler = await _two_stacks(database, make_simulator, monkeypatch)
    try:
        run, sending_run, turn = await _sending_held(database, sender, "late")
        canceled = await canceler.actions.cancel_all(one_by_one=one_by_one)
        assert [s.split(" ")[1] for s in canceled.senders_not_stopped] == [str(run.id)]
        before = {o.order_ref for o in sim.orders()}
        assert len(before) == 1
        turn.set()  # its next orders go out after the Cancel All, the marker not read yet
        result = await asyncio.wait_for(sending_run, 30)
        assert len(result.sent) == N
        after = [c for c in result.sent if c not in before]
        assert len(after) == N - 1
        await sender.provider.ib.reqCurrentTimeAsync()  # the broker has read everything written before it
        await wait_until(lambda: not [o for o in sim.open_orders() if o.order_ref in result.sent], 10,
                         lambda: f"orders of the run still working after Cancel All: "
                                 f"{sorted(o.order_ref for o in sim.open_orders())}")
        # the outcome names what it canceled: every order written after the Cancel All, and (one
        # by one: another client id's order, which the Cancel All could not cancel) the first too
        assert set(after) <= set(result.canceled_after_cancel_all) <= set(result.sent)
        if one_by_one:
            assert set(result.canceled_after_cancel_all) == set(result.sent)
        assert result.not_canceled_after_cancel_all == ()
        await sender.writer.flush()
        await wait_until(lambda: set(run_statuses(database, run.id).values()) == {OrderState.CANCELED}, 10,
                         lambda: f"the run's orders recorded canceled: {run_statuses(database, run.id)}")
        recorded = _audit_payloads(database, "run.canceled_after_cancel_all", run.id)
        assert len(recorded) == 1 and set(recorded[0]["canceled"]) == set(result.canceled_after_cancel_all)
    finally:
        await sender.close()
        await canceler.close()



async def test_with_no_answer_from_the_broker_the_record_says_which_orders_to_cancel(database, make_simulator, monkeypatch):
    """The same sender when the broker does not answer its look at the open orders: the record's
    view decides (the orders it does not have as final), and every order written after the
    Cancel All is still canceled at the broker, none left working."""
    from services.execution.errors import BrokerError

    sim, sender, canceler = await _two_stacks(database, make_simulator, monkeypatch)
    looks: list[str] = []

    async def open_orders_unanswered():
        looks.append("asked")
        raise BrokerError("open orders: no answer within 10 s")

    try:
        run, sending_run, turn = await _sending_held(database, sender, "unanswered")
        await canceler.actions.cancel_all()
        before = {o.order_ref for o in sim.orders()}
        monkeypatch.setattr(sender.provider, "open_orders", open_orders_unanswered)
        turn.set()
        result = await asyncio.wait_for(sending_run, 30)
        after = [c for c in result.sent if c not in before]
        assert looks == ["asked"] and len(after) == N - 1
        assert set(after) <= set(result.canceled_after_cancel_all)
        await sender.provider.ib.reqCurrentTimeAsync()
        await ended_canceled(sim, sender, database, run.id, result.sent)
    finally:
        await sender.close()
        await canceler.close()
