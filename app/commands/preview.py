"""`trading-console preview`: the orders a snapshot would send, and the risk verdict.

    trading-console preview --snapshot FILE_OR_ID [--portfolio-value V] [--prices FILE]
        [--positions FILE] [builder options] [--risk NAME=VALUE ...] [--commission fixed|tiered]
        [--save [--project NAME]] [connection options] [--json]

Two sources, one pipeline (``services.core.pipeline``), so that ``preview`` and ``execute`` can
never disagree:

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
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import EXIT_BAD_INPUT, EXIT_BLOCKED, EXIT_OK
from app.commands import arguments

if TYPE_CHECKING:
    from services.core.pipeline import RiskFacts

MAX_AMOUNT = Decimal("1e15")  # far above any account; keeps exact arithmetic in range


def add_builder_options(parser, *, defaults: bool) -> None:
    """The builder's options, shared by ``preview`` and ``execute``. Without defaults an option
    not given is left to the run's stored parameters (or the builder's own defaults)."""
    def default(value):
        return value if defaults else None

    group = parser.add_argument_group("order builder")
    group.add_argument("--cash-buffer", type=arguments.number(Decimal(0), below=Decimal(1)), default=default(Decimal(0)), metavar="R", help="ratio kept as cash, 0 <= R < 1 (default 0)")
    group.add_argument("--lot-size", type=arguments.number(Decimal(0), strict=True, whole=True), default=default(Decimal(1)), metavar="N", help="shares per lot, a whole number (default 1)")
    group.add_argument("--rounding", choices=("nearest", "floor"), default=default("nearest"),
                       help="lots per target: nearest (default) or floor (never above the weight)")
    group.add_argument("--order-type", choices=("MKT", "LMT"), type=str.upper, default=default("MKT"),
                       help="MKT (default) or LMT at the reference price +/- --limit-bps")
    group.add_argument("--limit-bps", type=arguments.number(Decimal(0)), default=default(Decimal(0)), metavar="B", help="LMT: reference price +/- B basis points (default 0)")
    group.add_argument("--min-order-value", type=arguments.number(Decimal(0)), default=default(Decimal(0)), metavar="V",
                       help="skip orders worth less than V (default 0)")
    group.add_argument("--liquidate-unlisted", action="store_true", default=default(False) if defaults else None,
                       help="sell held symbols that are not in the snapshot")
    group.add_argument("--risk", action="extend", nargs="+", default=[], metavar="NAME=VALUE", help="override a risk limit (NAME=off switches it off)")


def builder_values(args) -> dict:
    """The builder options given on the command line, as the run's ``builder`` parameters."""
    values = {"cash_buffer": args.cash_buffer, "lot_size": args.lot_size, "rounding": args.rounding,
              "min_order_value": args.min_order_value, "order_type": args.order_type,
              "limit_offset_bps": args.limit_bps, "liquidate_unlisted": args.liquidate_unlisted}
    return {k: v for k, v in values.items() if v is not None}


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
    parser.add_argument("--portfolio-value", type=arguments.number(Decimal(0), strict=True), default=None, metavar="V",
                        help="offline: required; against the broker: default the project's capital, else the account's NetLiquidation")
    parser.add_argument("--prices", metavar="FILE", help="offline: CSV symbol,price (wins over the snapshot's prices)")
    parser.add_argument("--positions", metavar="FILE", help="offline: CSV symbol,quantity (current positions)")
    add_builder_options(parser, defaults=True)
    parser.add_argument("--allow-short", action="store_true", help="accept negative weights in a snapshot file")
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


class _BadInput(Exception):
    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


def _problems(source: str, problems) -> list[dict]:
    return [{"source": source, **p.to_dict()} for p in problems]


def _error(message: str, source: str | None = None) -> list[dict]:
    return [{"source": source, "line": None, "column": None, "code": "bad_input", "message": message}]


def _load_snapshot_file(path: Path, allow_short: bool):
    from services.core.snapshots import SnapshotFormatError, parse_snapshot_file
    from services.db.limits import snapshot_limits

    try:  # the same checks as an import: what could not be stored is not previewed either
        parsed = parse_snapshot_file(path, allow_short=allow_short, limits=snapshot_limits())
    except (SnapshotFormatError, OSError) as exc:
        raise _BadInput(_error(str(exc), path.name)) from None
    if not parsed.ok:
        raise _BadInput(_problems(parsed.source_name, parsed.errors))
    return list(parsed.items), parsed.source_name


def _trim(value) -> Decimal:
    """A stored Numeric without the column's padding zeros (228.50000000 -> 228.5)."""
    value = Decimal(value).normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value


def _load_stored(snapshot_id: int, settings):
    from app.commands.snapshot import open_database
    from services.core.builder import Target
    from services.db.repositories import NotFound, SettingsRepository, SnapshotRepository

    db = open_database(settings)
    try:  # disposed by the facts reader (or here, on an error)
        with db.session() as session:
            repo = SnapshotRepository(session)
            try:
                snapshot = repo.get(snapshot_id)
            except NotFound:
                raise _BadInput(_error(f"no snapshot with id {snapshot_id}")) from None
            items = [
                Target(i.symbol, _trim(i.weight), None if i.price is None else _trim(i.price), i.sec_type, i.exchange, i.currency)
                for i in repo.items(snapshot_id)
            ]
            limits = SettingsRepository(session).risk_defaults()
            # the same facts the trade service reads: whether the built orders exist already is
            # known once they are built
            return (items, f"snapshot {snapshot.id} ({snapshot.source_file})", limits,
                    _facts_reader(db))
    except BaseException:
        db.dispose()
        raise


class _facts_reader:  # lower-case: used as a function
    """Risk facts read once the orders are built (which of them exist already is part of them);
    remembers what it read for the output."""

    def __init__(self, db) -> None:
        self.db = db
        self.read: RiskFacts | None = None

    def __call__(self, client_order_ids: list[str]) -> RiskFacts:
        from services.db.risk_facts import load_risk_facts

        try:
            with self.db.session() as session:
                read = load_risk_facts(session, client_order_ids)
        finally:
            self.db.dispose()
        self.read = read
        return read


def facts_of(facts):
    from services.core.pipeline import RiskFacts

    if isinstance(facts, RiskFacts):
        return facts
    return getattr(facts, "read", None) or RiskFacts()


def _column_file(path: str | None, reader):
    if path is None:
        return {}
    try:
        parsed = reader(path)
    except OSError as exc:
        raise _BadInput(_error(f"cannot read {path}: {exc.strerror or exc}", Path(path).name)) from None
    if not parsed.ok:
        raise _BadInput(_problems(parsed.source_name, parsed.errors))
    return parsed.values


def build_preview(args: argparse.Namespace, settings) -> dict:
    """The preview as a JSON-ready dict (raises _BadInput)."""
    from services.core.builder import BuildParams, Rounding
    from services.core.inputs import read_positions, read_prices
    from services.core.pipeline import RiskFacts, build_and_check
    from services.core.risk import RiskParamError, rules_from_params
    from services.domain import OrderType

    errors: list[dict] = []
    stored_limits: dict = {}
    facts: RiskFacts | Callable[[list[str]], RiskFacts] = RiskFacts()
    items: list = []
    source = args.snapshot
    path = Path(args.snapshot)
    try:
        if path.is_file():
            items, source = _load_snapshot_file(path, args.allow_short)
        elif args.snapshot.strip().isdigit():
            items, source, stored_limits, facts = _load_stored(int(args.snapshot), settings)
        else:
            raise _BadInput(_error(f"--snapshot {args.snapshot!r} is neither a file nor a snapshot id"))
    except _BadInput as exc:
        errors.extend(exc.errors)
    prices: dict = {}
    positions: dict = {}
    for option, reader, target in ((args.prices, read_prices, "prices"), (args.positions, read_positions, "positions")):
        try:
            values = _column_file(option, reader)
        except _BadInput as exc:
            errors.extend(exc.errors)
            continue
        if target == "prices":
            prices = values
        else:
            positions = values
    if args.portfolio_value is None:
        errors.extend(_error("--portfolio-value is needed offline (or preview against the broker with --save)", "--portfolio-value"))
    try:
        rules_from_params(stored_limits, args.risk)
    except RiskParamError as exc:
        errors.extend(_error(str(exc), "--risk"))
    if errors:
        raise _BadInput(errors)

    params = BuildParams(
        portfolio_value=args.portfolio_value,
        cash_buffer=args.cash_buffer,
        lot_size=args.lot_size,
        rounding=Rounding(args.rounding),
        min_order_value=args.min_order_value,
        order_type=OrderType(args.order_type),
        limit_offset_bps=args.limit_bps,
        liquidate_unlisted=args.liquidate_unlisted,
        fx_rates=dict(getattr(args, "fx", None) or ()),
    )
    known_prices = {i.symbol: i.price for i in items if getattr(i, "price", None) is not None}
    known_prices.update(prices)
    result, report = build_and_check(items, params, prices=prices, positions=positions, limits=stored_limits,
                                     overrides=args.risk, facts=facts, valuation_prices=known_prices)
    return {
        "snapshot": source,
        "portfolio_value": str(params.portfolio_value),
        "budget": str(result.budget),
        "target_value": str(result.target_value),
        **_orders_with_commissions(result.orders, args.commission),
        "orders_sent_today": facts_of(facts).orders_today,
        "prices_source": "offline: " + ("--prices over " if args.prices else "") + "the snapshot's price column",
        "skipped": [{"symbol": s.symbol, "reason": s.reason, "message": s.message} for s in result.skipped],
        "risk": report.to_dict(),
    }


def _orders_with_commissions(drafts, commission_model: str) -> dict:
    from services.core.commissions import FixedCommission, TieredCommission

    model = TieredCommission() if commission_model == "tiered" else FixedCommission()
    orders = []
    total_commission = Decimal(0)
    for o in drafts:
        row = o.to_dict()
        price = o.limit_price or o.reference_price
        commission = model.commission(o.quantity, price, side=o.side) if price is not None else None
        row["commission"] = None if commission is None else str(commission)
        total_commission += commission or 0
        orders.append(row)
    return {"orders": orders, "commission_model": commission_model, "commission_total": str(total_commission)}


async def preview_with_broker(args, settings) -> int:
    """Exactly what ``execute`` does up to sending: the broker's prices and positions, the
    stored risk limits and facts; the preview is stored as a plan."""
    from app.commands.execution import _error, _parse_snapshot_arg, _store_parsed, connected
    from services.domain import TradeMode

    if not args.snapshot.strip().isdigit() and not args.project:
        _error(args, "bad_input", "--project NAME is needed to store a plan of a snapshot FILE")
        return EXIT_BAD_INPUT
    snapshot_id, parsed, problem = _parse_snapshot_arg(args)
    if problem:
        _error(args, "bad_snapshot", problem)
        return EXIT_BAD_INPUT
    async with connected(args, settings) as s:
        if parsed is not None:  # stored once connected and guarded
            snapshot_id = await asyncio.to_thread(_store_parsed, s.db, parsed, args.project, s.service.actor)
        result = await s.service.preview_snapshot(
            args.project, snapshot_id, TradeMode(settings.mode), builder=builder_values(args), risk_overrides=args.risk,
            portfolio_value=args.portfolio_value, live_token=args.live_token)
    plan = result.plan
    kinds = sorted({ref.kind for ref in plan.prices.values()})
    preview = {
        "plan_id": plan.id, "plan_hash": plan.content_hash, "run_id": plan.run_id, "account": plan.account,
        "snapshot": f"snapshot {snapshot_id}", "portfolio_value": str(plan.portfolio_value),
        **_orders_with_commissions(plan.orders, args.commission),
        "gross_notional": str(plan.gross_notional),
        "prices_source": "broker (" + (", ".join(kinds) or "no orders") + ")",
        "prices": {symbol: ref.to_dict() for symbol, ref in plan.prices.items()},
        "skipped": [{"symbol": s.symbol, "reason": s.reason, "message": s.message} for s in result.skipped],
        "risk": dict(plan.risk),
    }
    if args.json:
        print(json.dumps(preview, indent=2))
    else:
        _print_table(preview)
        print(f"plan {plan.id} stored (hash {plan.content_hash[:12]}): trading-console execute --plan {plan.id}")
    return EXIT_BLOCKED if plan.blocked else EXIT_OK


def run_preview(args: argparse.Namespace, settings) -> int:
    if wants_broker(args):
        from app.commands.execution import _run

        return _run(preview_with_broker, args, settings)
    try:
        preview = build_preview(args, settings)
    except _BadInput as exc:
        if args.json:
            print(json.dumps({"errors": exc.errors}, indent=2))
        else:
            print(f"trading-console preview: {len(exc.errors)} problem(s) in the input", file=sys.stderr)
            for e in exc.errors:
                where = ", ".join(x for x in (e.get("source"), f"line {e['line']}" if e.get("line") else None,
                                             f"column {e['column']}" if e.get("column") else None) if x)
                print(f"  {where + ': ' if where else ''}{e['message']}", file=sys.stderr)
        return EXIT_BAD_INPUT
    blocked = preview["risk"]["verdict"] == "blocked"
    if args.json:
        print(json.dumps(preview, indent=2))
    else:
        _print_table(preview)
    return EXIT_BLOCKED if blocked else EXIT_OK


def _print_table(preview: dict) -> None:
    blocks = {r["client_order_id"]: r["blocks"] for r in preview["risk"]["results"]}
    budget = f", budget {preview['budget']}, target value {preview['target_value']}" if "budget" in preview else ""
    print(f"{preview['snapshot']}: portfolio {preview['portfolio_value']}{budget}, {len(preview['orders'])} order(s), "
          f"estimated commission {preview['commission_total']} ({preview['commission_model']})")
    if preview["orders"]:
        print(f"{'#':>3}  {'symbol':<8} {'side':<4} {'qty':>10} {'type':<3} {'limit':>10} {'ref':>10} {'notional':>14}  {'client_order_id':<28} risk")
    for o in preview["orders"]:
        risk = "; ".join(b["code"] for b in blocks.get(o["client_order_id"], [])) or "ok"
        print(f"{o['sequence']:>3}  {o['symbol']:<8} {o['side']:<4} {o['quantity']:>10} {o['order_type']:<3} "
              f"{o['limit_price'] or '':>10} {o['reference_price'] or '':>10} {o['notional'] or '':>14}  {o['client_order_id']:<28} {risk}")
    for s in preview["skipped"]:
        print(f"skipped {s['symbol']}: {s['message']}")
    for b in preview["risk"]["run"]:
        print(f"run blocked: {b['message']} ({b['code']})")
    for r in preview["risk"]["results"]:
        for b in r["blocks"]:
            print(f"blocked {r['symbol']}: {b['message']} ({b['code']})")
    print(f"prices: {preview['prices_source']}")
    print(f"risk verdict: {preview['risk']['verdict'].upper()}")
