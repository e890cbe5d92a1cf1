"""`trading-console backtest`: dated snapshots replayed through the one engine against daily bars.

    trading-console backtest --prices FILE | --from-broker [--ib-port P ...] --snapshots PATH
        [--project NAME]... --initial-cash C --fill close|next-open --slippage-bps N
        --commission SPEC --rounding floor|nearest --lot-size N --cash-buffer PCT
        [--from DATE] [--to DATE] [--json]

Every rebalance is an ordinary run of mode ``backtest`` (builder, risk rules, frozen plan, order
state machine, writer, positions book) on a simulated account per project; nothing reaches a
broker and nothing shows in paper or live views. With ``--from-broker`` the other inputs are
checked first, then the daily bars the price cache lacks for the snapshots' listings and dates
are downloaded (connected like every broker command; only missing days are asked for) and the
backtest runs on the cached bars. Exit 0 when it ran, 2 for bad input (every problem on stderr;
a listing the broker does not know too: named with the snapshots that name it, nothing
downloaded, as ``bars download`` says it), 5 for a database failure or a listing whose bars
the broker refused, and 5 when it ran but a rebalance
failed for a reason other than a risk block (its preview refused, or its run could not be made,
``run_id`` null: it did not trade; each listed with its reason, ``failed_rebalances`` in ``--json``;
as ``execute`` exits 5 for an order not sent).
A backtest that fails as a whole after it began is recorded failed (its runs closed) and said
naming it, exit 5.

Ctrl-C (SIGINT) or SIGTERM while it runs stops it after the current day, through the window's
Cancel: the results so far are printed and stored, the backtest is recorded ``canceled`` with the
day and the signal, none of its runs is left queued, ``backtest N canceled at DAY`` goes to stderr
and the exit code is 128 + the signal (130 for Ctrl-C, 143 for SIGTERM). A second Ctrl-C
interrupts at once (the backtest is still recorded ``canceled``, exit 130).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from app.cli import EXIT_BAD_INPUT, EXIT_BROKER, EXIT_OK, say_failure
from app.commands.db import run_guarded
from services.backtest.defaults import BACKTEST_DEFAULTS
from services.core.bars import DEFAULT_WHAT_TO_SHOW, WHAT_TO_SHOW  # pure and light: no database at start-up
from services.core.wording import counted

USAGE = ("%(prog)s --prices FILE | --from-broker [--ib-port P ...] --snapshots PATH [--project NAME]... "
         "--initial-cash C --fill close|next-open --slippage-bps N --commission SPEC --rounding floor|nearest "
         "--lot-size N --cash-buffer PCT [--from DATE] [--to DATE] [--json]")


def register(subparsers) -> None:
    from app.commands.execution import _connection_options

    parser = subparsers.add_parser(
        "backtest", help="replay dated snapshots through the engine against daily bars", usage=USAGE,
        description="Replay dated snapshots through the one engine (builder, risk rules, plans, order state machine, "
                    "writer, positions book) against daily bars from a file or, with --from-broker, from the price "
                    "cache after downloading the days it lacks. Also: --keep-unlisted, --risk NAME=VALUE and the "
                    "connection options below.")
    source = parser.add_argument_group("inputs")
    source.add_argument("--prices", default=None, metavar="FILE", help="daily bars: CSV date,symbol,open,high,low,close[,volume] (no other column) or Parquet")
    source.add_argument("--from-broker", action="store_true", help="daily bars from the broker's history (the price cache)")
    source.add_argument("--cached", action="store_true",
                        help="daily bars already in the price cache, nothing downloaded, no connection (what an earlier "
                             "--from-broker, `bars download` or the window's Backtest panel stored; with --demo the demo "
                             "window's)")
    source.add_argument("--what-to-show", dest="what_to_show", default=DEFAULT_WHAT_TO_SHOW, metavar="|".join(WHAT_TO_SHOW),
                        help="with --from-broker: the broker's series (default TRADES; ADJUSTED_LAST: adjusted for "
                             "splits and dividends)")
    source.add_argument("--snapshots", default=None, metavar="PATH",
                        help="a folder of snapshot files with one date YYYY-MM-DD in each name, or one CSV date,symbol,weight[,project] "
                             "(dates YYYY-MM-DD); "
                             "without it the projects' stored snapshots")
    source.add_argument("--project", action="append", default=[], metavar="NAME",
                        help="backtest this project (repeatable; default every project in the snapshots)")
    given = BACKTEST_DEFAULTS  # the window's Backtest panel starts from the same
    sim = parser.add_argument_group("simulated broker")
    sim.add_argument("--initial-cash", default=given["initial_cash"], metavar="C",
                     help=f"each project's starting cash (default {given['initial_cash']})")
    sim.add_argument("--fill", default=given["fill"], metavar="close|next-open",
                     help=f"fill at the snapshot day's close or the next session's open (default {given['fill']})")
    sim.add_argument("--slippage-bps", default=given["slippage_bps"], metavar="N",
                     help=f"fill price worse by N basis points (default {given['slippage_bps']})")
    sim.add_argument("--commission", default=given["commission"], metavar="SPEC",
                     help=f"none, per-share=R[,min=M][,max-pct=P], ib-fixed or ib-tiered (default {given['commission']})")
    builder = parser.add_argument_group("order builder")
    builder.add_argument("--rounding", default=given["rounding"], metavar="floor|nearest",
                         help=f"shares per target (default {given['rounding']})")
    builder.add_argument("--lot-size", default=given["lot_size"], metavar="N", help=f"shares per lot (default {given['lot_size']})")
    builder.add_argument("--cash-buffer", default=given["cash_buffer_pct"], metavar="PCT",
                         help=f"percent of the equity kept as cash (default {given['cash_buffer_pct']})")
    builder.add_argument("--keep-unlisted", action="store_true",
                         help="keep holdings absent from a snapshot (default: a snapshot is the whole portfolio)")
    builder.add_argument("--risk", action="extend", nargs="+", default=[], metavar="NAME=VALUE",
                         help="override a risk limit (NAME=off switches it off)")
    parser.add_argument("--from", dest="start", default=None, metavar="DATE", help="first day (default the first snapshot's)")
    parser.add_argument("--to", dest="end", default=None, metavar="DATE", help="last day (default the last day with prices)")
    parser.add_argument("--json", action="store_true", help="one JSON object: run_id and, per project, the results")
    _connection_options(parser, mode=False)
    parser.set_defaults(handler=_backtest)


def _backtest(args: argparse.Namespace, settings) -> int:
    from app.composition import open_database
    from services.backtest.failures import all_failed
    from services.backtest.requests import (
        BacktestRequest,
        BadBacktest,
        as_json,
        bars_wanted,
        prepare,
        prepare_from_cache,
        run_backtest,
    )

    url = settings.effective_db_url
    request = BacktestRequest(
        prices=args.prices, snapshots=args.snapshots, projects=tuple(args.project), initial_cash=args.initial_cash,
        fill=args.fill, slippage_bps=args.slippage_bps, commission=args.commission, rounding=args.rounding,
        lot_size=args.lot_size, cash_buffer_pct=args.cash_buffer, liquidate_unlisted=not args.keep_unlisted,
        start=args.start, end=args.end, risk_overrides=tuple(args.risk), what_to_show=args.what_to_show)

    def refused(problems: list[str]) -> int:
        # said as every command says it, so that --json prints its one object (stdout was empty)
        said = problems[0] if len(problems) == 1 else f"backtest: {counted(len(problems), 'problem')}; nothing was stored"
        return say_failure(args, "bad_input", said, EXIT_BAD_INPUT, problems)

    def action() -> int:
        # opened as every command that writes opens it (the backtest stores its rows, its trail and its
        # input files): a private SQLite file made and upgraded on a first run, as `snapshot import`
        # makes it; a MySQL/MariaDB one behind head refused, the operator's to upgrade
        database = open_database(settings)
        try:
            if args.cached and (args.from_broker or args.prices):
                return refused(["give one of --prices FILE, --from-broker or --cached"])
            if args.cached:  # the price cache's bars as they are: no connection
                try:
                    prepared = prepare_from_cache(database, request)
                except BadBacktest as exc:
                    return refused(exc.problems)
            elif args.from_broker and settings.demo_given:
                # the demo window's simulator is that window's: no command reaches it, and the
                # generic refusal ("trades only in the demo window ... sends nothing") told a
                # backtest, which sends nothing, nothing it could do (a trader's walk)
                return refused([("--from-broker with --demo: the demo window's built-in simulator is reached only from "
                                 "the window; give --cached to backtest on the bars it downloaded (its Backtest panel), "
                                 "or --prices FILE")])
            elif args.from_broker:  # every other input checked before connecting, then the missing bars fetched
                try:
                    wanted = bars_wanted(database, request)
                except BadBacktest as exc:
                    return refused(exc.problems)
                fetched = _prepared_from_broker(args, settings, request, wanted, refused)
                if isinstance(fetched, int):
                    return fetched
                prepared = fetched
            else:
                try:
                    prepared = prepare(database, request)
                except BadBacktest as exc:
                    return refused(exc.problems)
            begun: list[int] = []
            with _signals_cancel() as received:
                try:
                    outcome = asyncio.run(run_backtest(database, prepared, on_begin=begun.append,
                                                       cancel=lambda: received[0].name if received else False))
                except KeyboardInterrupt:
                    print("trading-console: backtest interrupted (recorded as canceled)", file=sys.stderr)
                    return 128 + signal.SIGINT
                except Exception as exc:
                    said = _failed_mid_run(args, url, begun, exc)
                    if said is None:
                        raise
                    return said
        finally:
            database.dispose()
        if args.json:
            print(json.dumps(as_json(outcome), indent=2))
        else:
            _print_table(outcome)
        if outcome.status == "canceled":
            sys.stdout.flush()
            print(f"trading-console: backtest {outcome.backtest_id} canceled at {outcome.last_day} "
                  f"({received[0].name}; the results so far are stored)", file=sys.stderr)
            return 128 + received[0]
        failed = all_failed(outcome.projects)
        if failed:  # every other day ran; these did not trade: as `execute` with an order not sent, exit 5
            sys.stdout.flush()
            where = "failed_rebalances in the JSON" if args.json else "listed above"
            print(f"trading-console: backtest {outcome.backtest_id}: {counted(len(failed), 'rebalance')} failed and did "
                  f"not trade ({where})", file=sys.stderr)
            return EXIT_BROKER
        return EXIT_OK

    return run_guarded(url, action, args)


def _failed_mid_run(args: argparse.Namespace, url: str, begun: list[int], exc: Exception) -> int | None:
    """A backtest that failed after its row was stored (recorded failed, its runs closed):
    said naming it, exit 5. None, said as every command says it: it failed before it began
    (nothing stored), or the database itself is unreachable (it may not be recorded at all).
    Before, a ValueError read "bad input" (exit 2, nothing stored) and a RuntimeError "database error"."""
    from app.commands.db import database_failure, error_line
    from services.urls import redact_text

    failure = database_failure(exc, url)
    if not begun or (failure is not None and failure[0] != "database_error"):
        return None
    why = error_line(exc, url) if failure is not None else f"{type(exc).__name__}: {redact_text(str(exc))}".rstrip(": ")
    return say_failure(args, "backtest_failed",
                       f"backtest {begun[0]} failed (recorded as failed, its runs closed): {why}", EXIT_BROKER)


@contextmanager
def _signals_cancel() -> Iterator[list[signal.Signals]]:
    """While the backtest runs, SIGINT and SIGTERM only note themselves (the list yielded): the
    engine asks its ``cancel`` hook after every day, as for the window's Cancel, and stops there.
    A plain flag, set between two bytecodes: nothing has to yield to the event loop, so the days
    run as fast as before. A second SIGINT raises KeyboardInterrupt at once. The previous
    handlers are back afterwards."""
    received: list[signal.Signals] = []

    def noted(signum, _frame) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not received:
            received.append(signal.Signals(signum))

    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, noted)
    except ValueError:  # not the main thread: the signals keep their handlers
        pass
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _prepared_from_broker(args: argparse.Namespace, settings, request, wanted, refused):
    """The backtest prepared on the broker's bars (``services.backtest.requests.prepare_from_broker``:
    the price cache filled first; connected like every broker command): a ``PreparedBacktest``,
    or an exit code (a listing the broker knows none of: exit 2, nothing downloaded, as `bars
    download` says it; a listing whose bars the broker refused: exit 5; another problem: exit 2)."""
    from app.commands.execution import _run, connected
    from services.backtest.requests import BadBacktest, BrokerBarsFailed, UnknownListings, prepare_from_broker

    fetched: dict = {}

    def progress(item) -> None:  # the Backtest panel's words too (services.price_cache)
        if not args.json and item.requested:
            print(item.line(), file=sys.stderr, flush=True)

    def summary(report) -> None:
        print(f"trading-console: price cache: {report.summary()}", file=sys.stderr)

    async def download(args, settings) -> int:
        async with connected(args, settings) as stack:
            try:
                fetched["prepared"], report = await prepare_from_broker(stack.db, stack.provider, request, wanted,
                                                                        on_listing=progress)
            except BrokerBarsFailed as exc:
                summary(exc.report)
                # the service's words (which snapshots name each refused listing), as the panel shows them
                return say_failure(args, "bars_refused", f"{counted(len(exc.report.failed), 'listing')} failed: "
                                   + "; ".join(exc.problems), EXIT_BROKER, exc.problems)
            except UnknownListings as exc:  # bad input, in bars download's words and code
                return say_failure(args, exc.code, exc.problems[0], EXIT_BAD_INPUT)
            except BadBacktest as exc:
                return refused(exc.problems)
        summary(report)
        return EXIT_OK

    code = _run(download, args, settings)
    return fetched["prepared"] if code == EXIT_OK else code


BLOCKS_LISTED = 20  # a table's worth; --json has them all


def _print_table(outcome) -> None:
    from services.backtest.failures import failed_rebalances_of
    from services.backtest.metrics import METRIC_COLUMNS, TOTAL, metric_texts, shown_summaries, summary_notes
    from services.backtest.outcomes import blocked_said
    from services.backtest.summary import headline, settings_line

    rows = [tuple(title.upper() for title in METRIC_COLUMNS)]
    rows.extend(metric_texts(name, p) for name, p in [*outcome.projects.items(), (TOTAL, outcome.total)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(headline(outcome))  # the panel's words, its message with it
    settings = settings_line(outcome.backtest_id, outcome.params)  # what it ran with, as the panel shows it
    if settings:
        print(settings)
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    for name, p in shown_summaries(outcome.projects, outcome.total):  # what the rates measure when cash sat idle first (the panel's tooltip)
        for note in summary_notes(name, p):
            print(note)
    for name, p in outcome.projects.items():
        blocked = p["risk_blocked"]
        for block in blocked[:BLOCKS_LISTED]:
            print(f"blocked {name} {block['day']} run {block['run_id']}: {blocked_said(block)}")  # the panel's words
        if len(blocked) > BLOCKS_LISTED:
            print(f"blocked {name}: {len(blocked) - BLOCKS_LISTED} more (--json lists every one)")
    for name, p in outcome.projects.items():
        failed = failed_rebalances_of(p)
        for f in failed[:BLOCKS_LISTED]:
            run = "(no run)" if f["run_id"] is None else f"run {f['run_id']}"  # refused before its run was made
            print(f"failed {name} {f['day']} {run}: " + (f"{f['code']}: " if f["code"] else "") + f["message"])
        if len(failed) > BLOCKS_LISTED:
            print(f"failed {name}: {len(failed) - BLOCKS_LISTED} more (--json lists every one)")
    if any(p["risk_blocked"] for p in outcome.projects.values()):
        # a backtest checks the limits a live run would (a live account's, 25,000 an order by
        # default): a trader whose orders all came back blocked was not told how to test others
        print("the risk limits are the console's own (`trade-settings` lists them); "
              "--risk NAME=VALUE overrides one for this backtest, --risk NAME=off switches it off")
