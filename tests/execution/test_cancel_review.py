"""Adversarial review of cancel against the simulator over a real socket, SQLite and MariaDB: a
cancel the broker refuses because the order filled meanwhile leaves the order FILLED, never
CANCELED, and says so at once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from services.domain import OrderState, OrderType, Side
from services.execution.events import OrderStatusEvent

from .test_actions import _order, _settle

pytestmark = pytest.mark.timeout(60)


# IB's answers to a cancel of an order that filled: 10148 (current TWS / Gateway), 161 (older
# ones, and the simulator's own), 201 'Cannot cancel the filled order'
REFUSALS = {10148: "OrderId {id} that needs to be cancelled cannot be cancelled, state: Filled.",
            161: "Cancel attempted when order is not in a cancellable state. Order permId ={perm}",
            201: "Order rejected - reason:Cannot cancel the filled order"}


@pytest.mark.parametrize("code", sorted(REFUSALS))
async def test_a_cancel_refused_because_the_order_filled_meanwhile_leaves_it_filled(stack, ib_log_guard, monkeypatch, code):
    from services.ibsim import IBGatewaySimulator

    ib_log_guard.allow(rf"^Error {code}, ")
    ib_log_guard.allow(r"Canceled order")  # ib_async's word for a 201 on a finished trade, if it says one
    sim = stack.sim

    def refuse(_sim, session, f) -> None:
        order_id = int(f[2])
        order = sim._orders[sim._order_keys[(session.client_id, order_id)]]
        assert order.is_done  # the test's own premise: filled before the cancel came
        session.error(order_id, code, REFUSALS[code].format(id=order_id, perm=order.perm_id))

    monkeypatch.setitem(IBGatewaySimulator._handlers, 4, refuse)  # cancelOrder
    stack.sim.set_price("MSFT", "410")
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"), project="manual")
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    # the broker's refusal answers the cancel: it waited out its whole confirm_timeout (10 s) for a
    # final status that had come before it, and warned 'not confirmed' of a filled order
    stack.actions.confirm_timeout = 30

    # crosses: filled at the broker, the news at the client, not yet in the database when the
    # cancel reads the order. The writer is held until that read: left to the timing, the fill
    # was sometimes written first, and the cancel refused the order as already FILLED (once under load)
    held = stack.writer.held()
    await held.__aenter__()
    filled = stack.provider.expect(lambda e: isinstance(e, OrderStatusEvent) and e.status == "Filled"
                                   and e.order_ref == record.client_order_id)
    stack.sim.set_price("MSFT", "400")
    await asyncio.wait_for(filled, 10)
    loop = asyncio.get_running_loop()
    read = stack.actions.canceling._order

    let_go: list[bool] = []

    def read_then_let_the_writer_go(order_id):
        try:
            return read(order_id)
        finally:
            if not let_go:  # the cancel's first read; it reads the order again after its flush
                let_go.append(True)
                loop.call_soon_threadsafe(lambda: loop.create_task(held.__aexit__(None, None, None)))

    monkeypatch.setattr(stack.actions.canceling, "_order", read_then_let_the_writer_go)
    canceled = await asyncio.wait_for(stack.actions.cancel(record.id, wait=True), 10)

    await _settle(stack, record.id, {OrderState.FILLED})
    assert canceled.order.status is OrderState.FILLED
    assert canceled.note.startswith(f"the broker refused the cancel ({code}: ")
    stored = _order(stack.db, record.id)
    assert (stored.status, stored.filled_quantity, stored.rejected_reason) == (OrderState.FILLED, Decimal(5), None)


def test_a_cancel_and_a_replace_are_said_in_the_same_words_by_the_window_and_the_commands():
    """The window worded a row's Cancel by the order's status and a Replace by its method, while
    ``cancel`` printed the bare status and ``replace`` the method's name (``cancel_and_new``): the
    words are the results' own now (Canceled.outcome, ReplaceResult.outcome), shown by both."""
    from dataclasses import replace

    from services.execution.action_outcomes import Canceled, ReplaceResult
    from tests.gui.factories import order

    working = order(5, status=OrderState.ACCEPTED)
    assert Canceled(replace(working, status=OrderState.CANCELED)).outcome() == "canceled"
    assert Canceled(replace(working, status=OrderState.FILLED)).outcome() == "FILLED, nothing left to cancel"
    assert Canceled(working).outcome() == "requested at the broker"  # the broker's answer to come
    assert Canceled(working, note="order 5 (x) was being sent by its run's sender as it was canceled").outcome() == \
        "order 5 (x) was being sent by its run's sender as it was canceled"
    # the window's Cancel does not wait for the broker's answer: where it shows, in the service's
    # words too (the window added them to the headline itself)
    coid = working.client_order_id
    assert Canceled(working).headline_before_the_answer() == \
        f"Cancel {coid}: requested at the broker; its answer shows in the blotter"
    assert Canceled(working, note="cancel requested at the broker").headline_before_the_answer() == \
        f"Cancel {coid}: cancel requested at the broker; its answer shows in the blotter"
    canceled = replace(working, status=OrderState.CANCELED)
    assert Canceled(canceled).headline_before_the_answer() == f"Cancel {coid}: canceled"  # nothing to come
    assert ReplaceResult(5, "modify").outcome() == "modified at the broker"
    assert ReplaceResult(5, "cancel_and_new", 6).outcome() == "canceled and sent anew"
    assert ReplaceResult(5, "nothing", message="the order filled before it could be canceled").outcome() == \
        "the order filled before it could be canceled"
    assert ReplaceResult(5, "nothing").outcome() == "nothing to do"
