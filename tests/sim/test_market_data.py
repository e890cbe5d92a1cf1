"""Contracts and market data with the real ib_async client."""

from __future__ import annotations

import asyncio

from ib_async import Contract, Stock

from tests.fixtures.ib import wait_for


async def test_qualify_known_and_unknown(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 200, ")
    ib = await ib_client()
    aapl, nope, by_con_id = await ib.qualifyContractsAsync(
        Stock("AAPL", "SMART", "USD"), Stock("NOPE", "SMART", "USD"), Contract(conId=8314))
    assert (aapl.conId, aapl.primaryExchange, aapl.exchange, aapl.currency, aapl.tradingClass) == (265598, "NASDAQ", "SMART", "USD", "NMS")
    assert nope is None
    assert (by_con_id.symbol, by_con_id.secType, by_con_id.primaryExchange) == ("IBM", "STK", "NYSE")
    [details] = await ib.reqContractDetailsAsync(Stock("SPY", "SMART", "USD"))
    assert (details.longName, details.stockType, details.minTick, details.timeZoneId) == ("SPDR S&P 500 ETF TRUST", "ETF", 0.01, "US/Eastern")
    wrong_type = await ib.reqContractDetailsAsync(Contract(symbol="AAPL", secType="OPT", exchange="SMART", currency="USD"))
    assert wrong_type == []


async def test_snapshot_tickers(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    simulator.set_price("QQQ", "500.004")
    aapl, qqq = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"), Stock("QQQ", "SMART", "USD"))
    t_aapl, t_qqq = await asyncio.wait_for(ib.reqTickersAsync(aapl, qqq), 5)
    assert (t_aapl.bid, t_aapl.ask, t_aapl.last, t_aapl.close, t_aapl.lastSize) == (99.99, 100.01, 100.0, 228.5, 100.0)
    assert t_aapl.bidSize > 0 and t_aapl.askSize > 0
    assert (t_qqq.bid, t_qqq.ask, t_qqq.last) == (499.99, 500.01, 500.0)


async def test_streaming_ticks_follow_prices(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("MSFT", "400")
    [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
    ib.reqMarketDataType(3)
    ticker = ib.reqMktData(msft)
    await wait_for(lambda: ticker.bid == 399.99 and ticker.ask == 400.01)
    assert ticker.marketDataType == 3
    simulator.set_price("MSFT", "401.50")
    await wait_for(lambda: (ticker.bid, ticker.ask, ticker.last) == (401.49, 401.51, 401.5))
    ib.cancelMktData(msft)
    await wait_for(lambda: not any(s.market_data for s in simulator._sessions.values()), message="subscription removed")


async def test_random_walk_is_seeded(make_simulator):
    first = await make_simulator(seed=11, state_file=None, ledger_file=None)
    same = await make_simulator(seed=11, state_file=None, ledger_file=None)
    other = await make_simulator(seed=12, state_file=None, ledger_file=None)
    for sim in (first, same, other):
        for _ in range(5):
            sim.step_prices()
    prices = lambda sim: {s: sim.price(s) for s in sim.universe}  # noqa: E731
    assert prices(first) == prices(same)
    assert prices(first) != prices(other)
    moved = [s for s in first.universe if first.price(s) != first.universe[s].price]
    assert len(moved) > 40
    bid, ask = first.quote("AAPL")
    assert ask - bid == first.config.spread


async def test_random_walk_streams_to_subscribers(make_simulator, ib_client):
    sim = await make_simulator(seed=3, walk_interval=0.05, state_file=None, ledger_file=None)
    ib = await ib_client(sim=sim)
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    ticker = ib.reqMktData(aapl)
    start = sim.universe["AAPL"].price
    await wait_for(lambda: ticker.last == float(sim.price("AAPL")) and sim.price("AAPL") != start, message="streamed walk")


def test_sample_universe():
    from services.ibsim import load_universe

    universe = load_universe()
    assert len(universe) >= 50
    assert {"AAPL", "MSFT", "AMZN", "GOOGL", "SPY", "QQQ", "IBM"} <= set(universe)
    assert len({i.con_id for i in universe.values()}) == len(universe)
    assert all(i.price > 0 and i.currency in ("USD", "EUR", "GBP") and i.long_name for i in universe.values())
    # same-named listings in other currencies beside the US one, keyed apart
    assert (universe["SAP"].currency, universe["SAP@IBIS:EUR"].currency, universe["SHEL@LSE:GBP"].currency) == ("USD", "EUR", "GBP")
    assert (universe["AAPL"].con_id, universe["SPY"].primary_exchange) == (265598, "ARCA")


async def test_custom_universe_file(tmp_path, make_simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 200, ")
    path = tmp_path / "universe.csv"
    path.write_text("symbol,conId,primaryExchange,price,longName\nabc,123,NYSE,10.5,ABC CORP\n")
    sim = await make_simulator(universe_file=path)
    ib = await ib_client(sim=sim)
    abc, aapl = await ib.qualifyContractsAsync(Stock("ABC", "SMART", "USD"), Stock("AAPL", "SMART", "USD"))
    assert (abc.conId, abc.primaryExchange, aapl) == (123, "NYSE", None)
    [ticker] = await ib.reqTickersAsync(abc)
    assert (ticker.bid, ticker.ask) == (10.49, 10.51)


def test_log_guard_flags_decoding_errors(ib_log_guard):
    from ib_async.decoder import Decoder

    from services.ibsim import load_universe
    from services.ibsim import messages as m
    from tests.sim.test_encoders import Recorder

    ib_log_guard.allow(r".*")  # even allow-all never excuses a decoding error
    broken = m.position("DU1", load_universe()["AAPL"], 1, 1)[:-1]  # one field short
    Decoder(Recorder(), 178).interpret(broken)
    problems = ib_log_guard.problems()
    assert len(problems) == 1 and "Error handling fields" in problems[0]
    ib_log_guard.records.clear()


async def test_same_named_listings_resolve_by_currency_and_exchange(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 200, ")
    ib = await ib_client()
    us, eur, direct, paris = await ib.qualifyContractsAsync(
        Stock("SAP", "SMART", "USD"), Stock("SAP", "SMART", "EUR", primaryExchange="IBIS"), Stock("SAP", "IBIS", "EUR"),
        Stock("SAP", "SBF", "EUR"))
    assert (us.conId, us.currency, us.primaryExchange) == (simulator.universe["SAP"].con_id, "USD", "NYSE")
    assert (eur.conId, eur.currency, eur.exchange) == (simulator.universe["SAP@IBIS:EUR"].con_id, "EUR", "SMART")
    assert (direct.conId, direct.exchange) == (eur.conId, "IBIS")  # a direct route comes back as asked
    assert paris is None  # no such listing: never another one in its place
    # a bare symbol without a currency names two listings: ambiguous, refused
    details = await ib.reqContractDetailsAsync(Stock("SAP", "SMART", ""))
    assert details == []
    [ticker] = await ib.reqTickersAsync(direct)
    assert (ticker.bid, ticker.ask) == (199.99, 200.01)


async def test_exchange_rates_in_account_updates_and_ledger_summary(simulator, ib_client):
    ib = await ib_client()
    await wait_for(lambda: any(v.tag == "ExchangeRate" for v in ib.accountValues()), message="account values")
    rates = {v.currency: v.value for v in ib.accountValues() if v.tag == "ExchangeRate"}
    assert rates == {"BASE": "1.00", "USD": "1.00", "EUR": "1.1", "GBP": "1.27"}
    summary = {(v.tag, v.currency): v.value for v in await ib.accountSummaryAsync()}  # ib_async asks $LEDGER:ALL
    assert (summary[("ExchangeRate", "EUR")], summary[("NetLiquidation", "USD")]) == ("1.1", "1000000")
