"""reqPnL / reqPnLSingle stream the account's daily, unrealized and realized P&L."""

from __future__ import annotations

import math

from ib_async import MarketOrder, Stock

from tests.fixtures.ib import wait_for


async def test_pnl_follows_fills_and_prices(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    pnl = ib.reqPnL("DU1234567")
    single = ib.reqPnLSingle("DU1234567", "", aapl.conId)
    await wait_for(lambda: pnl.dailyPnL == 0.0 and single.position == 0.0, message="first answers")
    assert (pnl.unrealizedPnL, pnl.realizedPnL) == (0.0, 0.0)
    assert (single.dailyPnL, single.unrealizedPnL, single.realizedPnL, single.value) == (0.0, 0.0, 0.0, 0.0)

    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100))  # fills at 100.02, commission 1
    await wait_for(lambda: trade.isDone() and single.position == 100.0, message="position in pnlSingle")
    # marked at 100: bought 0.02 above the mark plus USD 1 commission
    assert (single.dailyPnL, single.unrealizedPnL, single.value) == (-3.0, -3.0, 10000.0)
    assert (pnl.dailyPnL, pnl.unrealizedPnL, pnl.realizedPnL) == (-3.0, -3.0, 0.0)

    simulator.set_price("AAPL", "101")
    await wait_for(lambda: single.unrealizedPnL == 97.0 and pnl.dailyPnL == 97.0, message="update after a price move")
    assert single.value == 10100.0

    sell = ib.placeOrder(aapl, MarketOrder("SELL", 100))  # fills at 100.98, commission 1
    await wait_for(lambda: sell.isDone() and single.position == 0.0, message="closed position")
    assert single.realizedPnL == pnl.realizedPnL == 94.0  # 100 x (100.98 - 100.03) - 1
    assert (single.unrealizedPnL, pnl.unrealizedPnL, pnl.dailyPnL) == (0.0, 0.0, 94.0)
    net_liquidation = float(simulator.account_snapshot().net_liquidation)
    assert math.isclose(pnl.dailyPnL, net_liquidation - 1_000_000)

    ib.cancelPnL("DU1234567")
    ib.cancelPnLSingle("DU1234567", "", aapl.conId)
    await wait_for(lambda: not any(s.pnl.account or s.pnl.single for s in simulator._sessions.values()),
                   message="subscriptions cancelled")


async def test_pnl_of_an_unknown_account_is_refused(simulator, ib_client, ib_log_guard):
    ib = await ib_client()
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    ib.reqPnL("DU0000000")
    await wait_for(lambda: errors, message="an error for the account")
    assert errors == [321]
