"""A refused modification resolves the replace at once (no wait for the confirmation timeout):
IB's 105 ("Order being modified does not match original order") over a real socket, on SQLite
and MariaDB. The simulator refuses the modification the way IB does (docs/ib-message-codes.md)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import OrderEvent as OrderEventRow
from services.db.repositories import OrderRepository
from services.domain import OrderState, OrderType, Side

from .test_actions import _order, _settle

pytestmark = pytest.mark.timeout(60)


async def test_a_105_refusal_answers_the_modify_at_once(stack, ib_log_guard):
    ib_log_guard.allow(r"^Error 105, ")

    def refuse(session, order, req) -> None:
        session.error(order.order_id, 105, "Order being modified does not match original order")

    stack.sim._modify = refuse
    stack.actions.confirm_timeout = 3600  # were the 105 taken for a warning, the replace would hang here
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"),
                                              client_order_id="REFUSED-1")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    result = await asyncio.wait_for(stack.actions.replace(record.id, quantity=Decimal(7)), 20)
    # refused: the order is canceled and a linked one sent for the new quantity
    assert result.method == "cancel_and_new"
    await _settle(stack, record.id, {OrderState.CANCELED})
    assert _order(stack.db, result.new_order_id).quantity == Decimal(7)
    with stack.db.session() as session:
        events = list(session.scalars(select(OrderEventRow).where(OrderEventRow.order_id == record.id).order_by(OrderEventRow.id)))
    rolled_back = [e for e in events if e.event_type == "error" and e.from_state is OrderState.REPLACE_REQUESTED]
    assert rolled_back and rolled_back[0].to_state is OrderState.ACCEPTED
    assert "105" in rolled_back[0].message


async def test_a_replacement_after_a_refused_modify_keeps_the_tif_and_outside_rth(stack, ib_log_guard):
    """The trader confirmed a GTC order that may fill outside the regular session: its new form
    (cancel-and-new, IB having refused the change in place) is that order with the new limit, at
    the broker and as stored, where recovery would re-place it from."""
    from services.execution.listings import request_for_order
    from services.execution.manual import ManualOrders, Ticket

    ib_log_guard.allow(r"^Error 105, ")
    stack.sim.set_price("MSFT", "410")
    manual = ManualOrders(stack.service)
    ticket = Ticket.of("MSFT", "BUY", quantity="5", order_type="LMT", limit_price="405.00", tif="GTC", outside_rth=True,
                       project="desk")
    await manual.send(ticket, confirmed=await manual.check(ticket))
    with stack.db.session() as session:
        [original] = OrderRepository(session).list()
    await _settle(stack, original.id, {OrderState.ACCEPTED})
    stack.sim._modify = lambda session, order, req: session.error(order.order_id, 105, "Order being modified does not match original order")

    result = await stack.actions.replace(original.id, limit_price=Decimal("406.00"))

    assert result.method == "cancel_and_new"
    [at_broker] = [o for o in stack.sim.open_orders()]
    assert (at_broker.tif, at_broker.outside_rth, at_broker.quantity, at_broker.limit_price) == ("GTC", True, 5, Decimal("406.00"))
    with stack.db.session() as session:
        again = request_for_order(OrderRepository(session).get(result.new_order_id))
    assert (again.tif, again.outside_rth, again.quantity, again.limit_price, again.order_type) == (
        "GTC", True, Decimal(5), Decimal("406.00"), OrderType.LMT)
