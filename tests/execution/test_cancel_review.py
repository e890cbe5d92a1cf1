"""Adversarial review of cancel against the simulator over a real socket, SQLite and MariaDB: a
cancel the broker refuses because the order filled meanwhile leaves the order FILLED, never
CANCELED, and says so at once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from services.domain import OrderState, OrderType, Side

from .test_actions import _order, _settle

pytestmark = pytest.mark.timeout(60)


async def test_a_cancel_refused_because_the_order_filled_meanwhile_leaves_it_filled(stack, ib_log_guard):
    ib_log_guard.allow(r"^Error 161, ")  # the simulator's answer to a cancel of a filled order, as IB's
    stack.sim.set_price("MSFT", "410")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    # the broker's refusal answers the cancel: it waited out its whole confirm_timeout (10 s) for a
    # final status that had come before it, and warned 'not confirmed' of a filled order
    stack.actions.confirm_timeout = 30

    stack.sim.set_price("MSFT", "400")  # crosses: filled at the broker, the news still on the wire
    canceled = await asyncio.wait_for(stack.actions.cancel(record.id, wait=True), 10)

    await _settle(stack, record.id, {OrderState.FILLED})
    assert canceled.order.status is OrderState.FILLED
    assert canceled.note.startswith("the broker refused the cancel (161: ")
    stored = _order(stack.db, record.id)
    assert (stored.status, stored.filled_quantity, stored.rejected_reason) == (OrderState.FILLED, Decimal(5), None)
