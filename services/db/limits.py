"""What the database columns can hold, derived from the models' column types, so that input is
checked at import time against the same limits on SQLite and MariaDB (SQLite itself would store
an over-long string, MariaDB refuses it; see services.db.types.ExactDecimal for numbers)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Integer, String

from services.core.bar_files import BarLimits
from services.core.snapshots import NumericLimit, SnapshotLimits
from services.db.models import DecisionSnapshot, DecisionSnapshotItem, PriceBar, Project
from services.db.types import ExactDecimal

# ExactDecimal keeps value * 10**scale in a signed 64-bit integer on SQLite: at most 18 digits
# in all, whatever NUMERIC(p, s) MariaDB would accept.
_SQLITE_INT64_DIGITS = 18
_INT32 = (-(2**31), 2**31 - 1)  # MySQL INT (SQLite would take more: the smaller range wins)
# a Text column (a snapshot's note): MariaDB's TEXT keeps this many bytes of UTF-8, SQLite any
TEXT_BYTES = 65_535


def numeric_limit(column) -> NumericLimit:
    kind = column.type
    if not isinstance(kind, ExactDecimal):
        raise TypeError(f"{column} is not an ExactDecimal column")
    whole_digits = min(kind.precision - kind.scale, _SQLITE_INT64_DIGITS - kind.scale)
    return NumericLimit(whole_digits=whole_digits, scale=kind.scale)


def string_length(column) -> int:
    kind = column.type
    if not isinstance(kind, String) or kind.length is None:
        raise TypeError(f"{column} is not a String(n) column")
    return kind.length


def integer_range(column) -> tuple[int, int]:
    if not isinstance(column.type, Integer):
        raise TypeError(f"{column} is not an Integer column")
    return _INT32


@lru_cache(maxsize=1)
def snapshot_limits() -> SnapshotLimits:
    items = DecisionSnapshotItem.__table__.c
    return SnapshotLimits(
        weight=numeric_limit(items.weight),
        score=numeric_limit(items.score),
        price=numeric_limit(items.price),
        rank=integer_range(items.rank),
        symbol_length=string_length(items.symbol),
        sec_type_length=string_length(items.sec_type),
        exchange_length=string_length(items.exchange),
        currency_length=string_length(items.currency),
        source_name_length=string_length(DecisionSnapshot.__table__.c.source_file),
        project_name_length=string_length(Project.__table__.c.name),
    )


@lru_cache(maxsize=1)
def bar_limits() -> BarLimits:
    """What the price cache keeps (services.core.bar_files.STORAGE_LIMITS must equal it)."""
    bars = PriceBar.__table__.c
    return BarLimits(price=numeric_limit(bars.close), volume=numeric_limit(bars.volume),
                     symbol_length=string_length(bars.symbol))
