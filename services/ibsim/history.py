"""Synthetic historical bars for reqHistoricalData and reqHeadTimeStamp.

The simulator keeps no price history, so it makes one up, the same for every request:

* **Daily bars** exist on the trading days of the listing's exchange calendar
  (``services.core.trading_hours``: holidays and weekends have none), from ``HISTORY_YEARS``
  before the *anchor day* to the anchor day: the last session that has opened (today once the
  market opened, else the previous session). Each day's return, overnight gap, range and volume
  are drawn from a generator seeded by the listing and the day alone, and the walk is anchored
  at the anchor day's close = the simulator's current price. So a bar of a past day does not
  depend on the request (end time, duration, bar size), and two downloads of one day agree as
  long as the current price is the same.
* **Intraday bars** (``1 hour``, ``5 mins``, ...) of a day are a seeded bridge from the day's open
  to its close over the regular session (``useRTH``) or 04:00-20:00 (the whole US session); the
  first bar starts at the open, later bars on the clock (09:30, 10:00, 11:00, ... for 1 hour).
  Only finished bars are sent.
* ``TRADES`` and ``ADJUSTED_LAST`` are the same series (the simulator has no dividends or splits);
  ``MIDPOINT``, ``BID``, ``ASK`` and ``BID_ASK`` follow the quote's mid and carry volume and bar
  count -1, as IB sends them for quotes.

Pure functions; the request handler is in other_requests.py.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from services.core.trading_hours import calendar_zone, regular_session, session_days

NEW_YORK = ZoneInfo("US/Eastern")
MAX_BARS = 10_000  # more bars than this in one answer is refused (IB limits the duration per bar size)
HISTORY_YEARS = 20  # the head timestamp: how far back the made-up history goes
DAILY_VOLATILITY = 0.015  # standard deviation of a day's log return
WHAT_TO_SHOW = ("TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST")
QUOTE_KINDS = ("MIDPOINT", "BID", "ASK", "BID_ASK")  # no volume: IB sends -1
_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}
_BAR_UNITS = {"sec": 1, "min": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400}
DAY = 86400


class HistoryRequestError(ValueError):
    """A duration, bar size, end time or data type TWS would refuse (answered with error 162)."""


@dataclass(frozen=True, slots=True)
class HistoryBar:
    start: datetime  # aware; a daily bar: midnight of its day in the exchange's zone
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    wap: Decimal
    count: int


def parse_duration(text: str) -> int:
    """``"2 D"`` -> seconds."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1].upper() not in _UNITS or int(parts[0]) <= 0:
        raise HistoryRequestError(f"invalid duration {text!r} (expected e.g. '2 D', '1 W', '3600 S', '1 Y')")
    return int(parts[0]) * _UNITS[parts[1].upper()]


def parse_bar_size(text: str) -> int:
    """``"5 mins"`` -> seconds."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit():
        raise HistoryRequestError(f"invalid bar size {text!r} (expected e.g. '1 min', '1 hour', '1 day')")
    unit = parts[1].lower().rstrip("s")
    if unit not in _BAR_UNITS or int(parts[0]) <= 0:
        raise HistoryRequestError(f"invalid bar size {text!r}")
    return int(parts[0]) * _BAR_UNITS[unit]


def parse_what_to_show(text: str) -> str:
    what = text.strip().upper()
    if what not in WHAT_TO_SHOW:
        raise HistoryRequestError(f"invalid whatToShow {text!r} (the simulator has {', '.join(WHAT_TO_SHOW)})")
    return what


def parse_end(text: str, now: datetime) -> datetime:
    """``""`` (now), ``yyyymmdd hh:mm:ss [zone]`` (New York without a zone) or ``yyyymmdd-hh:mm:ss`` (UTC)."""
    text = text.strip()
    if not text:
        return now
    try:
        if "-" in text[:9]:
            return datetime.strptime(text[:17], "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        day, clock, *zone = text.split()
        moment = datetime.strptime(day + clock, "%Y%m%d%H:%M:%S")
        return moment.replace(tzinfo=ZoneInfo(zone[0]) if zone else NEW_YORK)
    except (ValueError, KeyError) as exc:
        raise HistoryRequestError(f"invalid end date/time {text!r}") from exc


def anchor_day(now: datetime, calendar: str) -> date:
    """The last session that has opened by ``now``: its close is the current price."""
    today = now.astimezone(calendar_zone(calendar)).date()
    days = session_days(today - timedelta(days=14), today, calendar)
    if days and days[-1] == today:
        session = regular_session(today, calendar)
        if session is not None and now < session.start:
            days.pop()
    return days[-1]


def head_day(anchor: date, calendar: str) -> date:
    """The first day of the history (reqHeadTimeStamp)."""
    first = anchor.replace(year=anchor.year - HISTORY_YEARS, day=min(anchor.day, 28))
    return session_days(first, first + timedelta(days=14), calendar)[0]


def _day_rng(key: str, day: date) -> random.Random:
    return random.Random(f"{key}:{day.isoformat()}")


@dataclass(frozen=True, slots=True)
class DailyHistory:
    """The made-up daily series of one listing: ``key`` seeds it (simulator seed and listing),
    the anchor day closes at ``anchor_price``; prices are rounded to ``quantum``."""

    key: str
    calendar: str
    anchor: date
    anchor_price: Decimal
    quantum: Decimal

    def bars(self, first: date, last: date) -> list[HistoryBar]:
        """Bars of the trading days in [first, last] that the history has."""
        first = max(first, head_day(self.anchor, self.calendar))
        last = min(last, self.anchor)
        if last < first:
            return []
        # the walk runs back from the anchor, so the days between ``last`` and the anchor count too
        days = session_days(first - timedelta(days=14), self.anchor, self.calendar)
        closes = [0.0] * len(days)
        closes[-1] = float(self.anchor_price)
        draws = [self._draw(day) for day in days]
        for i in range(len(days) - 1, 0, -1):
            closes[i - 1] = closes[i] / math.exp(draws[i][0])
        zone = calendar_zone(self.calendar)
        out = []
        for i in range(1, len(days)):
            day = days[i]
            if not first <= day <= last:
                continue
            _ret, gap, up, down, volume = draws[i]
            close = closes[i]
            open_ = closes[i - 1] * math.exp(gap)
            high = max(open_, close) * math.exp(up)
            low = min(open_, close) * math.exp(-down)
            o, h, lo, c = (self._price(v) for v in (open_, high, low, close))
            if i == len(days) - 1:
                c = self.anchor_price.quantize(self.quantum, rounding=ROUND_HALF_UP)
                h, lo = max(h, c), min(lo, c)
            out.append(HistoryBar(datetime.combine(day, time(0), zone), o, h, lo, c, volume,
                                  self._price((high + low + close) / 3), max(1, volume // 200)))
        return out

    def _draw(self, day: date) -> tuple[float, float, float, float, int]:
        rng = _day_rng(self.key, day)
        return (rng.gauss(0.0, DAILY_VOLATILITY), rng.gauss(0.0, DAILY_VOLATILITY / 4),
                abs(rng.gauss(0.0, DAILY_VOLATILITY / 2)), abs(rng.gauss(0.0, DAILY_VOLATILITY / 2)),
                100 * rng.randint(2_000, 50_000))

    def _price(self, value: float) -> Decimal:
        return max(Decimal(repr(value)).quantize(self.quantum, rounding=ROUND_HALF_UP), self.quantum)


def day_span(day: date, calendar: str, use_rth: bool) -> tuple[datetime, datetime] | None:
    """The part of ``day`` intraday bars cover: the regular session, or 04:00-20:00 in the
    exchange's zone (IB's US extended hours)."""
    session = regular_session(day, calendar)
    if session is None:
        return None
    zone = calendar_zone(calendar)
    if use_rth:
        return session.start.astimezone(zone), session.end.astimezone(zone)
    return datetime.combine(day, time(4), zone), datetime.combine(day, time(20), zone)


def intraday_starts(span: tuple[datetime, datetime], bar_seconds: int) -> list[datetime]:
    """The first bar at the start of the span, later ones on the clock (09:30, 10:00, 11:00)."""
    start, end = span
    starts = [start]
    stamp = (math.floor(start.timestamp() / bar_seconds) + 1) * bar_seconds
    while stamp < end.timestamp():
        starts.append(datetime.fromtimestamp(stamp, start.tzinfo))
        stamp += bar_seconds
    return starts


def intraday_bars(key: str, day_bar: HistoryBar, span: tuple[datetime, datetime], bar_seconds: int,
                  quantum: Decimal) -> list[HistoryBar]:
    """A seeded bridge from the day's open to its close, one bar per start."""
    starts = intraday_starts(span, bar_seconds)
    count = len(starts)
    rng = random.Random(f"{key}:{day_bar.start.date().isoformat()}:{bar_seconds}:{int(span[0].timestamp())}")
    sigma = DAILY_VOLATILITY / math.sqrt(count)
    walk = [0.0]
    for _ in range(count):
        walk.append(walk[-1] + rng.gauss(0.0, sigma))
    log_open, log_close = math.log(day_bar.open), math.log(day_bar.close)
    path = [math.exp(log_open + (log_close - log_open) * k / count + walk[k] - walk[-1] * k / count)
            for k in range(count + 1)]

    def q(value: float) -> Decimal:
        return max(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP), quantum)

    bars = []
    for k, start in enumerate(starts):
        a, b = path[k], path[k + 1]
        high, low = max(a, b) * math.exp(abs(rng.gauss(0.0, sigma / 2))), min(a, b) * math.exp(-abs(rng.gauss(0.0, sigma / 2)))
        volume = max(100, day_bar.volume // count // 100 * 100 + 100 * rng.randint(-5, 5))
        bars.append(HistoryBar(start, q(a), q(high), q(low), q(b), volume, q((high + low + b) / 3), max(1, volume // 200)))
    return bars


def duration_begin(end: datetime, text: str, calendar: str) -> datetime:
    """Where a duration back from ``end`` begins: ``N D`` is the last N trading days (as IB
    counts days: "1 D" on a Sunday is Friday), the other units are time ("3600 S", "1 W",
    "1 M" = 30 days, "1 Y" = 365 days)."""
    try:
        return _duration_begin(end, text, calendar)
    except OverflowError:  # it raised out of the request and closed the client's connection
        raise HistoryRequestError(f"duration {text!r} reaches back before year 1") from None


def _duration_begin(end: datetime, text: str, calendar: str) -> datetime:
    seconds = parse_duration(text)
    count, unit = int(text.split()[0]), text.split()[1].upper()
    if unit != "D":
        return end - timedelta(seconds=seconds)
    zone = calendar_zone(calendar)
    last = end.astimezone(zone).date()
    days = [d for d in session_days(last - timedelta(days=count * 2 + 14), last, calendar)
            if (span := day_span(d, calendar, False)) is not None and span[0] < end]
    first = days[-count] if len(days) >= count else last - timedelta(days=count * 2 + 14)
    return datetime.combine(first, time(0), zone)


def history_bars(history: DailyHistory, end: datetime, duration: str, bar_seconds: int, use_rth: bool,
                 now: datetime) -> list[HistoryBar]:
    """The bars from the duration's begin (``duration_begin``) to ``end``, oldest first: daily
    bars of the days in it, or the finished intraday bars starting in it (by ``now`` too)."""
    zone = calendar_zone(history.calendar)
    end = min(end, now)
    begin = duration_begin(end, duration, history.calendar)
    if bar_seconds >= DAY:
        first, last = begin.astimezone(zone).date(), end.astimezone(zone).date()
        if begin.astimezone(zone).time() != time(0):
            first += timedelta(days=1)
        if len(session_days(first, last, history.calendar)) > MAX_BARS:
            raise HistoryRequestError(f"more than {MAX_BARS} bars requested: ask for a shorter duration")
        bars = history.bars(first, last)
        return bars if bar_seconds == DAY else _grouped(bars, monthly=bar_seconds >= 28 * DAY)
    days = session_days(begin.astimezone(zone).date(), end.astimezone(zone).date(), history.calendar)
    spans = [(day, span) for day in days if (span := day_span(day, history.calendar, use_rth)) is not None]
    if sum(int((s[1] - s[0]).total_seconds()) // bar_seconds + 1 for _, s in spans) > MAX_BARS:
        raise HistoryRequestError(f"more than {MAX_BARS} bars requested: ask for a shorter duration or a larger bar size")
    daily = {b.start.date(): b for b in history.bars(days[0], days[-1])} if days else {}
    out: list[HistoryBar] = []
    for day, span in spans:
        if day not in daily:
            continue
        for bar in intraday_bars(history.key, daily[day], span, bar_seconds, history.quantum):
            bar_end = min(bar.start + timedelta(seconds=bar_seconds), span[1])
            if bar.start >= begin and bar_end <= end:
                out.append(bar)
    return out


def _grouped(days: list[HistoryBar], monthly: bool) -> list[HistoryBar]:
    """Weekly or monthly bars from the daily ones (the first day of each group names the bar)."""
    groups: dict[tuple[int, int], list[HistoryBar]] = {}
    for bar in days:
        day = bar.start.date()
        groups.setdefault((day.year, day.month) if monthly else day.isocalendar()[:2], []).append(bar)
    out = []
    for group in groups.values():
        volume = sum(b.volume for b in group)
        out.append(HistoryBar(group[0].start, group[0].open, max(b.high for b in group), min(b.low for b in group),
                              group[-1].close, volume, group[-1].wap, sum(b.count for b in group)))
    return out


def _zone_name(moment: datetime) -> str:
    name = getattr(moment.tzinfo, "key", "UTC")
    return "US/Eastern" if name == "America/New_York" else name


class HistoryPacingWatch:
    """IB's historical-data pacing as the receiver sees it (docs/ib-pacing.md, "Historical
    data"): a request breaking a rule is a violation (error 162) and does not count."""

    IDENTICAL_SECONDS = 15.0
    SAME_CONTRACT = 6  # six or more within 2 s break the rule
    SAME_CONTRACT_SECONDS = 2.0

    def __init__(self) -> None:
        self._sent: list[tuple[float, object, object]] = []  # (time, contract, request)
        self.violations = 0  # answered with error 162, ever

    def violation(self, contract: object, request: object, now: float, limit: int, window: float) -> str | None:
        horizon = max(window, self.IDENTICAL_SECONDS, self.SAME_CONTRACT_SECONDS)
        self._sent = [entry for entry in self._sent if entry[0] > now - horizon]
        broken = self._broken(contract, request, now, limit, window)
        if broken is None:
            self._sent.append((now, contract, request))
        else:
            self.violations += 1
        return broken

    def _broken(self, contract: object, request: object, now: float, limit: int, window: float) -> str | None:
        if any(r == request and t > now - self.IDENTICAL_SECONDS for t, _c, r in self._sent):
            return "an identical request within 15 seconds"
        if sum(1 for t, c, _r in self._sent if c == contract and t > now - self.SAME_CONTRACT_SECONDS) >= self.SAME_CONTRACT - 1:
            return "six requests for one contract within 2 seconds"
        if sum(1 for t, _c, _r in self._sent if t > now - window) >= limit:
            return f"more than {limit} requests within {window:g} seconds"
        return None


def format_bar_time(moment: datetime, bar_seconds: int, format_date: str) -> str:
    """formatDate 2: epoch seconds; 1: ``yyyymmdd`` for daily bars, ``yyyymmdd hh:mm:ss US/Eastern``
    (the exchange's zone) otherwise."""
    if bar_seconds >= DAY:
        return moment.strftime("%Y%m%d")
    if format_date == "2":
        return str(int(moment.timestamp()))
    return moment.strftime("%Y%m%d %H:%M:%S") + " " + _zone_name(moment)


def format_head_time(day: date, calendar: str, format_date: str) -> str:
    """The head timestamp: the first session's open, ``yyyymmdd-hh:mm:ss`` in UTC or epoch seconds."""
    session = regular_session(day, calendar)
    start = session.start if session is not None else datetime.combine(day, time(9, 30), calendar_zone(calendar))
    if format_date == "2":
        return str(int(start.timestamp()))
    return start.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")
