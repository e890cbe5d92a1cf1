"""The simulator's market hours (``--market-hours``) and the data-farm notices at connect, with the
real ib_async client over a real socket. The simulator's clock is injected: these tests do not
depend on the hour they run at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock

from services.core.trading_hours import TradingHours
from tests.fixtures.ib import wait_for

SATURDAY_EVENING = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
MONDAY_MIDDAY = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)  # 12:00 in New York


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _connect(sim, client_id: int = 1) -> tuple[IB, list[tuple[int, int, str]]]:
    ib = IB()
    notices: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: notices.append((req_id, code, text))
    await ib.connectAsync("127.0.0.1", sim.port, clientId=client_id, timeout=5)
    return ib, notices


async def test_data_farm_notices_at_connect(make_simulator):
    sim = await make_simulator()
    ib, notices = await _connect(sim)
    try:
        await wait_for(lambda: len(notices) >= 3)
        assert notices == [(-1, 2104, "Market data farm connection is OK:usfarm"),
                           (-1, 2106, "HMDS data farm connection is OK:ushmds"),
                           (-1, 2158, "Sec-def data farm connection is OK:secdefnyc")]
    finally:
        ib.disconnect()


async def test_contract_details_carry_the_hours_of_each_mode(make_simulator):
    clock = Clock(SATURDAY_EVENING)
    for mode, open_monday in (("always", True), ("regular", True), ("closed", False)):
        sim = await make_simulator(market_hours=mode, clock=clock)
        ib, _ = await _connect(sim)
        try:
            [details] = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
            assert details.timeZoneId == "US/Eastern"
            hours = TradingHours.from_details(details)
            assert hours is not None
            assert hours.is_open(SATURDAY_EVENING) is (mode == "always")
            assert hours.in_regular_session(MONDAY_MIDDAY) is open_monday
            if mode == "regular":
                assert "20261205:CLOSED" in details.liquidHours
                assert "20261207:0930-20261207:1600" in details.liquidHours
                assert "20261207:0400-20261207:2000" in details.tradingHours
        finally:
            ib.disconnect()


async def test_regular_hours_keep_a_market_order_presubmitted_until_the_open(make_simulator):
    clock = Clock(SATURDAY_EVENING)
    sim = await make_simulator(market_hours="regular", clock=clock)
    ib, _ = await _connect(sim)
    try:
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="hours-mkt"))
        await wait_for(lambda: trade.orderStatus.status == "PreSubmitted")
        sim.set_price("AAPL", "101")  # a price move does not fill a held order
        assert sim.release_held_orders() == 0
        assert not trade.fills and not sim.executions()
        clock.now = MONDAY_MIDDAY  # the open
        assert sim.release_held_orders() == 1
        await wait_for(lambda: trade.orderStatus.status == "Filled")
        assert [f.execution.shares for f in trade.fills] == [10.0]
    finally:
        ib.disconnect()


async def test_always_hours_fill_at_any_hour(make_simulator):
    sim = await make_simulator(clock=Clock(SATURDAY_EVENING))  # the default: always
    ib, _ = await _connect(sim)
    try:
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 5, orderRef="hours-always"))
        await wait_for(lambda: trade.orderStatus.status == "Filled")
    finally:
        ib.disconnect()


async def test_closed_market_holds_a_limit_order_too(make_simulator):
    sim = await make_simulator(market_hours="closed", clock=Clock(MONDAY_MIDDAY))
    ib, _ = await _connect(sim)
    try:
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        sim.set_price("AAPL", "100")
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 5, 105, orderRef="hours-closed"))
        await wait_for(lambda: trade.orderStatus.status == "PreSubmitted")
        assert sim.release_held_orders() == 0 and not sim.executions()
    finally:
        ib.disconnect()


def test_cli_market_hours_flag():
    from app.cli import build_parser
    from app.commands.sim import build_config

    assert build_config(build_parser().parse_args(["sim"])).market_hours == "always"
    assert build_config(build_parser().parse_args(["sim", "--market-hours", "regular"])).market_hours == "regular"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sim", "--market-hours", "sometimes"])


async def test_a_resting_limit_order_does_not_fill_after_the_close(make_simulator):
    clock = Clock(MONDAY_MIDDAY)
    sim = await make_simulator(market_hours="regular", clock=clock)
    ib, _ = await _connect(sim)
    try:
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        sim.set_price("AAPL", "100")
        trade = ib.placeOrder(aapl, LimitOrder("BUY", 5, 99, orderRef="hours-rest"))
        await wait_for(lambda: trade.orderStatus.status == "Submitted")
        clock.now = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)  # 17:00 in New York: after the close
        sim.set_price("AAPL", "98")
        assert not sim.executions()
        clock.now = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # Tuesday 10:00: the next session
        sim.set_price("AAPL", "97.5")
        await wait_for(lambda: trade.orderStatus.status == "Filled")
    finally:
        ib.disconnect()


async def test_fills_and_completed_orders_are_stamped_by_the_simulators_clock(make_simulator):
    """A fill's execution time and a completed order's time are the simulator's "now" (the clock a
    test or a replay sets), timezone-aware UTC as ib_async reads them: the same moment the market
    hours were judged at, not the machine's wall clock."""
    sim = await make_simulator(clock=Clock(SATURDAY_EVENING))  # always open: fills at once
    ib, _ = await _connect(sim)
    try:
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 5, orderRef="clock-fill"))
        await wait_for(lambda: trade.orderStatus.status == "Filled" and len(trade.fills) == 1)
        assert trade.fills[0].execution.time == SATURDAY_EVENING and trade.fills[0].execution.time.tzinfo is not None
        [execution] = [f.execution for f in await ib.reqExecutionsAsync()]
        assert execution.time == SATURDAY_EVENING
        # the completed order's time (ib_async drops completedTime, so read where it is encoded from)
        assert [(o.created_at, o.completed_at) for o in sim.orders()] == [(SATURDAY_EVENING, SATURDAY_EVENING)]
    finally:
        ib.disconnect()


async def test_always_open_day_orders_work_past_midnight_until_canceled(make_simulator):
    """Always open, no session ends (the demo and the tests run so at any hour): a DAY order still
    working past midnight in New York keeps working; only the exchange's sessions end one."""
    clock = Clock(SATURDAY_EVENING)  # 18:00 in New York
    sim = await make_simulator(clock=clock)
    ib, _ = await _connect(sim)
    try:
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        sim.set_price("AAPL", "100")
        day = ib.placeOrder(aapl, LimitOrder("BUY", 5, 90, tif="DAY", orderRef="day-order"))
        await wait_for(lambda: day.orderStatus.status == "Submitted")
        clock.now = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)  # midnight in New York
        assert sim.expire_ended_day_orders() == 0
        clock.now = datetime(2026, 12, 9, 5, 0, tzinfo=UTC)  # three days on
        assert sim.expire_ended_day_orders() == 0
        assert day.orderStatus.status == "Submitted" and not any(o.is_done for o in sim.orders())
    finally:
        ib.disconnect()


async def test_regular_hours_day_orders_expire_at_the_close_or_after_the_extended_hours(make_simulator):
    """With the exchange's sessions, a DAY order ends with the regular session (16:00 in New
    York), one that may trade outside it (a limit order with outsideRth) with the extended hours
    (20:00); a DAY order placed after the close is good for the next session."""
    clock = Clock(MONDAY_MIDDAY)
    sim = await make_simulator(market_hours="regular", clock=clock)
    ib, _ = await _connect(sim)
    try:
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        sim.set_price("AAPL", "100")
        regular = ib.placeOrder(aapl, LimitOrder("BUY", 5, 90, tif="DAY", orderRef="day-regular"))
        extended = ib.placeOrder(aapl, LimitOrder("BUY", 5, 90, tif="DAY", outsideRth=True, orderRef="day-extended"))
        await wait_for(lambda: regular.orderStatus.status == extended.orderStatus.status == "Submitted")
        clock.now = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)  # 16:00 in New York: the close
        assert sim.expire_ended_day_orders() == 1
        await wait_for(lambda: regular.orderStatus.status == "Cancelled")
        after_close = ib.placeOrder(aapl, LimitOrder("BUY", 5, 90, tif="DAY", orderRef="day-after-close"))
        await wait_for(lambda: after_close.orderStatus.status == "PreSubmitted")
        clock.now = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 20:00: the end of the extended hours
        assert sim.expire_ended_day_orders() == 1
        await wait_for(lambda: extended.orderStatus.status == "Cancelled")
        assert after_close.orderStatus.status == "PreSubmitted"  # Tuesday's order
        clock.now = datetime(2026, 12, 8, 21, 0, tzinfo=UTC)  # Tuesday's close
        assert sim.expire_ended_day_orders() == 1
        await wait_for(lambda: after_close.orderStatus.status == "Cancelled")
    finally:
        ib.disconnect()


class LoopClock:
    """The simulator's clock as the event loop's clock from ``start`` on: a timer the simulator
    sets for a moment of its clock runs when that moment has come by this clock, never before.
    ``hold()`` stops it where it is until ``go()``: the test's own steps (connecting, qualifying)
    take no time of the simulator's, however slow the machine."""

    def __init__(self, start: datetime) -> None:
        import asyncio

        self.loop = asyncio.get_running_loop()
        self.start, self.at = start, self.loop.time()
        self.held: datetime | None = None

    def __call__(self) -> datetime:
        if self.held is not None:
            return self.held
        return self.start + timedelta(seconds=self.loop.time() - self.at)

    def hold(self) -> None:
        self.held = self()

    def go(self) -> None:
        if self.held is not None:
            self.start, self.at, self.held = self.held, self.loop.time(), None


async def test_a_day_order_is_canceled_by_the_simulator_when_its_session_ends(make_simulator):
    """Nobody calls a control: the timer set when the order was acknowledged cancels it. The
    clock stands 0.2 s before Monday's close until the order is working (the order placed in
    the session, however long the test took to get there), then runs: the timer, set by the
    loop's clock, cancels it at the close by the simulator's, or sets itself again if it ran
    before."""
    clock = LoopClock(datetime(2026, 12, 7, 20, 59, 59, 800000, tzinfo=UTC))  # 15:59:59.8 in New York
    clock.hold()
    sim = await make_simulator(market_hours="regular", clock=clock)
    ib, _ = await _connect(sim)
    try:
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        sim.set_price("AAPL", "100")
        day = ib.placeOrder(aapl, LimitOrder("BUY", 5, 90, tif="DAY", orderRef="day-timer"))
        await wait_for(lambda: day.orderStatus.status == "Submitted")
        clock.go()
        await wait_for(lambda: day.orderStatus.status == "Cancelled")
        assert sim.now() >= datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
    finally:
        ib.disconnect()


async def test_the_day_orders_of_a_state_file_are_canceled_when_their_session_ends(make_simulator, sim_config):
    """A simulator restarted from its state file sets the same timer for the DAY orders it loads."""
    import json

    first = await make_simulator()
    await first.stop()
    data = json.loads(first.config.state_file.read_text())
    data["orders"] = [{
        "order_id": 1, "perm_id": 5, "tif": "DAY", "client_id": 1, "account": "DU1234567", "symbol": "AAPL",
        "con_id": 265598, "action": "BUY", "quantity": "1", "order_type": "LMT", "limit_price": "90", "order_ref": "",
        "outside_rth": False, "status": "Submitted", "filled": "0", "avg_fill_price": "0", "last_fill_price": "0",
        "created_at": "2026-12-07T17:00:00+00:00", "completed_at": None, "completed_status": ""}]
    first.config.state_file.write_text(json.dumps(data))
    clock = LoopClock(datetime(2026, 12, 7, 20, 59, 59, 800000, tzinfo=UTC))  # 0.2 s before the close
    clock.hold()  # until the state is loaded and its timer set
    sim = await make_simulator(sim_config(market_hours="regular", clock=clock))
    [order] = sim.orders()
    assert order.status == "Submitted"  # its day goes on
    clock.go()
    await wait_for(lambda: order.status == "Cancelled")
    assert order.completed_status == "Expired"
