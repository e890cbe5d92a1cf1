"""Daily (or intraday) price bars: the one value type the historical-price cache, the bar file
importer, the simulator's history and the backtest engine exchange. Pure: no database, no broker."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

# the broker's daily series the console caches and backtests on (IB's whatToShow), TRADES first:
# one list for the price cache, the commands and the window
# The days a daily bar or a backtest's snapshot may have: a day that has come (a day of slack for
# the listings whose day begins before the machine's) and not before 1900. A bar of 9999-12-31
# made a backtest's default end 8,000 years away (hours of work and gigabytes of rows before it
# answered, Ctrl-C unheard); a snapshot of 0001-01-01 overflowed the exchange calendar's clock.
FIRST_DAY = date(1900, 1, 1)


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_day(text: str) -> date | None:
    """``text`` (spaces around it aside) as a date written YYYY-MM-DD, else None: Python's
    ``date.fromisoformat`` alone also takes 20240102 and the ISO week date 2024-W01-2."""
    text = text.strip()
    if not _ISO_DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2024-02-30
        return None


def day_problem(day: date) -> str | None:
    """Why ``day`` cannot be a bar's or a dated snapshot's day, or None."""
    if day < FIRST_DAY:
        return f"date {day} is before {FIRST_DAY}"
    if day > date.today() + timedelta(days=1):
        return f"date {day} has not come yet"
    return None


WHAT_TO_SHOW = ("TRADES", "ADJUSTED_LAST", "MIDPOINT")
DEFAULT_WHAT_TO_SHOW = WHAT_TO_SHOW[0]


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of one listing. ``symbol`` is the listing key (a bare symbol for a US stock, as in
    ``services.core.contracts.ContractSpec.key``); prices and volume are Decimal."""

    day: date
    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
