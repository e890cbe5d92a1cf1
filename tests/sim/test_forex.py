"""Forex (CASH on IDEALPRO): contracts, quotes and what-if orders; real forex orders are refused."""

from __future__ import annotations

import asyncio

from ib_async import Forex, LimitOrder, MarketOrder

from tests.fixtures.ib import wait_for


async def test_qualify_and_quote_a_pair(simulator, ib_client):
    ib = await ib_client()
    eurusd, usdjpy = await ib.qualifyContractsAsync(Forex("EURUSD"), Forex("USDJPY"))
    assert (eurusd.conId, eurusd.symbol, eurusd.currency, eurusd.secType) == (12087792, "EUR", "USD", "CASH")
    assert (eurusd.exchange, eurusd.localSymbol, eurusd.tradingClass) == ("IDEALPRO", "EUR.USD", "EUR.USD")
    [details] = await ib.reqContractDetailsAsync(Forex("GBPUSD"))
    assert (details.minTick, details.validExchanges, details.marketName) == (0.00005, "IDEALPRO", "GBP.USD")
    simulator.set_price("EUR.USD", "1.1")
    [ticker] = await asyncio.wait_for(ib.reqTickersAsync(eurusd), 5)
    assert (ticker.bid, ticker.ask, ticker.minTick) == (1.09995, 1.10005, 0.00005)
    assert usdjpy.conId == 15016059


async def test_what_if_for_forex(simulator, ib_client):
    ib = await ib_client()
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    simulator.set_price("EUR.USD", "1.1")
    state = await asyncio.wait_for(ib.whatIfOrderAsync(eurusd, MarketOrder("BUY", 100_000)), 5)
    # USD value 110,000: 3 % margin, commission 0.2 bp with the USD 2 minimum
    assert (state.initMarginChange, state.commission, state.commissionCurrency) == ("3300", 2.2, "USD")
    [usdjpy] = await ib.qualifyContractsAsync(Forex("USDJPY"))
    state = await asyncio.wait_for(ib.whatIfOrderAsync(usdjpy, LimitOrder("SELL", 20_000, 150)), 5)
    assert (state.initMarginChange, state.commission) == ("600", 2.0)
    assert simulator.orders() == []


async def test_real_forex_order_is_rejected(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 201, ")
    ib = await ib_client()
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    trade = ib.placeOrder(eurusd, MarketOrder("BUY", 20_000))
    await wait_for(lambda: trade.isDone(), message="reject")
    assert trade.orderStatus.status == "Cancelled"
    assert trade.log[-1].errorCode == 201 and "forex" in trade.log[-1].message
    assert simulator.orders() == [] and simulator.cash == 1_000_000
