"""The backtest's prices: daily bars held by day and symbol, asked for by the simulated broker.

``PriceBook`` is built from ``services.core.bars.Bar`` values (whatever read them: a bar file, the
price cache). A symbol without a bar on a day keeps its last close for valuation (``last_close``)
and has no price to trade at that day (``bar``)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

from services.core.bars import Bar


class PriceFileError(ValueError):
    """A price file that cannot be used: every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Series:
    """One symbol's days (sorted) and its opens and closes: Decimals from ``Bar`` values, or the
    floats of a columnar reader (a price file's two-decimal texts), turned exact on lookup."""

    __slots__ = ("closes", "days", "exact_closes", "index", "opens")

    def __init__(self, days: list[date], opens: Sequence, closes: Sequence, index: dict[date, int] | None = None) -> None:
        self.days = days
        self.index = {d: i for i, d in enumerate(days)} if index is None else index
        self.opens = opens
        self.closes = closes
        # a close turned exact, by its index: the broker values every holding at its last close
        # every day, the same close for many days when a symbol stops trading
        self.exact_closes: dict[int, Decimal] = {}

    def at_or_before(self, day: date) -> int:
        """The index of ``day``, else of the last day before it (-1: none)."""
        i = self.index.get(day)
        return bisect.bisect_right(self.days, day) - 1 if i is None else i

    def close(self, i: int) -> Decimal:
        value = self.exact_closes.get(i)
        if value is None:
            value = self.exact_closes[i] = _exact(self.closes[i])
        return value


def _exact(value) -> Decimal:
    # a Decimal (a Bar's), a price's text (a bar file read by columns), or a float (a columnar
    # reader's two-decimal value: its shortest form is the text it was read from)
    if isinstance(value, Decimal):
        return value
    return Decimal(value) if isinstance(value, str) else Decimal(repr(float(value)))


class PriceBook:
    """Daily opens and closes by symbol and day; lookups are by day (the backtest walks the days
    in order). Built from ``Bar`` values, or from columns (``from_columns``) without a Python
    object per bar (a benchmark's million bars)."""

    def __init__(self, bars: Iterable[Bar] = ()) -> None:
        by_symbol: dict[str, dict[date, Bar]] = {}
        for bar in bars:
            by_symbol.setdefault(bar.symbol, {})[bar.day] = bar
        self._series: dict[str, _Series] = {}
        for symbol, rows in by_symbol.items():
            days = sorted(rows)
            self._series[symbol] = _Series(days, [rows[d].open for d in days], [rows[d].close for d in days])

    @classmethod
    def from_columns(cls, columns: Mapping[str, tuple[list[date], Sequence, Sequence]]) -> PriceBook:
        """``symbol -> (days ascending, opens, closes)``."""
        book = cls()
        # symbols trading on the same days share one list of them and one index: a million bars
        # held as a few hundred lists and dicts of Python objects made every full collection of
        # the garbage collector walk them all (a tenth of a backtest's time at 1,000 symbols)
        shared: dict[tuple[date, ...], tuple[list[date], dict[date, int]]] = {}
        for symbol, (days, opens, closes) in columns.items():
            key = tuple(days)
            found = shared.get(key)
            if found is None:
                found = shared[key] = (list(key), {d: i for i, d in enumerate(key)})
            book._series[symbol] = _Series(found[0], opens, closes, found[1])
        return book

    @property
    def symbols(self) -> list[str]:
        return sorted(self._series)

    def first_day(self) -> date | None:
        firsts = [s.days[0] for s in self._series.values() if s.days]
        return min(firsts) if firsts else None

    def last_day(self) -> date | None:
        lasts = [s.days[-1] for s in self._series.values() if s.days]
        return max(lasts) if lasts else None

    def open_on(self, symbol: str, day: date) -> Decimal | None:
        """The symbol's open of exactly that day (None: it did not trade that day)."""
        series = self._series.get(symbol)
        i = None if series is None else series.index.get(day)
        return None if i is None else _exact(series.opens[i])  # type: ignore[union-attr]

    def close_on(self, symbol: str, day: date) -> Decimal | None:
        series = self._series.get(symbol)
        i = None if series is None else series.index.get(day)
        return None if i is None else series.close(i)  # type: ignore[union-attr]

    def last_quote(self, symbol: str, day: date) -> tuple[date, Decimal] | None:
        """The symbol's newest close on or before ``day``, with its day."""
        series = self._series.get(symbol)
        i = -1 if series is None else series.at_or_before(day)
        return None if i < 0 else (series.days[i], series.close(i))  # type: ignore[union-attr]

    def value_at_close(self, holdings: Iterable[tuple[str, Decimal]], day: date, value: Decimal) -> Decimal:
        """``value`` plus each (symbol, quantity) at its ``last_close`` of ``day``, in the order
        given (a symbol with no close yet adds nothing): the broker's equity every day, in one
        call rather than a lookup call per holding."""
        series_of = self._series.get
        for symbol, quantity in holdings:
            series = series_of(symbol)
            if series is None:
                continue
            # ``at_or_before`` and ``close`` written out: two calls per holding per day were most
            # of the daily valuation's cost (the same lookups, the same close turned exact once)
            i = series.index.get(day)
            if i is None:
                i = bisect.bisect_right(series.days, day) - 1
                if i < 0:
                    continue
            close = series.exact_closes.get(i)
            if close is None:
                close = series.close(i)
            value += quantity * close
        return value

    def last_close(self, symbol: str, day: date) -> Decimal | None:
        """``last_quote``'s close alone (the broker values every holding with it every day)."""
        series = self._series.get(symbol)
        i = -1 if series is None else series.at_or_before(day)
        return None if i < 0 else series.close(i)  # type: ignore[union-attr]


def read_price_book(path: str | Path) -> PriceBook:
    """A bar file's opens and closes as a price book, checked as ``read_prices`` checks it (a
    clean CSV read by columns, without a Bar per row: a ten-year file of 500 listings in about
    a second rather than some seventeen; ``python3 dev.py bench bar_file_read``)."""
    from services.core.bar_files import BarFileError, read_bar_series

    try:
        return PriceBook.from_columns(read_bar_series(path))
    except BarFileError as exc:
        raise PriceFileError([f"{exc.source}: {problem}" for problem in exc.problems]) from None


def read_prices(path: str | Path) -> list[Bar]:
    """Bars from a CSV or Parquet file through the one bar reader
    (``services.core.bar_files.read_bar_file``: the price cache's import checks); its problems
    become ``PriceFileError`` lines naming the file and each line."""
    from services.core.bar_files import BarFileError, read_bar_file

    try:
        return read_bar_file(path)
    except BarFileError as exc:
        raise PriceFileError([f"{exc.source}: {problem}" for problem in exc.problems]) from None
