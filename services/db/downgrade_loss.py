"""What a schema downgrade would lose: the tables it drops and the columns it removes, with the
rows they hold now. ``migrate.downgrade`` refuses to lose rows unless told to.

The schema at each revision is learnt by running the migrations themselves on a scratch
in-memory SQLite database (up to the current revision, then down to the target), never on the
database in question: MariaDB commits DDL implicitly, so a trial downgrade there could not be
rolled back. The migrations make the same tables and columns on both backends, and relative
targets (``-1``) and unknown revisions resolve and fail exactly as the real downgrade's do.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, pool, select, table
from sqlalchemy.engine import Connection

from services.core.wording import counted
from services.urls import redact_url

# Alembic's own bookkeeping: it keeps the table at base, emptied, and its row is the revision.
_BOOKKEEPING = "alembic_version"

Schema = dict[str, dict[str, str]]  # table -> column -> its type as reflected


@dataclass(frozen=True)
class TableLoss:
    """A table the downgrade drops (``columns`` empty) or whose ``columns`` it removes or
    retypes, and how many rows the table holds now."""

    table: str
    rows: int
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class DowngradeLoss:
    url: str
    from_revision: str | None
    to_revision: str | None
    dropped_tables: tuple[TableLoss, ...]  # every table dropped, empty ones too
    changed_tables: tuple[TableLoss, ...]  # tables that keep their rows but lose columns' values

    @property
    def loses_rows(self) -> bool:
        return any(loss.rows for loss in (*self.dropped_tables, *self.changed_tables))

    def describe(self) -> str:
        """One line naming what would be lost, for the operator who must decide."""
        target = self.to_revision or "base"
        parts = [", ".join(f"{loss.table} ({_rows(loss.rows)})" for loss in self.dropped_tables if loss.rows)]
        columns = [f"{', '.join(f'{loss.table}.{name}' for name in loss.columns)} ({_rows(loss.rows)})"
                   for loss in self.changed_tables if loss.rows]
        if columns:
            parts.append(f"the columns added since {target}, with their values: {', '.join(columns)}")
        return (f"downgrading {redact_url(self.url)} from {self.from_revision} to {target} removes: "
                f"{'; '.join(part for part in parts if part)}")


class DowngradeLosesData(RuntimeError):
    """A downgrade that would drop rows or column values, not confirmed: nothing was changed."""

    def __init__(self, loss: DowngradeLoss) -> None:
        self.loss = loss
        super().__init__(f"{loss.describe()}; back up the database first, then run again with --yes")


def _rows(count: int) -> str:
    return counted(count, "row").replace(str(count), f"{count:,}", 1)


def loss_on(connection: Connection, url: str, rev: str) -> DowngradeLoss:
    """What downgrading the database of ``connection`` (at ``url``) to ``rev`` would lose. Only
    reads it: the read's transaction is ended before returning."""
    from_revision = MigrationContext.configure(connection).get_current_revision()
    if from_revision is None:  # no schema: nothing to lose, and the downgrade itself judges ``rev``
        connection.rollback()
        return DowngradeLoss(url, None, None, (), ())
    before, after, to_revision = _schemas(from_revision, rev)
    present = set(inspect(connection).get_table_names())

    def rows(name: str) -> int:
        if name not in present:
            return 0
        return int(connection.execute(select(func.count()).select_from(table(name))).scalar_one())

    dropped = tuple(TableLoss(name, rows(name)) for name in sorted(set(before) - set(after) - {_BOOKKEEPING}))
    changed = []
    for name in sorted(set(before) & set(after) - {_BOOKKEEPING}):
        # a column removed, or retyped (conservatively: a narrower type may cut its values)
        lost = tuple(column for column, kind in before[name].items() if after[name].get(column) != kind)
        if lost:
            changed.append(TableLoss(name, rows(name), lost))
    connection.rollback()
    return DowngradeLoss(url, from_revision, to_revision, dropped, tuple(changed))


def downgrade_loss(url: str, rev: str) -> DowngradeLoss:
    """What ``migrate.downgrade(url, rev)`` would lose; changes nothing."""
    from services.db.links import connect_args
    from services.db.migrate import current

    if current(url) is None:  # an SQLite file that is not there is never created by asking
        return DowngradeLoss(url, None, None, (), ())
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args(url))
    try:
        with engine.connect() as connection:
            return loss_on(connection, url, rev)
    finally:
        engine.dispose()


def _schemas(from_revision: str, rev: str) -> tuple[Schema, Schema, str | None]:
    """The tables and columns at ``from_revision`` and after downgrading it to ``rev``, and the
    revision ``rev`` resolves to."""
    from services.db.migrate import alembic_config

    # one connection for the in-memory database's whole life (SQLite's batch operations open none)
    engine = create_engine("sqlite://", poolclass=pool.StaticPool)
    try:
        with engine.connect() as scratch:
            config = alembic_config("sqlite://")
            config.attributes["connection"] = scratch
            command.upgrade(config, from_revision)
            scratch.commit()
            before = _schema(scratch)
            command.downgrade(config, rev)
            scratch.commit()
            return before, _schema(scratch), MigrationContext.configure(scratch).get_current_revision()
    finally:
        engine.dispose()


def _schema(connection: Connection) -> Schema:
    inspector = inspect(connection)
    return {name: {column["name"]: str(column["type"]) for column in inspector.get_columns(name)}
            for name in inspector.get_table_names()}
