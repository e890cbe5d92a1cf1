"""The simulator on other loops: its own thread (demo mode beside a GUI) and the qasync loop."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from ib_async import IB, MarketOrder, Stock

from services.ibsim import IBGatewaySimulator, SimulatorThread
from tests.fixtures.ib import wait_for


async def test_simulator_thread_serves_a_client_on_another_loop(sim_config):
    runner = SimulatorThread(sim_config())
    port = await asyncio.to_thread(runner.start)
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=5)
        await asyncio.to_thread(runner.call, lambda sim: sim.set_price("AAPL", "50"))
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 2))
        await wait_for(lambda: trade.isDone() and trade.fills and trade.fills[0].commissionReport.execId)
        assert trade.fills[0].execution.price == 50.02
        positions = await asyncio.to_thread(runner.call, lambda sim: sim.positions())
        assert positions == {"AAPL": Decimal("2")}
    finally:
        ib.disconnect()
        await asyncio.to_thread(runner.stop)
    assert json.loads(runner.simulator.config.state_file.read_text())["orders"][0]["status"] == "Filled"


def test_simulator_thread_reports_a_failed_start(sim_config):
    blocker = SimulatorThread(sim_config(state_file=None, ledger_file=None))
    port = blocker.start()
    try:
        clash = SimulatorThread(sim_config(state_file=None, ledger_file=None), port=port)
        with pytest.raises(OSError):
            clash.start()
        clash.stop()
    finally:
        blocker.stop()


def test_simulator_and_client_on_the_qasync_loop(qapp, sim_config):
    import qasync

    loop = qasync.QEventLoop(qapp)

    async def scenario():
        sim = IBGatewaySimulator(sim_config())
        await sim.start(port=0)
        ib = IB()
        try:
            await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5)
            sim.set_price("MSFT", "400")
            [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
            trade = ib.placeOrder(msft, MarketOrder("SELL", 3, orderRef="qasync"))
            await wait_for(lambda: trade.isDone() and trade.fills and trade.fills[0].commissionReport.execId)
            return trade.fills[0].execution.price, trade.fills[0].execution.orderRef
        finally:
            ib.disconnect()
            await sim.stop()

    try:
        assert loop.run_until_complete(scenario()) == (399.98, "qasync")
    finally:
        loop.close()


async def test_stop_closes_connections_and_listener(simulator, ib_log_guard):
    ib_log_guard.allow(r"Peer closed connection")
    ib = IB()
    await ib.connectAsync("127.0.0.1", simulator.port, clientId=1, timeout=5)
    lost = asyncio.Event()
    ib.disconnectedEvent += lost.set
    await simulator.stop()
    await asyncio.wait_for(lost.wait(), 5)
    assert not simulator.is_running and simulator._tasks == set() and simulator._session_tasks == set()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", simulator.port)
