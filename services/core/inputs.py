"""Small two-column CSV inputs of the preview: prices (``symbol,price``) and positions
(``symbol,quantity``), with every problem and its line, like snapshots."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .snapshots import MAX_SYMBOL_LENGTH, SYMBOL_RE, SnapshotProblem


@dataclass(frozen=True, slots=True)
class ColumnFile:
    source_name: str
    values: dict[str, Decimal]
    errors: tuple[SnapshotProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


# What an order's price and quantity columns keep (services.db.limits: trade_orders' Price and
# Quantity on SQLite), as the snapshot's columns are checked: 1e400 was read as a price (its
# symbol silently left out of the orders) or a position (a SELL of 1E+400 shares "ok").
PRICE_WHOLE_DIGITS = 10
QUANTITY_WHOLE_DIGITS = 12


def parse_symbol_values(text: str, column: str, *, source_name: str = "", positive: bool = False,
                        whole_digits: int | None = None) -> ColumnFile:
    problems: list[SnapshotProblem] = []
    values: dict[str, Decimal] = {}
    first: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    try:
        for raw in reader:
            line = reader.line_num
            if not raw or all(not c.strip() for c in raw):
                continue
            if header is None:
                header = [c.strip().lower() for c in raw]
                missing = [name for name in ("symbol", column) if name not in header]
                for name in missing:
                    problems.append(SnapshotProblem(line, name, "missing_column", f"missing required column {name!r}"))
                if missing:
                    break
                continue
            cells = dict(zip(header, raw, strict=False))  # a short row reads its missing cells as empty
            raw_symbol = (cells.get("symbol") or "").strip()
            text_value = (cells.get(column) or "").strip()
            if not raw_symbol.isascii():  # 'ıbm'.upper() == 'IBM': another ticker
                problems.append(SnapshotProblem(line, "symbol", "non_ascii_symbol",
                                                f"symbol {raw_symbol!r} has non-ASCII characters (only A-Z, 0-9 and separators)"))
                continue
            symbol = raw_symbol.upper()
            if not symbol or len(symbol) > MAX_SYMBOL_LENGTH or not SYMBOL_RE.match(symbol):
                problems.append(SnapshotProblem(line, "symbol", "malformed_symbol", f"malformed symbol {symbol!r}"))
                continue
            if symbol in first:
                problems.append(SnapshotProblem(line, "symbol", "duplicate_symbol", f"duplicate symbol {symbol} (first on line {first[symbol]})"))
                continue
            first[symbol] = line
            try:
                value = Decimal(text_value)
            except (InvalidOperation, ValueError, ArithmeticError):
                value = None
            if value is None or not value.is_finite():
                problems.append(SnapshotProblem(line, column, f"{column}_not_number", f"{column} {text_value!r} is not a finite number"))
                continue
            if positive and value <= 0:
                problems.append(SnapshotProblem(line, column, f"{column}_not_positive", f"{column} {text_value} is zero or negative"))
                continue
            if whole_digits is not None and not value.is_zero() and value.adjusted() >= whole_digits:
                problems.append(SnapshotProblem(line, column, f"{column}_too_large",
                                                f"{column} {text_value} is too large: the database keeps values below 1e{whole_digits}"))
                continue
            values[symbol] = value
    except csv.Error as exc:
        problems.append(SnapshotProblem(reader.line_num, None, "csv_syntax", f"not valid CSV: {exc}"))
    if header is None and not problems:
        problems.append(SnapshotProblem(1, None, "empty_file", "the file is empty"))
    return ColumnFile(source_name, values, tuple(problems))


def read_prices(path: str | Path) -> ColumnFile:
    path = Path(path)
    return parse_symbol_values(_text_of(path), "price", source_name=path.name, positive=True,
                               whole_digits=PRICE_WHOLE_DIGITS)


def read_positions(path: str | Path) -> ColumnFile:
    path = Path(path)
    return parse_symbol_values(_text_of(path), "quantity", source_name=path.name, whole_digits=QUANTITY_WHOLE_DIGITS)


class NotText(ValueError):
    """A file that is not UTF-8 text; the message names the file."""


def _text_of(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # went up as "bad input: 'utf-8' codec can't decode ...", no file named
        raise NotText(f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
