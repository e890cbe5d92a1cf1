"""A row's Cancel of an order not sent yet (NEW) cancels it where it is, in the database, and
only while it is still NEW (``LocalOrderEvent.unsent_only``). Its run's sender may claim it in the
same moment and send it: the cancel was then dropped in silence, the window said nothing (or
'requested at the broker' with nothing asked of the broker) and the order worked at the broker.
The cancel now follows it there (once this session wrote it), or says it could not."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from services.core.order_state import EventKind
from services.db.models import TradeOrder
from services.db.repositories import OrderRepository
from services.domain import EventSource, OrderState
from services.execution.errors import BrokerError
from services.execution.listings import request_for_order
from services.execution.writer import LocalOrderEvent
from tests.fixtures.waiting import wait_until

from .conftest import build_stack
from .test_lease import _run_with_orders

pytestmark = pytest.mark.timeout(60)


def _status(db, client_order_id: str) -> OrderState:
    with db.session() as session:
        return OrderState(session.scalar(select(TradeOrder.status).where(TradeOrder.client_order_id == client_order_id)))


def _claimed_as_it_is_read(stack, lease, coid: str) -> None:
    """The run's sender claims the order right after the Cancel read it as NEW."""
    read = stack.actions.canceling._order
    leases = stack.service.leases
    claimed = []

    def read_then_claimed(order_id):
        order = read(order_id)
        if not claimed:
            claimed.append(leases.claim_many(lease, [coid]))
            assert claimed[0][1] == {coid}
        return order

    stack.actions.canceling._order = read_then_claimed


async def _send_as_its_sender(stack, lease, coid: str) -> None:
    with stack.db.session() as session:
        request = request_for_order(OrderRepository(session).get_by_client_id(coid))
    leases = stack.service.leases
    ib_order_id = await stack.provider.place_order(request, check=lambda: leases.check_sendable(lease))
    stack.writer.submit(LocalOrderEvent(coid, EventKind.SUBMITTED, EventSource.SYSTEM, ib_order_id=ib_order_id))


async def test_a_cancel_that_loses_to_the_senders_claim_cancels_the_order_at_the_broker(database, make_simulator):
    sim = await make_simulator(state_file=None, ledger_file=None, market_hours="closed")  # it rests, working
    stack = await build_stack(database, sim)
    try:
        run_id, (coid,) = _run_with_orders(database, 1)
        async with stack.service.leases.hold(run_id) as lease:
            _claimed_as_it_is_read(stack, lease, coid)
            flush = stack.writer.flush
            sent = []

            async def sent_before_the_cancel_is_written(*args, **kwargs):
                if not sent:  # the sender's placeOrder goes out while the cancel waits to be written
                    sent.append(await _send_as_its_sender(stack, lease, coid))
                return await flush(*args, **kwargs)

            stack.writer.flush = sent_before_the_cancel_is_written
            with stack.db.session() as session:
                order_id = OrderRepository(session).get_by_client_id(coid).id
            canceled = await stack.actions.cancel(order_id, wait=True)
        await wait_until(lambda: not sim.open_orders(), 10,
                         lambda: f"still working at the broker after its Cancel: {[o.order_ref for o in sim.open_orders()]}")
        assert canceled.note == (f"order {order_id} ({coid}) was being sent by its run's sender as it was canceled: "
                                 f"cancel requested at the broker")

        async def settled():
            await stack.writer.flush()
            return _status(database, coid) is OrderState.CANCELED

        await wait_until(settled, 10, lambda: f"canceled in the database: {_status(database, coid)}")
    finally:
        await stack.close()


async def test_a_cancel_that_loses_to_a_claim_not_yet_sent_says_it_could_not_cancel(database, make_simulator):
    sim = await make_simulator(state_file=None, ledger_file=None, market_hours="closed")
    stack = await build_stack(database, sim)
    try:
        run_id, (coid,) = _run_with_orders(database, 1)
        async with stack.service.leases.hold(run_id) as lease:
            _claimed_as_it_is_read(stack, lease, coid)
            with stack.db.session() as session:
                order_id = OrderRepository(session).get_by_client_id(coid).id
            with pytest.raises(BrokerError) as refused:
                await stack.actions.cancel(order_id)
            assert refused.value.code == "not_cancelable"
            assert str(refused.value).startswith(
                f"could not cancel order {order_id} ({coid}): its run's sender claimed it for sending as it was "
                f"canceled, and it is not at the broker from this session yet")
            await _send_as_its_sender(stack, lease, coid)  # it goes out: the trader was told
        await stack.writer.flush()
        await asyncio.wait_for(stack.provider.ib.reqCurrentTimeAsync(), 10)
        assert [o.order_ref for o in sim.open_orders()] == [coid]
    finally:
        await stack.close()
