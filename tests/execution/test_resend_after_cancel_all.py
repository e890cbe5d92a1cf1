"""A placeOrder IB dropped (its error 100) is sent again by the provider's in-flight recovery
(services/execution/paced.py) under the check of the sender that wrote it, right before the
write. A Cancel All of another process stops that resend too: it is known to this process only
from the database, which the sender read before each chunk and every ``SEND_WATCH_INTERVAL``
while it sent, and no more once its work was over; a command holds the run's lease (and
resends) while it waits for the fills, and that other Cancel All did not wait for a sender no
longer marked as sending: the resend landed after its cancel and stayed working. A resend now
reads the marker first, and marks the lease as sending again for its write."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.db.repositories import OrderRepository
from services.execution import sending
from services.execution.listings import request_for_order
from services.execution.sending import CANCEL_ALL, OrderSender
from tests.fixtures.waiting import wait_until

from .conftest import build_stack
from .test_lease import _run_with_orders

pytestmark = pytest.mark.timeout(60)

PACING_ERROR = "Max rate of messages per second has been exceeded:max=50"


def _requests(db, coids):
    with db.session() as session:
        return [request_for_order(OrderRepository(session).get_by_client_id(c)) for c in coids]


def _error_100(sim, client_id: int) -> None:
    """IB's pacing refusal to that client, over its socket (the message it dropped names no id)."""
    session = next(s for s in sim._live_sessions() if s.client_id == client_id)
    session.error(-1, 100, PACING_ERROR)


async def _two_processes(database, make_simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 100, reqId")
    sim = await make_simulator(state_file=None, ledger_file=None)
    sim.faults.add_rule(lost=1)  # the first placeOrder is dropped, as IB drops one past its pace
    stack = await build_stack(database, sim, client_id=1, pacing_settle=0.2)
    other = await build_stack(database, sim, client_id=2)
    return sim, stack, other


async def _not_resent(stack, sim) -> None:
    await wait_until(lambda: len(stack.provider.inflight) == 0, 20, "the dropped order's in-flight recovery to settle")
    await stack.provider.ib.reqCurrentTimeAsync()  # the broker has read everything written before it
    assert [o.order_ref for o in sim.orders()] == [], "sent again after another process's Cancel All"


async def test_a_resend_after_the_senders_end_is_not_written_after_another_process_cancel_all(
        database, make_simulator, ib_log_guard, caplog):
    """... and what the provider says of it is that it was not sent again, never "sent again"
    before the refusal (that report went into the order's record as a send that never happened)."""
    sim, stack, other = await _two_processes(database, make_simulator, ib_log_guard)
    caplog.set_level(logging.WARNING, logger="services.execution.ib_provider")
    try:
        run_id, coids = _run_with_orders(database, 1)
        leases = stack.service.leases
        async with leases.hold(run_id) as lease:
            out = await OrderSender(database, stack.provider, stack.writer, leases, lambda: None).send(
                lease, _requests(database, coids))
            assert out.sent == coids and len(stack.provider.inflight) == 1  # written, dropped by the broker
            # the sender's work is over, the run's lease still held (a command holds it while it
            # waits for the fills); another process's Cancel All now waits for no sender of this run
            mark = await asyncio.to_thread(other.actions.canceling_all._mark_cancel_all, False)
            assert await asyncio.to_thread(leases.senders_before, mark) == []
            _error_100(sim, 1)
            await _not_resent(stack, sim)
        said = [r.getMessage() for r in caplog.records if r.name == "services.execution.ib_provider"]
        assert not [m for m in said if "sent again, same orderId" in m], said
        assert [m for m in said if coids[0] in m and "after IB's pacing error 100: not sent again (" in m
                and m.endswith("reconciliation decides")], said
    finally:
        await other.close()
        await stack.close()


async def test_without_a_cancel_all_a_dropped_order_is_still_sent_again_after_the_senders_end(
        database, make_simulator, ib_log_guard):
    """The look before a resend stops only what a halt or a Cancel All stops: an order IB
    dropped while a command waits for the fills goes out again (else reconciliation closed it
    as never received, and the run missed it)."""
    sim, stack, other = await _two_processes(database, make_simulator, ib_log_guard)
    try:
        run_id, coids = _run_with_orders(database, 1)
        leases = stack.service.leases
        async with leases.hold(run_id) as lease:
            out = await OrderSender(database, stack.provider, stack.writer, leases, lambda: None).send(
                lease, _requests(database, coids))
            assert out.sent == coids
            _error_100(sim, 1)
            await wait_until(lambda: [o.order_ref for o in sim.orders()] == coids, 20,
                             lambda: f"the dropped order sent again: {[o.order_ref for o in sim.orders()]}")
            await wait_until(lambda: len(stack.provider.inflight) == 0, 20, "the in-flight recovery to settle")
            # its mark for the resend goes once the resend is written: a later Cancel All does not
            # wait for it (the in-flight entry can end, on the broker's answer, a moment before the
            # resend's own step takes the mark off: waited for, with a deadline)
            assert (await asyncio.to_thread(leases.holder, run_id)) is not None
            mark = await asyncio.to_thread(other.actions.canceling_all._mark_cancel_all, False)
            await wait_until(lambda: leases.senders_before(mark) == [], 10,
                             lambda: f"the resend's mark taken off the lease: {leases.senders_before(mark)}")
    finally:
        await other.close()
        await stack.close()


async def test_a_resend_while_sending_reads_another_process_cancel_all_first(
        database, make_simulator, ib_log_guard, monkeypatch):
    """The sender's watcher reads the database every ``SEND_WATCH_INTERVAL`` (0.5 s): the
    resend of a dropped order in between went out with a Cancel All of another process written
    since the claim. (The interval is set beyond the test here, so that the gap shows every time.)"""
    monkeypatch.setattr(sending, "SEND_WATCH_INTERVAL", 60.0)
    sim, stack, other = await _two_processes(database, make_simulator, ib_log_guard)
    try:
        paced = stack.provider.sender
        write_at_once = paced.send
        waiting, turn = asyncio.Event(), asyncio.Event()
        placed = []

        async def send(fn, *args, **kwargs):
            if fn == stack.provider.ib.placeOrder:
                placed.append(fn)
                if len(placed) == 2:  # the run's second order waits its turn: the sender is still at work
                    waiting.set()
                    await turn.wait()
            return await write_at_once(fn, *args, **kwargs)

        paced.send = send
        run_id, coids = _run_with_orders(database, 2)
        leases = stack.service.leases
        async with leases.hold(run_id) as lease:
            sender = OrderSender(database, stack.provider, stack.writer, leases, lambda: None)
            sending_run = asyncio.ensure_future(sender.send(lease, _requests(database, coids)))
            await asyncio.wait_for(waiting.wait(), 20)
            await asyncio.to_thread(other.actions.canceling_all._mark_cancel_all, False)  # another process's Cancel All
            _error_100(sim, 1)
            await _not_resent(stack, sim)
            turn.set()
            out = await asyncio.wait_for(sending_run, 20)
        assert out.sent == coids[:1] and out.stopped == CANCEL_ALL
    finally:
        await other.close()
        await stack.close()


async def test_a_resend_after_this_process_cancel_all_is_not_written(database, make_simulator, ib_log_guard):
    """Not a defect, shown: a Cancel All of this process reaches a resend under a run's lease
    still held after its sending (a command waiting for the fills) through the stop it asks of
    every sender started before it, which the check right before the write reads."""
    from decimal import Decimal

    from services.domain import TradeMode

    from .conftest import make_snapshot

    sim, stack, other = await _two_processes(database, make_simulator, ib_log_guard)
    try:
        _, snapshot_id = make_snapshot(database, "held", {"AAPL": "0.01"})
        run = await stack.service.create_run("held", snapshot_id, TradeMode.PAPER, {})
        async with stack.service.hold_run(run.id):  # as a command holds it while it waits for the fills
            result = await stack.service.execute(run.id, portfolio_value=Decimal(1_000_000))
            assert len(result.sent) == 1 and len(stack.provider.inflight) == 1  # written, dropped by the broker
            await stack.actions.cancel_all()
            _error_100(sim, 1)
            await _not_resent(stack, sim)
    finally:
        await other.close()
        await stack.close()
