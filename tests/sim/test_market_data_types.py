"""Market data types as TWS sends them: tickReqParams first, then marketDataType, then the
ticks; delayed data (3, 4) under the delayed tick types 66..76; frozen data (2, 4) sent once."""

from __future__ import annotations

import asyncio

import pytest
from ib_async import Stock

from tests.fixtures.ib import wait_for

DELAYED = set(range(66, 77))


def record_ticks(ib):
    """Every (msgId, reqId, tickType) the client decodes, in order."""
    seen: list[tuple[str, ...]] = []
    decoder = ib.client.decoder
    original = decoder.interpret

    def interpret(fields):
        seen.append(tuple(fields))
        original(fields)

    decoder.interpret = interpret
    return seen


async def subscribe(ib, data_type: int, snapshot: bool = False):
    [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
    ib.reqMarketDataType(data_type)
    ticker = ib.reqMktData(msft, "", snapshot)
    return msft, ticker


@pytest.mark.parametrize("data_type", [1, 3])
async def test_order_of_messages_and_tick_types(simulator, ib_client, data_type):
    ib = await ib_client()
    simulator.set_price("MSFT", "400")
    seen = record_ticks(ib)
    _, ticker = await subscribe(ib, data_type)
    await wait_for(lambda: ticker.bid == 399.99 and ticker.ask == 400.01 and ticker.last == 400.0 and ticker.close == 415.2,
                   message="first ticks")
    req_id = str(ib.wrapper.ticker2ReqId["mktData"][ticker])
    mine = [f for f in seen if f[0] in ("1", "2", "4", "58", "81") and req_id in f[1:3]]
    assert mine[0] == ("81", req_id, "0.01", "9c0001", "3")  # tickReqParams: min tick, BBO exchange, snapshot permissions
    if data_type == 3:
        assert mine[1][:4] == ("4", "2", req_id, "10167")  # the delayed-data notice, a warning
        mine = mine[1:]
    assert mine[1] == ("58", "1", req_id, str(data_type))
    tick_types = {int(f[3]) for f in mine[2:] if f[0] in ("1", "2")}
    if data_type == 3:
        assert tick_types == {66, 67, 68, 69, 70, 71, 74, 75}
    else:
        assert tick_types == {0, 1, 2, 3, 4, 5, 8, 9}
    assert ticker.marketDataType == data_type
    assert (ticker.minTick, ticker.bboExchange, ticker.snapshotPermissions) == (0.01, "9c0001", 3)
    simulator.set_price("MSFT", "401.50")
    await wait_for(lambda: (ticker.bid, ticker.ask, ticker.last) == (401.49, 401.51, 401.5), message="streamed update")
    streamed = {int(f[3]) for f in seen[len(mine):] if f[0] in ("1", "2") and f[2] == req_id}
    assert streamed <= (DELAYED if data_type == 3 else set(range(10)))


@pytest.mark.parametrize("data_type", [2, 4])
async def test_frozen_data_is_sent_once(simulator, ib_client, data_type):
    ib = await ib_client()
    simulator.set_price("MSFT", "400")
    seen = record_ticks(ib)
    _, ticker = await subscribe(ib, data_type)
    await wait_for(lambda: ticker.bid == 399.99 and ticker.marketDataType == data_type, message="frozen values")
    ticks = [f for f in seen if f[0] in ("1", "2")]
    assert {int(f[3]) for f in ticks} <= (DELAYED if data_type == 4 else set(range(10)))
    simulator.set_price("MSFT", "402")
    await ib.reqCurrentTimeAsync()  # a round trip: anything the price move caused has arrived
    assert ticker.bid == 399.99
    assert [f for f in seen if f[0] in ("1", "2")] == ticks


async def test_switching_type_tells_running_subscriptions(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("MSFT", "400")
    _, ticker = await subscribe(ib, 1)
    await wait_for(lambda: ticker.marketDataType == 1 and ticker.bid == 399.99)
    ib.reqMarketDataType(3)
    await wait_for(lambda: ticker.marketDataType == 3, message="marketDataType 3 for the running subscription")
    simulator.set_price("MSFT", "405")
    await wait_for(lambda: ticker.bid == 404.99, message="delayed ticks after the switch")


async def test_snapshot_with_delayed_data(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    ib.reqMarketDataType(3)
    [ticker] = await asyncio.wait_for(ib.reqTickersAsync(aapl), 5)
    assert (ticker.bid, ticker.ask, ticker.last, ticker.close, ticker.marketDataType) == (99.99, 100.01, 100.0, 228.5, 3)


async def test_missing_exchange_is_error_321(simulator, ib_client):
    ib = await ib_client()
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append((req_id, code))
    req_id = ib.client.getReqId()
    ib.client.reqMktData(req_id, Stock("AAPL", "", "USD"), "", False, False, [])
    await wait_for(lambda: errors, message="error 321")
    assert errors == [(req_id, 321)]


async def test_order_without_exchange_is_error_321(simulator, ib_client):
    from ib_async import LimitOrder

    ib = await ib_client()
    trade = ib.placeOrder(Stock("AAPL", "", "USD"), LimitOrder("BUY", 1, 100))
    await wait_for(lambda: trade.log[-1].errorCode == 321, message="error 321 on the order")
    assert trade.orderStatus.status == "ValidationError"  # a warning code: ib_async keeps the trade, as with TWS
    assert simulator.orders() == []
