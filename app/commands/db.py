"""`trading-console db upgrade [REV] | downgrade REV | current | history | sql`.

Database errors become one clear line (the URL's password hidden) and exit code 5, never a
traceback; an unknown revision is bad input (exit 2), and so is a downgrade that would drop rows
(tables or columns that hold them) without ``--yes``: the line names what it would remove.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from app.cli import EXIT_BAD_INPUT, EXIT_BROKER, EXIT_OK, say_failure
from services.urls import redact_text, redact_url

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser("db", help="database schema: upgrade, downgrade, current revision, MySQL DDL")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)

    upgrade = actions.add_parser("upgrade", help="upgrade the database to REV (default: head, the newest)")
    upgrade.add_argument("rev", nargs="?", default="head", help="target revision (default: head, the newest)")
    upgrade.set_defaults(handler=_upgrade)

    downgrade = actions.add_parser("downgrade", help="downgrade the database to REV ('base' removes every table)")
    downgrade.add_argument("rev", help="target revision, or base (removes every table)")
    downgrade.add_argument("--yes", action="store_true",
                           help="downgrade even when it drops tables or columns that hold rows (back up first)")
    downgrade.set_defaults(handler=_downgrade)

    current = actions.add_parser("current", help="print the database's revision")
    current.set_defaults(handler=_current)

    history = actions.add_parser("history", help="list the revisions this console knows, oldest first (the REV of upgrade and downgrade)")
    history.set_defaults(handler=_history)

    sql = actions.add_parser("sql", help="print the DDL that creates the schema (MySQL by default), for a DBA")
    sql.add_argument("--dialect", choices=("mysql", "sqlite"), default="mysql", help="SQL dialect of the DDL (default mysql)")
    sql.add_argument("--from", dest="from_rev", default=None, help="print only the changes after this revision")
    sql.add_argument("rev", nargs="?", default="head", help="last revision to include (default head)")
    sql.set_defaults(handler=_sql)


def error_line(exc: BaseException, url: str | None = None) -> str:
    """One line about a database failure, with every password hidden."""
    from services.db.errors import describe_db_error

    return describe_db_error(exc, url)


def database_failure(exc: BaseException, url: str | None) -> tuple[str, str, int] | None:
    """``exc`` as a failure of the database at ``url`` (code, one line, exit code), or None when
    it is none: the one reading of such errors for ``run_guarded`` and ``app.cli.report_failure``."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

    from services.db.downgrade_loss import DowngradeLosesData
    from services.db.errors import DatabaseLocationError, NoSchema, is_lock_held, is_sqlite_not_writable
    from services.db.migrate import SchemaNotCurrent

    if isinstance(exc, DowngradeLosesData):  # the operator's decision: nothing changed until --yes
        return "downgrade_loses_data", redact_text(str(exc)), EXIT_BAD_INPUT
    if isinstance(exc, (ArgumentError, NoSuchModuleError)) or (
        isinstance(exc, ModuleNotFoundError) and "sqlalchemy" not in str(exc)
    ):
        return "bad_database_url", f"invalid database URL {redact_url(url or '')}: {redact_text(str(exc))}", EXIT_BAD_INPUT
    if isinstance(exc, SchemaNotCurrent):  # the operator's decision: one line, nothing changed
        return "schema_not_current", redact_text(str(exc)), EXIT_BROKER
    if isinstance(exc, DatabaseLocationError):
        return "bad_database_location", redact_text(str(exc)), EXIT_BAD_INPUT
    if isinstance(exc, NoSchema):
        return "no_schema", redact_text(str(exc)), EXIT_BAD_INPUT
    if isinstance(exc, CommandError):
        from services.db.migrate import revision_refusal

        return "bad_revision", redact_text(revision_refusal(exc)), EXIT_BAD_INPUT
    if isinstance(exc, OperationalError) and is_sqlite_not_writable(exc, url):  # this user's permissions
        return "bad_database_location", error_line(exc, url), EXIT_BAD_INPUT
    if isinstance(exc, OperationalError) and is_lock_held(exc):
        # the event writer's own wait for such locks says ``database_lock_held`` (DatabaseLockHeld):
        # whichever step of a command met them first, one code; "unreachable" sent the trader to
        # look for a database that answered all along
        return "database_lock_held", error_line(exc, url), EXIT_BROKER
    if isinstance(exc, OperationalError):  # app.commands.execution's word for it too
        return "database_unreachable", error_line(exc, url), EXIT_BROKER
    if isinstance(exc, SQLAlchemyError):
        return "database_error", error_line(exc, url), EXIT_BROKER
    return None


def run_guarded(url: str, action: Callable[[], int], args: argparse.Namespace | None = None) -> int:
    """Run ``action``; database and revision errors (and an OSError or RuntimeError of the
    database work, but not a reader of stdout gone) become ``say_failure``'s line (with ``args.json`` also its JSON object) and an
    exit code."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from services.db.errors import DatabaseLocationError, NoSchema
    from services.db.migrate import SchemaNotCurrent

    try:
        return action()
    except BrokenPipeError:  # `trail --run 1 | head`: the reader has gone, not the database (app.cli.main says it)
        raise
    except (SchemaNotCurrent, DatabaseLocationError, NoSchema, CommandError, SQLAlchemyError, OSError, RuntimeError) as exc:
        log.debug("database command failed", exc_info=True)
        failure = database_failure(exc, url) or ("database_error", error_line(exc, url), EXIT_BROKER)
        return say_failure(args, *failure)


def _console_folder(settings) -> None:
    """The console's own data folder, made when missing, for its own database (no URL named): a
    first ``db upgrade`` on a new machine was refused with 'the folder ... does not exist: create
    it', the folder every other command creates. A folder of a URL the trader named is never
    created (a typo would start an empty database)."""
    if not settings.db_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)


def _upgrade(args: argparse.Namespace, settings) -> int:
    from services.db import migrate

    url = settings.effective_db_url
    _console_folder(settings)

    def action() -> int:
        revision = migrate.upgrade(url, args.rev)
        print(f"{redact_url(url)}: at revision {revision or 'base'}")
        return EXIT_OK

    return run_guarded(url, action, args)


def _downgrade(args: argparse.Namespace, settings) -> int:
    from services.db import migrate

    url = settings.effective_db_url

    def action() -> int:
        revision = migrate.downgrade(url, args.rev, accept_loss=args.yes)
        print(f"{redact_url(url)}: at revision {revision or 'base (no tables)'}")
        return EXIT_OK

    return run_guarded(url, action, args)


def _current(args: argparse.Namespace, settings) -> int:
    from services.db import migrate

    url = settings.effective_db_url
    _console_folder(settings)

    def action() -> int:
        revision = migrate.current(url)
        head = migrate.head()
        if revision is None:
            print(f"{redact_url(url)}: no schema (run `trading-console db upgrade`)")
        else:
            print(f"{redact_url(url)}: {revision}{' (head)' if revision == head else f' (head is {head})'}")
        return EXIT_OK

    return run_guarded(url, action, args)


def _history(args: argparse.Namespace, settings) -> int:
    """The revisions, oldest first, the newest marked head; needs no database."""
    from services.db import migrate

    revisions = migrate.history()
    named = [f"{revision} (head)" if revision == revisions[-1][0] else revision for revision, _ in revisions]
    width = max(map(len, named))
    for name, (_, what) in zip(named, revisions, strict=True):
        print(f"{name.ljust(width)}  {what}")
    return EXIT_OK


def _sql(args: argparse.Namespace, settings) -> int:
    from services.db import migrate

    def action() -> int:
        sys.stdout.write(migrate.offline_sql(args.dialect, args.rev, from_rev=args.from_rev))
        return EXIT_OK

    return run_guarded("", action)
