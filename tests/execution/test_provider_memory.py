"""What the broker adapter keeps must not grow with the orders and queries of a session.

ib_async keeps every trade and fill of a connection, and reconciliation's queries add the
day's finished orders and executions again at every reconnect: the provider drops the finished
ones from those books (the soak's memory grew ~6 MB at every dropped connection)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import OrderState, Side
from services.execution import ib_provider

from .test_actions import _settle

pytestmark = pytest.mark.timeout(60)


async def test_reconciliation_queries_leave_no_finished_trade_in_the_client_library(stack, monkeypatch):
    for symbol in ("AAPL", "MSFT", "KO"):
        record = await stack.actions.manual_order(symbol, Side.BUY, Decimal(3))
        await _settle(stack, record.id, {OrderState.FILLED})
    price = (await stack.provider.market_prices(["IBM"]))["IBM"]
    resting = await stack.actions.manual_order("IBM", Side.BUY, Decimal(1), "LMT", (price * Decimal("0.98")).quantize(Decimal("0.01")))
    wrapper = stack.provider.ib.wrapper
    assert len(wrapper.fills) >= 3  # kept by ib_async so far
    monkeypatch.setattr(ib_provider, "FORGET_FINISHED_AFTER", 0.0, raising=False)  # "quiet long enough" is now
    report = await stack.reconciler.reconcile()
    assert report.executions >= 3 and report.completed_orders >= 3  # the answers were used
    done = [t for t in wrapper.trades.values() if t.isDone()]
    assert done == [] and wrapper.fills == {}
    # the working order stays known to ib_async (a modify or cancel needs its Trade)
    assert [t.order.orderRef for t in wrapper.trades.values()] == [_ref(stack, resting.id)]
    assert await stack.actions.cancel(resting.id, wait=True)


async def test_answered_queries_leave_no_waiter_behind(stack):
    # each wait for an answer also waits for IB's pacing error 100; without one, those waits
    # stayed in the sender's list for good (the soak: hundreds of futures a minute)
    for _ in range(3):
        await stack.reconciler.reconcile()
        await stack.provider.market_prices(["AAPL", "MSFT"])
    assert stack.provider.sender._violation_waiters == []


def _ref(stack, order_id):
    from .test_actions import _order

    return _order(stack.db, order_id).client_order_id
