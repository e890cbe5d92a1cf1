"""Reading a snapshot file's rows, before validation: CSV and JSON into ``(line, {column: raw
value})`` pairs, with the line each row starts on, and every structural problem of the file (no
header, a missing required column, a CSV row with more or fewer cells than the header has
columns, JSON that is not a list of flat row objects, too deep, duplicate keys) as a
:class:`SnapshotProblem` with its line. ``services.core.snapshots``
validates the rows and is the module callers use."""

from __future__ import annotations

import bisect
import csv
import io
import json
import json.scanner
import re
from dataclasses import dataclass
from typing import Any

from services.core.wording import file_problem

REQUIRED_COLUMNS = ("symbol", "weight")
OPTIONAL_COLUMNS = ("score", "rank", "price", "sec_type", "exchange", "currency", "primary_exchange")
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Deeper JSON than this is not a snapshot (a list of flat row objects needs 3); checked before
# decoding, so that a file nested 100,000 deep is a problem with a line, not a RecursionError.
MAX_JSON_DEPTH = 16


@dataclass(frozen=True, slots=True)
class SnapshotProblem:
    line: int | None  # None: the file as a whole (e.g. not UTF-8)
    column: str | None
    code: str
    message: str

    def __str__(self) -> str:
        return file_problem(self.line, self.column, self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "code": self.code, "message": self.message}


# ---------------------------------------------------------------------------------------------
# Reading rows: each row is (line, {column: raw value})

Row = tuple[int, dict[str, Any]]


def csv_rows(text: str, problems: list[SnapshotProblem]) -> list[Row] | None:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 1
    rows: list[Row] = []
    try:
        for raw in reader:
            line = reader.line_num
            if not raw or all(not cell.strip() for cell in raw):
                continue
            if header is None:
                header_line = line
                header = [cell.strip().lower() for cell in raw]
                if not any(name in KNOWN_COLUMNS for name in header):
                    separator = _other_separator(raw)
                    if separator is not None:
                        # a spreadsheet of a locale whose decimal mark is a comma saves ";"
                        # between the columns: its header is there, "missing header" misled
                        problems.append(SnapshotProblem(
                            line, None, "not_comma_separated",
                            f"the columns are separated by {separator}, not by commas (the header reads "
                            f"{','.join(raw)!r}): save the file as CSV with commas between the columns "
                            f"and a point as the decimal mark"))
                        return None
                    problems.append(
                        SnapshotProblem(line, None, "missing_header", "missing header: the first row must name the columns (symbol, weight, ...)")
                    )
                    return None
                seen: set[str] = set()
                for name in header:
                    if name in seen:
                        problems.append(SnapshotProblem(line, name, "duplicate_column", f"column {name!r} appears twice"))
                    seen.add(name)
                for name in REQUIRED_COLUMNS:
                    if name not in header:
                        problems.append(SnapshotProblem(line, name, "missing_column", f"missing required column {name!r}"))
                if any(p.code in ("missing_column", "duplicate_column") for p in problems):
                    return None
                continue
            wrong_count = cell_count_problem(raw, header)
            if wrong_count is not None:
                problems.append(SnapshotProblem(line, None, *wrong_count))
            values = {name: (raw[i] if i < len(raw) else "") for i, name in enumerate(header)}
            rows.append((line, values))
    except csv.Error as exc:
        problems.append(SnapshotProblem(reader.line_num or header_line, None, "csv_syntax", f"not valid CSV: {exc}"))
        return None
    if header is None:
        problems.append(SnapshotProblem(1, None, "empty_file", "the file is empty"))
        return None
    return rows


def cell_count_problem(cells: list[str], header: list[str]) -> tuple[str, str] | None:
    """(code, message) when a CSV row's cells do not fit its header: more cells (not blank), or
    fewer, a cut or shifted line as much as a long one is: "NVDA,0.20" under
    "symbol,weight,price" is refused, "NVDA,0.20," (the price left empty) is not, nor a row
    without the cell of an unnamed last column (a header's trailing comma)."""
    if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
        return "extra_cells", f"{len(cells)} cells but the header has {len(header)} columns"
    missing = [name for name in header[len(cells):] if name]
    if missing:
        said = (f"{len(cells)} cells but the header has {len(header)} columns: no cell for "
                f"{', '.join(missing)} (an empty value still needs its comma)")
        return "missing_cells", said
    return None


_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


def _other_separator(header: list[str]) -> str | None:
    """How a header row with no known column separates its columns when it is not by commas
    (its cells split by ``;``, a tab or ``|`` name the required columns), or None."""
    text = ",".join(header)
    for separator, name in _SEPARATORS.items():
        names = {cell.strip().lower() for cell in text.split(separator)}
        if all(column in names for column in REQUIRED_COLUMNS):
            return name
    return None


class _LineDict(dict):
    """A JSON object that remembers the line it starts on."""

    __slots__ = ("line",)
    line: int


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _json_too_deep(text: str, max_depth: int) -> int | None:
    """Offset of the first bracket deeper than ``max_depth`` (strings skipped), or None."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group(0)
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return match.start()
        elif token in ("]", "}"):
            depth -= 1
    return None


def json_rows(text: str, problems: list[SnapshotProblem]) -> list[Row] | None:
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(newlines, offset - 1) + 1

    too_deep = _json_too_deep(text, MAX_JSON_DEPTH)
    if too_deep is not None:
        problems.append(SnapshotProblem(line_of(too_deep), None, "json_too_deep",
                                        f"JSON nested deeper than {MAX_JSON_DEPTH} levels; a snapshot is a list of flat rows"))
        return None
    # Pairs, not dicts: a key given twice would otherwise silently keep its last value.
    decoder = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str, object_pairs_hook=list)
    # ignores: json's decoder internals (parse_object, scan_once, py_make_scanner) are not in its stubs
    plain_parse_object = decoder.parse_object  # type: ignore[attr-defined]
    duplicates: list[SnapshotProblem] = []

    def parse_object(s_and_end, *args):
        start = s_and_end[1] - 1  # index of the opening brace
        pairs, end = plain_parse_object(s_and_end, *args)
        line = line_of(start)
        seen: dict[str, str] = {}
        for key, _value in pairs:
            folded = str(key).strip().lower()
            if folded in seen:
                duplicates.append(SnapshotProblem(line, folded, "duplicate_key",
                                                  f"key {key!r} appears twice in one object (also as {seen[folded]!r})"))
            seen.setdefault(folded, key)
        tagged = _LineDict(pairs)
        tagged.line = line
        return tagged, end

    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    # The C scanner does not call back into parse_object; the Python one does.
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        document = decoder.decode(text)
    except json.JSONDecodeError as exc:
        problems.append(SnapshotProblem(exc.lineno, None, "json_syntax", f"not valid JSON: {exc.msg} (column {exc.colno})"))
        return None
    except RecursionError:  # the depth check above should make this unreachable
        problems.append(SnapshotProblem(1, None, "json_too_deep", "JSON nested too deep"))
        return None
    if duplicates:
        problems.extend(duplicates)
        return None
    named_project = None  # the document's "project": each row's, unless the row names its own
    if isinstance(document, dict):
        if "items" not in document:
            problems.append(SnapshotProblem(getattr(document, "line", 1), None, "missing_column", "missing 'items' list"))
            return None
        named_project = document.get("project")
        document = document["items"]
    if not isinstance(document, list):
        problems.append(SnapshotProblem(1, None, "json_shape", "expected a list of rows or an object with an 'items' list"))
        return None
    rows: list[Row] = []
    for index, entry in enumerate(document):
        line = getattr(entry, "line", None) or 1
        if not isinstance(entry, dict):
            problems.append(SnapshotProblem(line, None, "json_shape", f"row {index + 1} is not an object"))
            continue
        values = {str(k).strip().lower(): v for k, v in entry.items()}
        if named_project is not None:
            values.setdefault("project", named_project)
        for name in REQUIRED_COLUMNS:
            if name not in values:
                problems.append(SnapshotProblem(line, name, "missing_column", f"row {index + 1} has no {name!r}"))
        if all(name in values for name in REQUIRED_COLUMNS):
            rows.append((line, values))
    return rows
