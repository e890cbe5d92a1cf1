"""Gateway-level faults as a real ib_async client sees them: connectivity lost (1100) with fills
in the gap, restored with data lost (1101) or kept (1102), data farms broken and back, the
nightly reset, and the same on a timetable (``--fault at=...``)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from ib_async import IB, LimitOrder, Stock

from app.cli import build_parser
from app.commands.sim import build_config
from services.ibsim import Faults, ScheduledFault, parse_scheduled_fault
from services.ibsim.fault_schedule import is_scheduled_fault
from tests.fixtures.ib import wait_for

pytestmark = pytest.mark.timeout(60)

LOST = "Connectivity between IB and Trader Workstation has been lost."


def record_errors(ib: IB) -> list[tuple[int, str]]:
    """Every (code, text) the client hears, in order."""
    heard: list[tuple[int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: heard.append((code, text))
    return heard


def codes(heard: list[tuple[int, str]]) -> list[int]:
    return [code for code, _ in heard]


async def resting_buy(ib: IB, sim, quantity: int = 10):
    """A BUY LMT 99 on AAPL at 100: rests until the price comes down."""
    sim.set_price("AAPL", "100")
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    trade = ib.placeOrder(aapl, LimitOrder("BUY", quantity, 99, orderRef="gap-1"))
    await wait_for(lambda: trade.orderStatus.status == "Submitted")
    return aapl, trade


async def fill_in_the_gap(ib: IB, sim, trade) -> None:
    """The price crosses while connectivity is lost: the exchange fills, the client hears nothing."""
    sim.set_price("AAPL", "98")
    [execution] = sim.executions()
    assert (execution.order_ref, execution.shares) == ("gap-1", Decimal(10))
    await ib.reqCurrentTimeAsync()  # answered in the gap, after anything sent before it
    assert trade.fills == [] and trade.orderStatus.status == "Submitted"


async def test_1101_drops_what_was_held_and_the_client_finds_the_fills_by_asking(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Error 110[01], reqId -1")
    ib = await ib_client()
    heard = record_errors(ib)
    aapl, trade = await resting_buy(ib, simulator)
    ticker = ib.reqMktData(aapl)
    await wait_for(lambda: ticker.bid == 99.99)
    simulator.connectivity_lost()
    await wait_for(lambda: codes(heard) == [1100])
    assert heard[0][1] == LOST and simulator.connectivity_is_lost
    await fill_in_the_gap(ib, simulator, trade)
    simulator.connectivity_restored(data_lost=True)
    await wait_for(lambda: codes(heard) == [1100, 1101])
    assert heard[1][1] == "Connectivity between IB and Trader Workstation has been restored - data lost."
    simulator.set_price("AAPL", "97")
    await ib.reqCurrentTimeAsync()
    assert trade.fills == [] and trade.orderStatus.status == "Submitted"  # the held pushes are gone
    assert ticker.bid == 99.99  # streaming market data ended: subscribe again
    # asking tells the truth
    [fill] = await ib.reqExecutionsAsync()
    assert (fill.execution.execId, fill.execution.shares) == (simulator.executions()[0].exec_id, 10)
    completed = await ib.reqCompletedOrdersAsync(apiOnly=True)
    assert [(t.order.orderRef, t.orderStatus.status) for t in completed] == [("gap-1", "Filled")]
    assert await ib.reqOpenOrdersAsync() == []
    assert [(p.contract.symbol, p.position) for p in await ib.reqPositionsAsync()] == [("AAPL", 10)]


async def test_1102_delivers_what_was_held_in_its_order(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Error 110[02], reqId -1")
    ib = await ib_client()
    heard = record_errors(ib)
    aapl, trade = await resting_buy(ib, simulator)
    ticker = ib.reqMktData(aapl)
    await wait_for(lambda: ticker.bid == 99.99)
    simulator.connectivity_lost()
    await fill_in_the_gap(ib, simulator, trade)
    assert ticker.bid == 99.99  # the ticks of the gap are held too
    simulator.connectivity_restored(data_lost=False)
    await wait_for(lambda: trade.orderStatus.status == "Filled" and trade.fills and trade.fills[0].commissionReport.execId)
    assert codes(heard) == [1100, 1102]
    assert heard[1][1] == "Connectivity between IB and Trader Workstation has been restored - data maintained."
    assert trade.fills[0].execution.execId == simulator.executions()[0].exec_id
    assert ticker.bid == 97.99  # the held ticks arrived; the subscription goes on
    simulator.set_price("AAPL", "101")
    await wait_for(lambda: ticker.bid == 100.99)


async def test_a_client_connecting_in_the_gap_hears_1100_and_can_still_ask(simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 110[02], reqId -1")
    simulator.connectivity_lost()
    simulator.farm_broken("usfarm")
    ib = IB()
    heard = record_errors(ib)
    try:
        await ib.connectAsync("127.0.0.1", simulator.port, clientId=3, timeout=5)  # its start-up queries are answered
        # the other farms' OK notices of every connect (2106, 2158) come first; never usfarm's OK
        await wait_for(lambda: codes(heard) == [2106, 2158, 1100, 2103])
        assert heard[3][1] == "Market data farm connection is broken:usfarm"
        simulator.farm_restored("usfarm")
        simulator.connectivity_restored()
        await wait_for(lambda: codes(heard) == [2106, 2158, 1100, 2103, 2104, 1102])
    finally:
        ib.disconnect()


@pytest.mark.parametrize(("farm", "broken", "ok", "kind"), [
    ("usfarm", 2103, 2104, "Market data farm connection is"),
    ("ushmds", 2105, 2106, "HMDS data farm connection is"),
    ("secdefnj", 2157, 2158, "Sec-def data farm connection is"),
])
async def test_a_data_farm_broken_and_back(simulator, ib_client, farm, broken, ok, kind):
    ib = await ib_client()
    heard = record_errors(ib)
    simulator.farm_broken(farm)
    assert simulator.broken_farms() == {farm}
    simulator.farm_restored(farm)
    await wait_for(lambda: len(heard) == 2)
    assert heard == [(broken, f"{kind} broken:{farm}"), (ok, f"{kind} OK:{farm}")]
    assert simulator.broken_farms() == set()


async def test_no_ticks_while_the_market_data_farm_is_broken(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    ticker = ib.reqMktData(aapl)
    await wait_for(lambda: ticker.bid == 99.99)
    simulator.farm_broken("usfarm")
    simulator.set_price("AAPL", "102")
    await ib.reqCurrentTimeAsync()
    assert ticker.bid == 99.99
    simulator.farm_restored("usfarm")
    simulator.set_price("AAPL", "103")
    await wait_for(lambda: ticker.bid == 102.99)


async def test_nightly_reset_drops_clients_refuses_connections_then_listens_again(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Peer closed connection")
    ib = await ib_client()
    await resting_buy(ib, simulator)
    port = simulator.port
    reset = simulator.nightly_reset(1.0)
    assert simulator.is_resetting
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await wait_for(lambda: not ib.isConnected(), timeout=5)
    simulator.set_price("AAPL", "98")  # the exchange works on through the reset
    await asyncio.wait_for(reset, 10)
    assert not simulator.is_resetting and simulator.port == port
    again = await ib_client()  # same client id, same port
    [fill] = await again.reqExecutionsAsync()
    assert fill.execution.orderRef == "gap-1" and fill.execution.shares == 10


async def test_stopping_during_a_nightly_reset_ends_it(make_simulator):
    sim = await make_simulator()
    reset = sim.nightly_reset(600)
    with pytest.raises(RuntimeError, match="already under way"):
        sim.nightly_reset(1)
    await asyncio.wait_for(sim.stop(), 10)  # the reset does not hold the stop up, nor listen again
    assert reset.cancelled() and not sim.is_running


async def test_scheduled_faults_repeat_on_their_timetable(make_simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Error 110[02], reqId -1")
    faults = Faults(schedule=[ScheduledFault("connectivity_lost", at=0, duration=0.1, every=0.3),
                              ScheduledFault("farm_broken", at=0, duration=0.1, every=0.3, farm="ushmds")])
    sim = await make_simulator(faults=faults)
    ib = await ib_client(sim=sim)
    heard = record_errors(ib)

    def whole_cycles_heard() -> bool:  # whatever part of a cycle the connect fell into
        heard_codes = codes(heard)
        return all(start in heard_codes and end in heard_codes[heard_codes.index(start):]
                   for start, end in ((1100, 1102), (2105, 2106)))

    await wait_for(whole_cycles_heard, timeout=10)


def test_scheduled_fault_syntax():
    assert parse_scheduled_fault("at=30:connectivity_lost=10,data_lost") == ScheduledFault(
        "connectivity_lost", at=30, duration=10, data_lost=True)
    assert parse_scheduled_fault("at=5;every=600:farm_broken=3,farm=ushmds") == ScheduledFault(
        "farm_broken", at=5, duration=3, every=600, farm="ushmds")
    assert parse_scheduled_fault("at=60:nightly_reset=30") == ScheduledFault("nightly_reset", at=60, duration=30)
    assert is_scheduled_fault("at=1:nightly_reset=2") and not is_scheduled_fault("symbol=IBM:reject")
    for bad, reason in [("at=1", "needs"), ("at=x:nightly_reset=1", "number"), ("at=1:reboot=2", "unknown switch"),
                        ("at=1:farm_broken=1,data_lost", "connectivity_lost only"), ("at=1;every=1:farm_broken=2", "longer"),
                        ("at=1:farm_broken=1,nightly_reset=1", "two faults"), ("at=1;when=2:nightly_reset=1", "selector")]:
        with pytest.raises(ValueError, match=reason):
            parse_scheduled_fault(bad)


def test_the_command_line_puts_gateway_faults_on_the_timetable():
    args = build_parser().parse_args(["sim", "--fault", "at=30:connectivity_lost=10", "--fault", "symbol=IBM:reject",
                                      "--fault", "at=60:nightly_reset=5"])
    faults = build_config(args).faults
    assert [(f.kind, f.at, f.duration) for f in faults.schedule] == [("connectivity_lost", 30, 10), ("nightly_reset", 60, 5)]
    assert faults.for_order("IBM", "", Decimal(1)).reject
