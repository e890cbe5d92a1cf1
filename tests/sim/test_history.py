"""Synthetic historical bars: seeded, ending at the current price, on weekdays (and in the
regular session with useRTH)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from ib_async import Stock

from services.ibsim import history

END = "20250103 16:00:00 US/Eastern"  # a Friday


def test_bar_times_follow_the_session_and_the_weekdays():
    end = history.parse_end(END, datetime.now(UTC))
    hourly = history.bar_starts(end, history.parse_duration("1 D"), history.parse_bar_size("1 hour"), use_rth=True)
    assert [b.strftime("%a %H:%M") for b in hourly] == ["Fri 10:00", "Fri 11:00", "Fri 12:00", "Fri 13:00", "Fri 14:00", "Fri 15:00"]
    daily = history.bar_starts(end, history.parse_duration("1 W"), history.parse_bar_size("1 day"), use_rth=True)
    assert [b.strftime("%a %d") for b in daily] == ["Mon 30", "Tue 31", "Wed 01", "Thu 02", "Fri 03"]
    all_hours = history.bar_starts(end, history.parse_duration("2 D"), history.parse_bar_size("30 mins"), use_rth=False)
    assert len(all_hours) == 96 and all(b.weekday() < 5 for b in all_hours)


@pytest.mark.parametrize("duration,bar_size", [("1", "1 hour"), ("2 X", "1 hour"), ("1 D", "7 fortnights"), ("1 D", "hour")])
def test_invalid_requests_are_refused(duration, bar_size):
    with pytest.raises(history.HistoryRequestError):
        history.parse_duration(duration)
        history.parse_bar_size(bar_size)


def test_bars_are_seeded_and_end_at_the_last_price():
    starts = history.bar_starts(history.parse_end(END, datetime.now(UTC)), 86400 * 30, 86400, True)
    first = history.synthetic_bars("1:AAPL", D("228.5"), D("0.01"), starts, 86400)
    again = history.synthetic_bars("1:AAPL", D("228.5"), D("0.01"), starts, 86400)
    other = history.synthetic_bars("2:AAPL", D("228.5"), D("0.01"), starts, 86400)
    assert first == again and first != other
    assert first[-1].close == D("228.5")
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in first)
    assert all(later.open == earlier.close for earlier, later in itertools.pairwise(first))


async def test_real_client_gets_the_bars(simulator, ib_client):
    ib = await ib_client()
    simulator.set_price("AAPL", "100")
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    bars = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, END, "1 D", "1 hour", "TRADES", True), 5)
    assert [b.date.strftime("%H:%M") for b in bars] == ["10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]
    assert bars[-1].close == 100.0 and all(b.volume > 0 and b.barCount > 0 for b in bars)
    daily = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, END, "1 W", "1 day", "MIDPOINT", True), 5)
    assert [str(b.date) for b in daily] == ["2024-12-30", "2024-12-31", "2025-01-01", "2025-01-02", "2025-01-03"]
    epoch = await asyncio.wait_for(ib.reqHistoricalDataAsync(aapl, END, "3600 S", "5 mins", "TRADES", True, formatDate=2), 5)
    assert len(epoch) == 12 and epoch[-1].date.tzinfo is not None
