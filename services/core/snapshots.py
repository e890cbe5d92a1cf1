"""Snapshot import: parse a CSV or JSON target-weight file and report every problem it has.

A snapshot is a list of rows ``symbol, weight`` plus the optional ``score, rank, price,
sec_type, exchange, currency, primary_exchange`` (defaults STK / SMART / USD / none). The
contract columns name the listing traded (``SAP,0.1,STK,IBIS,EUR`` is the Xetra listing in
euros); a row the console cannot trade (another security type, an exchange it does not know or
one that does not trade in the row's currency) is an error of that row, never swapped for
another listing (``services.core.contracts``). Parsing never stops at the first
problem: every problem is reported with its line number (1-based, as an editor shows it) and
column, so that the user can fix the file in one pass. A snapshot with any error must not be
stored at all; :attr:`ParsedSnapshot.ok` says whether it may be.

JSON files are either a list of row objects or an object with an ``items`` list (other keys are
ignored); numbers may be JSON numbers or strings. Line numbers of JSON rows are the lines where
each row object starts.

The content hash is the sha256 of the normalised content (rows sorted by symbol, numbers in
plain decimal notation, defaults filled in), so the same targets give the same hash whether
they come as CSV or JSON, reordered or reformatted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import json.scanner
import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from services.core.contracts import ContractSpec, contract_problem
from services.core.snapshot_rows import (
    Row,
    SnapshotProblem,
    csv_rows,
    json_rows,
)
from services.core.wording import percent

DEFAULT_SEC_TYPE = "STK"
DEFAULT_EXCHANGE = "SMART"
DEFAULT_CURRENCY = "USD"
DEFAULT_MAX_GROSS_WEIGHT = Decimal("1.0")
SNAPSHOT_FILE = "a snapshot file (CSV or JSON)"  # what a path given to import should be (wording.unreadable_file)

# IB stock symbols: letters and digits, with at most single '.', '-', '/' or ' ' separators
# between parts ("BRK B", "BRK.B", "RDS-A"); 1 to 12 characters.
SYMBOL_RE = re.compile(r"^[A-Z0-9]+(?:[. /-][A-Z0-9]+)*$")
MAX_SYMBOL_LENGTH = 12
CODE_RE = re.compile(r"^[A-Z0-9.]{1,16}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")





@dataclass(frozen=True, slots=True)
class NumericLimit:
    """What a numeric column keeps: ``|value| < 10**whole_digits`` with ``scale`` decimals."""

    whole_digits: int
    scale: int


@dataclass(frozen=True, slots=True)
class SnapshotLimits:
    """The storage limits a snapshot is checked against at import (the database layer derives
    them from its column types: ``services.db.limits.snapshot_limits``). ``None``: unchecked."""

    weight: NumericLimit | None = None
    score: NumericLimit | None = None
    price: NumericLimit | None = None
    rank: tuple[int, int] | None = None
    symbol_length: int | None = None
    sec_type_length: int | None = None
    exchange_length: int | None = None
    currency_length: int | None = None
    source_name_length: int | None = None
    project_name_length: int | None = None


NO_LIMITS = SnapshotLimits()


class SnapshotFormatError(ValueError):
    """The file's format cannot be told (neither .csv nor .json)."""


@dataclass(frozen=True, slots=True)
class SnapshotItem:
    symbol: str
    weight: Decimal
    line: int
    score: Decimal | None = None
    rank: int | None = None
    price: Decimal | None = None
    sec_type: str = DEFAULT_SEC_TYPE
    exchange: str = DEFAULT_EXCHANGE
    currency: str = DEFAULT_CURRENCY
    primary_exchange: str = ""

    @property
    def spec(self) -> ContractSpec:
        return ContractSpec(self.symbol, self.sec_type, self.exchange, self.primary_exchange, self.currency)


@dataclass(frozen=True, slots=True)
class ParsedSnapshot:
    source_name: str
    format: str  # "csv" or "json"
    items: tuple[SnapshotItem, ...]
    errors: tuple[SnapshotProblem, ...]
    content_hash: str
    # (line, name) of each row that names its project (a `project` column, a JSON document's
    # "project"): not part of the snapshot, checked against the project it goes into (project_problems)
    projects: tuple[tuple[int, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def gross_weight(self) -> Decimal:
        return sum((abs(i.weight) for i in self.items), Decimal(0))

    @property
    def net_weight(self) -> Decimal:
        return sum((i.weight for i in self.items), Decimal(0))

    def weights(self) -> dict[str, Decimal]:
        return {i.symbol: i.weight for i in self.items}

    def prices(self) -> dict[str, Decimal]:
        return {i.symbol: i.price for i in self.items if i.price is not None}


# ---------------------------------------------------------------------------------------------
# Public entry points


def parse_snapshot_file(
    path: str | Path,
    *,
    max_gross_weight: Decimal = DEFAULT_MAX_GROSS_WEIGHT,
    allow_short: bool = False,
    limits: SnapshotLimits = NO_LIMITS,
) -> ParsedSnapshot:
    """Read and validate a snapshot file; the format comes from the suffix (.csv / .json)."""
    path = Path(path)
    if path.is_dir():  # said as a folder (wording.unreadable_file), not as "unknown snapshot format ''"
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("csv", "json"):
        raise SnapshotFormatError(f"{path.name}: unknown snapshot format {path.suffix!r} (use .csv or .json)")
    return parse_snapshot_bytes(path.read_bytes(), fmt, source_name=path.name, max_gross_weight=max_gross_weight,
                                allow_short=allow_short, limits=limits)


def parse_snapshot_bytes(
    data: bytes,
    fmt: str,
    *,
    source_name: str = "",
    max_gross_weight: Decimal = DEFAULT_MAX_GROSS_WEIGHT,
    allow_short: bool = False,
    limits: SnapshotLimits = NO_LIMITS,
) -> ParsedSnapshot:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = SnapshotProblem(None, None, "encoding", f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})")
        return ParsedSnapshot(source_name, fmt, (), (problem,), _hash(()))
    return parse_snapshot_text(text, fmt, source_name=source_name, max_gross_weight=max_gross_weight,
                               allow_short=allow_short, limits=limits)


def parse_snapshot_text(
    text: str,
    fmt: str,
    *,
    source_name: str = "",
    max_gross_weight: Decimal = DEFAULT_MAX_GROSS_WEIGHT,
    allow_short: bool = False,
    limits: SnapshotLimits = NO_LIMITS,
) -> ParsedSnapshot:
    fmt = fmt.lower()
    problems: list[SnapshotProblem] = []
    if limits.source_name_length is not None and len(source_name) > limits.source_name_length:
        problems.append(SnapshotProblem(None, None, "source_name_too_long",
                                        f"the file name has {len(source_name)} characters; at most {limits.source_name_length} can be stored"))
    if not text.strip():
        problems.append(SnapshotProblem(1, None, "empty_file", "the file is empty"))
        return ParsedSnapshot(source_name, fmt, (), tuple(problems), _hash(()))
    if fmt == "csv":
        rows = csv_rows(text, problems)
    elif fmt == "json":
        rows = json_rows(text, problems)
    else:
        raise SnapshotFormatError(f"unknown snapshot format {fmt!r} (use csv or json)")
    items = _validate_rows(rows, problems, max_gross_weight=max_gross_weight, allow_short=allow_short, limits=limits)
    if rows is not None and not rows and not problems:
        problems.append(SnapshotProblem(1, None, "no_rows", "the snapshot has no rows"))
    problems.sort(key=lambda p: (p.line if p.line is not None else 0))
    projects = tuple((line, project_name(_cell(values["project"]))) for line, values in rows or ()
                     if _cell(values.get("project")))
    return ParsedSnapshot(source_name, fmt, tuple(items), tuple(problems), _hash(items), projects)


# ---------------------------------------------------------------------------------------------
# Validating rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # never a valid number
    return str(value).strip()


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError, ArithmeticError):
        return None


def _decimal_places(value: Decimal) -> int:
    """Decimals after trailing zeros are dropped, computed without a decimal context (no
    rounding, no Overflow for 1e999999999999999999)."""
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # 'n', 'N', 'F': NaN or infinity
        raise ValueError(f"{value} has no decimal places")
    count = 0
    for digit in reversed(digits):
        if digit != 0 or count == len(digits) - 1:
            break
        count += 1
    return max(0, -(exponent + count))


def storage_problem(column: str, text: str, value: Decimal, limit: NumericLimit) -> tuple[str, str] | None:
    """(code suffix, message) when the database cannot keep ``value`` exactly (``text``: as it was
    given): too large, or more decimal places than ``limit.scale`` (it would be stored rounded,
    or as 0). None when it fits. The one rule of what a numeric column keeps, for a snapshot's
    lines and for a number typed elsewhere (``assign``)."""
    if value.is_zero():
        return None
    if value.adjusted() >= limit.whole_digits:
        return "too_large", f"{column} {text} is too large: the database keeps values below 1e{limit.whole_digits}"
    if _decimal_places(value) > limit.scale:
        if value.adjusted() < -limit.scale:
            return "precision", (f"{column} {text} is below 1e-{limit.scale}, the smallest the database keeps "
                                 "(it would be stored as 0)")
        return "precision", f"{column} {text} has more than {limit.scale} decimal places (it would be stored rounded)"
    return None


def _fits(line: int, column: str, text: str, value: Decimal, limit: NumericLimit | None,
          problems: list[SnapshotProblem]) -> bool:
    """Whether the database keeps ``value`` exactly; a problem with the line if not."""
    problem = None if limit is None else storage_problem(column, text, value, limit)
    if problem is None:
        return True
    code, message = problem
    problems.append(SnapshotProblem(line, column, f"{column}_{code}", message))
    return False


def _text_field(line: int, column: str, values: dict, problems: list[SnapshotProblem]) -> str | None:
    """The cell upper-cased, or None (with a problem) when it holds non-ASCII letters: Unicode
    case folding turns 'ıbm' into 'IBM' and 'maß' into 'MASS' -- another ticker."""
    raw = _cell(values.get(column))
    if not raw.isascii():
        problems.append(SnapshotProblem(line, column, f"non_ascii_{column}",
                                        f"{column} {raw!r} has non-ASCII characters (only A-Z, 0-9 and separators)"))
        return None
    return raw.upper()


def _too_long(line: int, column: str, value: str, length: int | None, problems: list[SnapshotProblem]) -> bool:
    if length is not None and len(value) > length:
        problems.append(SnapshotProblem(line, column, f"{column}_too_long",
                                        f"{column} has {len(value)} characters; at most {length} can be stored"))
        return True
    return False


def _validate_rows(
    rows: list[Row] | None,
    problems: list[SnapshotProblem],
    *,
    max_gross_weight: Decimal,
    allow_short: bool,
    limits: SnapshotLimits = NO_LIMITS,
) -> list[SnapshotItem]:
    if not rows:
        return []
    items: list[SnapshotItem] = []
    first_line: dict[str, int] = {}
    gross = Decimal(0)
    gross_reported = False
    for line, values in rows:
        bad = False

        symbol = _text_field(line, "symbol", values, problems)
        if symbol is None:
            bad = True
        elif not symbol:
            problems.append(SnapshotProblem(line, "symbol", "malformed_symbol", "symbol is empty"))
            bad = True
        elif len(symbol) > MAX_SYMBOL_LENGTH or not SYMBOL_RE.match(symbol):
            problems.append(SnapshotProblem(line, "symbol", "malformed_symbol", f"malformed symbol {symbol!r}"))
            bad = True
        elif _too_long(line, "symbol", symbol, limits.symbol_length, problems):
            bad = True
        elif symbol in first_line:
            problems.append(
                SnapshotProblem(line, "symbol", "duplicate_symbol", f"duplicate symbol {symbol} (first on line {first_line[symbol]})")
            )
            bad = True
        else:
            first_line[symbol] = line

        weight_text = _cell(values.get("weight"))
        weight = _decimal(weight_text)
        if weight is None or not weight.is_finite():
            problems.append(SnapshotProblem(line, "weight", "weight_not_number", f"weight {weight_text!r} is not a finite number"))
            bad = True
            weight = None
        elif not _fits(line, "weight", weight_text, weight, limits.weight, problems):
            bad = True
            weight = None
        elif weight < 0 and not allow_short:
            problems.append(SnapshotProblem(line, "weight", "negative_weight", f"negative weight {weight_text} but shorting is not allowed"))
            bad = True

        score = None
        score_text = _cell(values.get("score"))
        if score_text:
            score = _decimal(score_text)
            if score is None or not score.is_finite():
                problems.append(SnapshotProblem(line, "score", "score_not_number", f"score {score_text!r} is not a finite number"))
                bad = True
            elif not _fits(line, "score", score_text, score, limits.score, problems):
                bad = True

        rank = None
        rank_text = _cell(values.get("rank"))
        if rank_text:
            rank_value = _decimal(rank_text)
            if (rank_value is None or not rank_value.is_finite()
                    or (not rank_value.is_zero() and rank_value.adjusted() > 18)
                    or _decimal_places(rank_value) > 0):
                if rank_value is not None and rank_value.is_finite() and _decimal_places(rank_value) == 0:
                    problems.append(SnapshotProblem(line, "rank", "rank_out_of_range", f"rank {rank_text} is out of range"))
                else:
                    problems.append(SnapshotProblem(line, "rank", "rank_not_integer", f"rank {rank_text!r} is not a whole number"))
                bad = True
            else:
                rank = int(rank_value)
                if limits.rank is not None and not (limits.rank[0] <= rank <= limits.rank[1]):
                    problems.append(SnapshotProblem(line, "rank", "rank_out_of_range",
                                                    f"rank {rank_text} is out of range ({limits.rank[0]} to {limits.rank[1]})"))
                    bad = True

        price = None
        price_text = _cell(values.get("price"))
        if price_text:
            price = _decimal(price_text)
            if price is None or not price.is_finite():
                problems.append(SnapshotProblem(line, "price", "price_not_number", f"price {price_text!r} is not a finite number"))
                bad = True
            elif price <= 0:
                problems.append(SnapshotProblem(line, "price", "price_not_positive", f"price {price_text} is zero or negative"))
                bad = True
            elif not _fits(line, "price", price_text, price, limits.price, problems):
                bad = True

        codes = {}
        for column, default, length in (("sec_type", DEFAULT_SEC_TYPE, limits.sec_type_length),
                                        ("exchange", DEFAULT_EXCHANGE, limits.exchange_length),
                                        ("primary_exchange", "", limits.exchange_length),
                                        ("currency", DEFAULT_CURRENCY, limits.currency_length)):
            value = _text_field(line, column, values, problems)
            if value is None:
                bad = True
                continue
            value = value or default
            if column == "currency":
                if not CURRENCY_RE.match(value):
                    problems.append(SnapshotProblem(line, "currency", "malformed_currency", f"malformed currency {value!r}"))
                    bad = True
            elif value and not CODE_RE.match(value):
                problems.append(SnapshotProblem(line, column, f"malformed_{column}", f"malformed {column} {value!r}"))
                bad = True
            if _too_long(line, column, value, length, problems):
                bad = True
            codes[column] = value
        if not bad and symbol and len(codes) == 4:
            # what the console cannot trade is refused here, never swapped for another listing
            refused = contract_problem(ContractSpec(symbol, codes["sec_type"], codes["exchange"], codes["primary_exchange"],
                                                    codes["currency"]))
            if refused is not None:
                column, message = refused
                code = "unsupported_sec_type" if column == "sec_type" else "unsupported_exchange"
                problems.append(SnapshotProblem(line, column, code, f"{symbol}: {message}; this row cannot be traded"))
                bad = True

        if weight is not None:
            try:
                gross += weight.copy_abs()
            except ArithmeticError:  # only without storage limits: a weight beyond any context
                gross = Decimal("Infinity")
            if gross > max_gross_weight and not gross_reported:
                gross_reported = True
                problems.append(
                    SnapshotProblem(
                        line, "weight", "gross_weight_above_max",
                        # in percent, as every panel shows a weight ("reaches 1.15 ... above the maximum 1" read
                        # beside a table of 15.00% weights)
                        f"gross weight reaches {percent(gross) if gross.is_finite() else 'beyond any limit'} on this row, "
                        f"above the maximum {percent(max_gross_weight)}",
                    )
                )
        if not bad:
            assert symbol is not None and weight is not None  # a missing one made the row bad
            items.append(SnapshotItem(symbol, weight, line, score, rank, price, codes["sec_type"], codes["exchange"],
                                      codes["currency"], codes["primary_exchange"]))
    return items


# ---------------------------------------------------------------------------------------------
# Content hash


def project_name(text: str) -> str:
    """The one reading of a typed project name, as it is stored and looked up: without the
    whitespace around it. 'desk ' and 'desk' are one project (SQLite kept them apart as two,
    MariaDB's PAD SPACE compares them equal); ``snapshot import`` and the window trimmed the
    name while ``preview --save --project`` and ``execute --project`` did not, so one file
    landed in two projects. ``services.db.repositories.ProjectRepository`` applies it."""
    return text.strip()


def project_problems(parsed: ParsedSnapshot, project: str) -> tuple[SnapshotProblem, ...]:
    """The rows of a file that name a project other than the one it is imported into, each with
    its line: the file's own word on whose weights they are (a `project` column was dropped
    without a word, and another project traded them)."""
    into = project_name(project)
    return tuple(SnapshotProblem(line, "project", "other_project",
                                 f"the file names project {named!r}, not {into!r}, the project it is imported into: "
                                 f"import it into {named!r}, or correct the file")
                 for line, named in parsed.projects if named != into)


def project_name_problem(name: str, limits: SnapshotLimits = NO_LIMITS) -> SnapshotProblem | None:
    """A project name that cannot be stored the same way on every database, or None (measured
    as stored: ``project_name``)."""
    name = project_name(name or "")
    if not name:
        return SnapshotProblem(None, "project", "project_name_empty", "the project name is empty")
    if limits.project_name_length is not None and len(name) > limits.project_name_length:
        return SnapshotProblem(None, "project", "project_name_too_long",
                               f"the project name has {len(name)} characters; at most {limits.project_name_length} can be stored")
    return None


def snapshot_project_problem(snapshot: str, project: str | None) -> str | None:
    """Why a snapshot named as ``FILE_OR_ID`` (``execute`` and ``preview --save``) cannot be
    taken as given: a FILE is stored into a project, which must be named (a stored snapshot's
    id names its own). None: nothing missing. Each command wrote its own message."""
    if snapshot.strip().isdigit() or project:
        return None
    return "--project NAME is needed with a snapshot FILE"


def _plain(value: Decimal | None) -> str | None:
    if value is None:
        return None
    try:
        text = format(value.normalize(), "f")
    except ArithmeticError:  # beyond the decimal context (only unchecked input gets here)
        return str(value)
    return "0" if text in ("-0", "0") else text


def normalised_content(items) -> str:
    # the primary exchange joins a row only when given: hashes of older snapshots stay the same
    rows = [
        [i.symbol, _plain(i.weight), _plain(i.score), i.rank, _plain(i.price), i.sec_type, i.exchange, i.currency]
        + ([i.primary_exchange] if getattr(i, "primary_exchange", "") else [])
        for i in sorted(items, key=lambda i: i.symbol)
    ]
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=True)


def _hash(items) -> str:
    return hashlib.sha256(normalised_content(items).encode("ascii")).hexdigest()
