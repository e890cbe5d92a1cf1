"""Connection, handshake and startup sync with the real clients over a real socket."""

from __future__ import annotations

import asyncio

import pytest

from services.ibsim.codec import FrameBuffer, frame_raw
from tests.fixtures.ib import wait_for

CLIENTS = ["ib_async", "ib_insync"]


def client_class(library: str):
    if library == "ib_async":
        from ib_async import IB
    else:
        from ib_insync import IB
    return IB


async def connect(library: str, port: int, client_id: int = 1, **kwargs):
    ib = client_class(library)()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=5, **kwargs)
    return ib


@pytest.mark.parametrize("library", CLIENTS)
async def test_connect_and_full_sync(simulator, library):
    ib = await connect(library, simulator.port, raiseSyncErrors=True) if library == "ib_async" else await connect(library, simulator.port)
    try:
        assert ib.isConnected()
        assert ib.client.serverVersion() == (178 if library == "ib_async" else 176)
        assert ib.managedAccounts() == ["DU1234567"]
        values = {(v.tag, v.currency): v.value for v in ib.accountValues()}
        assert values[("NetLiquidation", "USD")] == "1000000"
        assert values[("AccountType", "")] == "INDIVIDUAL"
        assert values[("BuyingPower", "USD")] == "4000000"
        assert ib.positions() == [] and ib.openTrades() == [] and ib.fills() == []
        assert simulator.connected_client_ids() == [1]
    finally:
        ib.disconnect()
    await wait_for(lambda: simulator.connected_client_ids() == [], message="server notices the disconnect")


@pytest.mark.parametrize("library", CLIENTS)
async def test_place_and_fill_market_order(simulator, library):
    lib = __import__(library)
    ib = await connect(library, simulator.port)
    try:
        simulator.set_price("AAPL", "100")
        [contract] = await ib.qualifyContractsAsync(lib.Stock("AAPL", "SMART", "USD"))
        trade = ib.placeOrder(contract, lib.MarketOrder("BUY", 100, orderRef="lib-check"))
        await wait_for(lambda: trade.orderStatus.status == "Filled" and trade.fills and trade.fills[0].commissionReport.commission,
                       message="fill with commission")
        fill = trade.fills[0]
        assert (fill.execution.price, fill.execution.shares, fill.execution.orderRef) == (100.02, 100.0, "lib-check")
        assert fill.commissionReport.commission == 1.0
    finally:
        ib.disconnect()


async def raw_handshake(port: int, announcement: str, expect_close: bool = False, count: int = 1) -> tuple[list[list[str]], bool]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"API\0" + frame_raw(announcement))
    await writer.drain()
    buffer = FrameBuffer()
    messages: list[list[str]] = []
    closed = False
    try:
        while len(messages) < count:
            data = await asyncio.wait_for(reader.read(4096), 5)
            if not data:
                closed = True
                break
            messages += buffer.feed(data)
        if not closed and expect_close:
            closed = await asyncio.wait_for(reader.read(4096), 5) == b""
    except TimeoutError:
        closed = False
    finally:
        writer.close()
    return messages, closed


@pytest.mark.parametrize("announcement,expected", [
    ("v157..178", "178"), ("v100..177", "177"), ("v157..176", "176"), ("v176..200", "178"),
    ("v100..157", "157"),  # IB's official client 9.81 (pip install ibapi)
    ("v100..151", "151"), ("v100", "100"),
    ("v100..226", "178"),  # IB's official client 10.4x/10.5x: capped below the protobuf versions
])
async def test_version_negotiation(simulator, announcement, expected):
    messages, _ = await raw_handshake(simulator.port, announcement)
    assert messages[0][0] == expected and len(messages[0]) == 2


@pytest.mark.parametrize("announcement,handshake_version", [("v70..99", "99"), ("v201..226", "178")])
async def test_client_outside_the_range_gets_a_handshake_then_a_decodable_error(simulator, announcement, handshake_version):
    messages, closed = await raw_handshake(simulator.port, announcement, expect_close=True, count=2)
    assert closed
    assert messages[0][0] == handshake_version and len(messages[0]) == 2
    code_fields = messages[1][:4]
    assert code_fields == ["4", "2", "-1", "506"]
    assert "100..178" in messages[1][4]
    assert len(messages[1]) == (5 if int(handshake_version) < 166 else 6)  # the layout of the announced version


async def test_duplicate_client_id_refused_with_326(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 326")
    ib_log_guard.allow(r"already in use|API connection failed|Peer closed")
    first = await ib_client(client_id=5)
    from ib_async import IB

    second = IB()
    errors = []
    second.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    with pytest.raises((ConnectionError, asyncio.TimeoutError, OSError)):
        await second.connectAsync("127.0.0.1", simulator.port, clientId=5, timeout=1)
    assert 326 in errors
    assert first.isConnected() and simulator.connected_client_ids() == [5]
    other = await ib_client(client_id=6)
    assert simulator.connected_client_ids() == [5, 6] and other.isConnected()


async def test_reconnect_and_resync(simulator, ib_client):
    from ib_async import LimitOrder, MarketOrder, Stock

    ib = await ib_client(client_id=3)
    simulator.set_price("MSFT", "400")
    [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
    filled = ib.placeOrder(msft, MarketOrder("BUY", 20, orderRef="fill-1"))
    resting = ib.placeOrder(msft, LimitOrder("BUY", 10, 350, orderRef="rest-1", tif="GTC"))
    await wait_for(lambda: filled.isDone() and resting.orderStatus.status == "Submitted"
                   and filled.fills and filled.fills[0].commissionReport.commission)
    exec_id = filled.fills[0].execution.execId
    perm_ids = (filled.order.permId, resting.order.permId)
    ib.disconnect()
    await wait_for(lambda: simulator.connected_client_ids() == [])

    await ib.connectAsync("127.0.0.1", simulator.port, clientId=3, timeout=5)
    [open_trade] = ib.openTrades()
    assert (open_trade.order.permId, open_trade.order.orderRef, open_trade.order.orderId) == (perm_ids[1], "rest-1", resting.order.orderId)
    assert open_trade.orderStatus.status == "Submitted"
    assert [f.execution.execId for f in ib.fills()] == [exec_id]
    assert ib.fills()[0].commissionReport.commission == 1.0
    assert ib.fills()[0].execution.orderRef == "fill-1"
    assert [(p.contract.symbol, p.position) for p in ib.positions()] == [("MSFT", 20.0)]
    completed = await ib.reqCompletedOrdersAsync(False)
    assert [(t.order.permId, t.orderStatus.status, t.order.orderRef) for t in completed] == [(perm_ids[0], "Filled", "fill-1")]
    assert ib.client.getReqId() > resting.order.orderId


async def test_drop_connections_on_command(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Peer closed connection")
    ib = await ib_client(client_id=2)
    lost = asyncio.Event()
    ib.disconnectedEvent += lost.set
    simulator.drop_connections()
    await asyncio.wait_for(lost.wait(), 5)
    assert not ib.isConnected()
    await wait_for(lambda: simulator.connected_client_ids() == [])
    await ib.connectAsync("127.0.0.1", simulator.port, clientId=2, timeout=5)
    assert ib.isConnected()


async def test_several_clients_visibility(simulator, ib_client):
    from ib_async import LimitOrder, Stock

    one = await ib_client(client_id=1)
    two = await ib_client(client_id=2)
    master = await ib_client(client_id=0)
    seen_by_master = []
    master.openOrderEvent += lambda trade: seen_by_master.append((trade.order.clientId, trade.order.orderRef))
    [aapl] = await one.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    t1 = one.placeOrder(aapl, LimitOrder("BUY", 5, 100, orderRef="from-1"))
    t2 = two.placeOrder(aapl, LimitOrder("SELL", 7, 300, orderRef="from-2"))
    await wait_for(lambda: t1.orderStatus.status == "Submitted" and t2.orderStatus.status == "Submitted")
    await wait_for(lambda: len(seen_by_master) == 2, message="master client sees both orders")
    assert sorted(seen_by_master) == [(1, "from-1"), (2, "from-2")]
    assert t1.order.clientId == 1 and t2.order.clientId == 2
    own = await two.reqOpenOrdersAsync()
    assert [(t.order.clientId, t.order.orderRef) for t in own] == [(2, "from-2")]
    everything = await two.reqAllOpenOrdersAsync()
    assert sorted((t.order.clientId, t.order.orderRef) for t in everything) == [(1, "from-1"), (2, "from-2")]
    master_view = await master.reqOpenOrdersAsync()
    assert sorted(t.order.orderRef for t in master_view) == ["from-1", "from-2"]
    one_trades = [t.order.orderRef for t in one.openTrades()]
    assert one_trades == ["from-1"]
    # fills of client 1 reach client 1 and the master client, not client 2
    fills_seen = {0: [], 1: [], 2: []}
    for cid, ib in ((0, master), (1, one), (2, two)):
        ib.execDetailsEvent += lambda trade, fill, cid=cid: fills_seen[cid].append(fill.execution.orderRef)
    simulator.set_price("AAPL", "99")  # ask 99.01 crosses the buy limit of client 1, not the sell of client 2
    await wait_for(lambda: t1.orderStatus.status == "Filled" and fills_seen[0] == ["from-1"])
    await asyncio.wait_for(two.reqCurrentTimeAsync(), 5)  # client 2 has seen everything sent before
    assert fills_seen == {0: ["from-1"], 1: ["from-1"], 2: []}


async def test_historical_data_with_an_invalid_bar_size_ends_with_error_162(simulator, ib_client, ib_log_guard):
    from ib_async import Stock

    ib_log_guard.allow(r"^Error 162, ")
    ib = await ib_client()
    bars = await asyncio.wait_for(
        ib.reqHistoricalDataAsync(Stock("AAPL", "SMART", "USD"), "", "1 D", "7 fortnights", "TRADES", True), 5)
    assert len(bars) == 0


async def test_unknown_message_answered_with_322(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 322, ")
    ib = await ib_client()
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append((req_id, code))
    ib.client.send(999, 77)  # no such request: the reply names the id it carried
    await wait_for(lambda: errors, message="error 322")
    assert errors == [(77, 322)]


async def test_current_time_and_ids(simulator, ib_client):
    import datetime as dt

    from ib_async import LimitOrder, Stock

    ib = await ib_client()
    now = await asyncio.wait_for(ib.reqCurrentTimeAsync(), 5)
    assert abs((now - dt.datetime.now(dt.UTC)).total_seconds()) < 5
    other = await ib_client(client_id=2)
    [aapl] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    order = LimitOrder("BUY", 1, 1, orderId=500)
    trade = other.placeOrder(aapl, order)
    await wait_for(lambda: trade.orderStatus.status == "Submitted")
    ids = []
    ib.wrapper.nextValidId = lambda order_id: ids.append(order_id)
    ib.client.reqIds(1)
    await wait_for(lambda: ids == [501], message="nextValidId above every id in use")


@pytest.mark.parametrize("library", CLIENTS)
async def test_reconnect_resync_both_clients(simulator, library):
    lib = __import__(library)
    ib = await connect(library, simulator.port, client_id=8)
    try:
        simulator.set_price("IBM", "200")
        [ibm] = await ib.qualifyContractsAsync(lib.Stock("IBM", "SMART", "USD"))
        filled = ib.placeOrder(ibm, lib.MarketOrder("BUY", 3, orderRef="r-fill"))
        resting = ib.placeOrder(ibm, lib.LimitOrder("BUY", 2, 150, orderRef="r-rest", tif="GTC"))
        await wait_for(lambda: filled.orderStatus.status == "Filled" and resting.orderStatus.status == "Submitted"
                       and filled.fills and filled.fills[0].commissionReport.execId)
        ib.disconnect()
        await wait_for(lambda: simulator.connected_client_ids() == [])
        await ib.connectAsync("127.0.0.1", simulator.port, clientId=8, timeout=5)
        assert [(t.order.orderRef, t.order.permId) for t in ib.openTrades()] == [("r-rest", resting.order.permId)]
        assert [(f.execution.orderRef, f.execution.shares, f.commissionReport.commission) for f in ib.fills()] == [("r-fill", 3.0, 1.0)]
        assert [(p.contract.symbol, p.position) for p in ib.positions()] == [("IBM", 3.0)]
    finally:
        ib.disconnect()


@pytest.mark.parametrize("library", CLIENTS)
async def test_what_if_limit_cancel_and_modify_both_clients(simulator, library, ib_log_guard):
    lib = __import__(library)
    ib = await connect(library, simulator.port, client_id=4)
    try:
        simulator.set_price("AAPL", "100")
        [aapl] = await ib.qualifyContractsAsync(lib.Stock("AAPL", "SMART", "USD"))
        state = await asyncio.wait_for(ib.whatIfOrderAsync(aapl, lib.MarketOrder("BUY", 100)), 5)
        assert (state.initMarginChange, state.commission) == ("2500.25", 1.0)
        assert simulator.orders() == []
        order = lib.LimitOrder("BUY", 10, 90, orderRef=f"{library}-lmt")
        trade = ib.placeOrder(aapl, order)
        await wait_for(lambda: trade.orderStatus.status == "Submitted")
        order.lmtPrice = 95
        ib.placeOrder(aapl, order)
        await wait_for(lambda: simulator.open_orders()[0].limit_price == 95)
        ib.cancelOrder(order)
        await wait_for(lambda: trade.orderStatus.status == "Cancelled")
        assert [(o.order_ref, o.status) for o in simulator.orders()] == [(f"{library}-lmt", "Cancelled")]
    finally:
        ib.disconnect()
