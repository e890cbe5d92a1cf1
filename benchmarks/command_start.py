"""What every command and the window pay before their own work, in the same run:

    python3 dev.py bench command_start [--repeat=50]

- **opening a current SQLite database**: ``migrate.ensure_schema`` on a file already at the
  newest revision (each command's and the window's open), against the Alembic run it made
  before (``command.upgrade`` to where the file already was, its revision files read again);
- **reading a command line**: ``app.cli.command_parser()`` (built once a thread) parsing
  ``db current``, against ``build_parser()`` built for each parse as ``main`` did.

Process CPU time per call, medians of ``--repeat``; the ratios are the old way's over the new,
measured in the same run. A test run makes some 300 such opens and 500 such parses in its
workers alone, and each command child one of each.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench command_start", description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--repeat", type=int, default=50, help="timed calls of each (default 50)")
    return parser


def _per_call(call: Callable[[], object], repeat: int) -> float:
    call()  # imports and first-time caches out of the timing
    times = []
    for _ in range(repeat):
        started = time.process_time()
        call()
        times.append(time.process_time() - started)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from alembic import command

    from app import cli
    from services.db import migrate

    with tempfile.TemporaryDirectory(prefix="bench-command-start-") as folder:
        url = f"sqlite:///{Path(folder) / 'current.sqlite3'}"
        migrate.upgrade(url)

        def alembic_run() -> None:  # what upgrade() ran even when there was nothing to do
            # its revisions read again, as head() and history() did for each call
            migrate._scripts.cache_clear()
            migrate._history.cache_clear()
            migrate.resolve("head", migrate.current(url), upgrade=True)
            with migrate._migration_connection(url) as connection:
                config = migrate.alembic_config(url)
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()

        new_open = _per_call(lambda: migrate.ensure_schema(url), args.repeat)
        old_open = _per_call(alembic_run, args.repeat)
    new_parse = _per_call(lambda: cli.command_parser().parse_args(["db", "current"]), args.repeat)
    old_parse = _per_call(lambda: cli.build_parser().parse_args(["db", "current"]), args.repeat)
    print(f"opening a current SQLite database: {new_open * 1000:6.2f} ms   the Alembic run it made before "
          f"{old_open * 1000:6.2f} ms   x{old_open / new_open:.0f}")
    print(f"reading a command line:            {new_parse * 1000:6.2f} ms   a parser built for each parse "
          f"{old_parse * 1000:6.2f} ms   x{old_parse / new_parse:.0f}")
    return 0
