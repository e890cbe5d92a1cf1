"""Cancel All and an order still SENDING once the senders stopped. Cancel All stops this process's
sender and waits for every other process's before it lists what to cancel; an order still SENDING
then had its placeOrder written (the row waits for its SUBMITTED, which the sender queued behind
the writer, or for the broker's first status; or placeOrder raised after the write and the
sender left it SENDING for reconciliation). It may be working at the broker, so Cancel All one by
one cancels it there like a working one; an order it cannot cancel from this session (IB lets
only the client that placed an order cancel it) is named in its result, never counted as
canceled."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from services.core.order_state import EventKind
from services.db.models import TradeOrder
from services.db.repositories import OrderRepository
from services.domain import EventSource, OrderState
from services.execution.errors import BrokerError
from services.execution.listings import request_for_order
from services.execution.writer import LocalOrderEvent
from tests.fixtures.waiting import wait_until

from .cli_helpers import cli_args, run
from .conftest import build_stack
from .test_lease import _run_with_orders

pytestmark = pytest.mark.timeout(60)

ACK_DELAY = 60.0  # the broker keeps the order PendingSubmit, without a status, for the whole test


def _order(db, client_order_id: str):
    with db.session() as session:
        return OrderRepository(session).get_by_client_id(client_order_id)


def _status(db, client_order_id: str) -> OrderState:
    with db.session() as session:
        return OrderState(session.scalar(select(TradeOrder.status).where(TradeOrder.client_order_id == client_order_id)))


def _run_on_the_account(stack, n: int) -> tuple[int, list[str]]:
    """A run of ``n`` NEW orders on the connected account's, as a run's orders are."""
    run_id, coids = _run_with_orders(stack.db, n)
    with stack.db.unit_of_work() as session:
        session.execute(update(TradeOrder).values(account=stack.provider.account))
    return run_id, coids


async def _placed_still_sending(stack, n: int = 2) -> list[str]:
    """A run of ``n`` orders whose first one went out as the run's sender sends it (claimed under
    the run's lease, then placeOrder written to the broker) and is still SENDING in the database:
    the broker holds its acknowledgement (``ack_delay``) and its SUBMITTED is not recorded. The
    sender's work is over (the lease released), as after a Cancel All stopped it."""
    run_id, coids = _run_with_orders(stack.db, n)
    leases = stack.service.leases
    async with leases.hold(run_id) as lease:
        claimed = await asyncio.to_thread(leases.claim_many, lease, coids[:1])
        assert claimed is not None and claimed[1] == {coids[0]}
        await stack.provider.place_order(request_for_order(_order(stack.db, coids[0])),
                                         check=lambda: leases.check_sendable(lease))
    await wait_until(lambda: [o.order_ref for o in stack.sim.open_orders()] == [coids[0]], 10,
                     lambda: f"the placed order at the broker: {stack.sim.open_orders()}")
    await stack.writer.flush()
    assert _status(stack.db, coids[0]) is OrderState.SENDING
    return coids


async def test_cancel_all_one_by_one_cancels_at_the_broker_an_order_its_stopped_sender_left_sending(database, make_simulator):
    sim = await make_simulator(state_file=None, ledger_file=None)
    sim.faults.ack_delay = ACK_DELAY
    stack = await build_stack(database, sim, client_id=1)
    try:
        sent, unsent = await _placed_still_sending(stack)
        canceled = await stack.actions.cancel_all(one_by_one=True)
        # else it stayed working at the broker after the trader canceled everything
        await wait_until(lambda: not sim.open_orders(), 10,
                         lambda: f"still working at the broker after Cancel All: {[o.order_ref for o in sim.open_orders()]}")
        assert sorted(canceled) == sorted(_order(database, c).id for c in (sent, unsent))
        assert canceled.not_canceled == ()

        async def settled():
            await stack.writer.flush()
            return _status(database, sent) is OrderState.CANCELED and _status(database, unsent) is OrderState.CANCELED

        await wait_until(settled, 10, lambda: f"both canceled: {_status(database, sent)}, {_status(database, unsent)}")
    finally:
        await stack.close()


async def test_cancel_all_one_by_one_names_what_it_could_not_cancel_from_this_session(database, make_simulator):
    """The order went out from another process (client id 1): IB lets only that client cancel
    it one by one. Cancel All of client id 2 says so in its result instead of counting it as
    canceled, and writes nothing for it; the single-row Cancel refuses it the same way."""
    sim = await make_simulator(state_file=None, ledger_file=None)
    sim.faults.ack_delay = ACK_DELAY
    owner = await build_stack(database, sim, client_id=1)
    canceler = await build_stack(database, sim, client_id=2)
    try:
        sent, unsent = await _placed_still_sending(owner)
        order_id = _order(database, sent).id
        with pytest.raises(BrokerError) as refused:
            await canceler.actions.cancel(order_id)
        assert refused.value.code == "not_cancelable"
        canceled = await canceler.actions.cancel_all(one_by_one=True)
        assert list(canceled) == [_order(database, unsent).id]
        # said the same way as the single-row Cancel's refusal
        assert canceled.not_canceled == (str(refused.value),)
        assert str(refused.value).startswith(f"order {order_id} ({sent}) is SENDING and not open in this session")
        await canceler.writer.flush()
        assert _status(database, sent) is OrderState.SENDING  # nothing written for a cancel never asked
        assert [o.order_ref for o in sim.open_orders()] == [sent]
        # the global cancel reaches it at the broker
        await canceler.actions.cancel_all()
        await wait_until(lambda: not sim.open_orders(), 10, "the global cancel to reach the order")
    finally:
        await canceler.close()
        await owner.close()


@pytest.mark.slow  # a `python -m app` subprocess that connects and reconciles
async def test_cancel_all_one_by_one_command_fails_naming_what_it_could_not_cancel(database, db_url, make_simulator):
    """``cancel-all --one-by-one`` said 'cancel requested' and exited 0 while the order stayed
    working at the broker."""
    sim = await make_simulator(state_file=None, ledger_file=None)
    sim.faults.ack_delay = ACK_DELAY
    owner = await build_stack(database, sim, client_id=1)
    try:
        sent, unsent = await _placed_still_sending(owner)
        done = await run(cli_args(db_url, sim.port, "cancel-all", "--one-by-one", "--json", client_id=2))
        assert done.code == 5, done.err  # EXIT_BROKER
        order_id = _order(database, sent).id
        result = json.loads(done.out)
        assert result["canceled"] == [_order(database, unsent).id]
        assert len(result["not_canceled"]) == 1
        # (the command's connect reconciles first: IB lists the order, so it is no longer SENDING there)
        assert result["not_canceled"][0].startswith(f"order {order_id} ({sent})")
        # who placed it and what reaches it (it said "not open in this session ...; reconcile, then
        # cancel it", which a reconcile cannot help: IB lets only client id 1 cancel it one by one)
        assert "was placed by API client id 1, not this session's (client id 2)" in result["not_canceled"][0]
        # the window's words (CanceledOrders.left_lines): it said "cancel-all: ..."
        assert "trading-console: Cancel All: 1 order not canceled: order" in done.err
        assert [o.order_ref for o in sim.open_orders()] == [sent]
    finally:
        await owner.close()


async def test_an_order_of_a_sender_still_at_work_is_left_to_it(database, make_simulator):
    """A sender that did not stop within the wait gives back (NEW) what it does not send: its
    SENDING orders are not Cancel All's to touch; the result names the run instead."""
    sim = await make_simulator(state_file=None, ledger_file=None)
    stack = await build_stack(database, sim, client_id=1)
    stack.actions.senders_timeout = 0.3
    try:
        run_id, coids = _run_with_orders(database, 1)
        leases = stack.service.leases
        async with leases.hold(run_id) as lease:
            await asyncio.to_thread(leases.start_sending, lease)  # a sender at work that sees no marker
            assert (await asyncio.to_thread(leases.claim_many, lease, coids))[1] == set(coids)
            canceled = await stack.actions.cancel_all(one_by_one=True)
            assert list(canceled) == [] and canceled.not_canceled == ()
            assert [s.split(" (")[0] for s in canceled.senders_not_stopped] == [f"run {run_id}"]
            await stack.writer.flush()
            assert _status(database, coids[0]) is OrderState.SENDING
    finally:
        await stack.close()


async def _claimed_by_a_gone_sender(stack) -> list[str]:
    """A run of one order that its sender claimed (SENDING) before it died: its lease given up,
    its placeOrder never written."""
    run_id, coids = _run_on_the_account(stack, 1)
    leases = stack.service.leases
    async with leases.hold(run_id) as lease:  # the sender's lease, given up when it died
        assert (await asyncio.to_thread(leases.claim_many, lease, coids))[1] == set(coids)
    assert _status(stack.db, coids[0]) is OrderState.SENDING
    return coids


async def test_an_order_a_gone_sender_left_sending_before_cancel_all_is_closed_not_given_back(database, make_simulator):
    """A sender claimed an order (SENDING) and died before its placeOrder went out. Cancel All one
    by one cannot cancel it from this session (it names it); reconciliation then finds IB does
    not know it. It gave it back NEW "for the run's next holder", and the next execute or a
    recovery pass sent it after the trader had canceled everything. Claimed before the Cancel All,
    it is closed as never received instead."""
    sim = await make_simulator(state_file=None, ledger_file=None)
    stack = await build_stack(database, sim, client_id=1)
    stack.reconciler.grace_seconds = 0
    try:
        coids = await _claimed_by_a_gone_sender(stack)
        canceled = await stack.actions.cancel_all(one_by_one=True)
        assert list(canceled) == [] and len(canceled.not_canceled) == 1
        report = await stack.reconciler.reconcile()
        await stack.writer.flush()
        assert _status(database, coids[0]) is OrderState.CANCELED, report
        assert coids[0] not in report.released
        assert not sim.orders()  # never sent
    finally:
        await stack.close()


async def test_a_claim_older_than_the_cancel_all_is_closed_even_when_its_row_was_written_after_it(database, make_simulator):
    """The same, but the row of the order was written after the Cancel All (its last change, as
    any later note on the order makes it): the comparison took that last change for the claim's
    moment, found it younger than the Cancel All, and gave the order back NEW to be sent."""
    sim = await make_simulator(state_file=None, ledger_file=None)
    stack = await build_stack(database, sim, client_id=1)
    stack.reconciler.grace_seconds = 0
    try:
        coids = await _claimed_by_a_gone_sender(stack)
        await stack.actions.cancel_all(one_by_one=True)
        with database.unit_of_work() as session:  # written after the Cancel All
            session.execute(update(TradeOrder).where(TradeOrder.client_order_id == coids[0])
                            .values(updated_at=datetime.now(UTC) + timedelta(seconds=1)))
        report = await stack.reconciler.reconcile()
        await stack.writer.flush()
        assert _status(database, coids[0]) is OrderState.CANCELED, report
        assert coids[0] not in report.released
        assert not sim.orders()
    finally:
        await stack.close()


async def test_an_unsent_order_its_sender_claims_while_cancel_all_cancels_it_is_not_said_canceled(database, make_simulator):
    """Cancel All cancels an order not sent yet (NEW) where it is: in the database. Its run's sender
    still at work (it did not stop within the wait, or it started after the Cancel All) may claim
    it in the same moment, and then sends it. The cancel was written whatever the order had
    become: the order working at the broker was CANCEL_REQUESTED in the database, with no cancel
    ever asked of the broker, and Cancel All counted it as canceled. The cancel of an unsent order
    applies only while it is still NEW; one claimed meanwhile is its sender's, named as not
    canceled."""
    sim = await make_simulator(state_file=None, ledger_file=None, market_hours="closed")
    stack = await build_stack(database, sim, client_id=1)
    stack.actions.senders_timeout = 0.3
    try:
        run_id, coids = _run_on_the_account(stack, 1)
        leases = stack.service.leases
        async with leases.hold(run_id) as lease:
            await asyncio.to_thread(leases.start_sending, lease)  # a sender at work that sees no marker
            listed = stack.actions.canceling_all._working

            def listed_then_claimed(still_sending):
                working = listed(still_sending)
                # the sender's next claim lands right after Cancel All listed the order as NEW
                assert leases.claim_many(lease, coids)[1] == set(coids)
                return working

            stack.actions.canceling_all._working = listed_then_claimed
            canceled = await stack.actions.cancel_all(one_by_one=True)
            # the sender sends what it claimed, as OrderSender does (its SUBMITTED with it)
            ib_order_id = await stack.provider.place_order(request_for_order(_order(database, coids[0])),
                                                           check=lambda: leases.check_sendable(lease))
            stack.writer.submit(LocalOrderEvent(coids[0], EventKind.SUBMITTED, EventSource.SYSTEM, ib_order_id=ib_order_id))
        await wait_until(lambda: [o.order_ref for o in sim.open_orders()] == coids, 10, "the order working at the broker")

        async def settled():
            await stack.writer.flush()
            return _status(database, coids[0]) is OrderState.ACCEPTED

        # the database says what the broker has (it was CANCEL_REQUESTED, no cancel ever asked)
        await wait_until(settled, 10, lambda: f"the order working in the database too: {_status(database, coids[0])}")
        # and Cancel All counts only what it canceled
        assert list(canceled) == [] and len(canceled.not_canceled) == 1
    finally:
        await stack.close()


def test_what_a_cancel_all_left_is_said_in_one_set_of_words():
    """The window and ``cancel-all`` each wrote their own lines for what a Cancel All left that may
    still work (the window's "still sending" went by as an ordinary line): one set now, from the
    result itself (CanceledOrders.left_notes), which both show."""
    from services.execution.cancel_all_outcome import CanceledOrders

    assert CanceledOrders([1, 2]).left_notes() == ()
    left = CanceledOrders([1], not_canceled=("order 7 (M-7) is SENDING and not open in this session", "order 8 (M-8) filled"),
                          other_accounts=("account DU2: 1 open order left as they are", "account DU3: 2 open orders left"),
                          senders_not_stopped=("run 4 (pid 99 on host)",))
    assert left.left_notes() == (
        "2 orders not canceled: order 7 (M-7) is SENDING and not open in this session; order 8 (M-8) filled",
        "orders of another account: account DU2: 1 open order left as they are",
        "orders of another account: account DU3: 2 open orders left",
        "still sending after the wait (what they sent since may be working): run 4 (pid 99 on host)")
