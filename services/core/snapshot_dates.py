"""A decision snapshot's date, one rule for the backtest and the window: the ISO date
(YYYY-MM-DD) in its file's name, else the New York day it was stored. A backtest trades a
stored snapshot on that day (services.backtest.requests.stored_snapshots); the Snapshots list
and ``snapshot list`` say "newest" by it (services.console_queries.snapshot_recency)."""

from __future__ import annotations

import re
from datetime import date

from services.core.trading_hours import NEW_YORK

# YYYY-MM-DD and nothing else: Python's date.fromisoformat also takes 20240102 and ISO week
# dates (2024-W01-2), and a date inside a longer run of digits is not one
ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def dates_in_name(name: str) -> list[date]:
    """The distinct dates (YYYY-MM-DD) a file name holds, in the order they come."""
    found: list[date] = []
    for match in ISO_DATE.finditer(name):
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            continue
        if day not in found:
            found.append(day)
    return found


def date_in_name(name: str) -> date | None:
    """The first date of a stored snapshot's name (a dated CSV's groups are stored as
    ``DAY-STEM-PROJECT.csv``, whose stem may hold a date of its own)."""
    days = dates_in_name(name)
    return days[0] if days else None


def stored_day(source_file: str, created_at) -> date:
    """A stored snapshot's date: the ISO date in its file name, else the New York day it was stored."""
    return date_in_name(source_file) or created_at.astimezone(NEW_YORK).date()
