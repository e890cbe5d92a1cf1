"""Stop orders in the simulator with the real ib_async client: a STP rests until its stop price
is touched and then fills as a market order; a STP LMT becomes a limit order; IOC cancels what
does not fill at once; the stop price travels as IB's auxPrice."""

from __future__ import annotations

from ib_async import LimitOrder, StopLimitOrder, StopOrder

from tests.fixtures.ib import wait_for
from tests.sim.test_orders import qualified, settled


async def test_sell_stop_rests_until_the_bid_falls_to_the_stop_then_fills_at_market(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    trade = ib.placeOrder(aapl, StopOrder("SELL", 10, 95, orderRef="stop-1"))
    await wait_for(lambda: trade.orderStatus.status == "Submitted")
    simulator.set_price("AAPL", "96")  # bid 95.99: above the stop, nothing happens
    assert not trade.fills and not trade.isDone()
    [open_order] = [o for o in simulator.open_orders() if o.order_ref == "stop-1"]
    assert (open_order.order_type, str(open_order.stop_price), open_order.triggered) == ("STP", "95", False)
    simulator.set_price("AAPL", "94.5")  # bid 94.49 <= 95: triggered, a market order at the bid less the slippage
    await wait_for(lambda: settled(trade))
    [fill] = trade.fills
    assert (fill.execution.side, fill.execution.shares, fill.execution.price) == ("SLD", 10.0, 94.48)
    assert trade.order.auxPrice == 95.0


async def test_buy_stop_limit_becomes_a_limit_order_once_touched(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("MSFT", "100")
    msft = await qualified(ib, "MSFT")
    trade = ib.placeOrder(msft, StopLimitOrder("BUY", 5, 101, 102, orderRef="stoplmt-1"))
    await wait_for(lambda: trade.orderStatus.status == "Submitted")
    simulator.set_price("MSFT", "103")  # ask 103.01 >= 102 triggers; above the 101 limit: rests as a limit order
    await wait_for(lambda: any(o.triggered for o in simulator.open_orders() if o.order_ref == "stoplmt-1"))
    assert not trade.fills
    simulator.set_price("MSFT", "100.5")  # ask 100.51 <= 101: the limit crosses
    await wait_for(lambda: settled(trade))
    assert [f.execution.price for f in trade.fills] == [100.51]


async def test_ioc_limit_that_does_not_cross_is_canceled(simulator, ib_client, ib_log_guard):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    order = LimitOrder("BUY", 10, 90, orderRef="ioc-1")
    order.tif = "IOC"
    trade = ib.placeOrder(aapl, order)
    await wait_for(lambda: trade.isDone())
    assert trade.orderStatus.status == "Cancelled" and not trade.fills


async def test_stop_order_without_a_stop_price_is_rejected(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Error 201, .*stop price")
    ib = await ib_client()
    aapl = await qualified(ib, "AAPL")
    trade = ib.placeOrder(aapl, StopOrder("SELL", 10, 0, orderRef="stop-bad"))
    await wait_for(lambda: trade.isDone())
    assert trade.orderStatus.status in ("Inactive", "Cancelled")
