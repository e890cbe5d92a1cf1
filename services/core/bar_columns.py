"""A bar file read by columns: the fast way to the same bars as ``services.core.bar_files``.

A ten-year file of 500 listings is 1.26 million rows; checked row by row in Python (each price
a Decimal, each row a dict) it took some 16 s before a backtest could start. Here a CSV file
is read by pyarrow's columnar reader, every column as text, and checked a column at a time in
compiled code, by rules *stricter* than the row checker's: a date or a listing is checked once
per distinct value with the row checker's own functions; a price must be plain digits with at
most the column's decimals and whole digits, and at most 15 digits in all (so that comparing
them as floats is exact: high against open and close, low likewise); a volume likewise or
empty; no (day, listing) twice; every day a session of its listing's exchange calendar (asked
once per distinct day and calendar). A file that passes gives exactly the bars the row checker
gives (each number the Decimal of its text). A file that does not (any problem, or merely a
spelling the strict rules do not take: ``1e2``, ``+5``, a space inside a cell, a BOM pyarrow
keeps) returns None here, and ``bar_files`` checks it row by row as before: every problem with
its line, or the bars. So the strict rules decide only how fast a file is read, never whether
it is accepted. A Parquet file is read by the same columnar checks, its numbers
turned into the texts the row checker makes of them. Without pyarrow (the ``parquet`` extra)
every file is read row by row.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.core.bars import Bar

if TYPE_CHECKING:
    import numpy as np

    from .bar_files import BarLimits

MAX_DIGITS = 15  # a decimal of at most 15 digits is one float64, and two such keep their order


@dataclass(frozen=True)
class BarColumns:
    """A checked bar file as columns: row i is ``days[day_of[i]]``, ``keys[key_of[i]]`` and the
    texts of its prices (and volume; '' for none), every one a plain decimal."""

    days: list[date]
    keys: list[str]
    day_of: np.ndarray
    key_of: np.ndarray
    columns: dict[str, Any]  # open, high, low, close, volume: pyarrow string arrays

    def _texts(self, name: str, order: np.ndarray) -> np.ndarray:
        # numpy's own strings: a text per price without a Python object per price
        return self.columns[name].take(order).to_numpy(zero_copy_only=False).astype(str)

    def _order(self) -> np.ndarray:
        import numpy as np

        day_rank = np.argsort(np.argsort(np.array(self.days, dtype="datetime64[D]")))
        key_rank = np.argsort(np.argsort(np.array(self.keys, dtype=object)))
        return np.lexsort((key_rank[self.key_of], day_rank[self.day_of]))  # by day, then listing

    def bars(self) -> list[Bar]:
        """The bars sorted by date then listing, as ``bar_files.read_bar_file`` gives them."""
        order = self._order()
        days, keys = self.days, self.keys
        day_of, key_of = self.day_of[order].tolist(), self.key_of[order].tolist()
        o, h, lo, c, v = (self._decimals(n, order) for n in ("open", "high", "low", "close", "volume"))
        return [Bar(days[d], keys[k], o[i], h[i], lo[i], c[i], v[i])
                for i, (d, k) in enumerate(zip(day_of, key_of, strict=True))]

    def _decimals(self, name: str, order: np.ndarray) -> list[Decimal]:
        # one Decimal per distinct text (prices repeat across a long file), shared by the bars
        import numpy as np

        encoded = self.columns[name].take(order).dictionary_encode()
        distinct = np.array([Decimal(t) if t else Decimal(0) for t in encoded.dictionary.to_pylist()] or [Decimal(0)],
                            dtype=object)
        return distinct[encoded.indices.to_numpy()].tolist()

    def series(self) -> dict[str, tuple[list[date], Any, Any]]:  # the texts as numpy arrays
        """listing -> (its days ascending, the texts of its opens, of its closes): what
        ``services.backtest.prices.PriceBook.from_columns`` takes, without a Bar per row."""
        import numpy as np

        order = np.lexsort((np.array(self.days, dtype="datetime64[D]")[self.day_of], self.key_of))
        key_of = self.key_of[order]
        starts = np.flatnonzero(np.r_[True, key_of[1:] != key_of[:-1]])
        ends = np.r_[starts[1:], len(order)]
        day_list = self.day_of[order].tolist()
        opens, closes = self._texts("open", order), self._texts("close", order)
        days = self.days
        return {self.keys[int(key_of[s])]: ([days[d] for d in day_list[s:e]], opens[s:e], closes[s:e])
                for s, e in zip(starts.tolist(), ends.tolist(), strict=True)}


def read_csv_columns(path: Path, limits: BarLimits) -> BarColumns | None:
    """The file's bars as checked columns, or None: read it row by row (see the docstring)."""
    if importlib.util.find_spec("pyarrow") is None:
        return None
    header = _header(path)
    if header is None:
        return None
    names = {raw.strip().lower(): raw for raw in header}
    from .bar_files import COLUMNS, REQUIRED_COLUMNS

    if len(names) != len(header) or any(n not in names for n in REQUIRED_COLUMNS) or any(n not in COLUMNS for n in names):
        return None  # the row checker says what is wrong with the header
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            column_types={raw: pa.string() for raw in header}, include_columns=[names[n] for n in COLUMNS if n in names],
            strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowException, OSError, ValueError):
        return None  # a row of another length, a stray quote, ...: the row checker names it
    if table.num_rows == 0:
        return None
    return _checked({n: table.column(names[n]).combine_chunks() for n in COLUMNS if n in names}, limits)


def read_parquet_columns(path: Path, limits: BarLimits) -> BarColumns | None:
    """A Parquet file's bars as checked columns, or None: read it row by row. Its numbers become
    the texts the row checker reads them as (a float's ``repr``: 101.23, 425.0; an integer's
    digits; a decimal's ``str``), worked out once per distinct value, so the bars are the row
    checker's digit for digit; dates may be dates, timestamps at midnight or texts."""
    if importlib.util.find_spec("pyarrow") is None:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .bar_files import COLUMNS, REQUIRED_COLUMNS

    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException):
        return None
    names = {raw.strip().lower(): raw for raw in table.column_names}
    if (len(names) != len(table.column_names) or any(n not in names for n in REQUIRED_COLUMNS)
            or any(n not in COLUMNS for n in names) or table.num_rows == 0):
        return None
    columns: dict[str, Any] = {}
    for name in COLUMNS:
        if name not in names:
            continue
        column = table.column(names[name]).combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pa.types.is_nested(column.type) or pa.types.is_null(column.type):
            return None  # lists, structs, nothing but nulls: the row checker names each row's problem
        columns[name] = column if name == "date" else _as_texts(column)
    return _checked(columns, limits)


def _as_texts(column: Any) -> Any:
    """A column as the texts the row checker makes of its values (``bar_files._text``), null as ''."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.fill_null(column.cast(pa.string()), "")
    encoded = column.dictionary_encode()
    texts = ["" if value is None else repr(value) if isinstance(value, float) else str(value).strip()
             for value in encoded.dictionary.to_pylist()]
    return pc.fill_null(pa.array(texts, pa.string()).take(encoded.indices), "")


def _header(path: Path) -> list[str] | None:
    try:
        with path.open("rb") as handle:
            first = handle.readline(1 << 16)
    except OSError:
        return None
    if first.startswith(b"\xef\xbb\xbf"):
        return None  # a BOM: the row checker reads it (whether pyarrow keeps it in the name varies)
    try:
        rows = list(csv.reader(io.StringIO(first.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error):
        return None
    return rows[0] if rows and any(cell.strip() for cell in rows[0]) else None


def _plain(limit_whole: int | None, limit_scale: int | None) -> str:
    whole = min(limit_whole or MAX_DIGITS, MAX_DIGITS)
    scale = min(limit_scale if limit_scale is not None else MAX_DIGITS, MAX_DIGITS)
    return rf"^\d{{1,{whole}}}(\.\d{{0,{scale}}})?$" if scale else rf"^\d{{1,{whole}}}$"


def _all_plain(column: Any, pattern: str) -> bool:
    import pyarrow.compute as pc

    if not pc.all(pc.match_substring_regex(column, pattern)).as_py():
        return False
    longest = pc.max(pc.utf8_length(column)).as_py()
    return longest is not None and longest <= MAX_DIGITS + 1  # 15 digits and a point


def _checked(columns: dict[str, Any], limits: BarLimits) -> BarColumns | None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from .bar_files import _day_of, _symbol_of

    if any(column.null_count for column in columns.values()):
        return None  # an empty cell of a Parquet file (a volume's is '' already): the row checker names it
    price = limits.price
    price_pattern = _plain(price.whole_digits if price else None, price.scale if price else None)
    floats = {}
    for name in ("open", "high", "low", "close"):
        if not _all_plain(columns[name], price_pattern):
            return None
        floats[name] = pc.cast(columns[name], pa.float64()).to_numpy()
    o, h, lo, c = floats["open"], floats["high"], floats["low"], floats["close"]
    if not ((o > 0).all() and (h > 0).all() and (lo > 0).all() and (c > 0).all()
            and (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()):
        return None
    volume = columns.get("volume")
    if volume is None:
        volume = pa.array([""] * len(o), pa.string())
    else:
        filled = pc.filter(volume, pc.not_equal(volume, ""))
        vol = limits.volume
        if len(filled) and not _all_plain(filled, _plain(vol.whole_digits if vol else None, vol.scale if vol else None)):
            return None
    day_of, days = _distinct(columns["date"], _day_of)
    key_of, keys = _distinct(columns["symbol"], lambda value: _symbol_of(value, limits))
    if day_of is None or key_of is None or not _all_sessions(days, keys, day_of, key_of):
        return None
    pairs = pa.array(day_of * len(keys) + key_of)
    if pc.count_distinct(pairs).as_py() != len(pairs):
        return None  # a second bar for a day and listing: the row checker names both lines
    return BarColumns(days, keys, day_of, key_of, {**{n: columns[n] for n in ("open", "high", "low", "close")},
                                                   "volume": volume})


def _all_sessions(days: list[date], keys: list[str], day_of: np.ndarray, key_of: np.ndarray) -> bool:
    """Every row's day is a session of its listing's exchange calendar (``bar_files.is_session``,
    the row checker's own test), asked once per distinct (day, calendar): one calendar (the
    usual file) asks each distinct day, several ask each pair some row holds."""
    import numpy as np

    from .bar_files import calendar_of, is_session

    calendars = sorted({calendar_of(key) for key in keys})
    if len(calendars) == 1:
        return all(is_session(day, calendars[0]) for day in days)
    calendar_index = np.array([calendars.index(calendar_of(key)) for key in keys], dtype=np.int64)
    pairs = np.unique(day_of * len(calendars) + calendar_index[key_of])
    return all(is_session(days[d], calendars[c]) for d, c in (divmod(p, len(calendars)) for p in pairs.tolist()))


def _distinct(column: Any, check) -> tuple[Any, list]:
    """(each row's index into the checked distinct values, those values), or (None, []) when a
    value does not pass ``check`` (which returns a problem as a tuple)."""
    import numpy as np

    encoded = column.dictionary_encode()
    checked: list = []
    index_of: dict = {}
    remap = []
    for raw in encoded.dictionary.to_pylist():
        value = check(raw)
        if isinstance(value, tuple):
            return None, []
        if value not in index_of:  # two spellings of one listing ("aapl", "AAPL") are one key
            index_of[value] = len(checked)
            checked.append(value)
        remap.append(index_of[value])
    return np.asarray(remap, dtype=np.int64)[encoded.indices.to_numpy()], checked
