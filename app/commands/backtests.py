"""`trading-console backtests [--limit N] [--json]`: the past backtests, newest first (id, when it
started, status, projects, trading days, final equity per project and in total, message).
`trading-console backtests --show ID [--json]`: one backtest's stored results, printed as
`backtest` prints a run it has just made (the same table, the same JSON object), the settings it
ran with under its headline (``services.backtest.summary.settings_line``; ``params`` and
``settings`` in the JSON, of the list's items too).

Reading closes first the backtests whose process is gone (services.backtest.closing), as every
look at backtests does. Exit 2 for an unknown backtest."""

from __future__ import annotations

import argparse
import json

from app.cli import EXIT_BAD_INPUT, EXIT_OK, say_failure
from app.commands import arguments
from app.commands.db import run_guarded


def register(subparsers) -> None:
    parser = subparsers.add_parser("backtests", help="the past backtests, newest first; --show ID: one's stored results")
    parser.add_argument("--limit", type=arguments.count(1), default=None, metavar="N",
                        help="the newest N backtests (default 20)")
    parser.add_argument("--show", type=arguments.record_id, default=None, metavar="ID",
                        help="one backtest's stored results, as `backtest` prints them")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.set_defaults(handler=_backtests)


def _backtests(args: argparse.Namespace, settings) -> int:
    from app.composition import open_existing_database
    from services.backtest.listing import DEFAULT_LIMIT, list_backtests, stored_outcome

    if args.show is not None and args.limit is not None:
        return say_failure(args, "bad_input", "--limit lists backtests; --show shows one: give one of them", EXIT_BAD_INPUT)
    url = settings.effective_db_url

    def action() -> int:
        database = open_existing_database(url)
        try:
            if args.show is not None:
                outcome = stored_outcome(database, args.show)
            else:
                listed = list_backtests(database, args.limit or DEFAULT_LIMIT)
        finally:
            database.dispose()
        if args.show is None:
            _print_listing(listed, as_json=args.json)
            return EXIT_OK
        if outcome is None:
            return say_failure(args, "not_found", f"backtest {args.show} does not exist", EXIT_BAD_INPUT)
        _print_outcome(outcome, as_json=args.json)
        return EXIT_OK

    return run_guarded(url, action, args)


def _print_outcome(outcome, *, as_json: bool) -> None:
    from app.commands.backtest import _print_table
    from services.backtest.requests import as_json as outcome_json

    if as_json:
        print(json.dumps(outcome_json(outcome), indent=2))
        return
    _print_table(outcome)  # its headline says the message


def _print_listing(listed, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps([item.to_dict() for item in listed], indent=2))
        return
    if not listed:
        print("no backtests")
        return
    rows = [("ID", "STARTED (UTC)", "STATUS", "DAYS", "PROJECTS", "FINAL EQUITY", "MESSAGE")]
    for item in listed:
        rows.append((str(item.id), f"{item.started:%Y-%m-%d %H:%M:%S}", item.status,
                     "" if item.days is None else str(item.days), ", ".join(item.projects),
                     ", ".join(f"{name} {value:,.2f}" for name, value in item.final_equity),
                     " ".join((item.message or "").split())))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(c.rjust(w) if i in (0, 3) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False))),
                         row[-1]]).rstrip())
