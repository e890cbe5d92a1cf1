"""Trading hours: IB's ``tradingHours`` / ``liquidHours`` strings, and the exchange calendar.

Whether a contract trades now comes from the broker, as in TWS: the contract details carry
``tradingHours`` (the whole session, extended hours included), ``liquidHours`` (the regular
session) and ``timeZoneId`` (the zone the times are written in). The format is in
docs/ib-notes.md ("Trading hours"): days separated by ``;``, each ``YYYYMMDD:CLOSED`` or
``YYYYMMDD:HHMM-YYYYMMDD:HHMM`` (several ranges of one day separated by ``,``); old gateways
write ``YYYYMMDD:HHMM-HHMM``.

Where no broker is asked (the trading date of a run, the backtest, a market-health check before
the contract details are known) the exchange calendar of ``exchange_calendars`` answers: the
session a moment belongs to (a weekend evening belongs to Monday's session), holidays and early
closes. Pure: no database, no broker.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], datetime]

NEW_YORK = ZoneInfo("America/New_York")
DEFAULT_CALENDAR = "XNYS"

# IB's timeZoneId values are not all IANA names (older gateways write "EST (Eastern Standard Time)").
_IB_ZONES = {"EST": "America/New_York", "EDT": "America/New_York", "US/EASTERN": "America/New_York",
             "CST": "America/Chicago", "US/CENTRAL": "America/Chicago", "MET": "Europe/Berlin",
             "CET": "Europe/Berlin", "GB": "Europe/London", "GMT": "Europe/London", "JST": "Asia/Tokyo"}

# The exchange calendar of a listing: by its primary exchange, else by its currency.
_CALENDAR_BY_EXCHANGE = {"NYSE": "XNYS", "NASDAQ": "XNAS", "ISLAND": "XNAS", "ARCA": "XNYS", "AMEX": "XNYS",
                         "BATS": "XNYS", "IEX": "XNYS", "IBIS": "XETR", "FWB": "XFRA", "LSE": "XLON",
                         "SBF": "XPAR", "AEB": "XAMS", "SWX": "XSWX", "EBS": "XSWX", "TSE": "XTKS", "TSEJ": "XTKS"}
_CALENDAR_BY_CURRENCY = {"USD": "XNYS", "EUR": "XETR", "GBP": "XLON", "CHF": "XSWX", "JPY": "XTKS"}
# Their time zones, known without building the calendar (importing exchange_calendars alone takes
# half a second: the TCA asks the day of each fill; tests/core/test_trading_hours.py checks them)
_CALENDAR_ZONES = {"XNYS": "America/New_York", "XNAS": "America/New_York", "XETR": "Europe/Berlin",
                   "XFRA": "Europe/Berlin", "XLON": "Europe/London", "XPAR": "Europe/Paris",
                   "XAMS": "Europe/Amsterdam", "XSWX": "Europe/Zurich", "XTKS": "Asia/Tokyo"}


class HoursFormatError(ValueError):
    """A tradingHours / liquidHours string that does not read as IB writes it."""


@dataclass(frozen=True, slots=True)
class Session:
    """One open period, as aware datetimes; open includes ``start``, excludes ``end``."""

    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def ib_zone(time_zone_id: str) -> ZoneInfo:
    """The zone of an IB ``timeZoneId`` ("US/Eastern", "MET", "EST (Eastern Standard Time)")."""
    name = (time_zone_id or "").split(" (")[0].strip()
    if not name:
        raise HoursFormatError("no time zone")
    name = _IB_ZONES.get(name.upper(), name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursFormatError(f"unknown time zone {time_zone_id!r}") from None


def _moment(day: str, hhmm: str, zone: ZoneInfo) -> datetime:
    try:
        return datetime.strptime(f"{day}{hhmm}", "%Y%m%d%H%M").replace(tzinfo=zone)
    except ValueError:
        raise HoursFormatError(f"{day}:{hhmm} is not YYYYMMDD:HHMM") from None


def parse_ib_hours(text: str, time_zone_id: str) -> tuple[Session, ...]:
    """The sessions of a ``tradingHours`` or ``liquidHours`` string, in time order."""
    zone = ib_zone(time_zone_id)
    sessions: list[Session] = []
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        day, sep, ranges = part.partition(":")
        if not sep or len(day) != 8 or not day.isdigit():
            raise HoursFormatError(f"{part!r}: a day is YYYYMMDD:... ")
        if ranges.upper() == "CLOSED":
            continue
        for span in filter(None, ranges.split(",")):
            begin, dash, finish = span.partition("-")
            if not dash:
                raise HoursFormatError(f"{part!r}: a range is START-END")
            start = _moment(day, begin, zone)
            if ":" in finish:  # the current format: 20261201:0930-20261201:1600
                end_day, _, end_time = finish.partition(":")
                end = _moment(end_day, end_time, zone)
            else:  # the old one: 20261201:0930-1600 (an end before the start is the next day)
                end = _moment(day, finish, zone)
                if end <= start:
                    end += timedelta(days=1)
            if end <= start:
                raise HoursFormatError(f"{span!r}: ends before it starts")
            sessions.append(Session(start, end))
    return tuple(sorted(sessions, key=lambda s: s.start))


def _session_at(sessions: tuple[Session, ...], moment: datetime) -> Session | None:
    return next((s for s in sessions if s.contains(moment)), None)


@dataclass(frozen=True, slots=True)
class TradingHours:
    """A contract's hours as the broker gave them."""

    time_zone: str
    trading: tuple[Session, ...]  # the whole session, extended hours included
    liquid: tuple[Session, ...]  # the regular session

    @classmethod
    def from_ib(cls, trading_hours: str, liquid_hours: str, time_zone_id: str) -> TradingHours:
        trading = parse_ib_hours(trading_hours, time_zone_id)
        liquid = parse_ib_hours(liquid_hours, time_zone_id) if liquid_hours else trading
        return cls(time_zone_id, trading, liquid)

    @classmethod
    def from_details(cls, details: Any) -> TradingHours | None:
        """From an ib_async ``ContractDetails`` (None when it carries no hours)."""
        trading = getattr(details, "tradingHours", "") or ""
        zone = getattr(details, "timeZoneId", "") or ""
        if not trading or not zone:
            return None
        return cls.from_ib(trading, getattr(details, "liquidHours", "") or "", zone)

    def is_open(self, moment: datetime) -> bool:
        """Trading now (extended hours included)."""
        return _session_at(self.trading, moment) is not None

    def in_regular_session(self, moment: datetime) -> bool:
        return _session_at(self.liquid, moment) is not None

    def next_open(self, moment: datetime, *, regular: bool = True) -> datetime | None:
        """The start of the next (regular) session after ``moment``; None when the hours given
        end before it (IB sends about a week)."""
        return next((s.start for s in (self.liquid if regular else self.trading) if s.start > moment), None)

    def session_end(self, moment: datetime, *, regular: bool = True) -> datetime | None:
        """The end of the (regular) session open at ``moment``, or else of the next one; None
        when the hours given end before it."""
        return next((s.end for s in (self.liquid if regular else self.trading) if s.end > moment), None)

    def covers(self, moment: datetime) -> bool:
        """Whether the hours given reach ``moment`` (IB sends a week; an old answer runs out)."""
        days = [s for s in self.trading] or [*self.liquid]
        return bool(days) and days[0].start - timedelta(days=1) <= moment <= days[-1].end + timedelta(days=1)


# ---------------------------------------------------------------------------------------------
# The exchange calendar


def calendar_name(primary_exchange: str = "", currency: str = "USD") -> str:
    return _CALENDAR_BY_EXCHANGE.get((primary_exchange or "").upper()) or _CALENDAR_BY_CURRENCY.get(
        (currency or "USD").upper(), DEFAULT_CALENDAR)


def listing_calendar(spec: Any) -> str:
    """The exchange calendar of a listing (a ``services.core.contracts.ContractSpec``): its
    market's (the primary exchange, else the exchange), else its currency's."""
    return calendar_name(spec.venue, spec.currency)


# catch_warnings swaps the process's one list of warning filters and puts back the list it
# found: two threads quieting at once (risk checks run in worker threads) put back each other's
# lists out of order, which let the warning through in one and left the ignore behind for the
# whole process in the other. One quieting at a time keeps them nested; reentrant, since a
# calendar is built inside another function's quieting. (Python 3.11 has no per-thread filters.)
_QUIET = threading.RLock()


@contextmanager
def _quiet() -> Iterator[None]:
    """exchange_calendars 4.13 reads ``Series.values`` of its tz-aware schedule when it builds a
    calendar, which pandas 3.1 deprecates (Pandas4Warning, four per build; upstream's main
    branch still does); the library's code, not ours, so quieted here rather than changed."""
    with _QUIET, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*drops timezone information.*")
        yield


# the calendars built, by name: each built once for the process (a build takes 0.2 s)
_CALENDARS: dict[str, Any] = {}


def _calendar(name: str):
    calendar = _CALENDARS.get(name)
    if calendar is None:
        # the lock inside _quiet makes threads asking at once wait for the first one's build
        with _quiet():
            calendar = _CALENDARS.get(name)
            if calendar is None:
                calendar = _CALENDARS[name] = _build_calendar(name)
    return calendar


def _build_calendar(name: str):
    import exchange_calendars  # about a second to import and build: only when first asked

    if name == "XNYS":  # the default one (every backtest): built for its own years' holidays
        from services.core.exchange_calendar import XNYSCalendar

        return XNYSCalendar()
    return exchange_calendars.get_calendar(name)


def _timestamp(moment: datetime):
    import pandas as pd

    if moment.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return pd.Timestamp(moment.astimezone(UTC)).floor("min")


def _session_at_or_after(cal, moment: datetime) -> date | None:
    """The session ``moment`` falls in, else the next one (None outside the calendar's years):
    the first session whose close is after it. The library's ``minute_to_session`` answers the
    same from an index of every trading minute of its twenty years, built on first use (0.1 s
    of CPU at each command's start and at the window's first preview); the closes are already
    there."""
    import numpy as np

    minute = _timestamp(moment).value
    opens, closes = cal.opens_nanos, cal.closes_nanos
    if not len(closes) or minute < opens[0] or minute >= closes[-1]:
        return None
    return cal.sessions[int(np.searchsorted(closes, minute, side="right"))].date()


def trading_date(now: datetime | None = None, calendar: str = DEFAULT_CALENDAR) -> date:
    """The date of the session ``now`` belongs to: the current session, or the next one when
    the market is closed (a Saturday, a holiday, an evening after the close). Outside the
    calendar's years, the calendar date in New York."""
    now = now or datetime.now(UTC)
    sessions = _KNOWN_SESSIONS.get(calendar)
    if sessions:  # inside a regular session looked up before: that session (a backtest's runs)
        session = sessions.get(now.astimezone(calendar_zone(calendar)).date())
        if session is not None and session.contains(now):
            return session.start.astimezone(calendar_zone(calendar)).date()
    day = _session_at_or_after(_calendar(calendar), now)
    return day if day is not None else now.astimezone(NEW_YORK).date()


def trading_day_start(now: datetime | None = None, calendar: str = DEFAULT_CALENDAR) -> datetime:
    """When the trading day ``now`` belongs to began, as UTC: the close of the session before
    ``trading_date(now)``. The one trading day of the daily order count (the risk rule
    ``max_daily_orders``, a replacement's count) and of a run's trade date: orders sent on a
    Monday evening count toward Tuesday, the session their run is dated. Outside the calendar's
    years, midnight in New York of that date."""
    now = now or datetime.now(UTC)
    day = trading_date(now, calendar)
    before = session_days(day - timedelta(days=14), day - timedelta(days=1), calendar)
    session = regular_session(before[-1], calendar) if before else None
    if session is None:
        return datetime(day.year, day.month, day.day, tzinfo=NEW_YORK).astimezone(UTC)
    return session.end.astimezone(UTC)


def is_session_day(day: date, calendar: str = DEFAULT_CALENDAR) -> bool:
    """False on weekends and holidays."""
    import pandas as pd

    cal = _calendar(calendar)
    ts = pd.Timestamp(day)
    if not (cal.first_session <= ts <= cal.last_session):
        return day.weekday() < 5
    with _quiet():
        return bool(cal.is_session(ts))


def regular_session(day: date, calendar: str = DEFAULT_CALENDAR) -> Session | None:
    """The regular session of ``day`` (an early close ends early), or None on a closed day."""
    import pandas as pd

    if not is_session_day(day, calendar):
        return None
    cal = _calendar(calendar)
    ts = pd.Timestamp(day)
    if not (cal.first_session <= ts <= cal.last_session):
        zone = ZoneInfo(str(cal.tz))
        return Session(datetime.combine(day, time(9, 30), zone), datetime.combine(day, time(16, 0), zone))
    with _quiet():
        start, end = cal.session_open_close(ts)
    return Session(start.to_pydatetime(), end.to_pydatetime())


def is_early_close(day: date, calendar: str = DEFAULT_CALENDAR) -> bool:
    import pandas as pd

    cal = _calendar(calendar)
    with _quiet():
        return bool(pd.Timestamp(day) in cal.early_closes)


def market_open(now: datetime | None = None, calendar: str = DEFAULT_CALENDAR) -> bool:
    """The calendar's regular session is open at ``now``."""
    now = now or datetime.now(UTC)
    session = regular_session(now.astimezone(ZoneInfo(str(_calendar(calendar).tz))).date(), calendar)
    return session is not None and session.contains(now)


def calendar_zone(calendar: str = DEFAULT_CALENDAR) -> ZoneInfo:
    known = _CALENDAR_ZONES.get(calendar)
    return ZoneInfo(known) if known else ZoneInfo(str(_calendar(calendar).tz))


def session_days(first: date, last: date, calendar: str = DEFAULT_CALENDAR) -> list[date]:
    """The calendar's trading days from ``first`` to ``last`` (both included), oldest first;
    weekdays where the calendar's years end (exchange_calendars covers about 20 years back and
    one ahead)."""
    import pandas as pd

    if last < first:
        return []
    cal = _calendar(calendar)
    lo, hi = cal.first_session.date(), cal.last_session.date()
    inside_first, inside_last = max(first, lo), min(last, hi)
    days: list[date] = []
    day = first
    while day < min(inside_first, last + timedelta(days=1)):  # before the calendar: weekdays
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    if inside_first <= inside_last:
        with _quiet():
            days += [ts.date() for ts in cal.sessions_in_range(pd.Timestamp(inside_first), pd.Timestamp(inside_last))]
    day = max(first, hi + timedelta(days=1))
    while day <= last:  # after the calendar: weekdays
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days
def sessions_between(start: date, end: date, calendar: str = DEFAULT_CALENDAR) -> list[date]:
    """The calendar's session days from ``start`` to ``end`` inclusive (a backtest's walk): the
    same days as :func:`session_days`."""
    return session_days(start, end, calendar)


def next_session(day: date, calendar: str = DEFAULT_CALENDAR) -> date:
    """The first session day after ``day`` (a weekend or holiday ``day`` included): where a
    next-open fill of ``day``'s orders happens, the session the backtest's walk
    (``sessions_between``) comes to next. No exchange closes for two weeks (the longest, after
    11 September 2001, was four sessions), so two weeks ahead always hold one; outside the
    calendar's years ``session_days`` gives weekdays."""
    return session_days(day + timedelta(days=1), day + timedelta(days=14), calendar)[0]


def regular_sessions(start: date, end: date, calendar: str = DEFAULT_CALENDAR) -> dict[date, Session]:
    """Every regular session from ``start`` to ``end`` at once (one vectorised look at the
    calendar's schedule: a backtest asks for thousands); days outside the calendar's years are
    left out (``regular_session`` answers them)."""
    import pandas as pd

    cal = _calendar(calendar)
    first, last = max(pd.Timestamp(start), cal.first_session), min(pd.Timestamp(end), cal.last_session)
    if first > last:
        return {}
    with _quiet():
        schedule = cal.schedule.loc[first:last]
    sessions = {day.date(): Session(opened.to_pydatetime(), closed.to_pydatetime())
                for day, opened, closed in zip(schedule.index, schedule["open"], schedule["close"], strict=True)}
    _KNOWN_SESSIONS.setdefault(calendar, {}).update(sessions)
    return sessions


# the regular sessions ``regular_sessions`` looked up, by calendar: ``trading_date`` answers a
# moment inside one of them without asking the calendar (a few milliseconds each)
_KNOWN_SESSIONS: dict[str, dict[date, Session]] = {}
