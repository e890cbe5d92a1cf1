"""Bar files: daily prices as CSV (``date,symbol,open,high,low,close[,volume]``) or Parquet
(the same columns), read into ``services.core.bars.Bar`` values.

Checked like a snapshot file (``services.core.snapshots``): reading never stops at the first
problem, every problem is reported with its line (1-based as an editor shows it; a Parquet
file's rows are numbered as the same table written as CSV would be, the first row on line 2) and
column, and a file with any problem yields no bars at all (``BarFileError`` lists them). A row is
refused when its date is not ``YYYY-MM-DD``, its symbol is not an ASCII listing key the console
can trade (``AAPL``, ``SAP@IBIS:EUR``), a price is not a positive finite number, the volume is
negative, a number does not fit the price cache's columns (``STORAGE_LIMITS``, the same as
``services.db.limits.bar_limits()``), ``high`` is below the open or the close, ``low`` above
either, the date is not a session of the listing's exchange calendar (a weekend, a holiday:
``services.core.trading_hours.listing_calendar``; outside the calendar's years, about twenty
back and one ahead, a weekday is taken), or the (date, symbol) pair came before. A file with
any other column is refused naming it (an ``adj_close`` or a ``note`` would otherwise be dropped
without a word); the volume column may be left out (volume 0).

A clean CSV or Parquet file is read by columns (``services.core.bar_columns``: the same bars,
some ten times sooner); any other file, and every file with a problem, is read row by row here.

Parquet needs ``pyarrow`` (the ``parquet`` extra); without it a Parquet file is refused with
that message. Floating-point columns are read through their shortest decimal form (101.23, not
101.2299999...). Pure: no database, no broker.
"""

from __future__ import annotations

import csv
import errno
import importlib.util
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.core.bar_columns import BarColumns, read_csv_columns, read_parquet_columns
from services.core.bars import Bar, day_problem
from services.core.contracts import ContractSpec, contract_problem
from services.core.snapshot_rows import SnapshotProblem
from services.core.snapshots import MAX_SYMBOL_LENGTH, SYMBOL_RE, NumericLimit
from services.core.trading_hours import is_session_day, listing_calendar

from .wording import counted, unreadable_file

BarProblem = SnapshotProblem  # line, column, code, message: one shape for every import's problems

REQUIRED_COLUMNS = ("date", "symbol", "open", "high", "low", "close")
COLUMNS = (*REQUIRED_COLUMNS, "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_PROBLEMS_SHOWN = 200  # a broken million-row file lists this many, then says how many more


@dataclass(frozen=True, slots=True)
class BarLimits:
    """What the price cache keeps (``None``: unchecked)."""

    price: NumericLimit | None = None
    volume: NumericLimit | None = None
    symbol_length: int | None = None


# services.db.models.PriceBar: Price() and Quantity() columns, a String(64) key; a test keeps
# these equal to services.db.limits.bar_limits().
STORAGE_LIMITS = BarLimits(price=NumericLimit(10, 8), volume=NumericLimit(12, 6), symbol_length=64)


BAR_FILE = "a bar file (CSV or Parquet)"


class BarFileError(ValueError):
    """A bar file that cannot be used: every problem, with its line. ``unread``: the one line
    for a file that could not be read at all (missing, a folder: ``wording.unreadable_file``),
    said as `snapshot import` says it; None for a file read and refused for its problems."""

    def __init__(self, source: str, problems: Iterable[BarProblem], *, unread: str | None = None) -> None:
        self.source = source
        self.problems = tuple(problems)
        self.unread = unread
        shown = [f"  {p}" for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"  ... and {len(self.problems) - MAX_PROBLEMS_SHOWN} more")
        super().__init__(f"{source}: {counted(len(self.problems), 'problem')}\n" + "\n".join(shown))


def read_bar_file(path: str | Path, limits: BarLimits = STORAGE_LIMITS) -> list[Bar]:
    """The bars of a CSV or Parquet file (by its suffix), sorted by date then symbol; raises
    ``BarFileError`` naming every problem."""
    path = Path(path)
    _readable(path)
    columns = _by_columns(path, limits)  # a clean file, by columns (services/core/bar_columns.py)
    return columns.bars() if columns is not None else _read_by_rows(path, limits)


def read_bar_series(path: str | Path, limits: BarLimits = STORAGE_LIMITS) -> dict[str, tuple[list[date], Sequence, Sequence]]:
    """A bar file as ``listing -> (its days ascending, its opens, its closes)`` (what a
    backtest's price book holds), checked as ``read_bar_file`` checks it; a clean CSV is read
    by columns without a Python object per bar (the prices stay texts until asked for)."""
    path = Path(path)
    _readable(path)
    columns = _by_columns(path, limits)
    if columns is not None:
        return columns.series()
    by_listing: dict[str, tuple[list[date], list[Decimal], list[Decimal]]] = {}
    for bar in _read_by_rows(path, limits):  # sorted by day: each listing's days ascend
        days, opens, closes = by_listing.setdefault(bar.symbol, ([], [], []))
        days.append(bar.day)
        opens.append(bar.open)
        closes.append(bar.close)
    return dict(by_listing)


def _readable(path: Path) -> None:
    """A path that is no file to read (missing, a folder) refused before its suffix is judged:
    a folder was "unknown bar file format ''", a missing file "cannot read the file"."""
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        path.stat()
    except OSError as exc:
        raise _unread(path, exc) from None


def _unread(path: Path, refusal: OSError) -> BarFileError:
    said = unreadable_file(path, refusal, BAR_FILE)
    return BarFileError(path.name, [BarProblem(None, None, "unreadable", said)], unread=said)


def _by_columns(path: Path, limits: BarLimits) -> BarColumns | None:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv_columns(path, limits)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet_columns(path, limits)
    return None


def _read_by_rows(path: Path, limits: BarLimits) -> list[Bar]:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _unread(path, exc) from None
        return parse_bar_csv(data, source=path.name, limits=limits)
    if suffix in PARQUET_SUFFIXES:
        return parse_bar_columns(_parquet_columns(path), source=path.name, limits=limits)
    raise BarFileError(path.name, [BarProblem(None, None, "unknown_format",
                                              f"unknown bar file format {path.suffix!r} (use .csv or .parquet)")])


def parse_bar_csv(data: bytes, *, source: str = "", limits: BarLimits = STORAGE_LIMITS) -> list[Bar]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BarFileError(source, [BarProblem(None, None, "encoding",
                                               f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    problems: list[BarProblem] = []
    rows: list[tuple[int, dict[str, Any]]] = []
    header: list[str] | None = None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for raw in reader:
            line = reader.line_num
            if not raw or all(not cell.strip() for cell in raw):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in raw]
                if not _header_ok([cell.strip() for cell in raw], line, problems):
                    raise BarFileError(source, problems)
                continue
            if len(raw) != len(header):
                problems.append(BarProblem(line, None, "column_count",
                                           f"{len(raw)} values, the header names {len(header)} columns"))
                continue
            rows.append((line, dict(zip(header, raw, strict=True))))
    except csv.Error as exc:
        problems.append(BarProblem(reader.line_num, None, "csv_syntax", f"not readable as CSV: {exc}"))
    if header is None:
        raise BarFileError(source, [BarProblem(1, None, "empty_file", "the file is empty")])
    return _checked(rows, problems, source, limits)


def parse_bar_columns(columns: dict[str, list[Any]], *, source: str = "", limits: BarLimits = STORAGE_LIMITS) -> list[Bar]:
    """A table given as columns (a Parquet file's): row i is line i + 2, as in the same CSV."""
    problems: list[BarProblem] = []
    # every name as read: two columns one name apart only in case (Symbol, symbol) are refused
    # as in a CSV header, never one of them taken silently
    if not _header_ok([name.strip() for name in columns], 1, problems):
        raise BarFileError(source, problems)
    names = {name.strip().lower(): name for name in columns}
    length = len(next(iter(columns.values()))) if columns else 0
    wanted = [n for n in COLUMNS if n in names]
    rows = [(i + 2, {n: columns[names[n]][i] for n in wanted}) for i in range(length)]
    return _checked(rows, problems, source, limits)


def _header_ok(written: list[str], line: int, problems: list[BarProblem]) -> bool:
    """The header's names as written (a problem names them so); compared in lower case."""
    header = [name.lower() for name in written]
    if not any(name in COLUMNS for name in header):
        problems.append(BarProblem(line, None, "missing_header",
                                   "missing header: the first row must name the columns date, symbol, open, high, low, close[, volume]"))
        return False
    unknown = [f"{as_written!r} (column {i})" if as_written else f"an unnamed column {i}"
               for i, (name, as_written) in enumerate(zip(header, written, strict=True), start=1) if name not in COLUMNS]
    if unknown:  # a column of the user's would be dropped without a word (adj_close read as nothing)
        problems.append(BarProblem(line, None, "unknown_column",
                                   f"{'columns' if len(unknown) > 1 else 'column'} {', '.join(unknown)} "
                                   f"{'are' if len(unknown) > 1 else 'is'} not a bar file's: it has the columns "
                                   "date, symbol, open, high, low, close[, volume] and no others"))
    seen: set[str] = set()
    for name in header:
        if name in seen and name in COLUMNS:
            problems.append(BarProblem(line, name, "duplicate_column", f"column {name!r} appears twice"))
        seen.add(name)
    for name in REQUIRED_COLUMNS:
        if name not in header:
            problems.append(BarProblem(line, name, "missing_column", f"missing required column {name!r}"))
    return not problems


def _parquet_columns(path: Path) -> dict[str, list[Any]]:
    if importlib.util.find_spec("pyarrow") is None:  # the ``parquet`` extra is an optional install
        raise BarFileError(path.name, [BarProblem(None, None, "no_parquet",
                                                  "reading Parquet needs pyarrow: pip install 'ib-trading-console[parquet]'")])
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as exc:  # ArrowInvalid & co for a damaged file
        raise BarFileError(path.name, [BarProblem(None, None, "unreadable", f"not a readable Parquet file: {exc}")]) from None
    return table.to_pydict()


# ---------------------------------------------------------------------------------------------
# Checking rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


Outcome = tuple[str, str]  # (code, message) of a problem; the line is added by the caller


def _day_of(value: Any) -> date | Outcome:
    day = _calendar_day_of(value)
    if isinstance(day, date):
        problem = day_problem(day)
        if problem is not None:
            return "date_out_of_range", problem
    return day


def _calendar_day_of(value: Any) -> date | Outcome:
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            return "date_has_time", f"date {value.isoformat()} has a time of day"
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not _DATE_RE.match(text):
        return "bad_date", f"date {text!r} is not YYYY-MM-DD"
    try:
        return date.fromisoformat(text)
    except ValueError:
        return "bad_date", f"date {text} does not exist"


def _symbol_of(value: Any, limits: BarLimits) -> str | Outcome:
    raw = _text(value)
    if not raw.isascii():
        return "non_ascii_symbol", f"symbol {raw!r} has non-ASCII characters (only A-Z, 0-9 and separators)"
    if not raw:
        return "malformed_symbol", "symbol is empty"
    spec = ContractSpec.from_key(raw.upper())
    if len(spec.symbol) > MAX_SYMBOL_LENGTH or not SYMBOL_RE.match(spec.symbol):
        return "malformed_symbol", f"malformed symbol {raw!r}"
    trouble = contract_problem(spec)
    if trouble is not None:
        return "untradable_listing", f"{raw}: {trouble[1]}"
    if limits.symbol_length is not None and len(spec.key) > limits.symbol_length:
        return "symbol_too_long", f"symbol has {len(spec.key)} characters; at most {limits.symbol_length} can be stored"
    return spec.key


def listing_key(text: str, limits: BarLimits = STORAGE_LIMITS) -> str:
    """The listing key a bar file or a command line names (``aapl`` -> ``AAPL``), checked as
    a file's symbol column is; ``ValueError`` says what is wrong."""
    outcome = _symbol_of(text, limits)
    if isinstance(outcome, tuple):
        raise ValueError(outcome[1])
    return outcome


@lru_cache(maxsize=4096)
def calendar_of(key: str) -> str:
    """The exchange calendar of a checked listing key (``AAPL``: XNYS, ``SAP@IBIS:EUR``: XETR)."""
    return listing_calendar(ContractSpec.from_key(key))


@lru_cache(maxsize=65536)
def is_session(day: date, calendar: str) -> bool:
    return is_session_day(day, calendar)


def session_problem(day: date, key: str) -> Outcome | None:
    """Why ``key`` can have no bar on ``day`` (a weekend, a holiday of its exchange), or None."""
    calendar = calendar_of(key)
    if is_session(day, calendar):
        return None
    why = f"a {day:%A}" if day.weekday() >= 5 else "an exchange holiday"
    return "not_a_session", f"date {day} is {why}, not a session of {key}'s exchange calendar ({calendar})"


class _Cached:
    """Dates and symbols repeat on every row of a long file: each distinct value is checked once."""

    def __init__(self, check) -> None:
        self.check = check
        self.seen: dict[Any, Any] = {}

    def __call__(self, value: Any, line: int, column: str, problems: list[BarProblem]):
        key = (type(value), value) if isinstance(value, (str, date)) else (type(value), repr(value))
        outcome = self.seen.get(key)
        if outcome is None:
            outcome = self.seen[key] = self.check(value)
        if isinstance(outcome, tuple):
            problems.append(BarProblem(line, column, *outcome))
            return None
        return outcome


class _NumberCheck:
    def __init__(self, limit: NumericLimit | None) -> None:
        self.limit = limit
        self.bound = Decimal(10) ** limit.whole_digits if limit is not None else Decimal(0)

    def __call__(self, value: Any, line: int, column: str, problems: list[BarProblem]) -> Decimal | None:
        text = value.strip() if isinstance(value, str) else _text(value)
        try:
            number = value if isinstance(value, Decimal) else Decimal(text)
        except (InvalidOperation, ValueError, ArithmeticError):
            number = None
        if number is None or not number.is_finite():
            problems.append(BarProblem(line, column, f"{column}_not_number", f"{column} {text!r} is not a finite number"))
            return None
        limit = self.limit
        if limit is None or number.is_zero():
            return number
        if abs(number) >= self.bound:
            problems.append(BarProblem(line, column, f"{column}_too_large",
                                       f"{column} {text} is too large: the database keeps values below 1e{limit.whole_digits}"))
            return None
        dot = text.find(".")
        # only a text with more decimals than the column keeps (or an exponent) can lose digits
        if ((dot >= 0 and len(text) - dot - 1 > limit.scale) or "e" in text or "E" in text) and \
                number != number.quantize(Decimal(1).scaleb(-limit.scale), rounding=ROUND_DOWN):
            problems.append(BarProblem(line, column, f"{column}_precision",
                                       f"{column} {text} has more than {limit.scale} decimal places (it would be stored rounded)"))
            return None
        return number


def _checked(rows: list[tuple[int, dict[str, Any]]], problems: list[BarProblem], source: str, limits: BarLimits) -> list[Bar]:
    bars: list[Bar] = []
    first_line: dict[tuple[date, str], int] = {}
    day_of, symbol_of = _Cached(_day_of), _Cached(lambda value: _symbol_of(value, limits))
    price_of, volume_of = _NumberCheck(limits.price), _NumberCheck(limits.volume)
    for line, values in rows:
        before = len(problems)
        day = day_of(values.get("date"), line, "date", problems)
        symbol = symbol_of(values.get("symbol"), line, "symbol", problems)
        prices: list[Decimal | None] = []
        for column in PRICE_COLUMNS:
            price = price_of(values.get(column), line, column, problems)
            if price is not None and price <= 0:
                problems.append(BarProblem(line, column, f"{column}_not_positive", f"{column} {_text(values.get(column))} is not positive"))
                price = None
            prices.append(price)
        volume: Decimal | None = Decimal(0)
        raw_volume = values.get("volume")
        if raw_volume is not None and (not isinstance(raw_volume, str) or raw_volume.strip()):
            volume = volume_of(raw_volume, line, "volume", problems)
            if volume is not None and volume < 0:
                problems.append(BarProblem(line, "volume", "negative_volume", f"volume {_text(raw_volume)} is negative"))
                volume = None
        if day is not None and symbol is not None and (closed := session_problem(day, symbol)) is not None:
            problems.append(BarProblem(line, "date", *closed))
        o, h, lo, c = prices
        if o is not None and h is not None and lo is not None and c is not None:
            if h < max(o, c):
                problems.append(BarProblem(line, "high", "high_below_open_close",
                                           f"high {h} is below the {'open' if o > c else 'close'} {max(o, c)}"))
            if lo > min(o, c):
                problems.append(BarProblem(line, "low", "low_above_open_close",
                                           f"low {lo} is above the {'open' if o < c else 'close'} {min(o, c)}"))
            if len(problems) == before and day is not None and symbol is not None and volume is not None:
                if (day, symbol) in first_line:
                    problems.append(BarProblem(line, None, "duplicate_bar",
                                               f"a second bar for {symbol} on {day} (first on line {first_line[day, symbol]})"))
                else:
                    first_line[day, symbol] = line
                    bars.append(Bar(day, symbol, o, h, lo, c, volume))
                continue
        if day is not None and symbol is not None:
            if (day, symbol) in first_line:
                problems.append(BarProblem(line, None, "duplicate_bar",
                                           f"a second bar for {symbol} on {day} (first on line {first_line[day, symbol]})"))
            else:
                first_line[day, symbol] = line
    if not rows and not problems:
        problems.append(BarProblem(1, None, "no_rows", "the file has no bars"))
    if problems:
        problems.sort(key=lambda p: p.line if p.line is not None else 0)
        raise BarFileError(source, problems)
    bars.sort(key=lambda b: (b.day, b.symbol))
    return bars
