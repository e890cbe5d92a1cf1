"""Synthetic historical bars for reqHistoricalData.

The simulator keeps no price history, so it makes one up: a seeded random walk that ends at
the current price, one bar per bar-size step back from the end time over the requested
duration (weekdays only; 09:30-16:00 New York time with useRTH). The same symbol, bar size and
end time always give the same bars. Pure functions; the request handler is in other_requests.py.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("US/Eastern")
MAX_BARS = 5000
_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}
_BAR_UNITS = {"sec": 1, "min": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400}


class HistoryRequestError(ValueError):
    """A duration, bar size or end time TWS would refuse (answered with error 162)."""


@dataclass(frozen=True, slots=True)
class Bar:
    start: datetime  # aware
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
        raise HistoryRequestError(f"invalid duration {text!r} (expected e.g. '2 D', '1 W', '3600 S')")
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


def bar_starts(end: datetime, duration: int, bar_seconds: int, use_rth: bool) -> list[datetime]:
    """Start times of the bars in (end - duration, end], oldest first, weekdays only."""
    starts: list[datetime] = []
    if bar_seconds >= 86400:  # daily and longer: one bar per trading day (or per step)
        day = end.astimezone(NEW_YORK).date()
        first = (end - timedelta(seconds=duration)).astimezone(NEW_YORK).date()
        step = max(1, bar_seconds // 86400)
        while day > first and len(starts) < MAX_BARS:
            if day.weekday() < 5:
                starts.append(datetime.combine(day, time(0), NEW_YORK))
            day -= timedelta(days=step)
        return starts[::-1]
    stamp = math.floor(end.timestamp() / bar_seconds) * bar_seconds
    if stamp + bar_seconds > end.timestamp():
        stamp -= bar_seconds  # only finished bars
    earliest = end.timestamp() - duration
    while stamp >= earliest and len(starts) < MAX_BARS:
        moment = datetime.fromtimestamp(stamp, NEW_YORK)
        in_session = time(9, 30) <= moment.time() < time(16, 0)
        if moment.weekday() < 5 and (in_session or not use_rth):
            starts.append(moment)
        stamp -= bar_seconds
    return starts[::-1]


def synthetic_bars(key: str, last_price: Decimal, min_tick: Decimal, starts: list[datetime], bar_seconds: int) -> list[Bar]:
    """A seeded walk backwards from ``last_price``: the last bar closes at it."""
    rng = random.Random(key)
    scale = 0.001 * math.sqrt(bar_seconds / 60)
    closes = [last_price]
    for _ in range(len(starts) - 1):
        step = Decimal(str(round(rng.gauss(0.0, scale), 8)))
        closes.append(max(closes[-1] * (1 - step), min_tick * 10))
    closes.reverse()

    def q(value: Decimal) -> Decimal:
        return value.quantize(min_tick, rounding=ROUND_HALF_UP)

    bars = []
    previous = closes[0]
    for start, close in zip(starts, closes, strict=True):
        wiggle = abs(close - previous) / 2 + min_tick * rng.randint(0, 5)
        high, low = max(previous, close) + wiggle, max(min(previous, close) - wiggle, min_tick)
        volume = 100 * rng.randint(1, 500)
        bars.append(Bar(start, q(previous), q(high), q(low), q(close), volume, q((high + low + close) / 3), max(1, volume // 200)))
        previous = close
    return bars


def format_bar_time(moment: datetime, bar_seconds: int, format_date: str) -> str:
    """formatDate 2: epoch seconds; 1: ``yyyymmdd`` for daily bars, ``yyyymmdd hh:mm:ss US/Eastern`` otherwise."""
    if bar_seconds >= 86400:
        return moment.astimezone(NEW_YORK).strftime("%Y%m%d")
    if format_date == "2":
        return str(int(moment.timestamp()))
    return moment.astimezone(NEW_YORK).strftime("%Y%m%d %H:%M:%S") + " US/Eastern"
