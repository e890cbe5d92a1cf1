"""The decision trail's records: written once, never updated (services.core.trail; docs/decision-trail.md).

Tamper evidence: each decision row (signal, order decision, risk decision) stores ``row_hash``,
the sha256 of its content as the database gives it back (decimals at their column's scale), with
its table, plan and run. :meth:`TrailRepository.record_preview` returns the plan's *trail hash*,
the sha256 over ``table:id:row_hash`` of all its rows; the caller writes it into the plan's
hash-chained audit entry. :meth:`TrailRepository.check` recomputes both: a row whose content no
longer matches its ``row_hash`` is named; a row added, removed or re-hashed changes the trail
hash, which the audit entry still holds.

Portfolio snapshots (a project's positions at a fill batch and at a run's end) are history, not
decisions, and not covered by a plan's hash: services.db.repositories.portfolio_snapshots.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from services.core.builder import BuildParams, BuildResult, Target
from services.core.risk import RiskReport
from services.core.risk_measures import RiskDecision, risk_decisions
from services.core.trail import OrderDecision, SignalRecord, order_decisions, signal_records
from services.db.models import (
    TrailOrderDecision,
    TrailRiskDecision,
    TrailSignal,
)
from services.db.repositories.base import execute_columns, fetch_all
from services.db.types import ExactDecimal

ZERO = Decimal(0)
DECISION_MODELS: tuple[type[TrailSignal] | type[TrailOrderDecision] | type[TrailRiskDecision], ...] = (
    TrailSignal, TrailOrderDecision, TrailRiskDecision)
_NOT_HASHED = ("id", "row_hash")


@dataclass(frozen=True, slots=True)
class TrailProblem:
    """Why a plan's trail no longer matches what its audit entry recorded."""

    plan_id: int
    table: str | None  # None: the set of records changed (added, removed, re-hashed)
    record_id: int | None
    reason: str

    def describe(self) -> str:
        where = f"{self.table} record {self.record_id}" if self.table else "its records"
        return f"decision trail of plan {self.plan_id}: {where} {self.reason}"


_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_encode_text = json.encoder.encode_basestring  # what _JSON writes for a str (ensure_ascii=False)


@functools.cache
def _hashed_columns(model) -> tuple[tuple[str, ...], tuple[tuple[str, Decimal], ...]]:
    """(every hashed column's name, (name, quantum) of each decimal column): looked up once per
    model instead of once per row (a backtest's previews write tens of thousands of rows)."""
    names, decimals = [], []
    for column in model.__table__.columns:
        if column.name in _NOT_HASHED:
            continue
        names.append(column.name)
        if isinstance(column.type, ExactDecimal):
            decimals.append((column.name, Decimal(1).scaleb(-column.type.scale)))
    return tuple(names), tuple(decimals)


@functools.cache
def _layout(model) -> tuple[tuple[str | None, str, Decimal | None], ...]:
    """What ``_canonical`` writes, in its sorted order: (column, its key as JSON with the colon,
    its decimal quantum or None) for each hashed column, and (None, the whole ``"table":...``
    entry, None) for the table's name."""
    names, decimals = _hashed_columns(model)
    quanta = dict(decimals)
    out: dict[str, tuple[str | None, str, Decimal | None]] = {
        name: (name, f"{_encode_text(name)}:", quanta.get(name)) for name in names}
    out["table"] = (None, f"{_encode_text('table')}:{_encode_text(model.__tablename__)}", None)
    return tuple(out[key] for key in sorted(out))


@functools.cache
def _template(model) -> tuple[str, tuple[Decimal | None, ...]]:
    """The model's row text with a ``%s`` for each hashed column's value (the keys and the
    table's entry written in once, in ``_layout``'s order), and each of those columns' decimal
    quantum or None: a row's text is then its values' texts put in one formatting."""
    parts, quanta = [], []
    for name, key, quantum in _layout(model):
        if name is None:
            parts.append(key.replace("%", "%%"))
        else:
            parts.append(key.replace("%", "%%") + "%s")
            quanta.append(quantum)
    return "{" + ",".join(parts) + "}", tuple(quanta)


def _canonical(model, values: Mapping[str, Any]) -> str:
    """The row's content as hashed: decimals at their column's scale (as read back), sorted keys,
    in compact JSON. Written out in the model's fixed key order (``_template``: a backtest hashes
    a quarter of a million rows); any value it does not write itself goes the general way
    (``_canonical_general``), so the text never differs (tests/core/test_trail.py)."""
    text = _written(_template(model), [values.get(name) for name, _, _ in _layout(model) if name is not None])
    return _canonical_general(model, values) if text is None else text


# the text of a value of a column without a decimal quantum, by its exact type (a bool is not an int here)
_TEXT_OF: dict[type, Callable[[Any], str]] = {
    str: _encode_text, int: int.__repr__, bool: lambda value: "true" if value else "false", type(None): lambda _: "null"}


def _written(template: tuple[str, tuple[Decimal | None, ...]], ordered: Iterable[Any]) -> str | None:
    """``_canonical``'s text of the row's hashed values in the order of the model's ``_template``
    (passed in: looked up once for a whole batch); None when a value is of a kind it does not
    write itself."""
    text, quanta = template
    texts = []
    text_of = _TEXT_OF.get
    for quantum, value in zip(quanta, ordered, strict=True):
        if quantum is None:
            write = text_of(type(value))
            if write is None:
                return None
            texts.append(write(value))
        elif value is None:
            texts.append("null")
        else:
            # a decimal's fixed-point text is digits, sign and point: nothing JSON escapes
            # (the rounding passed by position: as a keyword it cost as much again as the quantize)
            exact = value if type(value) is Decimal else Decimal(value)
            texts.append(f'"{exact.quantize(quantum, ROUND_HALF_UP):f}"')
    return text % tuple(texts)


def _canonical_general(model, values: Mapping[str, Any]) -> str:
    names, decimals = _hashed_columns(model)
    out: dict[str, Any] = {name: values.get(name) for name in names}
    for name, quantum in decimals:
        value = out[name]
        if value is not None:
            out[name] = format(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP), "f")
    out["table"] = model.__tablename__
    return _JSON.encode(out)


def row_hash(model, values: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(model, values).encode("utf-8")).hexdigest()


@functools.cache
def _column_names(model) -> frozenset[str]:
    return frozenset(column.name for column in model.__table__.columns)


# a record's field stored under another column's name (``limit`` is a reserved word in SQL)
_RENAMED = {"limit": "limit_value"}


_STORED_FIELDS: dict[tuple[type, Any], tuple[tuple[str, str], ...]] = {}


def _stored_fields(record_type: type, model) -> tuple[tuple[str, str], ...]:
    """(field, column) of each of a record type's fields that ``model`` stores, looked up once
    per type (a backtest writes tens of thousands of records)."""
    pairs = _STORED_FIELDS.get((record_type, model))
    if pairs is None:
        columns = _column_names(model)
        named = ((f.name, _RENAMED.get(f.name, f.name)) for f in fields(record_type))
        pairs = _STORED_FIELDS[(record_type, model)] = tuple((name, column) for name, column in named if column in columns)
    return pairs


@dataclass(frozen=True, slots=True)
class _Shape:
    """How records of one type become rows of one model, worked out once (a backtest writes
    tens of thousands): ``columns`` the insert's columns (``link`` columns, the stored fields',
    then ``row_hash``), ``fields`` the getter of the stored fields' values as a tuple,
    ``ordered`` the picker of a row's values (with a None appended) in ``_template`` order."""

    link: tuple[str, ...]
    columns: tuple[str, ...]
    fields: Callable[[Any], tuple[Any, ...]]
    ordered: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    positions: tuple[int, ...]  # where ``ordered`` picks each value (the None appended: past the row's values)


def _getter(names: list[str] | list[int], get: Callable[..., Callable[[Any], Any]]) -> Callable[[Any], tuple[Any, ...]]:
    """``get(*names)`` (``operator.attrgetter`` / ``itemgetter``) always giving a tuple."""
    if len(names) == 1:
        one = get(names[0])
        return lambda value: (one(value),)
    return get(*names) if names else (lambda value: ())


_SHAPES: dict[tuple[type, Any, tuple[str, ...]], _Shape] = {}


def _shape(record_type: type, model, link_columns: tuple[str, ...]) -> _Shape:
    shape = _SHAPES.get((record_type, model, link_columns))
    if shape is None:
        shape = _SHAPES[(record_type, model, link_columns)] = _new_shape(record_type, model, link_columns)
    return shape


def _new_shape(record_type: type, model, link_columns: tuple[str, ...]) -> _Shape:
    pairs = _stored_fields(record_type, model)
    stored = [column for _, column in pairs]
    link = tuple(column for column in link_columns if column not in stored)  # a field of the link's name wins
    columns = (*link, *stored)
    # a hashed column neither the link nor the record gives: the None appended
    positions = [columns.index(name) if name in columns else len(columns) for name, _, _ in _layout(model) if name is not None]
    return _Shape(link, (*columns, "row_hash"), _getter([name for name, _ in pairs], operator.attrgetter),
                  _getter(positions, operator.itemgetter), tuple(positions))


def _insert_rows(model, records: Iterable[Any], link: Mapping[str, Any]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """``_insert_columns``'s values as rows: a tuple of values per row."""
    columns, values = _insert_columns(model, records, link)
    return columns, list(zip(*values, strict=True))


def _insert_columns(model, records: Iterable[Any], link: Mapping[str, Any]) -> tuple[tuple[str, ...], list[list[Any]]]:
    """The insert values of ``records`` (flat dataclasses of one type) as (their columns, the
    values of each column): ``link``'s columns, the fields the model stores, and each row's hash
    of them, ``row_hash``'s (a field of the same name as a ``link`` column wins). Column by
    column: the rows' texts are written so, and the insert takes them so (``execute_columns``),
    never turned into rows and back (a backtest's previews write tens of thousands of rows)."""
    records = list(records)
    if not records:
        return (), []
    record_type = type(records[0])
    other = next((r for r in records if type(r) is not record_type), None)
    if other is not None:
        raise TypeError(f"{model.__tablename__}: records of one type at a time, not {type(other).__name__} too")
    shape = _shape(record_type, model, tuple(link))
    count = len(records)
    values: list[list[Any]] = [[link[column]] * count for column in shape.link]
    values.extend(map(list, zip(*map(shape.fields, records), strict=True)))
    texts = _texts(model, shape, values)
    values.append([hashlib.sha256(text.encode("utf-8")).hexdigest() for text in texts])
    return shape.columns, values


def _texts(model, shape: _Shape, columns: list[list[Any]]) -> list[str]:
    """``_canonical``'s text of each row (``columns``: the values of each of ``shape.columns``
    but ``row_hash``), written column by column: a column's values are mostly of one kind,
    written by one converter over the whole batch, and the rows' texts come of one formatting
    each (a backtest's previews write a quarter of a million rows). A column of one text for
    the whole batch (the link's, a column no record gives, a risk decision's empty code) is
    written into the batch's template once instead. A column with a value of a kind
    ``_written`` does not write sends the batch row by row (``_written``, else
    ``_canonical_general``): the same text."""
    template, quanta = _template(model)
    count = len(columns[0])
    parts: list[str] = []  # the batch's template: the model's, its one-text columns written in
    texts = []
    hashed = iter(zip(shape.positions, quanta, strict=True))
    for name, key, _ in _layout(model):
        if name is None:  # the table's name
            parts.append(key.replace("%", "%%"))
            continue
        position, quantum = next(hashed)
        written: list[str] | None
        if position == len(columns):  # a hashed column no one gives: null
            written = ["null"]
        elif position < len(shape.link):  # the link's columns: one value for the batch
            written = _column_texts(columns[position][:1], quantum)
        else:
            written = _column_texts(columns[position], quantum)
        if written is None:
            return [_written((template, quanta), shape.ordered((*values, None)))
                    or _canonical_general(model, dict(zip(shape.columns[:-1], values, strict=True)))
                    for values in zip(*columns, strict=True)]
        if len(written) == 1 or written.count(written[0]) == len(written):
            parts.append((key + written[0]).replace("%", "%%"))
        else:
            parts.append(key.replace("%", "%%") + "%s")
            texts.append(written)
    batch = "{" + ",".join(parts) + "}"
    if not texts:
        return [batch % ()] * count
    return list(map(batch.__mod__, zip(*texts, strict=True)))


def _column_texts(values: list[Any], quantum: Decimal | None) -> list[str] | None:
    """The texts ``_written`` gives a column's values (None: a value of a kind it does not write)."""
    if quantum is not None:
        return ["null" if value is None else
                f'"{(value if type(value) is Decimal else Decimal(value)).quantize(quantum, ROUND_HALF_UP):f}"'
                for value in values]
    kinds = set(map(type, values))
    if len(kinds) == 1:  # one converter over the column (strings, integers)
        write = _TEXT_OF.get(kinds.pop())
        return None if write is None else list(map(write, values))
    if not kinds <= _TEXT_OF.keys():
        return None
    if bool in kinds and int in kinds:  # True == 1, yet they read differently: each value written alone
        return [_TEXT_OF[type(value)](value) for value in values]
    # texts and nulls (a risk decision's measured value, its order's id): each distinct value
    # written once, then looked up (a column repeats a few values over a whole batch)
    distinct = {value: _TEXT_OF[type(value)](value) for value in set(values)}
    return list(map(distinct.__getitem__, values))


def _values(row) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in type(row).__table__.columns}


def _combined(entries: Iterable[tuple[str, int, str]]) -> str:
    text = "\n".join(f"{table}:{row_id}:{digest}" for table, row_id, digest in entries)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# the statements every preview runs, built once (building a statement costs more than running
# it on SQLite); a plan's row hashes read back of the tables' columns (plain rows: the ORM's
# statement handling was most of the read)
_INSERTS: dict[Any, Insert] = {m: insert(cast(Table, m.__table__)) for m in DECISION_MODELS}
_ROW_HASHES = {m: select(t.c.id, t.c.row_hash).where(t.c.plan_id == bindparam("plan_id")).order_by(t.c.id)
               for m in DECISION_MODELS for t in [cast(Table, m.__table__)]}
# the lowest and highest id of a plan's rows in each table, in one statement (a preview's check
# that the rows it wrote are the plan's only ones, numbered in a run: see _written_hash)
_ID_RANGES = select(*(bound for m in DECISION_MODELS for t in [cast(Table, m.__table__)]
                      for bound in (select(func.min(t.c.id)).where(t.c.plan_id == bindparam("plan_id")).scalar_subquery(),
                                    select(func.max(t.c.id)).where(t.c.plan_id == bindparam("plan_id")).scalar_subquery())))


class TrailRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- writing -------------------------------------------------------------------------------

    def record_preview(self, *, plan_id: int, run_id: int, signals: Iterable[SignalRecord],
                       order_decisions: Iterable[OrderDecision], risk_decisions: Iterable[RiskDecision]) -> str:
        """Store one preview's decisions; returns its trail hash (for the plan's audit entry)."""
        link = {"plan_id": plan_id, "run_id": run_id}
        tables = {TrailSignal: _insert_columns(TrailSignal, signals, link),
                  TrailOrderDecision: _insert_columns(TrailOrderDecision, order_decisions, link),
                  TrailRiskDecision: _insert_columns(TrailRiskDecision, risk_decisions, link)}
        # one executemany per table (a plan has hundreds of rows: per-row ORM objects were most
        # of a backtest's preview); ids follow the rows' order, which the trail hash relies on
        # (the session's pending changes first, once: then its connection takes the statements)
        self.session.flush()
        connection = self.session.connection()
        for model, (columns, values) in tables.items():
            if values:
                execute_columns(connection, _INSERTS[model], columns, values)
        return self._written_hash(plan_id, {model: values[-1] if values else [] for model, (_, values) in tables.items()})

    def _written_hash(self, plan_id: int, hashes: Mapping[Any, list[str]]) -> str:
        """The trail hash of the rows just written (``hashes``: each table's row hashes in the
        order written), from the hashes in hand rather than read back: when each table's ids of
        the plan span exactly as many numbers as rows were written, the plan has no other rows
        there and ours hold those ids in the order written (an autoincrement only grows); else
        (rows of the plan written before, ids not in a run) it reads the stored hashes back
        (``trail_hash``). The same text is hashed either way."""
        bounds = fetch_all(self.session, _ID_RANGES, {"plan_id": plan_id})[0]
        entries: list[tuple[str, int, str]] = []
        for index, model in enumerate(DECISION_MODELS):
            written = hashes[model]
            low, high = bounds[2 * index], bounds[2 * index + 1]
            if not written:
                if low is not None:
                    return self.trail_hash(plan_id)
                continue
            if low is None or high - low + 1 != len(written):
                return self.trail_hash(plan_id)
            name = model.__tablename__
            entries.extend((name, row_id, digest) for row_id, digest in zip(range(low, high + 1), written, strict=True))
        return _combined(entries)

    def record_build(self, *, plan_id: int, run_id: int, items: Iterable[Mapping], targets: Iterable[Target],
                     params: BuildParams, prices: Mapping[str, Decimal], positions: Mapping[str, Decimal],
                     result: BuildResult, report: RiskReport, working: Mapping[str, Decimal] | None = None) -> str:
        """The trail of one ``build_and_check``: its snapshot rows (``items``, with score and
        rank), what the builder made of them (``positions``: the project's filled book,
        ``working``: its orders still working, counted as filled) and every risk rule's answer.
        Returns the trail hash."""
        return self.record_preview(
            plan_id=plan_id, run_id=run_id, signals=signal_records(items, prices),
            order_decisions=order_decisions(targets, params, prices=prices, positions=positions, result=result,
                                            working=working),
            risk_decisions=risk_decisions(report))

    # -- checking ------------------------------------------------------------------------------

    def _rows(self, model, plan_id: int) -> list:
        return list(self.session.scalars(select(model).where(model.plan_id == plan_id).order_by(model.id)))

    def trail_hash(self, plan_id: int) -> str:
        """The hash over the plan's stored rows' hashes (as stored: this does not re-hash content)."""
        return _combined((m.__tablename__, row_id, digest) for m in DECISION_MODELS
                         for row_id, digest in self.session.execute(_ROW_HASHES[m], {"plan_id": plan_id}))

    def check(self, plan_id: int, expected: str) -> TrailProblem | None:
        """None when every record of the plan matches its hash and the set matches ``expected``
        (the trail hash its audit entry recorded); else the first problem."""
        entries = []
        for model in DECISION_MODELS:
            for row in self._rows(model, plan_id):
                if row_hash(model, _values(row)) != row.row_hash:
                    return TrailProblem(plan_id, model.__tablename__, row.id, "was altered (its content no longer matches its hash)")
                entries.append((model.__tablename__, row.id, row.row_hash))
        if _combined(entries) != expected:
            return TrailProblem(plan_id, None, None, "were added, removed or re-hashed since the plan's audit entry")
        return None
