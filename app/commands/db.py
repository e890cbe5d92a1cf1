"""`trading-console db upgrade [REV] | downgrade REV | current | sql`.

Database errors become one clear line (the URL's password hidden) and exit code 5, never a
traceback; an unknown revision is bad input (exit 2).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from app.cli import EXIT_BAD_INPUT, EXIT_BROKER, EXIT_OK
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
    downgrade.set_defaults(handler=_downgrade)

    current = actions.add_parser("current", help="print the database's revision")
    current.set_defaults(handler=_current)

    sql = actions.add_parser("sql", help="print the DDL that creates the schema (MySQL by default), for a DBA")
    sql.add_argument("--dialect", choices=("mysql", "sqlite"), default="mysql", help="SQL dialect of the DDL (default mysql)")
    sql.add_argument("--from", dest="from_rev", default=None, help="print only the changes after this revision")
    sql.add_argument("rev", nargs="?", default="head", help="last revision to include (default head)")
    sql.set_defaults(handler=_sql)


def error_line(exc: BaseException, url: str | None = None) -> str:
    """One line about a database failure, with every password hidden."""
    from services.db.errors import describe_db_error

    return describe_db_error(exc, url)


def run_guarded(url: str, action: Callable[[], int]) -> int:
    """Run ``action``; database and revision errors become one line on stderr and an exit code."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from services.db.errors import DatabaseLocationError, NoSchema
    from services.db.migrate import SchemaNotCurrent

    try:
        return action()
    except SchemaNotCurrent as exc:
        print(f"trading-console: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_BROKER
    except (DatabaseLocationError, NoSchema) as exc:
        print(f"trading-console: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CommandError as exc:
        print(f"trading-console: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ArgumentError as exc:
        print(f"trading-console: invalid database URL {redact_url(url)}: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (SQLAlchemyError, OSError, RuntimeError) as exc:
        log.debug("database command failed", exc_info=True)
        print(f"trading-console: {error_line(exc, url)}", file=sys.stderr)
        return EXIT_BROKER


def _upgrade(args: argparse.Namespace, settings) -> int:
    from services.db import migrate

    url = settings.effective_db_url

    def action() -> int:
        revision = migrate.upgrade(url, args.rev)
        print(f"{redact_url(url)}: at revision {revision or 'base'}")
        return EXIT_OK

    return run_guarded(url, action)


def _downgrade(args: argparse.Namespace, settings) -> int:
    from services.db import migrate

    url = settings.effective_db_url

    def action() -> int:
        revision = migrate.downgrade(url, args.rev)
        print(f"{redact_url(url)}: at revision {revision or 'base (no tables)'}")
        return EXIT_OK

    return run_guarded(url, action)


def _current(args: argparse.Namespace, settings) -> int:
    from services.db import migrate

    url = settings.effective_db_url

    def action() -> int:
        revision = migrate.current(url)
        head = migrate.head()
        if revision is None:
            print(f"{redact_url(url)}: no schema (run `trading-console db upgrade`)")
        else:
            print(f"{redact_url(url)}: {revision}{' (head)' if revision == head else f' (head is {head})'}")
        return EXIT_OK

    return run_guarded(url, action)


def _sql(args: argparse.Namespace, settings) -> int:
    from services.db import migrate

    def action() -> int:
        sys.stdout.write(migrate.offline_sql(args.dialect, args.rev, from_rev=args.from_rev))
        return EXIT_OK

    return run_guarded("", action)
