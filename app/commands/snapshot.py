"""`trading-console snapshot import FILE --project NAME [--json]` and `snapshot list`.

Import validates the whole file first (services.core.snapshots) and stores nothing when it has
any problem: the problems go to stderr with their lines (or into the JSON) and the exit code is
2. A valid file is stored with all its items in one unit of work; the new snapshot's id is
printed. Importing the same file again (same name, same content hash) for the same project
returns the existing snapshot instead of storing a copy; the same targets under another file
name are a new snapshot.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from app.cli import EXIT_BAD_INPUT, EXIT_OK, say_failure
from app.commands import arguments


def _project_name(text: str) -> str:
    """Refused up front when empty; read as the repository stores it (project_name), so the
    name printed is the stored one."""
    from services.core.snapshots import project_name

    name = project_name(text)
    if not name:
        raise argparse.ArgumentTypeError("a project needs a name")
    return name


def register(subparsers) -> None:
    parser = subparsers.add_parser("snapshot", help="import and list decision snapshots (target weights)")
    sub = parser.add_subparsers(dest="snapshot_command", metavar="ACTION", required=True)

    imp = sub.add_parser("import", help="validate a CSV/JSON snapshot and store it")
    imp.add_argument("file", metavar="FILE", help="CSV or JSON file: symbol, weight [, score, rank, price, sec_type, exchange, currency, primary_exchange]")
    imp.add_argument("--project", required=True, type=_project_name, metavar="NAME", help="project the snapshot belongs to (created if new)")
    imp.add_argument("--max-gross-weight", type=arguments.positive, default=Decimal("1.0"), metavar="W", help="largest allowed sum of |weight| (default 1.0)")
    imp.add_argument("--allow-short", action="store_true", help="accept negative weights")
    imp.add_argument("--note", default=None, help="free text stored with the snapshot")
    imp.add_argument("--json", action="store_true", help="print JSON")
    imp.set_defaults(handler=import_snapshot)

    lst = sub.add_parser("list", help="list stored snapshots, newest first")
    lst.add_argument("--project", metavar="NAME", default=None, help="only this project's snapshots")
    lst.add_argument("--limit", type=arguments.count(1), default=None, metavar="N", help="only the newest N snapshots")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(handler=list_snapshots)


def open_database(settings):
    """The settings' database, migrated to the current schema."""
    from app.composition import open_database as open_migrated

    return open_migrated(settings)


def import_snapshot(args: argparse.Namespace, settings) -> int:
    from services.console_queries import parse_for_storage, store_snapshot, unreadable_snapshot_line
    from services.core.snapshots import SnapshotFormatError

    try:  # the whole file is checked before the database is even opened
        parsed = parse_for_storage(args.file, project=args.project, max_gross_weight=args.max_gross_weight,
                                   allow_short=args.allow_short)
    except SnapshotFormatError as exc:  # the window's words for it, as below (unreadable_snapshot_line)
        message = unreadable_snapshot_line(args.file, exc)
        return _fail(args, [{"line": None, "column": None, "code": "format", "message": message}], message)
    except OSError as exc:
        message = unreadable_snapshot_line(args.file, exc)
        return _fail(args, [{"line": None, "column": None, "code": "io", "message": message}], message)
    if not parsed.ok:  # nothing is stored; the database is not touched
        return _problems(args, parsed)
    from services.execution.audit import os_user

    db = open_database(settings)
    try:
        outcome = store_snapshot(db, parsed, args.project, note=args.note, actor=os_user())
    finally:
        db.dispose()
    if not outcome.ok:  # a problem store_snapshot found (a note too long to keep): nothing stored
        return _problems(args, outcome.parsed)
    if args.json:
        print(json.dumps({
            "id": outcome.snapshot_id,
            "created": outcome.created,
            "project": args.project,
            "project_id": outcome.project_id,
            "source": parsed.source_name,
            "items": len(parsed.items),
            "gross_weight": str(parsed.gross_weight),
            "content_hash": parsed.content_hash,
        }, indent=2))
    else:
        print(outcome.snapshot_id)
        print(outcome.headline(args.project), file=sys.stderr)  # the window's words (ImportOutcome.headline)
    return EXIT_OK


def _problems(args, parsed) -> int:
    from services.console_queries import refused_import_line
    from services.core.wording import file_problem

    said = refused_import_line(parsed)  # the window's words for it
    if args.json:
        print(json.dumps({"error": "bad_input", "message": said,
                          "source": parsed.source_name, "errors": [p.to_dict() for p in parsed.errors]}, indent=2))
    else:
        print(f"trading-console: {said}", file=sys.stderr)
        for problem in parsed.errors:  # as the Snapshots panel lists them
            print(f"  {file_problem(problem.line, problem.column, problem.message)}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _fail(args, errors: list[dict], message: str) -> int:
    if args.json:
        print(json.dumps({"error": "bad_input", "message": message, "errors": errors}, indent=2))
    else:
        print(f"trading-console: {message}", file=sys.stderr)  # as every command says it (app.cli.say_failure)
    return EXIT_BAD_INPUT


def list_snapshots(args: argparse.Namespace, settings) -> int:
    from services.console_queries import NoSuchProject, projects_and_snapshots

    db = open_database(settings)
    try:  # the window's query (its Snapshots list)
        projects, snapshots = projects_and_snapshots(db, project=args.project, limit=args.limit)
    except NoSuchProject as exc:
        return say_failure(args, "not_found", f"snapshot list: {exc}", EXIT_BAD_INPUT)
    finally:
        db.dispose()
    names = {p.id: p.name for p in projects}
    rows: list[dict[str, Any]] = [
        {"id": s.id, "project": names.get(s.project_id), "created_at": s.created_at.isoformat(), "items": s.item_count,
         "source": s.source_name, "content_hash": s.content_hash, "note": s.note}
        for s in snapshots
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no snapshots")
        return EXIT_OK
    print(f"{'id':>5}  {'project':<16} {'created (UTC)':<20} {'items':>5}  {'hash':<12}  source")
    for r in rows:
        print(f"{r['id']:>5}  {(r['project'] or '')[:16]:<16} {r['created_at'][:19].replace('T', ' '):<20} {r['items']:>5}  {r['content_hash'][:12]:<12}  {r['source']}")
    return EXIT_OK
