"""A refused modification resolves the replace at once (no wait for the confirmation timeout):
IB's 105 ("Order being modified does not match original order") over a real socket, on SQLite
and MariaDB. The simulator refuses the modification the way IB does (docs/ib-message-codes.md)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import OrderEvent as OrderEventRow
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
