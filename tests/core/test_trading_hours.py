"""IB's tradingHours / liquidHours strings and the exchange calendar (services.core.trading_hours)."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.core.builder import BuildParams, Target
from services.core.pipeline import build_and_check
from services.core.trading_hours import (
    HoursFormatError,
    TradingHours,
    calendar_name,
    calendar_zone,
    is_early_close,
    is_session_day,
    market_open,
    parse_ib_hours,
    regular_session,
    trading_date,
)

NY = ZoneInfo("America/New_York")
TRADING = "20261130:0400-20261130:2000;20261201:0400-20261201:2000;20261205:CLOSED;20261206:CLOSED"
LIQUID = "20261130:0930-20261130:1600;20261201:0930-20261201:1600;20261205:CLOSED;20261206:CLOSED"


def test_current_format_reads_sessions_in_the_contracts_time_zone():
    sessions = parse_ib_hours(LIQUID, "US/Eastern")
    assert [(s.start, s.end) for s in sessions] == [
        (datetime(2026, 11, 30, 9, 30, tzinfo=NY), datetime(2026, 11, 30, 16, 0, tzinfo=NY)),
        (datetime(2026, 12, 1, 9, 30, tzinfo=NY), datetime(2026, 12, 1, 16, 0, tzinfo=NY)),
    ]


def test_old_format_with_several_ranges_and_a_named_zone():
    sessions = parse_ib_hours("20090507:0700-1830,1830-2330;20090508:CLOSED", "EST (Eastern Standard Time)")
    assert [(s.start.hour, s.end.hour) for s in sessions] == [(7, 18), (18, 23)]
    assert sessions[0].start.tzinfo == NY


def test_a_session_across_midnight_ends_the_next_day():
    (session,) = parse_ib_hours("20261201:1715-20261202:1700", "US/Eastern")
    assert session.end == datetime(2026, 12, 2, 17, 0, tzinfo=NY)
    (old,) = parse_ib_hours("20261201:1715-1700", "US/Eastern")
    assert old.end == session.end


@pytest.mark.parametrize("text", ["2026120:0930-1600", "20261201:0930", "20261201:0930-20261201:0900", "20261201:9x30-1600"])
def test_malformed_hours_are_refused(text):
    with pytest.raises(HoursFormatError):
        parse_ib_hours(text, "US/Eastern")


def test_unknown_time_zone_is_refused():
    with pytest.raises(HoursFormatError):
        parse_ib_hours(LIQUID, "Mars/Olympus")


def test_open_extended_and_regular_session():
    hours = TradingHours.from_ib(TRADING, LIQUID, "US/Eastern")
    pre_market = datetime(2026, 12, 1, 8, 0, tzinfo=NY)
    assert hours.is_open(pre_market) and not hours.in_regular_session(pre_market)
    assert hours.in_regular_session(datetime(2026, 12, 1, 9, 30, tzinfo=NY))
    assert not hours.in_regular_session(datetime(2026, 12, 1, 16, 0, tzinfo=NY))  # the close is excluded
    assert not hours.is_open(datetime(2026, 12, 5, 12, 0, tzinfo=NY))  # CLOSED day
    assert hours.next_open(pre_market) == datetime(2026, 12, 1, 9, 30, tzinfo=NY)
    assert hours.covers(pre_market) and not hours.covers(datetime(2027, 1, 5, tzinfo=UTC))


def test_from_details_without_hours_is_none():
    class Details:
        tradingHours = ""
        liquidHours = ""
        timeZoneId = ""

    assert TradingHours.from_details(Details()) is None


def test_trading_date_of_a_weekend_evening_is_the_next_session():
    assert trading_date(datetime(2026, 12, 5, 23, 0, tzinfo=UTC)) == date(2026, 12, 7)  # Saturday evening -> Monday
    assert trading_date(datetime(2026, 12, 4, 22, 0, tzinfo=UTC)) == date(2026, 12, 7)  # Friday after the close
    assert trading_date(datetime(2026, 12, 1, 15, 0, tzinfo=UTC)) == date(2026, 12, 1)  # in the session
    assert trading_date(datetime(2026, 12, 1, 12, 0, tzinfo=UTC)) == date(2026, 12, 1)  # before the open


def test_holidays_and_early_closes():
    assert not is_session_day(date(2026, 12, 25))  # Christmas
    assert trading_date(datetime(2026, 12, 25, 15, 0, tzinfo=UTC)) == date(2026, 12, 28)
    assert not market_open(datetime(2026, 12, 25, 15, 0, tzinfo=UTC))
    assert is_early_close(date(2026, 11, 27))  # the day after Thanksgiving closes at 13:00
    session = regular_session(date(2026, 11, 27))
    assert session is not None and session.end == datetime(2026, 11, 27, 13, 0, tzinfo=NY)
    assert not market_open(datetime(2026, 11, 27, 18, 30, tzinfo=UTC))
    assert market_open(datetime(2026, 11, 27, 17, 30, tzinfo=UTC))


@pytest.mark.parametrize("name", ["XNYS", "XTKS"])  # XTKS: a lunch break inside the session
def test_the_trading_date_is_the_librarys_minute_to_session(name):
    """``trading_date`` finds the session from the calendar's closes; the library's
    ``minute_to_session(direction="next")`` from its index of every minute: the same date for
    moments all over the calendar's years and at the edges of every 23rd session (a minute
    before, at and after its open and its close), and the New York date outside the years."""
    import random
    from datetime import timedelta

    import pandas as pd

    from services.core.trading_hours import _calendar

    cal = _calendar(name)
    pick = random.Random(7)
    first, last = cal.opens.iloc[0].to_pydatetime(), cal.closes.iloc[-1].to_pydatetime()
    span = int((last - first).total_seconds() // 60)
    moments = [first + timedelta(minutes=pick.randrange(span)) for _ in range(3000)]
    moments += [(edge + pd.Timedelta(minutes=step)).to_pydatetime() for i in range(0, len(cal.sessions), 23)
                for edge in (cal.opens.iloc[i], cal.closes.iloc[i]) for step in (-1, 0, 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for moment in moments:
            minute = pd.Timestamp(moment).floor("min")
            if cal.first_minute <= minute <= cal.last_minute:
                expected = cal.minute_to_session(minute, direction="next").date()
            else:
                expected = moment.astimezone(NY).date()
            assert trading_date(moment, name) == expected, moment
    assert trading_date(first - timedelta(days=3), name) == (first - timedelta(days=3)).astimezone(NY).date()
    assert trading_date(last, name) == last.astimezone(NY).date()  # the last close: outside


def test_the_xnys_calendar_built_for_its_years_is_the_librarys():
    import exchange_calendars

    from services.core.exchange_calendar import XNYSCalendar

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = XNYSCalendar(), exchange_calendars.get_calendar("XNYS")
        # a range of the library's own (1990-2030) too: the rules' holidays at both ends
        ours_long = XNYSCalendar(start="1990-01-01", end="2030-12-31")
        theirs_long = exchange_calendars.get_calendar("XNYS", start="1990-01-01", end="2030-12-31")
    for mine, library in ((ours, theirs), (ours_long, theirs_long)):
        assert mine.schedule.equals(library.schedule)  # sessions, opens, closes
        assert mine.early_closes.equals(library.early_closes) and mine.late_opens.equals(library.late_opens)
    assert len(ours_long.sessions) > 10_000
    assert calendar_zone() == ZoneInfo("America/New_York")


def test_calendar_of_a_listing():
    assert calendar_name("NASDAQ", "USD") == "XNAS"
    assert calendar_name("", "EUR") == "XETR"
    assert calendar_name("", "USD") == "XNYS"


def test_a_stale_reference_price_fires_the_stale_price_rule():
    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    params = BuildParams(portfolio_value=Decimal(100000), run_id=1)
    _, fresh = build_and_check([Target("AAPL", Decimal("0.1"))], params, prices={"AAPL": Decimal(100)}, positions={},
                               price_times={"AAPL": datetime.now(UTC)})
    assert not fresh.blocked
    _, stale = build_and_check([Target("AAPL", Decimal("0.1"))], params, prices={"AAPL": Decimal(100)}, positions={},
                               price_times={"AAPL": now.replace(year=2025)})
    assert [b.code for b in stale.all_blocks()] == ["stale_price"]


def test_delayed_prices_block_only_where_not_allowed():
    params = BuildParams(portfolio_value=Decimal(100000), run_id=1)
    args = dict(prices={"AAPL": Decimal(100)}, positions={}, price_times={"AAPL": datetime.now(UTC)},
                price_kinds={"AAPL": "delayed"})
    _, paper = build_and_check([Target("AAPL", Decimal("0.1"))], params, **args)
    assert not paper.blocked
    _, live = build_and_check([Target("AAPL", Decimal("0.1"))], params, allow_delayed=False, **args)
    assert [b.code for b in live.all_blocks()] == ["delayed_price"]


def test_the_zones_known_without_a_calendar_are_the_calendars_own():
    from services.core import trading_hours

    names = set(trading_hours._CALENDAR_BY_EXCHANGE.values()) | set(trading_hours._CALENDAR_BY_CURRENCY.values())
    assert names == set(trading_hours._CALENDAR_ZONES)
    for name in sorted(names):
        assert trading_hours.calendar_zone(name) == ZoneInfo(str(trading_hours._calendar(name).tz)), name


@pytest.mark.filterwarnings("error::pandas.errors.Pandas4Warning")
def test_a_calendar_asked_by_several_threads_at_once_is_built_once_and_quietly(monkeypatch):
    """150 orders placed at once run their risk checks in worker threads, each asking for the
    calendar (tests/execution/test_pacing_attacks.py): one build, whose pandas deprecation
    warning stays quiet, and no quieting left behind for the rest of the process."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from services.core import trading_hours

    monkeypatch.setattr(trading_hours, "_CALENDARS", {})  # none built yet
    asks = 4
    together = threading.Barrier(asks)

    def ask(_: int):
        together.wait()
        return trading_hours._calendar("XNYS")

    with ThreadPoolExecutor(asks) as pool:
        calendars = list(pool.map(ask, range(asks)))
    assert len({id(calendar) for calendar in calendars}) == 1
    assert not [f for f in warnings.filters if f[1] is not None and "timezone" in f[1].pattern]
