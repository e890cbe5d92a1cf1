"""`trading-console watch [--json] [--interval S]`: follow the shared database as another process
(a trading window, ``execute``, ``serve``) writes it, read-only.

One line per order, fill or position change and per decision snapshot stored (``snapshot import``
elsewhere) as it lands, from the moment it starts, until stopped (Ctrl+C or SIGTERM: exit 0).
``--json`` prints newline-delimited JSON, one object per line with ``kind`` (order, fill,
position, snapshot), the row's fields (Decimals as strings) and
``observed_at`` (when the feed saw it). The database is opened read-only; nothing is written.
It is the one every command opens, ``orders``, ``fills`` and ``positions`` among them
(Settings.effective_db_url): --db-url or TC_DB_URL, else the console's console.sqlite3 (README,
"Settings, data and logs"), or the demo window's demo.sqlite3 when the demo profile is given
(``--demo``, ``--profile demo``; demo is also the default profile, which keeps console.sqlite3).
docs/change-feed.md describes the feed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from app.cli import EXIT_OK
from app.commands import arguments
from app.commands.db import run_guarded

DEFAULT_INTERVAL = 0.25  # seconds between looks: a change is printed well within one second


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "watch", help="print orders, fills, positions and snapshots as they land in the database (read-only)",
        description=("Follow the shared database read-only: one line per order, fill or position change "
                     "and per snapshot stored as another process writes it, until Ctrl+C or SIGTERM (exit 0). Give the database with "
                     "--db-url before the command (or TC_DB_URL); without one, the database `orders`, `fills` and "
                     "`positions` read: the console's console.sqlite3, or the demo window's demo.sqlite3 given "
                     "--demo (or --profile demo) before the command."))
    parser.add_argument("--json", action="store_true",
                        help="newline-delimited JSON: one object per line (kind, fields, observed_at)")
    parser.add_argument("--interval", type=arguments.seconds(positive=True, within=(0.05, 5)), default=DEFAULT_INTERVAL,
                        help=f"seconds between looks at the database (default {DEFAULT_INTERVAL}; 0.05 to 5)")
    parser.set_defaults(handler=_watch)


def _watch(args: argparse.Namespace, settings) -> int:
    # the commands' one database (orders, fills, positions read it too): demo mode's only when the
    # demo profile was given, not by the default profile, which gives the monitor window demo's
    url = settings.effective_db_url
    return run_guarded(url, lambda: _follow(url, args.json, args.interval), args)


def _follow(url: str, as_json: bool, interval: float) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from app.composition import open_read_only_database
    from services.change_feed import REPLACED_LINE, ChangeFeed, FeedBatch, batch_lines, line_text, reach_line
    from services.console_queries import project_names
    from services.urls import redact_url

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    db = open_read_only_database(url)
    try:
        feed = ChangeFeed(db)
        feed.prime()
        print(f"watching {redact_url(url)} read-only (orders, fills, positions, snapshots); Ctrl+C stops", file=sys.stderr, flush=True)
        unreachable = False
        batch: FeedBatch | None = None
        while not stop.wait(0 if batch else interval):  # after a change, look again at once
            try:
                batch = feed.poll()
                names = project_names(db) if batch.positions else {}  # a position's book said by its name
            except SQLAlchemyError as exc:  # a database restart: say so once, keep looking
                batch = None
                if not unreachable:  # the monitor window's words (reach_line)
                    print(f"trading-console: {reach_line(exc, url)}", file=sys.stderr, flush=True)
                unreachable = True
                continue
            if unreachable:
                print(f"trading-console: {reach_line(None)}", file=sys.stderr, flush=True)
                unreachable = False
            if batch.replaced:  # the monitor window's words
                print(f"trading-console: {REPLACED_LINE}", file=sys.stderr, flush=True)
            lines = [json.dumps(line, sort_keys=True) if as_json else line_text(line) for line in batch_lines(batch, names)]
            if lines:
                try:
                    sys.stdout.write("\n".join(lines) + "\n")
                    sys.stdout.flush()
                except BrokenPipeError:  # `watch | head`: the reader has gone
                    return EXIT_OK
        return EXIT_OK
    finally:
        db.dispose()
