"""What every repository shares: the errors, column normalisation, the exactly-once insert, and
``execute_many`` (a prebuilt statement's executemany through the database driver) and
``fetch_all`` (a prebuilt SELECT through the driver).

``insert_once`` runs one statement that cannot fail on a duplicate -- ``INSERT ... ON CONFLICT DO
NOTHING`` on SQLite, ``INSERT ... ON DUPLICATE KEY UPDATE id=id`` on MySQL (after a lock-free read
for the row when asked: ``read_first``) -- then reads the row back (see the package docstring for
why two racing processes get one row and no error).
"""

from __future__ import annotations

import functools
import operator
import re
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, CursorResult, Date, DateTime, Insert, Select, Table, and_, select
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from services.db.models import Base
from services.db.types import UTCDateTime, as_decimal, utcnow

M = TypeVar("M", bound=Base)

_DECIMAL_COLUMNS = {
    "quantity",
    "limit_price",
    "filled_quantity",
    "avg_fill_price",
    "price",
    "commission",
    "average_cost",
    "realized_pnl",
    "unrealized_pnl",
    "cash",
    "equity",
    "weight",
    "score",
    "min_tick",
}


class RepositoryError(ValueError):
    """A request the data cannot satisfy (unknown id, invalid field)."""


class NotFound(RepositoryError):
    pass


@functools.cache
def _column_names(model: type[Base]) -> frozenset[str]:
    """The model's column names: asking its table's column collection, for every value of every
    row inserted (a plan's orders, a batch's positions), cost more than the check itself."""
    return frozenset(model.__table__.columns.keys())


@functools.cache
def _stamp_columns(model: type[Base]) -> tuple[str, ...]:
    """Which of ``created_at`` and ``updated_at`` the model has."""
    return tuple(name for name in ("created_at", "updated_at") if name in _column_names(model))


def normalize_values(model: type[Base], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked against the model's columns: amounts as exact Decimals, enums as their text."""
    columns = _column_names(model)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in columns:
            raise RepositoryError(f"{model.__tablename__} has no column {key!r}")
        if key in _DECIMAL_COLUMNS and value is not None:
            value = as_decimal(value)
        elif key in ("side", "order_type", "tif") and value is not None:
            value = str(value)
        out[key] = value
    return out


def _with_insert_defaults(model: type[Base], values: dict[str, Any]) -> dict[str, Any]:
    """Core INSERTs apply scalar and callable column defaults themselves; nothing to add except
    ``updated_at``/``created_at`` equal to one instant (nicer to read than two clock calls)."""
    now = utcnow()
    for name in _stamp_columns(model):
        if values.get(name) is None:
            values[name] = now
    return values


def insert_once(session: Session, model: type[M], values: Mapping[str, Any], key: Sequence[str], *,
                read_first: bool = False) -> tuple[M, bool]:
    """Insert ``values`` unless a row with the same unique ``key`` exists; return the row and
    whether this call created it. Never raises on a duplicate. (On MySQL the flag relies on the
    AUTO_INCREMENT id: for a table whose id the caller supplies it is always False.)

    ``read_first``: on MySQL, look for the row with a plain read before the insert, for a parent
    row (a project, a run) that its caller only reads. The insert's duplicate branch locks the
    existing row until the transaction ends: that serializes callers that go on to change the row
    (the writer's external orders), but it deadlocked a process finding its run while another
    process's writer held that run (tests/execution/test_lock_conflicts.py)."""
    values = _with_insert_defaults(model, normalize_values(model, values))
    missing = [k for k in key if values.get(k) is None]
    if missing:
        raise RepositoryError(f"{model.__tablename__}: {', '.join(missing)} required")
    table = cast(Table, model.__table__)
    dialect = session.get_bind().dialect.name
    condition = and_(*(getattr(model, k) == values[k] for k in key))
    created: bool
    if read_first and dialect in ("mysql", "mariadb"):
        existing = session.scalars(select(model).where(condition).execution_options(populate_existing=True)).one_or_none()
        if existing is not None:
            return existing, False
    if dialect == "sqlite":
        sqlite_insert = sqlite_dialect.insert(table).values(values).on_conflict_do_nothing(index_elements=list(key))
        created = cursor_result(session.execute(sqlite_insert)).rowcount == 1
    elif dialect in ("mysql", "mariadb"):
        # rowcount cannot tell (the dialect sets CLIENT_FOUND_ROWS); the insert id can: it is
        # the new id for an insert and 0 when the duplicate branch ran.
        mysql_insert = mysql_dialect.insert(table).values(values).on_duplicate_key_update(id=table.c.id)
        created = bool(cursor_result(session.execute(mysql_insert)).lastrowid)
    else:  # pragma: no cover - other databases: savepoint and catch the duplicate
        try:
            with session.begin_nested():
                session.execute(table.insert().values(values))
            created = True
        except IntegrityError:
            created = False
    row = session.scalars(select(model).where(condition).execution_options(populate_existing=True)).one()
    return row, created


def insert_many_once(session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]], key: str) -> None:
    """``insert_once`` for many rows of one shape (the same columns) at once: one executemany
    skipping the rows whose unique ``key`` exists; read them back with one SELECT if needed."""
    if not rows:
        return
    values = [_with_insert_defaults(model, normalize_values(model, r)) for r in rows]
    shape = set(values[0])
    if any(set(v) != shape for v in values) or any(v.get(key) is None for v in values):
        raise RepositoryError(f"{model.__tablename__}: rows of one shape, each with its {key}, required")
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "mysql", "mariadb"):
        statement = _insert_skipping_duplicates(dialect, model, key)
        defaults = _scalar_defaults(model, frozenset(shape))
        if defaults is None:  # a default SQLAlchemy computes per row: its own executemany
            session.execute(statement, values)
            return
        # the driver's executemany (execute_many): the per-row parameter processing of
        # Session.execute cost a backtest more than storing its plans' orders did. The columns
        # the rows leave out that have a constant default get it, as SQLAlchemy would give it.
        given = tuple(values[0])
        pick = operator.itemgetter(*given) if len(given) > 1 else (lambda v: (v[given[0]],))
        constants = tuple(value for _, value in defaults)
        execute_many(session, statement, (*given, *(name for name, _ in defaults)), [pick(v) + constants for v in values])
    else:  # pragma: no cover - other databases: one by one
        for v in values:
            insert_once(session, model, v, (key,))


@functools.cache
def _scalar_defaults(model: type[Base], given: frozenset[str]) -> tuple[tuple[str, Any], ...] | None:
    """(column, value) of each column not ``given`` that has a constant Python-side default, which
    an INSERT of the given columns writes; None when such a column's default is one SQLAlchemy
    computes per row (a callable, an SQL expression)."""
    out = []
    for column in cast(Table, model.__table__).columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if not isinstance(default, ScalarElementColumnDefault):
            return None
        out.append((column.name, default.arg))
    return tuple(out)


_INSERTS_SKIPPING: dict[tuple[str, type[Base], str], Insert] = {}


def _insert_skipping_duplicates(dialect: str, model: type[Base], key: str) -> Insert:
    """The dialect's INSERT that skips a row whose unique ``key`` exists, built once per table
    (building a statement costs more than running it on SQLite: a backtest inserts a plan's
    orders this way every rebalance)."""
    statement = _INSERTS_SKIPPING.get((dialect, model, key))
    if statement is None:
        table = cast(Table, model.__table__)
        if dialect == "sqlite":
            statement = sqlite_dialect.insert(table).on_conflict_do_nothing(index_elements=[key])
        else:
            statement = mysql_dialect.insert(table).on_duplicate_key_update(id=table.c.id)
        _INSERTS_SKIPPING[(dialect, model, key)] = statement
    return statement


def cursor_result(result: Any) -> CursorResult[Any]:
    """An INSERT/UPDATE's result: ``Session.execute`` is typed for SELECTs and hides ``rowcount``."""
    return cast("CursorResult[Any]", result)


def get_row(session: Session, model: type[M], row_id: int, *, for_update: bool = False) -> M:
    """The row with this primary key, or ``NotFound``; ``for_update``: read locked (read again
    even when the session holds it)."""
    row = session.get(model, row_id, with_for_update=True if for_update else None)
    if row is None:
        raise NotFound(f"{model.__tablename__} {row_id} does not exist")
    return row


@functools.lru_cache(maxsize=256)  # per dialect: an engine's (bounded: tests open many)
def _driver_statement(statement: UpdateBase, columns: tuple[str, ...], dialect) -> tuple[
        str, tuple[int, ...], tuple[tuple[int, Callable], ...], tuple[str, ...]]:
    """``statement`` as the database driver takes it with parameters ``columns``: its SQL for
    ``dialect``, the index in ``columns`` of each parameter in the driver's order, the (index,
    converter) of each of ``columns`` whose type converts a value for the driver (a decimal's
    exact integer on SQLite), and the parameters' names in the driver's order."""
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    order = tuple(compiled.positiontup or ()) if compiled.positional else columns
    names = set(order) if compiled.positional else set(compiled.bind_names.values())
    if names != set(columns) or len(names) != len(columns) or compiled.escaped_bind_names or "__[POSTCOMPILE" in compiled.string:
        # a parameter the rows do not hold (a column default SQLAlchemy would compute per row)
        raise RuntimeError(f"the statement's parameters {order} are not the columns {columns}")
    converters = tuple((index, converter) for index, name in enumerate(columns)
                       for converter in [compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)]
                       if converter is not None)
    return compiled.string, tuple(columns.index(name) for name in order), converters, order


def execute_many(executor: Session | Connection, statement: UpdateBase, columns: tuple[str, ...],
                 rows: Sequence[Sequence[Any]]) -> None:
    """Run ``statement`` (built once) for ``rows`` (one tuple a row, in ``columns``' order) with
    one executemany of the driver. Each column's type converts its values (as SQLAlchemy binds
    them) once per column, not through the statement's per-row parameter building, which took
    as long as SQLite took to store the rows. Errors are SQLAlchemy's: a value the type refuses
    raises ``StatementError``, the driver's errors ``DBAPIError`` (``IntegrityError`` ...). On a
    session's connection, after the autoflush ``Session.execute`` would do (none within
    ``no_autoflush``: the ORM's pending rows go in first, as with any statement). On SQLite
    inside a transaction, straight on the driver's cursor (``_on_the_driver``)."""
    if not rows:
        return
    values: list[Any] = list(zip(*rows, strict=True))  # by column
    if len(values) != len(columns):
        raise ValueError(f"rows of {len(values)} values for the columns {columns}")
    execute_columns(executor, statement, columns, values)


def execute_columns(executor: Session | Connection, statement: UpdateBase, columns: tuple[str, ...],
                    values: Sequence[Sequence[Any]]) -> None:
    """``execute_many`` of rows given by column (``values``: each of ``columns``' values, in the
    rows' order): for a writer that has its rows' values by column already (the decision trail
    writes its rows' texts so), not turned into rows for ``execute_many`` to turn back."""
    if len(values) != len(columns):
        raise ValueError(f"values of {len(values)} columns for the columns {columns}")
    if not values or not len(values[0]):
        return
    connection = _statement_connection(executor)
    sql, params = _driver_params(connection, statement, columns, values)
    if _on_the_driver(connection):
        _driver_run(connection, sql, params, many=True).close()
    else:
        connection.exec_driver_sql(sql, params)


def insert_one(executor: Session | Connection, statement: UpdateBase, columns: tuple[str, ...], row: Sequence[Any]) -> int:
    """``execute_many``'s INSERT of one row, giving back the id the database gave it (its
    autoincrement key: the cursor's lastrowid on SQLite and MySQL alike): a plan, a run, written
    once each preview, without SQLAlchemy's handling of a statement, which cost more than
    SQLite's running of it."""
    if len(row) != len(columns):
        raise ValueError(f"a row of {len(row)} values for the columns {columns}")
    connection = _statement_connection(executor)
    sql, params = _driver_params(connection, statement, columns, [[value] for value in row])
    if _on_the_driver(connection):
        cursor = _driver_run(connection, sql, params[0], many=False)
        try:
            return cursor.lastrowid
        finally:
            cursor.close()
    return cursor_result(connection.exec_driver_sql(sql, params[0])).lastrowid


def _statement_connection(executor: Session | Connection) -> Connection:
    """The connection a statement of ``executor`` runs on: a session's after the autoflush
    ``Session.execute`` would do (none within ``no_autoflush``: the ORM's pending rows go in
    first, as with any statement)."""
    if isinstance(executor, Session):
        if executor.autoflush:
            executor.flush()
        return executor.connection()
    return executor


def _driver_params(connection: Connection, statement: UpdateBase, columns: tuple[str, ...],
                   values: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """(``statement``'s SQL for the driver, its parameters for each row of ``values``, given by
    column): each column's values converted by its type once per column, as SQLAlchemy binds
    them; a value the type refuses raises ``StatementError`` as SQLAlchemy's binding would."""
    dialect = connection.dialect
    sql, picks, converters, order = _driver_statement(statement, columns, dialect)
    converted: list[Any] = list(values)
    try:
        for index, converter in converters:
            converted[index] = _converted(converter, converted[index])
    except Exception as error:
        # as SQLAlchemy wraps an error of binding a parameter (its "(builtins.ValueError) ..." text)
        raise DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error, dialect=dialect, ismulti=True,
                                  hide_parameters=connection.engine.hide_parameters) from error
    params: list[Any] = list(zip(*(converted[index] for index in picks), strict=True))
    if not dialect.positional:
        params = [dict(zip(order, row, strict=True)) for row in params]
    return sql, params


def _converted(converter: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    """``column``'s values converted, each distinct object once (a converter is a function of its
    value alone): a batch's rows share many (its moment, its ``now``, None), and converting an
    aware datetime or a decimal costs more than finding it again."""
    if len(set(map(id, column))) == len(column):  # all distinct (counted at C speed)
        return list(map(converter, column))
    done: dict[int, Any] = {}
    return [done[key] if (key := id(value)) in done else done.setdefault(key, converter(value)) for value in column]


def _on_the_driver(connection: Connection) -> bool:
    """Whether a statement goes straight to the driver's cursor (SQLite, inside a transaction
    already begun): there SQLAlchemy's per-statement work (an execution context, its events, a
    result object) cost more than SQLite's running of a backtest's small statements. Elsewhere
    (MariaDB: a connection that went away must be invalidated by SQLAlchemy's handling) and
    outside a transaction (SQLAlchemy's autobegin emits the BEGIN) it goes through
    ``exec_driver_sql``."""
    return connection.dialect.name == "sqlite" and connection.in_transaction()


def _driver_run(connection: Connection, sql: str, params: Any, *, many: bool):
    """``sql`` on the driver's cursor of ``connection``'s transaction; its errors raised as
    SQLAlchemy raises them (``IntegrityError``, ``OperationalError`` ...). Returns the cursor."""
    dialect = connection.dialect
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except dialect.loaded_dbapi.Error as error:
        cursor.close()
        raise DBAPIError.instance(sql, params, error, dialect.loaded_dbapi.Error, dialect=dialect, ismulti=many,
                                  hide_parameters=connection.engine.hide_parameters) from error
    return cursor


_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


def _returned(statement: Select | UpdateBase) -> Any:
    """The columns a statement's rows hold: a SELECT's, or an INSERT/UPDATE/DELETE's RETURNING."""
    return statement.selected_columns if isinstance(statement, Select) else statement.exported_columns


@dataclass(frozen=True)
class _DriverQuery:
    """A SELECT (or a statement with RETURNING) as the driver takes it (``fetch_all``): its SQL with the expanding parameters'
    markers, the bound parameters (name, converter, default) in the driver's order (qmark) or by
    name (pyformat), the expanding parameters' names, and the row type."""

    sql: str
    params: tuple[tuple[str, Callable | None, Any], ...]
    expanding: frozenset[str]
    positional: bool
    row: type


@functools.lru_cache(maxsize=256)  # per dialect: an engine's (bounded: tests open many)
def _driver_query(statement: Select | UpdateBase, dialect) -> _DriverQuery:
    compiled = statement.compile(dialect=dialect)
    if compiled.escaped_bind_names or statement._propagate_attrs:
        raise RuntimeError(f"fetch_all runs Core SELECTs, not {statement!r}")
    if not isinstance(statement, Select) and (not statement._returning or compiled.insert_prefetch or compiled.update_prefetch):
        # a column default SQLAlchemy computes per execution (an ``onupdate``) would be bound
        # as NULL here: the statement must give every value itself
        raise RuntimeError(f"fetch_all runs a DML statement with RETURNING whose every value is given, not {statement!r}")
    expanding = frozenset(_EXPANDING.findall(compiled.string))
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    clash = {name for name in compiled.binds for base in expanding if re.fullmatch(rf"{re.escape(base)}_\d+", name)}
    if clash:  # pyformat names an expanded list's values name_1, name_2, ...
        raise RuntimeError(f"the statement's parameters {sorted(clash)} clash with an expanded list's")
    params = []
    for name in names:
        bind = compiled.binds[name]
        default = _REQUIRED if bind.required or name in expanding else bind.effective_value
        params.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect), default))
    row = namedtuple("Row", list(_returned(statement).keys()), rename=True)  # type: ignore[misc]
    return _DriverQuery(compiled.string, tuple(params), expanding, compiled.positional, row)


@functools.lru_cache(maxsize=256)
def _result_processors(statement: Select | UpdateBase, dialect, coltypes: tuple) -> tuple[tuple[int, Callable], ...]:
    """The (index, converter) of each column whose type converts the driver's value, as a
    statement's result converts it (with the driver's type code of the column)."""
    return tuple((index, processor) for index, (column, coltype) in enumerate(zip(_returned(statement), coltypes, strict=True))
                 for processor in [column.type.dialect_impl(dialect).result_processor(dialect, coltype)] if processor is not None)


_REQUIRED = object()
# the drivers' parameter styles fetch_all fills in itself (sqlite3's, PyMySQL's); any other goes
# through SQLAlchemy's statement handling: slower, the same rows
_DRIVER_STYLES = ("qmark", "pyformat")


def fetch_first(executor: Session | Connection, statement: Select, params: Mapping[str, Any]) -> Any | None:
    """``fetch_all``'s first row, None when there is none (a row looked up by its key)."""
    rows = fetch_all(executor, statement, params)
    return rows[0] if rows else None


def fetch_all(executor: Session | Connection, statement: Select | UpdateBase, params: Mapping[str, Any]) -> list[Any]:
    """The rows of a Core SELECT (built once) for ``params``, or of an INSERT/UPDATE/DELETE's
    RETURNING (a statement that gives every value itself: no column default computed per
    execution), as ``Session.execute(statement, params).all()`` returns them (each column
    converted by its type; attributes by column key), run through the driver: the statement compiled once per dialect and its expanding IN lists
    filled in here, without SQLAlchemy's per-statement work (which cost more than running a
    writer batch's small SELECTs on SQLite). On a session's connection, without an autoflush (as
    ``Session.execute`` runs a Core statement); on SQLite inside a transaction straight on the
    driver's cursor (``_on_the_driver``). Errors are SQLAlchemy's either way. An expanding list
    must not be empty (SQLAlchemy renders an empty IN its own way)."""
    connection = executor.connection() if isinstance(executor, Session) else executor
    rows, coltypes = _driver_rows(connection, statement, params)
    if rows is None:  # a driver this does not fill in: SQLAlchemy's own rows
        return list(connection.execute(statement, dict(params)).all())
    if not rows:
        return []
    dialect = connection.dialect
    query = _driver_query(statement, dialect)
    processors = _result_processors(statement, dialect, coltypes)
    if processors:
        columns: list[Any] = list(zip(*rows, strict=True))
        moments = _moment_columns(statement)
        for index, processor in processors:
            columns[index] = _moments(processor, columns[index]) if index in moments else map(processor, columns[index])
        rows = list(zip(*columns, strict=True))
    make = cast(Any, query.row)._make
    return [make(row) for row in rows]


@functools.lru_cache(maxsize=256)
def _moment_columns(statement: Select | UpdateBase) -> frozenset[int]:
    """The indexes of ``statement``'s date and time columns (a SELECT's, or its RETURNING's)."""
    return frozenset(index for index, column in enumerate(_returned(statement))
                     if isinstance(column.type, (UTCDateTime, DateTime, Date)))


def _moments(processor: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    """A date or time column's values converted, each distinct text once (SQLite's; the result
    shared: a date or time is immutable): rows written together share their moments (an order's
    creation, its claim, its last status), and parsing one costs more than finding it again."""
    seen: dict[str, Any] = {}
    return [(seen[value] if value in seen else seen.setdefault(value, processor(value))) if value.__class__ is str
            else processor(value) for value in column]


def _driver_rows(connection: Connection, statement: Select | UpdateBase, params: Mapping[str, Any]) -> tuple[Any, tuple]:
    """(the driver's rows of ``statement`` for ``params``, unconverted; the driver's type code of
    each column), or (None, ()) for a driver whose parameter style this does not fill in."""
    dialect = connection.dialect
    query = _driver_query(statement, dialect)
    for name in query.expanding:
        if not params[name]:
            raise ValueError(f"fetch_all: the list {name!r} is empty")
    if dialect.paramstyle not in _DRIVER_STYLES:  # a driver this does not fill in (mysqlclient's format, ...)
        return None, ()
    sql = query.sql
    if query.expanding:
        if query.positional:
            sql = _EXPANDING.sub(lambda m: ", ".join("?" * len(params[m.group(1)])), sql)
        else:
            sql = _EXPANDING.sub(lambda m: ", ".join(f"%({m.group(1)}_{i})s" for i in range(1, len(params[m.group(1)]) + 1)), sql)
    values: Any = [] if query.positional else {}
    try:
        for name, convert, default in query.params:
            value = params.get(name, default)
            if value is _REQUIRED:
                raise ValueError(f"a value is required for the parameter {name!r}")
            if name in query.expanding:
                items = list(value) if convert is None else list(map(convert, value))
                if query.positional:
                    values.extend(items)
                else:
                    values.update((f"{name}_{i}", item) for i, item in enumerate(items, 1))
            elif query.positional:
                values.append(value if convert is None else convert(value))
            else:
                values[name] = value if convert is None else convert(value)
    except Exception as error:
        raise DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error, dialect=dialect,
                                  hide_parameters=connection.engine.hide_parameters) from error
    rows: Sequence[Sequence[Any]]
    if _on_the_driver(connection):
        cursor = _driver_run(connection, sql, tuple(values), many=False)
        coltypes = tuple(column[1] for column in cursor.description)
        rows = cursor.fetchall()
        cursor.close()
    else:
        result = connection.exec_driver_sql(sql, tuple(values) if query.positional else values)
        coltypes = tuple(column[1] for column in result.cursor.description)
        rows = result.all()
    return rows, coltypes


def fetch_columns(executor: Session | Connection, statement: Select, params: Mapping[str, Any]) -> list[list[Any]]:
    """``fetch_all``'s rows as columns (one list per selected column, in the rows' order), each
    value converted by its column's type once per distinct value and the result shared: for a
    long read of values that repeat (a price cache's days and prices: a million rows, a few
    thousand days), where converting each value was most of the time."""
    connection = executor.connection() if isinstance(executor, Session) else executor
    rows, coltypes = _driver_rows(connection, statement, params)
    if rows is None:
        rows = connection.execute(statement, dict(params)).all()
        return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in statement.selected_columns]
    if not rows:
        return [[] for _ in statement.selected_columns]
    columns = [list(column) for column in zip(*rows, strict=True)]
    for index, processor in _result_processors(statement, connection.dialect, coltypes):
        seen: dict[Any, Any] = {}
        columns[index] = [seen[v] if v in seen else seen.setdefault(v, processor(v)) for v in columns[index]]
    return columns
