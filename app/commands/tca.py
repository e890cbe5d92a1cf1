"""`trading-console tca --run ID [--prices FILE] [--fill close|next-open] [--slippage-bps N] [--json]`:
the run's implementation shortfall per order and in total (IB's commissions beside it, not in
it), and beside it the same day's backtest fill of each order from ``--prices`` or, without it,
from the price cache (services.backtest.tca, as the window's TCA view). Read-only; exit 2 for an
unknown run, a backtest run or a bad price file; a run that filled nothing says so (exit 0)."""

from __future__ import annotations

import argparse
import json

from app.cli import EXIT_BAD_INPUT, EXIT_OK, say_failure
from app.commands import arguments
from app.commands.db import run_guarded


def register(subparsers) -> None:
    parser = subparsers.add_parser("tca", help="a run's fills against its plan's reference prices and the same day's backtest")
    parser.add_argument("--run", type=arguments.record_id, required=True, metavar="ID", help="the paper or live run")
    parser.add_argument("--prices", default=None, metavar="FILE", help="daily bars for the backtest column (default: the price cache)")
    parser.add_argument("--fill", choices=("close", "next-open"), default="close", help="the backtest's fill (default close)")
    parser.add_argument("--slippage-bps", default="0", metavar="N", help="the backtest's slippage (default 0)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    parser.set_defaults(handler=_tca)


def _tca(args: argparse.Namespace, settings) -> int:
    from app.composition import open_existing_database, runs_profile
    from services.backtest.costs import BadSlippage, FillAt, read_slippage_bps
    from services.backtest.prices import PriceFileError, read_price_book
    from services.backtest.tca import cached_tca, run_tca
    from services.backtest.tca_text import heading_fields, order_text, run_heading, totals_text

    url = settings.effective_db_url
    try:  # the backtest's own rule: the column shows what a backtest with it would fill at
        slippage = read_slippage_bps(args.slippage_bps)
    except BadSlippage as exc:
        return say_failure(args, "bad_input", str(exc), EXIT_BAD_INPUT)
    prices = None
    if args.prices:
        try:
            prices = read_price_book(args.prices)
        except PriceFileError as exc:
            return say_failure(args, "bad_input", "\n".join(f"--prices: {problem}" for problem in exc.problems), EXIT_BAD_INPUT)

    def action() -> int:
        database = open_existing_database(url)
        try:
            if prices is None:
                report = cached_tca(database, args.run, FillAt(args.fill), slippage)
            else:
                report = run_tca(database, args.run, prices, FillAt(args.fill), slippage)
        except LookupError as exc:
            return say_failure(args, "not_found", exc.args[0], EXIT_BAD_INPUT)
        finally:
            database.dispose()
        if report.not_compared:  # README: a paper or live run
            return say_failure(args, "not_compared", report.not_compared, EXIT_BAD_INPUT)
        whole = report.to_dict()  # the window's TCA view's heading, rows and totals, worded alike
        # the run's mode as a window of these settings says it: a demo run went to the simulator
        profile = runs_profile(settings, url)
        if args.json:  # the stored mode kept ("paper"), the heading's word, title and note beside it
            print(json.dumps({**whole, **heading_fields(whole, profile)}, indent=2))
            return EXIT_OK
        title, note = run_heading(whole, profile)
        print(title)
        if note:  # the window's line under its title
            print(note)
        for line in whole["orders"]:
            print(order_text(line, report.base_currency, report.trade_date))
        print(totals_text(whole, args.fill, "the price cache" if prices is None else f"--prices {args.prices}"))
        return EXIT_OK

    return run_guarded(url, action, args)
