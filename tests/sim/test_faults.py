"""Each fault, switched globally or per order, observed by the real ib_async client."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from ib_async import LimitOrder, MarketOrder, Stock

from services.ibsim.config import Faults, parse_fault_rule
from tests.fixtures.ib import wait_for


async def aapl_at_100(ib, sim):
    sim.set_price("AAPL", "100")
    [contract] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    return contract


def settled(trade):
    return trade.isDone() and trade.fills and all(f.commissionReport.execId for f in trade.fills)


def count_calls(ib, method: str) -> list:
    """Record every call the client's decoder makes to one wrapper method."""
    calls = []
    original = getattr(ib.wrapper, method)

    def spy(*args):
        calls.append(args)
        return original(*args)

    setattr(ib.wrapper, method, spy)
    return calls


async def test_ack_delay_per_order_ref(simulator, ib_client):
    simulator.faults.add_rule(order_ref=r"^slow-", ack_delay=0.3)
    ib = await ib_client()
    aapl = await aapl_at_100(ib, simulator)
    slow = ib.placeOrder(aapl, LimitOrder("BUY", 1, 90, orderRef="slow-1"))
    fast = ib.placeOrder(aapl, LimitOrder("BUY", 1, 90, orderRef="fast-1"))
    await wait_for(lambda: fast.orderStatus.status == "Submitted")
    # the fast order was acknowledged after the slow one was placed: the slow one still waits
    assert slow.orderStatus.status == "PendingSubmit"
    assert [o.status for o in simulator.orders()] == ["PendingSubmit", "Submitted"]
    started = asyncio.get_running_loop().time()
    await wait_for(lambda: slow.orderStatus.status == "Submitted")
    assert asyncio.get_running_loop().time() - started > 0.1


async def test_cancel_during_ack_delay(simulator, ib_client):
    simulator.faults.ack_delay = 0.5
    ib = await ib_client()
    aapl = await aapl_at_100(ib, simulator)
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    await wait_for(lambda: simulator.orders())
    ib.cancelOrder(trade.order)
    await wait_for(lambda: trade.orderStatus.status == "Cancelled")
    await wait_for(lambda: not simulator._timers, timeout=3, message="the delayed acknowledgement ran")
    assert simulator.executions() == [] and trade.orderStatus.status == "Cancelled"


async def test_presubmitted_before_submitted(simulator, ib_client):
    simulator.faults.presubmitted = True
    ib = await ib_client()
    aapl = await aapl_at_100(ib, simulator)
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 1, 90))
    await wait_for(lambda: trade.orderStatus.status == "Submitted")
    assert [e.status for e in trade.log] == ["PendingSubmit", "PreSubmitted", "Submitted"]


async def test_duplicate_order_status(simulator, ib_client):
    simulator.faults.add_rule(symbols={"AAPL"}, duplicate_status=True)
    ib = await ib_client()
    calls = count_calls(ib, "orderStatus")
    aapl = await aapl_at_100(ib, simulator)
    [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
    dup = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    single = ib.placeOrder(msft, MarketOrder("BUY", 1))
    await wait_for(lambda: settled(dup) and settled(single))
    per_order = lambda oid: [c[1] for c in calls if c[0] == oid]  # noqa: E731
    assert per_order(dup.order.orderId) == ["Submitted", "Submitted", "Filled", "Filled"]
    assert per_order(single.order.orderId) == ["Submitted", "Filled"]
    assert dup.orderStatus.status == "Filled" and len(dup.fills) == 1


async def test_execution_correction(simulator, ib_client):
    simulator.faults.exec_correction = True
    ib = await ib_client()
    aapl = await aapl_at_100(ib, simulator)
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100, orderRef="corr"))
    await wait_for(lambda: settled(trade) and len(trade.fills) == 2)
    first, second = trade.fills
    assert first.execution.execId.endswith(".01") and second.execution.execId == first.execution.execId[:-3] + ".02"
    assert (first.execution.price, second.execution.price) == (100.02, 100.03)
    assert [e["execId"][-3:] for e in simulator.ledger()] == [".01", ".02"]
    [current] = simulator.executions()
    assert (current.exec_id, current.price) == (second.execution.execId, Decimal("100.03"))
    # the books follow the corrected price: avg cost (100 * 100.03 + 1) / 100
    assert simulator.position("AAPL").avg_cost == Decimal("100.04")
    assert simulator.cash == Decimal("1000000") - Decimal("10003") - Decimal("1")
    again = await ib.reqExecutionsAsync()
    assert [f.execution.execId for f in again] == [second.execution.execId]


async def test_commission_reports_held_until_released_come_in_one_burst(simulator, ib_client):
    """A test's control (IB's commission reports come after their executions, at times seconds
    later): held, none comes, whatever the wait; released, every held one comes, in order."""
    ib = await ib_client()
    reports = []
    ib.commissionReportEvent += lambda trade, fill, report: reports.append(report.execId)
    aapl = await aapl_at_100(ib, simulator)
    simulator.hold_commission_reports()
    trades = [ib.placeOrder(aapl, MarketOrder("BUY", quantity)) for quantity in (10, 20)]
    await wait_for(lambda: all(t.orderStatus.status == "Filled" and t.fills for t in trades))
    await ib.reqCurrentTimeAsync()  # a round trip after the fills: anything sent with them has come
    assert reports == [] and all(not f.commissionReport.execId for t in trades for f in t.fills)

    assert simulator.release_commission_reports() == 2
    await wait_for(lambda: len(reports) == 2)
    assert reports == [t.fills[0].execution.execId for t in trades]
    assert [t.fills[0].commissionReport.commission for t in trades] == [1.0, 1.0]


async def test_late_commission_report(simulator, ib_client):
    simulator.faults.late_commission = True
    simulator.faults.late_commission_delay = 0.1
    ib = await ib_client()
    events = []
    ib.execDetailsEvent += lambda trade, fill: events.append("execDetails")
    ib.orderStatusEvent += lambda trade: events.append(f"status:{trade.orderStatus.status}")
    ib.positionEvent += lambda position: events.append("position")
    ib.commissionReportEvent += lambda trade, fill, report: events.append("commission")
    aapl = await aapl_at_100(ib, simulator)
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 10))
    await wait_for(lambda: "position" in events)
    assert trade.fills[0].commissionReport.execId == ""  # not there yet
    await wait_for(lambda: "commission" in events)
    assert events == ["status:Submitted", "execDetails", "status:Filled", "position", "commission"]
    assert trade.fills[0].commissionReport.commission == 1.0


async def test_per_fill_message_order(simulator, ib_client):
    ib = await ib_client()
    received = []
    original = ib.client.decoder.interpret

    def spy(fields):
        received.append(fields[0])
        original(fields)

    ib.client.decoder.interpret = spy
    aapl = await aapl_at_100(ib, simulator)
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 10))
    await wait_for(lambda: settled(trade))
    await asyncio.wait_for(ib.reqCurrentTimeAsync(), 5)  # everything sent before it has arrived
    start = received.index("11")
    # execDetails, orderStatus, openOrder (filled), commissionReport, then position and account pushes
    assert received[start:start + 5] == ["11", "3", "5", "59", "61"]
    assert received[start + 5:].count("6") >= 10 and "7" in received[start + 5:]


async def test_info_10349_falsely_cancels_in_the_client(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 10349, ")
    simulator.faults.add_rule(order_ref="^info$", info_10349=True)
    ib = await ib_client()
    aapl = await aapl_at_100(ib, simulator)
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 1, 90, orderRef="info"))
    await wait_for(lambda: any(e.errorCode == 10349 for e in trade.log))
    # ib_async #191: the client believes the order is cancelled; the broker keeps working it
    assert trade.orderStatus.status == "Cancelled"
    assert simulator.open_orders()[0].status == "Submitted"
    open_now = await ib.reqOpenOrdersAsync()
    assert [t.order.orderRef for t in open_now] == ["info"]


async def test_drop_connection_after_n_messages(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Peer closed connection")
    ib = await ib_client()
    aapl = await aapl_at_100(ib, simulator)
    session = simulator._sessions[1]
    simulator.faults.drop_after_messages = session.sent + 2
    lost = asyncio.Event()
    ib.disconnectedEvent += lost.set
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 1, 90))
    await asyncio.wait_for(lost.wait(), 5)
    assert session.sent == simulator.faults.drop_after_messages
    assert trade.orderStatus.status == "Submitted"  # openOrder + orderStatus made it, then the line dropped
    simulator.faults.drop_after_messages = None
    await ib.connectAsync("127.0.0.1", simulator.port, clientId=1, timeout=5)
    assert [t.orderStatus.status for t in ib.openTrades()] == ["Submitted"]


async def test_pacing_error_100(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 100, ")
    ib = await ib_client()
    ib.client.MaxRequests = 0  # let the client exceed the limit
    simulator.faults.pacing_limit = 5
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    calls = count_calls(ib, "currentTime")
    for _ in range(12):
        ib.client.reqCurrentTime()
    await wait_for(lambda: len(calls) + errors.count(100) == 12, message="every request answered or refused")
    # at most 5 requests fit into the one-second window; the rest are refused with 100
    assert errors.count(100) >= 7 and len(calls) <= 5


def test_fault_rule_parsing_and_resolution():
    criteria, overrides = parse_fault_rule("symbol=AAPL,msft;ref=^x-;min_qty=10:ack_delay=1.5,presubmitted,fill_mode=partial")
    assert criteria == {"symbols": {"AAPL", "MSFT"}, "order_ref": "^x-", "min_quantity": Decimal(10)}
    assert overrides == {"ack_delay": 1.5, "presubmitted": True, "fill_mode": "partial"}
    faults = Faults(duplicate_status=True, reject_symbols={"IBM"})
    faults.add_rule(**criteria, **overrides)
    hit = faults.for_order("MSFT", "x-1", Decimal(10))
    miss = faults.for_order("MSFT", "y-1", Decimal(10))
    assert (hit.ack_delay, hit.presubmitted, hit.fill_mode, hit.duplicate_status) == (1.5, True, "partial", True)
    assert (miss.ack_delay, miss.presubmitted, miss.fill_mode) == (0.0, False, None)
    assert faults.for_order("IBM", "", Decimal(1)).reject is True
    with pytest.raises(ValueError):
        parse_fault_rule("symbol=AAPL:no_such_fault")
    with pytest.raises(ValueError):
        faults.add_rule(symbols={"AAPL"}, bogus=True)


def test_lost_rule_parsing_counts_down():
    criteria, overrides = parse_fault_rule("symbol=IBM:lost=2")
    assert (criteria, overrides) == ({"symbols": {"IBM"}}, {"lost": 2})
    faults = Faults()
    faults.add_rule(**criteria, **overrides)
    assert faults.take_lost("AAPL", "", Decimal(1)) is False  # another symbol: never lost
    assert [faults.take_lost("IBM", "", Decimal(1)) for _ in range(3)] == [True, True, False]
    assert parse_fault_rule("ref=^R-:lost")[1] == {"lost": 1}
    with pytest.raises(ValueError):
        parse_fault_rule("symbol=IBM:lost=-1")


async def test_lost_place_order_is_silently_discarded(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 10147, ")  # the cancel of the lost order: the gateway does not know it
    simulator.faults.add_rule(symbols={"IBM"}, lost=1)
    ib = await ib_client()
    [ibm] = await ib.qualifyContractsAsync(Stock("IBM", "SMART", "USD"))
    lost = ib.placeOrder(ibm, MarketOrder("BUY", 3, orderRef="lost-1"))
    kept = ib.placeOrder(ibm, MarketOrder("BUY", 2, orderRef="kept-1"))
    # one socket, in order: once the second order filled, the first was handled (and discarded)
    await wait_for(lambda: kept.orderStatus.status == "Filled", message="the second IBM order to fill")
    assert lost.orderStatus.status == "PendingSubmit" and lost.log[-1].status == "PendingSubmit"
    assert [o.order_ref for o in simulator.orders()] == ["kept-1"]
    assert [e.order_ref for e in simulator.executions()] == ["kept-1"]
    errors = []
    ib.errorEvent += lambda req_id, code, *rest: errors.append((req_id, code))
    ib.cancelOrder(lost.order)
    await wait_for(lambda: errors, message="the answer to the cancel of the lost order")
    assert errors == [(lost.order.orderId, 10147)]


async def test_a_client_that_keeps_exceeding_the_rate_is_disconnected_as_by_tws(simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"^Error 100, |Peer closed connection")
    ib = await ib_client()
    ib.client.MaxRequests = 0  # let the client exceed the limit
    simulator.faults.pacing_limit = 5
    simulator.faults.pacing_disconnect_after, simulator.faults.pacing_disconnect_window = 2, 10.0
    simulator.restart_pacing_windows()
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    calls = count_calls(ib, "currentTime")
    for _ in range(12):  # one burst: refused, the connection stays
        ib.client.reqCurrentTime()
    await wait_for(lambda: len(calls) + errors.count(100) == 12, message="the first burst answered or refused")
    assert ib.isConnected() and simulator.pacing_disconnects == 0
    # the next burst, once the one-second window has passed, is the second violation
    simulator.restart_pacing_windows()  # as after a quiet second
    for _ in range(12):
        ib.client.reqCurrentTime()
    await wait_for(lambda: not ib.isConnected(), message="the connection closed by the simulator")
    assert simulator.pacing_disconnects == 1
