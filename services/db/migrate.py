"""Alembic, driven from code: the console, the CLI and the tests all come through here.

The migration scripts are found next to the installed ``migrations`` package (``Path(__file__)``),
never relative to the working directory, so an installed console can upgrade its database.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection, make_url

from services.db.links import connect_args

MIGRATIONS_LOCK = "ib_trading_console_migrate"


def migrations_dir() -> Path:
    """The installed ``migrations`` package folder (also when an older editable install maps
    it as a namespace package)."""
    import migrations

    for location in getattr(migrations, "__path__", []):
        candidate = Path(location)
        if (candidate / "env.py").is_file():
            return candidate.resolve()
    raise RuntimeError("the migrations package (migrations/env.py) is not installed with this console")


def alembic_config(url: str | None = None, *, output: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=output) if output is not None else Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # The URL travels in attributes: set_main_option would choke on a '%' in a password.
    config.attributes["url"] = url
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    """The revisions shipped with this code, read once a process: Alembic reads every revision
    file again for each ScriptDirectory, and ``head``, ``resolve`` and ``check_schema`` each made
    one (each command's and window's start; on SQLite an upgrade to where the file already was)."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision shipped with this code."""
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


def history() -> list[tuple[str, str]]:
    """Every revision shipped with this code, oldest first, each with what it changes (its
    docstring up to the first colon or full stop): what ``db upgrade REV`` / ``db downgrade REV``
    accept (``db history``)."""
    return list(_history())


@functools.cache
def _history() -> tuple[tuple[str, str], ...]:
    return tuple((script.revision, re.split(r"[:.](?:\s|$)", " ".join((script.doc or "").split()), maxsplit=1)[0].replace("``", "`"))
                 for script in reversed(list(_scripts().walk_revisions())))


class BadRevision(CommandError):
    """A revision named to ``db upgrade`` / ``downgrade`` / ``sql`` that names none, or not one
    that way, said in the console's words (Alembic's were "Relative revision +100 didn't produce
    100 migrations", "Walked too far", an AssertionError, or nothing while ``upgrade base-1``
    went to head)."""


_RELATIVE = re.compile(r"(?P<anchor>[^+-]*)(?P<step>[+-]\d+)")


def _unknown(name: str) -> str:
    return (f"{name!r} is not a revision of this console: `trading-console db history` lists them "
            f"(the newest, {head()}, is also called head)")


def resolve(rev: str, current: str | None, *, upgrade: bool | None = None,
            current_said: str = "the database's revision") -> str:
    """``rev`` as the one revision it names (``base`` for none), read as Alembic reads it (head,
    base, a revision or its first characters, ``+N`` / ``-N`` from ``current``, ``REV+N`` /
    ``REV-N``) along this console's one line of revisions, or :class:`BadRevision`. ``upgrade``
    True: a revision below ``current`` is refused (Alembic did nothing and said so not), False
    (a downgrade): one above it is. ``current_said``: what ``current`` is to the trader (`db sql`'s
    is its ``--from``, no database's)."""
    order = [revision for revision, _ in history()]

    def index_of(name: str, typed: str | None = None) -> int:  # -1: base; ``typed``: what an unknown name is said as
        if name in ("head", "heads"):
            return len(order) - 1
        if name == "base":
            return -1
        named = [i for i, revision in enumerate(order) if revision.startswith(name)] if name else []
        if len(named) != 1:
            raise BadRevision(_unknown(typed or name) if not named else
                              f"{name!r} is the start of {len(named)} revisions: give more of it (`trading-console db history` lists them)")
        return named[0]

    at = order.index(current) if current in order else None
    relative = _RELATIVE.fullmatch(rev.strip())
    if relative is None:
        target = index_of(rev.strip())
    else:
        if relative["anchor"]:
            # an unknown anchor is said as typed: `db upgrade @+1` named '@', not what the trader wrote
            start = index_of(relative["anchor"], rev.strip())
            start_name = "base" if start == -1 else order[start]
        elif current is None or at is not None:
            start, start_name = (-1 if at is None else at), f"{current_said}, {current or 'base'}"
        else:
            raise BadRevision(f"{rev!r} counts from {current_said}, {current}, which this console does not know "
                              "(a newer version migrated it): name the revision")
        target = start + int(relative["step"])
        if target >= len(order):
            after = len(order) - 1 - start
            raise BadRevision(f"{rev!r} goes past the newest revision, {order[-1]}: {after or 'none'} "
                              f"follow{'s' if after < 2 else ''} {start_name} (`trading-console db history` lists them)")
        if target < -1:
            raise BadRevision(f"{rev!r} goes below base (no tables): {start + 1 or 'none'} "
                              f"lie{'s' if start < 1 else ''} below {start_name} (`trading-console db history` lists them)")
    name = "base" if target == -1 else order[target]
    current_index = -1 if current is None else at
    if upgrade is True and current_index is not None and target < current_index:
        raise BadRevision(f"{rev!r} is {name}, below the database's revision, {current}: nothing changed; "
                          f"`trading-console db downgrade {rev}` goes back to it")
    if upgrade is False and current_index is not None and target > current_index:
        raise BadRevision(f"{rev!r} is {name}, above the database's revision, {current or 'base'}: nothing changed; "
                          f"`trading-console db upgrade {rev}` goes forward to it")
    return name


def revision_refusal(refusal: BaseException) -> str:
    """Alembic's refusal of a revision named to ``db upgrade`` / ``downgrade`` / ``sql`` as one
    line: a revision it cannot find is named with the way to list them (Alembic said "Can't
    locate revision identified by 'x'", no next step); any other refusal as Alembic says it."""
    from alembic.script.revision import ResolutionError

    cause = refusal.__cause__
    if isinstance(cause, ResolutionError):
        return _unknown(cause.argument)
    return str(refusal)


def _prepare_sqlite_file(url: str) -> None:
    """An SQLite file's folder must exist: refused with a clear line, never created silently
    (the console creates its own default data folder itself, explicitly)."""
    from services.db.errors import check_sqlite_folder

    check_sqlite_folder(url)


@contextmanager
def _migration_connection(url: str) -> Iterator[Connection]:
    """One connection for the whole migration; on MySQL a named lock keeps two starting
    consoles from migrating the same database at once."""
    from services.db.errors import check_sqlite_writable

    _prepare_sqlite_file(url)
    check_sqlite_writable(url)  # before SQLite creates a file, or fails half-way on one it cannot write
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args(url))
    try:
        with engine.connect() as connection:
            is_mysql = connection.dialect.name in ("mysql", "mariadb")
            if is_mysql:
                got = connection.execute(text("SELECT GET_LOCK(:name, 60)"), {"name": MIGRATIONS_LOCK}).scalar()
                if got != 1:
                    raise RuntimeError("another process is migrating this database (lock not acquired in 60 s)")
                connection.commit()
            try:
                yield connection
            finally:
                if is_mysql:
                    connection.rollback()
                    connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": MIGRATIONS_LOCK})
                    connection.commit()
    finally:
        engine.dispose()


def upgrade(url: str, rev: str = "head") -> str | None:
    """Upgrade the database at ``url`` to ``rev``; returns the revision now current."""
    with _migration_connection(url) as connection:
        now = MigrationContext.configure(connection).get_current_revision()
        target = resolve(rev, now, upgrade=True)
        connection.rollback()  # the read's transaction, before Alembic begins its own
        if now is not None and target == now:
            return now  # there already (every SQLite open): no Alembic run, no revision file read
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, target)
        connection.commit()
        return MigrationContext.configure(connection).get_current_revision()


def downgrade(url: str, rev: str, *, accept_loss: bool = False) -> str | None:
    """Downgrade to ``rev`` (``base`` removes every table); returns the revision now current.

    A downgrade that would drop tables or columns holding rows (the audit log, orders, fills...)
    is refused with :class:`DowngradeLosesData`, nothing changed, unless ``accept_loss``: the
    record is gone for good, so the operator says so after backing up."""
    from services.db.downgrade_loss import DowngradeLosesData, loss_on

    with _migration_connection(url) as connection:
        rev = resolve(rev, MigrationContext.configure(connection).get_current_revision(), upgrade=False)
        connection.rollback()
        loss = loss_on(connection, url, rev)  # under the migration lock, as the downgrade runs
        if loss.loses_rows and not accept_loss:
            raise DowngradeLosesData(loss)
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, rev)
        connection.commit()
        return MigrationContext.configure(connection).get_current_revision()


def current(url: str) -> str | None:
    """The database's revision, ``None`` for an empty (never migrated) database or an SQLite
    file that does not exist, which asking never creates (an empty file left at a mistyped
    path was then taken for a database)."""
    from services.db.errors import sqlite_path

    _prepare_sqlite_file(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args(url))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def offline_sql(dialect: str = "mysql", rev: str = "head", *, from_rev: str | None = None) -> str:
    """The DDL that upgrades an empty (or ``from_rev``) database to ``rev``, for a DBA who
    applies changes by hand."""
    urls = {"mysql": "mysql+pymysql://", "mariadb": "mysql+pymysql://", "sqlite": "sqlite://"}
    try:
        url = urls[dialect]
    except KeyError:
        raise ValueError(f"unknown dialect {dialect!r}; one of {', '.join(sorted(urls))}") from None
    output = io.StringIO()
    config = alembic_config(url, output=output)
    start = resolve(from_rev, None) if from_rev else None
    target = resolve(rev, None if start in (None, "base") else start, current_said="the revision of --from")
    order = ["base", *(revision for revision, _ in history())]
    if start is not None and order.index(target) < order.index(start):
        # a database's words were said here ("below the database's revision ...: `db downgrade REV`
        # goes back to it"), of a command that reads no database: the DDL only ever goes forward
        raise BadRevision(f"{rev!r} is {target}, below the revision of --from, {start}: `db sql` prints upgrades "
                          f"only: name a REV after --from, or a --from before {target}")
    command.upgrade(config, f"{start}:{target}" if start else target, sql=True)
    return output.getvalue()


class SchemaNotCurrent(RuntimeError):
    """A MySQL/MariaDB database whose schema is not the one this code needs. Changing a shared
    server's schema is the operator's decision: the console never does it on its own."""

    def __init__(self, redacted_url: str, revision: str | None, needed: str, *, known: bool) -> None:
        self.revision, self.needed = revision, needed
        if revision is None:
            state = "has no schema yet"
        elif known:
            state = f"is at schema revision {revision}, behind {needed}"
        else:
            state = f"is at schema revision {revision}, which this console does not know (a newer version migrated it)"
        action = ("run `trading-console db upgrade` (the operator's decision: back up first)" if known or revision is None
                  else "use the newer console, or downgrade the database with it")
        super().__init__(f"the database at {redacted_url} {state}: {action}")


def is_mysql_url(url: str) -> bool:
    return make_url(url).get_backend_name() in ("mysql", "mariadb")


def check_schema(url: str) -> str:
    """The revision of a MySQL/MariaDB database, if it is the head this code ships; otherwise
    :class:`SchemaNotCurrent`. Nothing is changed."""
    from services.urls import redact_url

    needed = head()
    revision = current(url)
    if revision == needed:
        return revision
    known = False
    if revision is not None:
        try:
            known = _scripts().get_revision(revision) is not None
        except Exception:  # noqa: BLE001 - an unknown revision id raises in some Alembic versions
            known = False
    raise SchemaNotCurrent(redact_url(url), revision, needed, known=known)


def ensure_schema(url: str) -> str | None:
    """What the console and every command (except ``db ...``) call when they open a database.

    SQLite (a private file) upgrades itself to the newest revision. A MySQL/MariaDB database is
    left untouched: at the head revision it is used, otherwise -- behind, empty, or ahead --
    :class:`SchemaNotCurrent` says to run ``trading-console db upgrade``."""
    if is_mysql_url(url):
        return check_schema(url)
    return upgrade(url, "head")
