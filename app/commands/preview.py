"""`trading-console preview`: the orders a snapshot would send, and the risk verdict.

    trading-console preview --snapshot FILE_OR_ID [--portfolio-value V] [--prices FILE]
        [--positions FILE] [builder options] [--risk NAME=VALUE ...] [--commission fixed|tiered]
        [--save [--project NAME]] [connection options] [--json]

Two sources, one pipeline (``services.core.pipeline``), so that ``preview`` and ``execute`` can
never disagree; both use cases live in services (``services.offline_preview`` and the trade
service's ``preview_snapshot``), this module parses and prints:

* Offline (no ``--save``, no connection option): prices from ``--prices`` (CSV ``symbol,price``)
  over the snapshot's own price column, positions from ``--positions`` (CSV ``symbol,quantity``),
  ``--portfolio-value`` required. With a stored snapshot id the risk limits, the trading state and
  the day's order count come from the database; with a FILE no database is needed.
* Against the broker (``--save`` or any connection option): exactly what ``execute`` does, the
  broker's prices, the project's own positions (docs/project-books.md) and its capital (else the
  account's NetLiquidation) unless ``--portfolio-value``; the
  preview is stored as a frozen plan and its id printed (``plan_id`` in the JSON), for
  ``trading-console execute --plan ID``.
Rows in another currency than USD need its rate, ``--fx EUR=1.10`` (USD per unit; see
docs/currencies.md); without one they are unpriced and risk blocks the run.

Exit code 0 when the run would be ready, 3 when risk blocks it, 2 for bad input (the problems
and their lines on stderr, or in the JSON under ``errors``), 4 refused, 5 broker error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal
from enum import Enum

from app.cli import EXIT_BAD_INPUT, EXIT_BLOCKED, EXIT_OK
from app.commands import arguments
from services.core.builder import BPS, builder_defaults, given_builder
from services.core.cash_buffer import cash_buffer_percent
from services.core.risk_base import block_said
from services.core.wording import counted, grouped, money, price, working_note


def add_builder_options(parser, *, defaults: bool) -> None:
    """The builder's options, shared by ``preview`` and ``execute``. Without defaults an option
    not given is left to the run's stored parameters (or the builder's own defaults); with them
    (``preview``) ``builder_values`` fills the builder's defaults in for the options not given.
    Either way ``given_builder_values`` says what the trader typed: a run that has orders is
    resumed as it was built, and only a value typed that differs from its own is refused."""
    # the builder's own defaults (names for the rounding and the order type): the window's preview starts from them too
    builder = _named_builder_defaults()

    group = parser.add_argument_group("order builder")
    group.add_argument("--cash-buffer", type=arguments.cash_buffer, default=None, metavar="PCT",
                       help="percent of the portfolio value kept as cash, 0 <= PCT < 100, as in the window and backtest; "
                            f"a fraction needs its sign, 0.5%% (default {cash_buffer_percent(builder['cash_buffer'])})")
    group.add_argument("--lot-size", type=arguments.number(Decimal(0), strict=True, whole=True), default=None, metavar="N",
                       help=f"shares per lot, a whole number (default {builder['lot_size']})")
    group.add_argument("--rounding", choices=("nearest", "floor"), default=None,
                       help=f"lots per target: nearest or floor (never above the weight) (default {builder['rounding']})")
    group.add_argument("--order-type", choices=("MKT", "LMT"), type=str.upper, default=None,
                       help=f"MKT or LMT at the reference price +/- --limit-bps (default {builder['order_type']})")
    # the builder's own bound (BuildParams refuses an offset of BPS or more): refused here before
    # anything connects or is stored
    group.add_argument("--limit-bps", type=arguments.number(Decimal(0), below=BPS), default=None, metavar="B",
                       help=f"LMT: reference price +/- B basis points, 0 <= B < {BPS} (default {builder['limit_offset_bps']})")
    group.add_argument("--min-order-value", type=arguments.number(Decimal(0)), default=None, metavar="V",
                       help=f"skip orders worth less than V (default {builder['min_order_value']})")
    group.add_argument("--liquidate-unlisted", action="store_true", default=None,
                       help="sell held symbols that are not in the snapshot")
    group.add_argument("--risk", action="extend", nargs="+", default=[], metavar="NAME=VALUE", help="override a risk limit (NAME=off switches it off)")
    parser.set_defaults(builder_defaults_filled=defaults)


def _named_builder_defaults() -> dict:
    return {name: value.value if isinstance(value, Enum) else value for name, value in builder_defaults().items()}


def add_allow_short(parser) -> None:
    """``--allow-short``, shared by ``preview`` and ``execute``: how a snapshot FILE is read (the
    one parse for storage, ``services.console_queries.parse_for_storage``), not a builder
    parameter; a stored snapshot id or plan was read when it was stored. Shorts are still
    blocked by risk unless ``--risk allow_short=true`` (or the setting)."""
    parser.add_argument("--allow-short", action="store_true", help="accept negative weights in a snapshot file")


def given_builder_values(args) -> dict:
    """The builder options typed on the command line, as the run's ``builder`` parameters."""
    # the options under the builder's names, read as the window's form is (services.core.builder.given_builder)
    return given_builder({"cash_buffer": args.cash_buffer, "lot_size": args.lot_size, "rounding": args.rounding,
                          "min_order_value": args.min_order_value, "order_type": args.order_type,
                          "limit_offset_bps": args.limit_bps, "liquidate_unlisted": args.liquidate_unlisted})


def builder_values(args) -> dict:
    """The run's ``builder`` parameters of the command line: the options typed, and with
    ``add_builder_options(defaults=True)`` the builder's defaults for the others."""
    given = given_builder_values(args)
    if not getattr(args, "builder_defaults_filled", False):
        return given
    return {**_named_builder_defaults(), **given}


def _fx_rate(text: str) -> tuple[str, Decimal]:
    currency, sep, value = text.partition("=")
    currency = currency.strip().upper()
    if not sep or len(currency) != 3 or not currency.isalpha():
        raise argparse.ArgumentTypeError(f"not CUR=RATE: {text!r}")
    return currency, arguments.positive(value.strip())


def register(subparsers) -> None:
    from app.commands.execution import _connection_options

    parser = subparsers.add_parser("preview", help="build the orders of a snapshot and check them against risk (sends nothing)")
    parser.add_argument("--snapshot", required=True, metavar="FILE_OR_ID", help="snapshot file (CSV/JSON) or stored snapshot id")
    parser.add_argument("--portfolio-value", type=arguments.positive, default=None, metavar="V",
                        help="offline: required; against the broker: default the project's capital, else the account's NetLiquidation")
    parser.add_argument("--prices", metavar="FILE", help="offline: CSV symbol,price (wins over the snapshot's prices)")
    parser.add_argument("--positions", metavar="FILE", help="offline: CSV symbol,quantity (current positions)")
    add_builder_options(parser, defaults=True)
    add_allow_short(parser)
    parser.add_argument("--fx", action="extend", nargs="+", default=[], type=_fx_rate, metavar="CUR=RATE",
                        help="offline: exchange rate of a listing currency, USD per unit (e.g. EUR=1.10)")
    parser.add_argument("--commission", choices=("fixed", "tiered"), default="fixed", help="IB commission model of the estimate (default fixed)")
    parser.add_argument("--save", action="store_true", help="preview against the broker and store the plan (prints its id)")
    parser.add_argument("--project", metavar="NAME", default=None, help="with --save and a FILE: the project it is imported into")
    parser.add_argument("--json", action="store_true", help="print JSON")
    _connection_options(parser)
    parser.set_defaults(handler=run_preview)


def wants_broker(args) -> bool:
    return bool(args.save) or any(getattr(args, name, None) is not None
                                  for name in ("ib_host", "ib_port", "client_id", "account", "mode", "live_token"))


def offline_request(args: argparse.Namespace):
    """The command line's offline preview, as the service takes it."""
    from services.offline_preview import OfflinePreviewRequest

    return OfflinePreviewRequest(
        snapshot=args.snapshot, portfolio_value=args.portfolio_value, builder=builder_values(args),
        prices_file=args.prices, positions_file=args.positions, fx_rates=dict(getattr(args, "fx", None) or ()),
        risk_overrides=tuple(args.risk), allow_short=args.allow_short, commission_model=args.commission)


async def preview_with_broker(args, settings) -> int:
    """Exactly what ``execute`` does up to sending: the broker's prices and positions, the
    stored risk limits and facts; the preview is stored as a plan."""
    from app.commands.execution import _error, connected, snapshot_arg
    from services.console_queries import store_parsed_snapshot
    from services.domain import TradeMode
    from services.execution.runs.planning import check_portfolio_value
    from services.offline_preview import estimated_commissions

    snapshot_id, parsed, failure = snapshot_arg(args, allow_short=args.allow_short)
    if failure:
        _error(args, *failure)
        return EXIT_BAD_INPUT
    if args.portfolio_value is not None:  # before the snapshot FILE is stored
        check_portfolio_value(args.portfolio_value)
    async with connected(args, settings) as s:
        if parsed is not None:  # stored once connected and guarded
            snapshot_id = await asyncio.to_thread(store_parsed_snapshot, s.db, parsed, args.project, s.service.actor)
        result = await s.service.preview_snapshot(
            args.project, snapshot_id, TradeMode(settings.mode), builder=builder_values(args), risk_overrides=args.risk,
            portfolio_value=args.portfolio_value, live_token=args.live_token, builder_given=set(given_builder_values(args)))
    plan = result.plan
    kinds = sorted({ref.kind for ref in plan.prices.values()})
    preview = {
        "plan_id": plan.id, "plan_hash": plan.content_hash, "run_id": plan.run_id, "account": plan.account,
        "snapshot": f"snapshot {snapshot_id}", "portfolio_value": str(plan.portfolio_value),
        **estimated_commissions(plan.orders, args.commission),
        "gross_notional": str(plan.gross_notional),
        "prices_source": "broker (" + (", ".join(kinds) or "no orders") + ")",
        "prices": {symbol: ref.to_dict() for symbol, ref in plan.prices.items()},
        "skipped": [{"symbol": s.symbol, "reason": s.reason, "message": s.message} for s in result.skipped],
        "risk": dict(plan.risk),
        # the project's orders still working from earlier runs, counted as if they filled
        "positions": {symbol: str(q) for symbol, q in plan.positions.items()},
        "working": {symbol: str(q) for symbol, q in plan.working.items()},
        "working_orders": list(plan.working_orders),
        "unsent_orders": list(plan.unsent_orders),  # of those, the ones stored and not sent yet
        # what the orders were sized on (given, the project's capital, or the account's
        # NetLiquidation) and the lines the window's preview shows under its totals, in its
        # words (PreviewResult.notes): the command said "portfolio 1,000,000.00" of a plan
        # sized on the whole account, never that the project had no capital
        "portfolio_value_source": result.value_source,
        "notes": result.notes.splitlines(),
    }
    if args.json:
        print(json.dumps(preview, indent=2))
    else:
        _print_table(preview)
        # the hash in the command: what is then sent is the content reviewed here, or nothing. A
        # blocked plan was offered the same command, which execute then refused
        stored = f"plan {plan.id} stored (hash {plan.content_hash[:12]})"
        print(f"{stored}, blocked by risk: execute refuses it; preview again with other limits (--risk NAME=VALUE, "
              "or the trade settings) or another snapshot" if plan.blocked else
              f"{stored}: trading-console execute --plan {plan.id} --plan-hash {plan.content_hash[:12]}")
    return EXIT_BLOCKED if plan.blocked else EXIT_OK


def run_preview(args: argparse.Namespace, settings) -> int:
    if wants_broker(args):
        from app.commands.execution import _run

        return _run(preview_with_broker, args, settings)
    from app.commands.snapshot import open_database
    from services.offline_preview import PreviewInputError, offline_preview, problem_line

    try:
        preview = offline_preview(offline_request(args), lambda: open_database(settings))
    except PreviewInputError as exc:
        if args.json:
            # say_failure's keys, and each problem (app.cli)
            print(json.dumps({"error": "bad_input", "message": f"{counted(len(exc.errors), 'problem')} in the input",
                              "errors": exc.errors}, indent=2))
        else:
            # "trading-console: ", as every command's failure (app.cli.say_failure)
            print(f"trading-console: {counted(len(exc.errors), 'problem')} in the input", file=sys.stderr)
            for error in exc.errors:
                print(f"  {problem_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    blocked = preview["risk"]["verdict"] == "blocked"
    if args.json:
        print(json.dumps(preview, indent=2))
    else:
        _print_table(preview)
    return EXIT_BLOCKED if blocked else EXIT_OK


def _number(text) -> Decimal | None:
    return None if text in (None, "") else Decimal(str(text))


def _print_table(preview: dict) -> None:
    """The preview for people, its numbers as the window's preview shows them (services.core.wording:
    money grouped to the cent, prices at two to four places, quantities as they are); --json
    keeps the exact texts."""
    blocks = {r["client_order_id"]: r["blocks"] for r in preview["risk"]["results"]}
    budget = (f", budget {money(_number(preview['budget']))}, target value {money(_number(preview['target_value']))}"
              if "budget" in preview else "")
    print(f"{preview['snapshot']}: portfolio {money(_number(preview['portfolio_value']))}{budget}, "
          f"{counted(len(preview['orders']), 'order')}, "
          f"estimated commission {money(_number(preview['commission_total']))} ({preview['commission_model']})")
    if preview["orders"]:
        print(f"{'#':>3}  {'symbol':<8} {'side':<4} {'qty':>10} {'type':<3} {'limit':>10} {'ref':>10} {'notional':>14}  {'client_order_id':<28} risk")
    for o in preview["orders"]:
        risk = "; ".join(b["code"] for b in blocks.get(o["client_order_id"], [])) or "ok"
        print(f"{o['sequence']:>3}  {o['symbol']:<8} {o['side']:<4} {grouped(_number(o['quantity'])):>10} {o['order_type']:<3} "
              f"{price(_number(o['limit_price'])):>10} {price(_number(o['reference_price'])):>10} "
              f"{money(_number(o['notional'])):>14}  {o['client_order_id']:<28} {risk}")
    for s in preview["skipped"]:
        print(f"skipped {s['message']}")  # the builder's message names its symbol: "skipped AAPL: AAPL: no price" read twice
    for b in preview["risk"]["run"]:
        print(f"run blocked: {block_said(b['message'], b['code'], b.get('symbol'))}")
    for r in preview["risk"]["results"]:
        for b in r["blocks"]:  # the rule's words name the symbol: "blocked AAPL: AAPL: ..." read it twice
            print(f"blocked {block_said(b['message'], b['code'], r['symbol'])}")
    if "notes" in preview:  # the broker's preview: its result's own lines, as the window shows them
        for line in preview["notes"]:
            print(line)
    elif preview.get("working_orders"):
        print(working_note(len(preview["working_orders"]), {k: Decimal(q) for k, q in preview["working"].items()},
                           len(preview.get("unsent_orders") or ())))
    print(f"prices: {preview['prices_source']}")
    print(f"risk verdict: {preview['risk']['verdict'].upper()}")
