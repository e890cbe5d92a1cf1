"""Durable state: a restarted simulator serves the same orders, executions, positions and cash."""

from __future__ import annotations

import json
from decimal import Decimal

from ib_async import LimitOrder, MarketOrder, Stock

from services.ibsim import IBGatewaySimulator
from tests.fixtures.ib import wait_for


def settled(trade):
    return trade.isDone() and trade.fills and all(f.commissionReport.execId for f in trade.fills)


async def test_restart_with_state_file(sim_config, tmp_path):
    from ib_async import IB

    config = sim_config()
    sim = IBGatewaySimulator(config)
    await sim.start(port=0)
    ib = IB()
    await ib.connectAsync("127.0.0.1", sim.port, clientId=4, timeout=5)
    sim.set_price("AAPL", "100")
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    filled = ib.placeOrder(aapl, MarketOrder("BUY", 30, orderRef="keep-fill"))
    resting = ib.placeOrder(aapl, LimitOrder("SELL", 10, 150, orderRef="keep-rest", tif="GTC"))
    await wait_for(lambda: settled(filled) and resting.orderStatus.status == "Submitted")
    exec_id = filled.fills[0].execution.execId
    cash = sim.cash
    ib.disconnect()
    await sim.stop()
    saved = json.loads(config.state_file.read_text())
    assert [o["order_ref"] for o in saved["orders"]] == ["keep-fill", "keep-rest"]

    restarted = IBGatewaySimulator(sim_config())
    await restarted.start(port=0)
    try:
        assert restarted.cash == cash == Decimal("1000000") - Decimal("3000.60") - Decimal("1.00")
        assert restarted.price("AAPL") == Decimal("100")
        await ib.connectAsync("127.0.0.1", restarted.port, clientId=4, timeout=5)
        [trade] = ib.openTrades()
        assert (trade.order.orderRef, trade.order.permId, trade.order.orderId, trade.order.tif) == (
            "keep-rest", resting.order.permId, resting.order.orderId, "GTC")
        assert [(f.execution.execId, f.execution.orderRef, f.commissionReport.commission) for f in ib.fills()] == [(exec_id, "keep-fill", 1.0)]
        assert [(p.contract.symbol, p.position, p.avgCost) for p in ib.positions()] == [("AAPL", 30.0, 100.05333333333333)]
        assert ib.client.getReqId() > resting.order.orderId
        # the restarted simulator keeps numbering permIds and execIds after the saved ones
        more = ib.placeOrder(aapl, MarketOrder("BUY", 1, orderRef="after-restart"))
        await wait_for(lambda: settled(more))
        assert more.order.permId == resting.order.permId + 1
        assert more.fills[0].execution.execId not in {exec_id}
        # a resting order from before the restart still crosses
        restarted.set_price("AAPL", "151")
        await wait_for(lambda: settled(trade))
        assert [e["orderRef"] for e in json.loads(config.ledger_file.read_text())] == ["keep-fill", "after-restart", "keep-rest"]
    finally:
        ib.disconnect()
        await restarted.stop()


async def test_ledger_file_written_as_fills_happen(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("IBM", "200")
    [ibm] = await ib.qualifyContractsAsync(Stock("IBM", "SMART", "USD"))
    trade = ib.placeOrder(ibm, MarketOrder("SELL", 5, orderRef="led-1"))
    await wait_for(lambda: settled(trade))
    await wait_for(lambda: simulator.config.ledger_file.exists() and json.loads(simulator.config.ledger_file.read_text()))
    [entry] = json.loads(simulator.config.ledger_file.read_text())
    assert set(entry) >= {"execId", "orderRef", "permId", "orderId", "clientId", "symbol", "side", "shares", "price", "commission", "time"}
    assert (entry["orderRef"], entry["symbol"], entry["side"], entry["shares"], entry["price"], entry["clientId"]) == (
        "led-1", "IBM", "SLD", "5", "199.98", 1)
    assert entry["permId"] == trade.order.permId and entry["orderId"] == trade.order.orderId
    leftovers = [p.name for p in simulator.config.ledger_file.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


async def test_day_orders_from_an_earlier_day_expire_on_load(sim_config):
    config = sim_config()
    sim = IBGatewaySimulator(config)
    await sim.start(port=0)
    await sim.stop()
    data = json.loads(config.state_file.read_text())
    template = {
        "client_id": 1, "account": "DU1234567", "symbol": "AAPL", "con_id": 265598, "action": "BUY", "quantity": "1",
        "order_type": "LMT", "limit_price": "90", "order_ref": "", "outside_rth": False, "status": "Submitted",
        "filled": "0", "avg_fill_price": "0", "last_fill_price": "0", "created_at": "2020-01-02T15:00:00+00:00",
        "completed_at": None, "completed_status": "",
    }
    data["orders"] = [{**template, "order_id": 1, "perm_id": 5, "tif": "DAY"}, {**template, "order_id": 2, "perm_id": 6, "tif": "GTC"}]
    config.state_file.write_text(json.dumps(data))
    reloaded = IBGatewaySimulator(sim_config())
    assert [(o.tif, o.status, o.completed_status) for o in reloaded.orders()] == [("DAY", "Cancelled", "Expired"), ("GTC", "Submitted", "")]


async def test_day_orders_on_load_are_judged_by_the_simulators_clock(sim_config):
    """The day a DAY order was placed and the day the simulator loads it on are both the
    simulator's clock (the one that stamps its orders): a restart on the same day, by that
    clock, keeps the order working, one on the next day expires it, whatever the machine's date."""
    from datetime import UTC, datetime

    config = sim_config()
    sim = IBGatewaySimulator(config)
    await sim.start(port=0)
    await sim.stop()
    data = json.loads(config.state_file.read_text())
    data["orders"] = [{
        "order_id": 1, "perm_id": 5, "tif": "DAY", "client_id": 1, "account": "DU1234567", "symbol": "AAPL",
        "con_id": 265598, "action": "BUY", "quantity": "1", "order_type": "LMT", "limit_price": "90", "order_ref": "",
        "outside_rth": False, "status": "Submitted", "filled": "0", "avg_fill_price": "0", "last_fill_price": "0",
        "created_at": "2030-01-07T15:00:00+00:00", "completed_at": None, "completed_status": ""}]  # Monday 10:00 in New York
    config.state_file.write_text(json.dumps(data))
    same_day = IBGatewaySimulator(sim_config(clock=lambda: datetime(2030, 1, 7, 20, 0, tzinfo=UTC)))
    assert [(o.status, o.completed_status) for o in same_day.orders()] == [("Submitted", "")]
    next_day = IBGatewaySimulator(sim_config(clock=lambda: datetime(2030, 1, 8, 15, 0, tzinfo=UTC)))
    assert [(o.status, o.completed_status) for o in next_day.orders()] == [("Cancelled", "Expired")]


def test_state_file_with_symbols_outside_the_universe_is_refused(sim_config, tmp_path):
    import pytest

    universe = tmp_path / "u.csv"
    universe.write_text("symbol,conId,primaryExchange,price,longName\nABC,1,NYSE,10,ABC\n")
    config = sim_config()
    config.state_file.write_text(json.dumps({
        "format": 1, "next_order_id": 1, "next_perm_id": 1, "exec_seq": 0, "cash": "1", "orders": [], "executions": [],
        "positions": [{"symbol": "AAPL", "con_id": 265598, "quantity": "1", "avg_cost": "1"}]}))
    with pytest.raises(ValueError, match="AAPL"):
        IBGatewaySimulator(sim_config(universe_file=universe))


def test_a_damaged_state_file_is_refused_naming_it(sim_config):
    """`sim --state FILE` said "Expecting value: line 1 column 6 (char 5)" or "'next_order_id'"
    without naming the file, and a JSON list failed as "AttributeError: 'list' object has no
    attribute 'get'" (exit 1)."""
    import pytest

    config = sim_config()
    for text, said in (('{"x":', "is not valid JSON: Expecting value"),
                       ("[]", r"is not a simulator state \(a JSON object\)"),
                       ('{"format": 1}', "is damaged: KeyError 'next_order_id'"),
                       (json.dumps({"format": 1, "next_order_id": 1, "next_perm_id": 1, "exec_seq": 0, "cash": "x",
                                    "orders": [], "executions": [], "positions": []}), "is damaged: InvalidOperation")):
        config.state_file.write_text(text)
        with pytest.raises(ValueError, match=f"^state file {config.state_file} {said}"):
            IBGatewaySimulator(config)


def test_a_state_file_in_a_missing_folder_is_refused_not_created(tmp_path, capsys):
    """`sim --state no/such/state.json` created the folder silently (a typo gave a new, empty
    simulator); refused as the console refuses an SQLite database in a missing folder."""
    from app.cli import main

    missing = tmp_path / "no" / "such"
    for option in ("--state", "--ledger-json"):
        path = missing / "file.json"
        assert main(["sim", option, str(path), "--port", "0"]) == 2
        err = capsys.readouterr().err
        assert f"does not exist: create it (mkdir -p {missing}) or correct the path" in err
        assert not (tmp_path / "no").exists()
