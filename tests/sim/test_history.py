"""Synthetic historical bars: one seeded series per listing on the exchange calendar's trading
days, ending at the current price; the same day gives the same bar whatever the request."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from ib_async import Stock

from services.ibsim import history

END = "20250103 16:00:00 US/Eastern"  # a Friday
NOW = datetime(2025, 1, 6, 22, 0, tzinfo=UTC)  # Monday 17:00 in New York, after the close


def _series(price="100", key="1:AAPL", now=NOW):
    return history.DailyHistory(key, "XNYS", history.anchor_day(now, "XNYS"), D(price), D("0.01"))


def _bars(duration, bar_size, end=END, use_rth=True, series=None):
    return history.history_bars(series or _series(), history.parse_end(end, NOW), duration,
                                history.parse_bar_size(bar_size), use_rth, NOW)


def test_daily_bars_are_the_exchange_calendars_trading_days():
    week = _bars("1 W", "1 day")
    assert [b.start.date() for b in week] == [date(2024, 12, 30), date(2024, 12, 31), date(2025, 1, 2), date(2025, 1, 3)]
    assert [b.start.date() for b in _bars("2 D", "1 day", end="20250105 12:00:00 US/Eastern")] == [
        date(2025, 1, 2), date(2025, 1, 3)]  # "N D" counts trading days, as IB does: Sunday gives Thu, Fri
    ten_years = _bars("10 Y", "1 day", end="")
    assert 2500 < len(ten_years) < 2530 and ten_years[-1].start.date() == date(2025, 1, 6)


def test_the_anchor_is_the_last_session_that_opened():
    assert history.anchor_day(datetime(2025, 1, 6, 14, 0, tzinfo=UTC), "XNYS") == date(2025, 1, 3)  # Monday 09:00 NY
    assert history.anchor_day(datetime(2025, 1, 6, 15, 0, tzinfo=UTC), "XNYS") == date(2025, 1, 6)  # after the open
    assert history.anchor_day(datetime(2025, 1, 5, 12, 0, tzinfo=UTC), "XNYS") == date(2025, 1, 3)  # Sunday


def test_a_day_has_one_bar_whatever_the_request():
    series = _series()
    long_view = {b.start.date(): b for b in series.bars(date(2024, 1, 1), date(2025, 1, 6))}
    short_view = series.bars(date(2024, 6, 3), date(2024, 6, 7))
    assert len(short_view) == 5 and all(long_view[b.start.date()] == b for b in short_view)
    assert long_view[date(2025, 1, 6)].close == D("100")  # the anchor day closes at the current price
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high and b.low > 0 for b in long_view.values())
    assert series.bars(date(2024, 6, 3), date(2024, 6, 7)) == short_view  # seeded
    assert _series(key="2:AAPL").bars(date(2024, 6, 3), date(2024, 6, 7)) != short_view
    # another current price scales the same walk
    doubled = _series(price="200").bars(date(2024, 6, 3), date(2024, 6, 7))
    assert all(abs(b.close - 2 * a.close) <= D("0.02") for a, b in zip(short_view, doubled, strict=True))


def test_intraday_bars_run_from_the_days_open_to_its_close():
    hourly = _bars("1 D", "1 hour")
    assert [b.start.astimezone(history.NEW_YORK).strftime("%a %H:%M") for b in hourly] == [
        "Fri 09:30", "Fri 10:00", "Fri 11:00", "Fri 12:00", "Fri 13:00", "Fri 14:00", "Fri 15:00"]
    [day] = _bars("1 D", "1 day")
    assert hourly[0].open == day.open and hourly[-1].close == day.close
    assert all(a.close == b.open for a, b in itertools.pairwise(hourly))
    five = _bars("1 D", "5 mins")
    assert len(five) == 78 and five[0].open == day.open and five[-1].close == day.close
    extended = _bars("1 D", "30 mins", use_rth=False)
    assert len(extended) == 24 and extended[0].start.astimezone(history.NEW_YORK).hour == 4


@pytest.mark.parametrize("duration,bar_size,what", [("1", "1 hour", "TRADES"), ("2 X", "1 hour", "TRADES"),
                                                    ("1 D", "7 fortnights", "TRADES"), ("1 D", "hour", "TRADES"),
                                                    ("1 D", "1 hour", "OPTION_IMPLIED_VOLATILITY")])
def test_invalid_requests_are_refused(duration, bar_size, what):
    with pytest.raises(history.HistoryRequestError):
        history.parse_duration(duration)
        history.parse_bar_size(bar_size)
        history.parse_what_to_show(what)


def test_too_many_bars_are_refused():
    with pytest.raises(history.HistoryRequestError, match="more than"):
        _bars("1 Y", "1 min")


async def test_real_client_gets_the_bars(make_simulator, ib_client):
    sim = await make_simulator(clock=lambda: NOW)
    ib = await ib_client(sim=sim)
    sim.set_price("AAPL", "100")
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    bars = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, END, "1 D", "1 hour", "TRADES", True), 5)
    assert [b.date.strftime("%H:%M") for b in bars] == ["09:30", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]
    assert all(b.volume > 0 and b.barCount > 0 for b in bars)
    daily = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, "", "1 Y", "1 day", "TRADES", True), 5)
    assert daily[-1].date == date(2025, 1, 6) and daily[-1].close == 100.0 and 245 < len(daily) < 260
    assert date(2025, 1, 1) not in {b.date for b in daily}  # New Year's Day: no session
    adjusted = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, "", "1 Y", "1 day", "ADJUSTED_LAST", True), 5)
    assert [(b.date, b.close) for b in adjusted] == [(b.date, b.close) for b in daily]
    given_end = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, date(2025, 1, 3), "30 D", "1 day", "TRADES", True), 5)
    assert len(given_end) == 30 and given_end[-1].date == date(2025, 1, 3)
    assert {(b.date, b.close) for b in given_end} <= {(b.date, b.close) for b in daily}
    mid = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, END, "1 W", "1 day", "MIDPOINT", True), 5)
    assert len(mid) == 4 and all(b.volume == -1 and b.barCount == -1 for b in mid)
    epoch = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, END, "3600 S", "5 mins", "TRADES", True, formatDate=2), 5)
    assert len(epoch) == 12 and epoch[-1].date.tzinfo is not None
    decade = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, "", "10 Y", "1 day", "TRADES", True), 10)
    assert 2500 < len(decade) < 2530 and decade[-1].close == 100.0
    head = await asyncio.wait_for(ib.reqHeadTimeStampAsync(aapl, "TRADES", True, 2), 5)
    assert head == datetime(2005, 1, 6, 14, 30, tzinfo=UTC)
    assert [r.duration for r in sim.history_requests] == ["1 D", "1 Y", "1 Y", "30 D", "1 W", "3600 S", "10 Y"]


async def test_a_refused_request_gets_error_162(make_simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Error 162")
    sim = await make_simulator(clock=lambda: NOW)
    ib = await ib_client(sim=sim)
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    errors = []
    ib.errorEvent += lambda req_id, code, message, contract: errors.append((code, message))
    bars = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, "", "1 D", "1 hour", "HISTORICAL_VOLATILITY", True), 5)
    assert list(bars) == [] and errors and errors[0][0] == 162 and "whatToShow" in errors[0][1]


async def test_a_duration_reaching_before_year_1_gets_error_162_and_the_connection_stays(make_simulator, ib_client,
                                                                                         ib_log_guard):
    """`bars download --from 0001-01-01` asked for "7975 Y": the simulator's OverflowError ended the
    request's handling and closed the client's connection (the command: "ConnectionError: Socket
    disconnect", exit 1)."""
    ib_log_guard.allow(r"Error 162")
    sim = await make_simulator(clock=lambda: NOW)
    ib = await ib_client(sim=sim)
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    errors = []
    ib.errorEvent += lambda req_id, code, message, contract: errors.append((code, message))
    for duration in ("9999 Y", "99999999 D"):
        bars = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, "", duration, "1 day", "TRADES", True), 5)
        assert list(bars) == [] and errors[-1][0] == 162 and "reaches back before year 1" in errors[-1][1], errors
    assert ib.isConnected()
    daily = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, "", "1 W", "1 day", "TRADES", True), 5)
    assert daily[-1].date == date(2025, 1, 6)  # the connection still answers


async def test_small_bars_keep_ibs_pacing_by_default_and_daily_bars_are_throttled_softly(make_simulator, ib_client,
                                                                                           ib_log_guard):
    """IB answers a pacing violation with error 162 for bars of 30 s or less; larger bars are
    only slowed down. The simulator does the same without being asked."""
    ib_log_guard.allow(r"Error 162")
    sim = await make_simulator(clock=lambda: NOW)
    ib = await ib_client(sim=sim)
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    errors = []
    ib.errorEvent += lambda req_id, code, message, contract: errors.append((code, message))
    for _ in range(2):  # identical daily requests within 15 s: answered both times
        daily = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, END, "1 W", "1 day", "TRADES", True), 5)
        assert len(daily) == 4
    first = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, END, "60 S", "5 secs", "TRADES", True), 5)
    again = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, END, "60 S", "5 secs", "TRADES", True), 5)
    assert len(first) == 12 and list(again) == []
    assert [code for code, _ in errors] == [162] and "identical request within 15 seconds" in errors[0][1]
    assert sim.history_pacing.violations == 1
