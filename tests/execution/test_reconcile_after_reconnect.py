"""After a reconnect, reconciliation asks IB for the day's completed orders only when an order the
database has working is missing from IB's open orders (it may have finished while the line was
down); otherwise that answer, which grows all day, is not asked for again."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from services.domain import OrderState, OrderType, Side
from tests.fixtures.waiting import wait_until

from .conftest import build_stack
from .test_actions import _order, _settle

pytestmark = pytest.mark.timeout(60)


async def test_completed_orders_are_asked_after_a_reconnect_only_when_an_order_may_have_finished_unseen(
        database, simulator, ib_log_guard):
    ib_log_guard.allow(r"Peer closed connection")  # the drops are the point
    line_back = asyncio.Event()
    line_back.set()

    async def reconnect_when_allowed(_seconds: float) -> None:
        await line_back.wait()

    stack = await build_stack(database, simulator, sleep=reconnect_when_allowed)
    try:
        filled = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(2))
        await _settle(stack, filled.id, {OrderState.FILLED})
        first = stack.reconciler.last_report

        # nothing of ours is working: the reconnect's reconciliation does not ask for them
        simulator.drop_connections()
        await wait_until(lambda: stack.reconciler.last_report is not first and stack.provider.is_connected, 20,
                         "a reconciliation after the first reconnect")
        quiet = stack.reconciler.last_report
        assert quiet is not None and not quiet.completed_asked and quiet.completed_orders == 0

        # a resting order expires at the broker while the line is down: it must be asked for
        price = (await stack.provider.market_prices(["IBM"]))["IBM"]
        resting = await stack.actions.manual_order("IBM", Side.BUY, Decimal(1), OrderType.LMT,
                                                   (price * Decimal("0.98")).quantize(Decimal("0.01")))
        await _settle(stack, resting.id, {OrderState.ACCEPTED})
        line_back.clear()
        simulator.drop_connections()
        await wait_until(lambda: not stack.provider.is_connected, 10, "the drop")
        assert simulator.expire_day_orders() == 1  # IB cancels it; the console does not hear it
        line_back.set()
        await wait_until(lambda: stack.reconciler.last_report is not quiet and stack.provider.is_connected, 20,
                         "a reconciliation after the second reconnect")
        report = stack.reconciler.last_report
        assert report is not None and report.completed_asked and report.completed_orders >= 2
        await stack.writer.flush()
        assert _order(stack.db, resting.id).status is OrderState.CANCELED
    finally:
        await stack.close()
