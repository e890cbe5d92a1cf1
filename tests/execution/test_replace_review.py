"""Adversarial review of replace (services.execution.actions.OrderActions.replace) against the
simulator over a real socket, SQLite and MariaDB: what a refused replace leaves behind must not
reach the broker with a later one, and a replace of a partly filled order never buys more than
the trader asked for in total."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import OrderState, OrderType, Side, TradingState
from services.execution.errors import TradingHalted

from .test_actions import _order, _settle

pytestmark = pytest.mark.timeout(60)


async def test_a_replace_refused_after_its_modify_leaves_nothing_for_the_next_replace_to_send(stack, ib_log_guard):
    """The trader raises a working LMT order from 5 to 7; IB refuses the change in place (105)
    and trading was halted meanwhile, so the replace stops with the order 'still working
    unchanged' (5 at IB). After resume the trader changes only its limit: IB must get 5 shares at
    the new limit. The refused 7 stayed on ib_async's Order object and went out with it (7 at IB,
    2 more bought than the trader ever confirmed)."""
    ib_log_guard.allow(r"^Error 105, ")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    accept_modify = stack.sim._modify

    def refuse_while_the_trader_halts(session, order, req) -> None:
        stack.actions._set_state(TradingState.HALTED, {"cancel_all": False})  # Halt pressed as IB answers
        session.error(order.order_id, 105, "Order being modified does not match original order")

    stack.sim._modify = refuse_while_the_trader_halts
    with pytest.raises(TradingHalted, match="still working unchanged"):
        await stack.actions.replace(record.id, quantity=Decimal(7))
    assert [(o.quantity, o.limit_price) for o in stack.sim.open_orders()] == [(Decimal(5), Decimal("405.00"))]

    asked: list[tuple[Decimal, Decimal]] = []

    def accept_and_note(session, order, req) -> None:
        asked.append((req.quantity, req.limit_price))
        accept_modify(session, order, req)

    stack.sim._modify = accept_and_note
    await stack.actions.resume()
    result = await stack.actions.replace(record.id, limit_price=Decimal("406.00"))

    assert asked == [(Decimal(5), Decimal("406.00"))]  # was [(7, 406)]: the refused quantity went with it
    assert result.method == "modify"
    assert [(o.quantity, o.limit_price) for o in stack.sim.open_orders()] == [(Decimal(5), Decimal("406.00"))]
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    stored = _order(stack.db, record.id)
    assert (stored.quantity, stored.limit_price) == (Decimal(5), Decimal("406.00"))
