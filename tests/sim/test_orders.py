"""Orders end to end with the real ib_async client: fills, commissions, cancels, modifications,
rejects, what-if, accounts. Prices are pinned with ``set_price`` (spread 0.02, slippage 0.01)."""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal

from ib_async import LimitOrder, MarketOrder, Stock

from tests.fixtures.ib import wait_for

EXEC_ID = re.compile(r"^[0-9a-f]{8}\.[0-9a-f]{8}\.01\.01$")


async def qualified(ib, symbol):
    [contract] = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
    return contract


def settled(trade):
    """Done, and every fill has its commission report."""
    return trade.isDone() and trade.fills and all(f.commissionReport.execId for f in trade.fills)


async def test_market_order_fills_at_touch_plus_slippage(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100, orderRef="co-0001"))
    await wait_for(lambda: settled(trade))
    [fill] = trade.fills
    ex = fill.execution
    assert (ex.side, ex.shares, ex.price, ex.cumQty, ex.avgPrice) == ("BOT", 100.0, 100.02, 100.0, 100.02)
    assert EXEC_ID.match(ex.execId), ex.execId
    assert ex.permId == trade.order.permId == 1_000_001
    assert (ex.clientId, ex.orderId, ex.orderRef, ex.acctNumber) == (1, trade.order.orderId, "co-0001", "DU1234567")
    assert (fill.commissionReport.commission, fill.commissionReport.currency, fill.commissionReport.realizedPNL) == (1.0, "USD", 0.0)
    assert (trade.orderStatus.status, trade.orderStatus.filled, trade.orderStatus.avgFillPrice, trade.orderStatus.clientId) == (
        "Filled", 100.0, 100.02, 1)
    # positions and account values follow the fill: cash 1,000,000 - 10,002 - 1
    await wait_for(lambda: ib.positions() and ib.positions()[0].position == 100.0)
    assert ib.positions()[0].avgCost == 100.03
    values = lambda: {v.tag: v.value for v in ib.accountValues() if v.currency == "USD"}  # noqa: E731
    # the account values and then the portfolio line arrive as one batch of messages that a read may
    # split: wait for the last one needed (the portfolio line follows the values)
    await wait_for(lambda: values()["TotalCashValue"] == "989997" and values().get("AvailableFunds") == "997497"
                   and len(ib.portfolio()) == 1)
    assert (values()["NetLiquidation"], values()["GrossPositionValue"], values()["AvailableFunds"], values()["BuyingPower"]) == (
        "999997", "10000", "997497", "3989988")
    [item] = ib.portfolio()
    assert (item.position, item.marketPrice, item.marketValue, item.averageCost, item.unrealizedPNL) == (100.0, 100.0, 10000.0, 100.03, -3.0)
    summary = {v.tag: v.value for v in await ib.accountSummaryAsync()}
    assert (summary["NetLiquidation"], summary["BuyingPower"], summary["AccountType"]) == ("999997", "3989988", "INDIVIDUAL")
    # ledger, in Python and in the JSON file
    [entry] = simulator.ledger()
    assert {k: entry[k] for k in ("execId", "orderRef", "permId", "orderId", "clientId", "symbol", "side", "shares", "price", "commission")} == {
        "execId": ex.execId, "orderRef": "co-0001", "permId": 1_000_001, "orderId": trade.order.orderId, "clientId": 1,
        "symbol": "AAPL", "side": "BOT", "shares": "100", "price": "100.02", "commission": "1.00"}
    await wait_for(lambda: simulator.config.ledger_file.exists())
    assert json.loads(simulator.config.ledger_file.read_text()) == simulator.ledger()


async def test_market_order_partial_fills_and_commissions(make_simulator, ib_client):
    sim = await make_simulator(fill_mode="partial", partial_fills=3, fill_interval=0.02)
    ib = await ib_client(sim=sim)
    sim.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    statuses = []
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 1000, orderRef="big"))
    trade.statusEvent += lambda t: statuses.append((t.orderStatus.status, t.orderStatus.filled, t.orderStatus.remaining))
    await wait_for(lambda: settled(trade) and len(trade.fills) == 3)
    assert [f.execution.shares for f in trade.fills] == [334.0, 334.0, 332.0]
    assert [f.execution.cumQty for f in trade.fills] == [334.0, 668.0, 1000.0]
    assert [f.commissionReport.commission for f in trade.fills] == [1.67, 1.67, 1.66]
    assert len({f.execution.execId for f in trade.fills}) == 3
    assert [s for s in statuses if s[1]] == [("Submitted", 334.0, 666.0), ("Submitted", 668.0, 332.0), ("Filled", 1000.0, 0.0)]
    assert sum(Decimal(e["commission"]) for e in sim.ledger()) == Decimal("5.000")


async def test_cancel_between_partial_fills(make_simulator, ib_client):
    sim = await make_simulator(fill_mode="partial", partial_fills=4, fill_interval=0.2)
    ib = await ib_client(sim=sim)
    sim.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    # the first part fills, the next waits until released: the cancel lands between them (it
    # raced the 0.2 s fill interval, and a loaded machine once saw the second part first)
    sim.hold_partial_fills()
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 400))
    await wait_for(lambda: len(trade.fills) == 1)
    ib.cancelOrder(trade.order)
    await wait_for(lambda: trade.orderStatus.status == "Cancelled")
    sim.release_partial_fills()
    await wait_for(lambda: not sim._tasks, message="the fill task ended")
    assert (trade.orderStatus.filled, trade.orderStatus.remaining) == (100.0, 300.0)
    assert [e["shares"] for e in sim.ledger()] == ["100"] and sim.positions() == {"AAPL": Decimal("100")}


async def test_limit_order_rests_then_fills_when_crossed(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 100, 99, orderRef="lmt-1"))
    await wait_for(lambda: trade.orderStatus.status == "Submitted")
    simulator.set_price("AAPL", "99.50")  # ask 99.51: still above the limit
    assert trade.fills == [] and simulator.open_orders()[0].status == "Submitted"
    simulator.set_price("AAPL", "98.50")  # ask 98.51 crosses
    await wait_for(lambda: settled(trade))
    assert [(f.execution.price, f.execution.shares) for f in trade.fills] == [(98.51, 100.0)]
    assert trade.orderStatus.status == "Filled"


async def test_sell_reports_realized_pnl(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    buy = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    await wait_for(lambda: settled(buy))
    simulator.set_price("AAPL", "110")
    sell = ib.placeOrder(aapl, MarketOrder("SELL", 100))
    await wait_for(lambda: settled(sell))
    [fill] = sell.fills
    assert (fill.execution.side, fill.execution.price) == ("SLD", 109.98)
    # (109.98 - 100.03) * 100 - 1.00 commission
    assert fill.commissionReport.realizedPNL == 994.0
    await wait_for(lambda: ib.positions() == [])
    assert simulator.positions() == {}
    assert simulator.cash == Decimal("1000000") - Decimal("10003") + Decimal("10997")


async def test_cancel_resting_order_and_cancel_errors(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error (10147|161),")
    ib = await ib_client()
    simulator.set_price("MSFT", "400")
    msft = await qualified(ib, "MSFT")
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append((req_id, code))
    resting = ib.placeOrder(msft, LimitOrder("BUY", 10, 350))
    await wait_for(lambda: resting.orderStatus.status == "Submitted")
    ib.cancelOrder(resting.order)
    await wait_for(lambda: resting.orderStatus.status == "Cancelled")
    await wait_for(lambda: (resting.order.orderId, 202) in errors, message="error 202 confirms the cancel")
    assert simulator.orders()[0].status == "Cancelled"
    ib.client.cancelOrder(9999)
    await wait_for(lambda: (9999, 10147) in errors)
    filled = ib.placeOrder(msft, MarketOrder("BUY", 1))
    await wait_for(lambda: settled(filled))
    ib.client.cancelOrder(filled.order.orderId)
    await wait_for(lambda: (filled.order.orderId, 161) in errors)
    assert filled.orderStatus.status == "Filled"


async def test_modify_resting_order(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    order = LimitOrder("BUY", 100, 90, orderRef="mod-1", tif="GTC")
    trade = ib.placeOrder(aapl, order)
    await wait_for(lambda: trade.orderStatus.status == "Submitted")
    order.lmtPrice = 95
    order.totalQuantity = 200
    ib.placeOrder(aapl, order)
    await wait_for(lambda: trade.orderStatus.remaining == 200.0)
    assert trade.order.lmtPrice == 95
    [sim_order] = simulator.open_orders()
    assert (sim_order.limit_price, sim_order.quantity, sim_order.perm_id) == (Decimal("95"), Decimal("200.0"), trade.order.permId)
    order.lmtPrice = 100.5
    ib.placeOrder(aapl, order)
    await wait_for(lambda: settled(trade))
    assert [(f.execution.price, f.execution.shares) for f in trade.fills] == [(100.01, 200.0)]
    assert len(simulator.orders()) == 1


async def test_reject_by_symbol_and_by_size(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 201,")
    simulator.faults.reject_symbols = {"IBM"}
    simulator.faults.reject_min_quantity = Decimal(5000)
    ib = await ib_client()
    ibm, aapl = await qualified(ib, "IBM"), await qualified(ib, "AAPL")
    by_symbol = ib.placeOrder(ibm, MarketOrder("BUY", 10, orderRef="rej-1"))
    by_size = ib.placeOrder(aapl, MarketOrder("BUY", 5000, orderRef="rej-2"))
    accepted = ib.placeOrder(aapl, MarketOrder("BUY", 4999, orderRef="ok"))
    await wait_for(lambda: by_symbol.orderStatus.status == "Inactive" and by_size.orderStatus.status == "Inactive" and settled(accepted))
    for trade in (by_symbol, by_size):
        assert [e.errorCode for e in trade.log if e.errorCode] == [201]
        assert trade.fills == []
    completed = await ib.reqCompletedOrdersAsync(False)
    assert sorted((t.order.orderRef, t.orderStatus.status) for t in completed) == [("ok", "Filled"), ("rej-1", "Inactive"), ("rej-2", "Inactive")]
    assert [e["orderRef"] for e in simulator.ledger()] == ["ok"]


async def test_unknown_and_unsupported_orders_are_rejected(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 201,")
    ib = await ib_client()
    aapl = await qualified(ib, "AAPL")
    from ib_async import Order

    trail = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=10, orderType="TRAIL", auxPrice=1))
    await wait_for(lambda: trail.orderStatus.status == "Inactive")
    assert "order type TRAIL is not supported" in trail.log[1].message


async def test_global_cancel(simulator, ib_client):
    one, two = await ib_client(client_id=1), await ib_client(client_id=2)
    simulator.set_price("AAPL", "100")
    aapl = await qualified(one, "AAPL")
    t1 = one.placeOrder(aapl, LimitOrder("BUY", 1, 90))
    t2 = two.placeOrder(aapl, LimitOrder("SELL", 1, 110, tif="GTC"))
    await wait_for(lambda: t1.orderStatus.status == "Submitted" and t2.orderStatus.status == "Submitted")
    one.reqGlobalCancel()
    await wait_for(lambda: t1.orderStatus.status == "Cancelled" and t2.orderStatus.status == "Cancelled")
    assert simulator.open_orders() == []


async def test_what_if_is_answered_and_never_executed(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    state = await asyncio.wait_for(ib.whatIfOrderAsync(aapl, MarketOrder("BUY", 100)), 5)
    assert (state.initMarginBefore, state.initMarginChange, state.initMarginAfter) == ("0", "2500.25", "2500.25")
    assert (state.equityWithLoanBefore, state.equityWithLoanChange, state.commission, state.commissionCurrency) == (
        "1000000", "-1", 1.0, "USD")
    lmt_state = await asyncio.wait_for(ib.whatIfOrderAsync(aapl, LimitOrder("SELL", 10, 120)), 5)
    assert lmt_state.initMarginChange == "300"
    # a round trip to be sure nothing else arrives for the what-if orders
    await asyncio.wait_for(ib.reqCurrentTimeAsync(), 5)
    assert simulator.orders() == [] and simulator.executions() == [] and simulator.positions() == {}
    assert ib.trades() == [] and ib.fills() == []


async def test_day_orders_expire_gtc_orders_stay(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    aapl = await qualified(ib, "AAPL")
    day = ib.placeOrder(aapl, LimitOrder("BUY", 1, 90, tif="DAY"))
    gtc = ib.placeOrder(aapl, LimitOrder("BUY", 1, 91, tif="GTC"))
    await wait_for(lambda: day.orderStatus.status == "Submitted" and gtc.orderStatus.status == "Submitted")
    assert simulator.expire_day_orders() == 1
    await wait_for(lambda: day.orderStatus.status == "Cancelled")
    assert gtc.orderStatus.status == "Submitted"
    assert [o.tif for o in simulator.open_orders()] == ["GTC"]


async def test_executions_filter(simulator, ib_client):
    from ib_async import ExecutionFilter

    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    simulator.set_price("MSFT", "400")
    aapl, msft = await qualified(ib, "AAPL"), await qualified(ib, "MSFT")
    trades = [ib.placeOrder(aapl, MarketOrder("BUY", 10)), ib.placeOrder(msft, MarketOrder("BUY", 5)),
              ib.placeOrder(aapl, MarketOrder("SELL", 4))]
    await wait_for(lambda: all(settled(t) for t in trades))
    by_symbol = await ib.reqExecutionsAsync(ExecutionFilter(symbol="AAPL"))
    assert [(f.execution.side, f.execution.shares) for f in by_symbol] == [("BOT", 10.0), ("SLD", 4.0)]
    by_side = await ib.reqExecutionsAsync(ExecutionFilter(side="SELL"))
    assert [f.contract.symbol for f in by_side] == ["AAPL"]
    none = await ib.reqExecutionsAsync(ExecutionFilter(clientId=9))
    assert none == []
    future = await ib.reqExecutionsAsync(ExecutionFilter(time="20991231 00:00:00 UTC"))
    assert future == []
    everything = await ib.reqExecutionsAsync()
    assert len(everything) == 3
    # reqExecutions answers are new Fill objects; their commissions land on ib.fills()
    assert [f.commissionReport.commission for f in ib.fills()] == [1.0, 1.0, 1.0]


async def test_margin_check_rejects_beyond_equity(make_simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 201, ")
    sim = await make_simulator(margin_check=True, initial_cash=Decimal("100000"))
    ib = await ib_client(sim=sim)
    aapl = await qualified(ib, "AAPL")
    sim.set_price("AAPL", "100")
    # 100,000 equity carries 400,000 of stock at 25 % margin; 4,001 x 100.01 x 0.25 = 100,035.0025
    too_big = ib.placeOrder(aapl, MarketOrder("BUY", 4001))
    fits = ib.placeOrder(aapl, LimitOrder("BUY", 3900, 100.01))
    await wait_for(lambda: too_big.orderStatus.status == "Inactive" and settled(fits))
    [entry] = [e for e in too_big.log if e.errorCode]
    assert "EQUITY WITH LOAN VALUE [100000 USD] MUST EXCEED THE INITIAL MARGIN [100035 USD]" in entry.message
    closing = ib.placeOrder(aapl, MarketOrder("SELL", 3900))  # reducing a position needs no margin
    await wait_for(lambda: settled(closing))
