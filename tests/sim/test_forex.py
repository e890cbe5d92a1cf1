"""Forex (CASH on IDEALPRO): contracts, quotes, what-if orders and conversions in base-currency units."""

from __future__ import annotations

import asyncio
from decimal import Decimal

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


async def test_forex_market_order_converts_currencies(simulator, ib_client):
    ib = await ib_client()
    [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    simulator.set_price("EUR.USD", "1.1")
    await asyncio.wait_for(ib.reqAccountUpdatesAsync(simulator.config.account), 5)
    trade = ib.placeOrder(eurusd, MarketOrder("BUY", 20_000))
    await wait_for(lambda: trade.isDone() and trade.fills and trade.fills[-1].commissionReport.execId, message="forex fill")
    assert trade.orderStatus.status == "Filled" and trade.orderStatus.avgFillPrice == 1.10005
    [fill] = trade.fills
    assert (fill.execution.shares, fill.execution.price, fill.execution.exchange) == (20000, 1.10005, "IDEALPRO")
    # 0.2 bp of USD 22,001 is 0.44: the USD 2 minimum applies, in USD
    assert (fill.commissionReport.commission, fill.commissionReport.currency) == (2.0, "USD")
    balances = simulator.cash_balances()
    assert balances == {"USD": Decimal("1000000") - Decimal("22001.00") - 2, "EUR": Decimal("20000")}
    assert simulator.positions() == {"EUR.USD": 20000}  # reported as IB does; its value is in the balances

    def cash(currency):
        return {float(v.value) for v in ib.accountValues() if v.tag == "CashBalance" and v.currency == currency}

    await wait_for(lambda: cash("EUR") == {20000}, message="EUR balance in the account updates")
    assert cash("USD") == {977997}
    # NetLiquidation stays in USD: the euros are valued at the simulator's EUR rate (1.10)
    net = {float(v.value) for v in ib.accountValues() if v.tag == "NetLiquidation" and v.currency == "USD"}
    assert net == {999997}


async def test_forex_limit_order_rests_then_fills_and_sells_the_base(simulator, ib_client):
    ib = await ib_client()
    [usdjpy] = await ib.qualifyContractsAsync(Forex("USDJPY"))
    simulator.set_price("USD.JPY", "150")
    trade = ib.placeOrder(usdjpy, LimitOrder("SELL", 10_000, 150.5))
    await wait_for(lambda: trade.orderStatus.status == "Submitted", message="resting forex limit")
    assert simulator.cash_balances() == {"USD": Decimal("1000000")}
    simulator.set_price("USD.JPY", "151")
    await wait_for(lambda: trade.isDone(), message="forex limit fill")
    assert trade.orderStatus.avgFillPrice == 150.995  # the bid
    balances = simulator.cash_balances()
    assert balances["USD"] == Decimal("1000000") - 10_000 - 2
    assert balances["JPY"] == Decimal("1509950.000")
    assert simulator.positions() == {"USD.JPY": -10_000}
    await wait_for(lambda: [(p.contract.localSymbol, p.position) for p in ib.portfolio()] == [("USD.JPY", -10_000)],
                   message="the pair in the portfolio")
    assert simulator.rate("JPY") == Decimal("0.00662252")  # 1 / 151, from the pair: no rate configured
    fills = await asyncio.wait_for(ib.reqExecutionsAsync(), 5)
    assert [(f.contract.secType, f.execution.side) for f in fills] == [("CASH", "SLD")]
    assert [f.commissionReport.currency for f in ib.fills()] == ["USD"]



async def test_forex_balances_survive_a_restart(sim_config):
    from ib_async import IB

    from services.ibsim import IBGatewaySimulator

    sim = IBGatewaySimulator(sim_config())
    await sim.start(port=0)
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", sim.port, clientId=4, timeout=5)
        [gbpusd] = await ib.qualifyContractsAsync(Forex("GBPUSD"))
        trade = ib.placeOrder(gbpusd, MarketOrder("SELL", 50_000))
        await wait_for(lambda: trade.isDone(), message="forex fill")
        balances = sim.cash_balances()
    finally:
        ib.disconnect()
        await sim.stop()
    assert balances["GBP"] == -50_000
    restarted = IBGatewaySimulator(sim_config())
    assert restarted.cash_balances() == balances
    assert restarted.account_snapshot().cash == sim.account_snapshot().cash
