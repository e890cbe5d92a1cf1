"""`trading-console bars import FILE`, `bars download --symbols ... --from DATE --to DATE` and
`bars show`: the historical-price cache (services/price_cache.py).

Import checks the whole CSV / Parquet file first (services/core/bar_files.py) and stores nothing
when it has any problem: the problems go to stderr with their lines (or into the JSON) and the
exit code is 2. Download connects like every broker command (TWS, IB Gateway, or the built-in
simulator when it is the configured data source) and asks only for the trading days the cache
lacks, within IB's historical-data pacing (docs/ib-pacing.md, "Historical data"): a listing the
broker does not know is named, nothing is downloaded and the exit code is 2 (bad input, as a
file with any problem is refused whole); a listing whose bars the broker then refuses is named,
the others' are stored and the exit code is 5. Show lists what the cache holds.
"""

from __future__ import annotations

import argparse
import json
import sys

from app.cli import EXIT_BAD_INPUT, EXIT_BROKER, EXIT_OK, say_failure
from app.commands import arguments
from services.core.bars import DEFAULT_WHAT_TO_SHOW, WHAT_TO_SHOW  # pure and light: no database at start-up
from services.core.wording import counted


def _symbols(text: str) -> list[str]:
    from services.core.bar_files import listing_key

    try:
        symbols = [listing_key(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not symbols:
        raise argparse.ArgumentTypeError("name at least one symbol")
    return list(dict.fromkeys(symbols))


def register(subparsers) -> None:
    from app.commands.execution import _connection_options

    parser = subparsers.add_parser("bars", help="daily price bars: import files, download from the broker, show the cache")
    sub = parser.add_subparsers(dest="bars_command", metavar="ACTION", required=True)

    imp = sub.add_parser("import", help="check a CSV/Parquet bar file and store its bars")
    imp.add_argument("file", metavar="FILE", help="CSV or Parquet: date,symbol,open,high,low,close[,volume], no other column; "
                     "date YYYY-MM-DD, symbol a listing key (AAPL, SAP@IBIS:EUR)")
    imp.add_argument("--what-to-show", dest="what_to_show", choices=WHAT_TO_SHOW, default=DEFAULT_WHAT_TO_SHOW,
                     help="the series the bars belong to (default TRADES)")
    imp.add_argument("--json", action="store_true", help="print JSON")
    imp.set_defaults(handler=import_bars)

    down = sub.add_parser("download", help="fetch the daily bars the cache lacks from the broker", description=(
        "Fetch daily bars from TWS / IB Gateway (or the built-in simulator) for the trading days "
        "from --from to --to that the cache lacks; one request per run of missing days, within IB's "
        "historical-data pacing (at most 60 requests in 10 minutes)."))
    down.add_argument("--symbols", required=True, type=_symbols, metavar="LIST",
                      help="comma-separated listing keys (AAPL,MSFT,SAP@IBIS:EUR)")
    down.add_argument("--from", dest="first", required=True, type=arguments.day, metavar="DATE", help="first day, YYYY-MM-DD")
    down.add_argument("--to", dest="last", required=True, type=arguments.day, metavar="DATE", help="last day, YYYY-MM-DD")
    down.add_argument("--what-to-show", dest="what_to_show", choices=WHAT_TO_SHOW, default=DEFAULT_WHAT_TO_SHOW,
                      help="IB's whatToShow (default TRADES; ADJUSTED_LAST: adjusted for splits and dividends)")
    down.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(down, mode=False)
    down.set_defaults(handler=download_bars)

    show = sub.add_parser("show", help="what the cache holds per listing: bars, first and last day")
    show.add_argument("--symbols", type=_symbols, default=None, metavar="LIST", help="only these listing keys")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=show_bars)


def import_bars(args: argparse.Namespace, settings) -> int:
    from pathlib import Path

    from app.commands.snapshot import open_database
    from services import price_cache
    from services.core.bar_files import BarFileError

    try:  # the whole file is checked before the database is even opened
        bars = price_cache.read_file_for_storage(args.file)
    except BarFileError as exc:
        return _refused(args, exc)
    db = open_database(settings)
    try:
        report = price_cache.store_imported(db, Path(args.file).name, bars, what_to_show=args.what_to_show)
    finally:
        db.dispose()
    # "replaced" (the days overwritten) is "changed", kept for the scripts that read it
    data = {"file": report.source, "bars": report.bars, "inserted": report.inserted, "changed": report.changed,
            "unchanged": report.unchanged, "replaced": report.changed, "symbols": report.symbols, "first": report.first.isoformat(), "last": report.last.isoformat(),
            "what_to_show": args.what_to_show}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        counts = f"{report.inserted} new, {report.changed} changed, {report.unchanged} unchanged"
        if not report.inserted and not report.changed:
            counts = f"all already stored, nothing changed ({counts})"
        print(f"{report.source}: {counted(report.bars, 'bar')} of {counted(report.symbols, 'listing')}, {report.first} to {report.last}: "
              f"{counts}")
    return EXIT_OK


def _refused(args, exc) -> int:
    """As `snapshot import` says it: "trading-console: " and the file refused for its problems
    (``wording.refused_file``), each below it, or the one line for a file not read at all."""
    from services.core.wording import refused_file

    said = exc.unread or refused_file(exc.source, len(exc.problems))
    if args.json:
        print(json.dumps({"error": "bad_input", "message": said, "file": exc.source,
                          "problems": [p.to_dict() for p in exc.problems]}, indent=2))
    print(f"trading-console: {said}", file=sys.stderr)
    if exc.unread is None:
        for line in str(exc).splitlines()[1:]:
            print(line, file=sys.stderr)
    return EXIT_BAD_INPUT


def download_bars(args: argparse.Namespace, settings) -> int:
    from app.commands.execution import _run
    from services.core.bars import FIRST_DAY

    if args.last < args.first:
        return say_failure(args, "bad_input", f"--to {args.last} is before --from {args.first}", EXIT_BAD_INPUT)
    if args.first < FIRST_DAY:  # a bar the cache would refuse; asked for, a request of thousands of years
        return say_failure(args, "bad_input", f"--from {args.first} is before {FIRST_DAY}, the first day a bar may have",
                           EXIT_BAD_INPUT)
    return _run(_download, args, settings)


async def _download(args, settings) -> int:
    from app.commands.execution import connected
    from services import price_cache

    def progress(item) -> None:
        if not args.json:
            print(f"{item.symbol}: {item.outcome_words()}", flush=True)

    async with connected(args, settings) as stack:
        report = await price_cache.download_daily_bars(stack.db, stack.provider, args.symbols, args.first, args.last,
                                                       what_to_show=args.what_to_show, on_listing=progress,
                                                       refuse_unknown=True)  # exit 2, nothing stored
    if args.json:
        print(json.dumps({
            "from": report.first.isoformat(), "to": report.last.isoformat(), "what_to_show": report.what_to_show,
            "requests": report.requests, "stored": report.stored,
            "listings": [{"symbol": i.symbol, "missing": i.missing, "requested": i.requested, "stored": i.stored,
                          "still_missing": [d.isoformat() for d in i.still_missing], "error": i.error}
                         for i in report.listings]}, indent=2))
    else:
        print(report.summary())
        for item in report.listings:
            if item.still_missing and not item.error:
                print(f"{item.symbol}: the broker has no bar for {counted(len(item.still_missing), 'trading day')}, "
                      f"first {item.still_missing[0]}")
    if report.failed:
        print(f"trading-console: {counted(len(report.failed), 'listing')} failed: "
              + "; ".join(f"{i.symbol}: {i.error}" for i in report.failed), file=sys.stderr)
        return EXIT_BROKER
    return EXIT_OK


def show_bars(args: argparse.Namespace, settings) -> int:
    from app.commands.db import run_guarded
    from app.composition import open_existing_database
    from services import price_cache

    url = settings.effective_db_url

    def action() -> int:
        database = open_existing_database(url)
        try:
            rows = price_cache.coverage(database, args.symbols)
        finally:
            database.dispose()
        if args.json:
            print(json.dumps([{"symbol": r.symbol, "what_to_show": r.what_to_show, "bars": r.bars,
                               "first": r.first.isoformat(), "last": r.last.isoformat()} for r in rows], indent=2))
        elif not rows:
            print("no bars cached")
        else:
            width = max(len("SYMBOL"), *(len(r.symbol) for r in rows))  # the heading's own width too
            print(f"{'SYMBOL'.ljust(width)}  {'SERIES':<13}  {'BARS':>6}  FIRST       LAST")
            for r in rows:
                print(f"{r.symbol.ljust(width)}  {r.what_to_show:<13}  {r.bars:>6}  {r.first}  {r.last}")
        return EXIT_OK

    return run_guarded(url, action, args)
