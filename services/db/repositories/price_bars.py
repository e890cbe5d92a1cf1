"""The historical-price cache: daily bars by listing, data type (IB's whatToShow) and day.

``save`` stores a batch of ``services.core.bars.Bar`` values: a day not yet stored is inserted,
a stored day with other prices or volume is overwritten (an imported file is the user's word; a
download only asks for days that are missing), a stored day with the same ones is left as it is
and counted unchanged. The caller's unit of work makes a batch all or nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from services.core.bars import DEFAULT_WHAT_TO_SHOW, Bar
from services.db.models import PriceBar
from services.db.repositories.base import execute_many, fetch_columns
from services.db.types import utcnow

_CHUNK = 500  # keys per IN (...) list

_INSERT_BARS = insert(cast(Table, PriceBar.__table__))
_INSERT_COLUMNS = ("symbol", "what_to_show", "day", "open", "high", "low", "close", "volume", "source", "stored_at")
_EARLIEST, _LATEST = date(1000, 1, 1), date(9999, 12, 31)  # MySQL's DATE range: no bounds given
_BARS = cast(Table, PriceBar.__table__).c  # Core columns: fetch_columns runs Core statements
_SERIES = (select(_BARS.symbol, _BARS.day, _BARS.open, _BARS.close)
           .where(_BARS.what_to_show == bindparam("what_to_show"), _BARS.day >= bindparam("first"),
                  _BARS.day <= bindparam("last")))
_SERIES_ALL = _SERIES.order_by(_BARS.symbol, _BARS.day)
_SERIES_OF = _SERIES.where(_BARS.symbol.in_(bindparam("symbols", expanding=True))).order_by(_BARS.symbol, _BARS.day)


class SavedBars(NamedTuple):
    """What ``save`` did with a batch: days inserted, stored days overwritten with other values,
    stored days that already held the same bar (left as they were)."""

    inserted: int
    changed: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class BarCoverage:
    """What the cache holds for one listing and data type."""

    symbol: str
    what_to_show: str
    bars: int
    first: date
    last: date


class PriceBarRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def stored_days(self, symbol: str, first: date, last: date, what_to_show: str = DEFAULT_WHAT_TO_SHOW) -> set[date]:
        query = select(PriceBar.day).where(PriceBar.symbol == symbol, PriceBar.what_to_show == what_to_show,
                                           PriceBar.day >= first, PriceBar.day <= last)
        return set(self.session.scalars(query))

    def save(self, bars: Iterable[Bar], *, source: str, what_to_show: str = DEFAULT_WHAT_TO_SHOW) -> SavedBars:
        """Insert the new days, overwrite the stored ones whose values differ, leave the stored
        ones that hold the same bar (their source and time stay)."""
        by_symbol: dict[str, list[Bar]] = defaultdict(list)
        for bar in bars:
            by_symbol[bar.symbol].append(bar)
        inserted = changed = unchanged = 0
        now = utcnow()
        for symbol, group in by_symbol.items():
            days = sorted({b.day for b in group})
            query = select(PriceBar.day, PriceBar.id, PriceBar.open, PriceBar.high, PriceBar.low, PriceBar.close,
                           PriceBar.volume).where(PriceBar.symbol == symbol, PriceBar.what_to_show == what_to_show,
                                                  PriceBar.day >= days[0], PriceBar.day <= days[-1])
            stored = {day: (row_id, tuple(values)) for day, row_id, *values in self.session.execute(query)}
            new_rows, changed_rows = [], []
            for bar in group:
                if bar.day in stored:
                    row_id, values = stored[bar.day]
                    # Decimals compare by value: 243.10000000 read back is the file's 243.1
                    if values == (bar.open, bar.high, bar.low, bar.close, bar.volume):
                        unchanged += 1
                        continue
                    changed_rows.append({"id": row_id, "open": bar.open, "high": bar.high, "low": bar.low,
                                         "close": bar.close, "volume": bar.volume, "source": source, "stored_at": now})
                else:
                    new_rows.append((symbol, what_to_show, bar.day, bar.open, bar.high, bar.low, bar.close, bar.volume,
                                     source, now))
            # one executemany of the driver for the new days (base.execute_many: each column's
            # values converted at once), Core statements for the overwritten ones: the ORM's and
            # the statement's per-row bookkeeping cost more than storing the rows
            table = cast(Table, PriceBar.__table__)
            execute_many(self.session, _INSERT_BARS, _INSERT_COLUMNS, new_rows)
            for start in range(0, len(changed_rows), _CHUNK):
                self.session.execute(update(table).where(table.c.id == bindparam("row_id")),
                                     [{**values, "row_id": values.pop("id")} for values in changed_rows[start:start + _CHUNK]])
            inserted += len(new_rows)
            changed += len(changed_rows)
        self.session.flush()
        return SavedBars(inserted, changed, unchanged)

    def load(self, symbols: Sequence[str] | None = None, first: date | None = None, last: date | None = None,
             what_to_show: str = DEFAULT_WHAT_TO_SHOW) -> list[Bar]:
        """The stored bars, by day then listing."""
        query = select(PriceBar.day, PriceBar.symbol, PriceBar.open, PriceBar.high, PriceBar.low, PriceBar.close,
                       PriceBar.volume).where(PriceBar.what_to_show == what_to_show)
        if first is not None:
            query = query.where(PriceBar.day >= first)
        if last is not None:
            query = query.where(PriceBar.day <= last)
        rows: list = []
        if symbols is None:
            rows = list(self.session.execute(query))
        else:
            wanted = sorted(set(symbols))
            for start in range(0, len(wanted), _CHUNK):
                rows += self.session.execute(query.where(PriceBar.symbol.in_(wanted[start:start + _CHUNK])))
        bars = [Bar(*row) for row in rows]
        bars.sort(key=lambda b: (b.day, b.symbol))
        return bars

    def series(self, symbols: Sequence[str] | None = None, first: date | None = None, last: date | None = None,
               what_to_show: str = DEFAULT_WHAT_TO_SHOW) -> dict[str, tuple[list[date], list[Decimal], list[Decimal]]]:
        """The stored bars as ``listing -> (its days ascending, its opens, its closes)``: a
        backtest's price book (``services.backtest.prices.PriceBook.from_columns``), read as three
        columns with each distinct day and price converted once, and no Bar per row (a ten-year
        cache of 500 listings in a few seconds; ``load`` took some twenty)."""
        wanted = None if symbols is None else sorted(set(symbols))
        chunks = [None] if wanted is None else [wanted[i:i + _CHUNK] for i in range(0, len(wanted), _CHUNK)]
        out: dict[str, tuple[list[date], list[Decimal], list[Decimal]]] = {}
        for chunk in chunks:
            statement = _SERIES_ALL if chunk is None else _SERIES_OF
            params = {"what_to_show": what_to_show, "first": first or _EARLIEST, "last": last or _LATEST, "symbols": chunk}
            names, days, opens, closes = fetch_columns(self.session, statement, params)
            start = 0
            for end in range(1, len(names) + 1):  # the rows come by listing, then day
                if end == len(names) or names[end] != names[start]:
                    out[names[start]] = (days[start:end], opens[start:end], closes[start:end])
                    start = end
        return out

    def coverage(self, symbols: Sequence[str] | None = None) -> list[BarCoverage]:
        """Per listing and data type: how many bars, the first and the last day."""
        query = (select(PriceBar.symbol, PriceBar.what_to_show, func.count(), func.min(PriceBar.day), func.max(PriceBar.day))
                 .group_by(PriceBar.symbol, PriceBar.what_to_show).order_by(PriceBar.symbol, PriceBar.what_to_show))
        if symbols is not None:
            query = query.where(PriceBar.symbol.in_(sorted(set(symbols))))
        return [BarCoverage(symbol, what, int(count), first, last)
                for symbol, what, count, first, last in self.session.execute(query)]
