"""`trading-console preview`: the orders a snapshot would send, and the risk verdict.

    trading-console preview --snapshot FILE_OR_ID --portfolio-value V [--prices FILE]
        [--positions FILE] [--cash-buffer R] [--lot-size N] [--rounding nearest|floor]
        [--order-type MKT|LMT] [--limit-bps B] [--min-order-value V] [--liquidate-unlisted]
        [--risk NAME=VALUE ...] [--fx CUR=RATE ...] [--commission fixed|tiered] [--json]

With a FILE it needs no database at all (risk limits: the built-in defaults plus ``--risk``).
With an id it reads the stored snapshot, the stored risk defaults (trade_settings), the
trading state and the number of orders sent since New York midnight from the database. Prices come from ``--prices`` (CSV ``symbol,price``) over the
snapshot's own price column; positions from ``--positions`` (CSV ``symbol,quantity``). Rows in
another currency than USD need its rate, ``--fx EUR=1.10`` (USD per unit; see docs/currencies.md);
without one they are unpriced and risk blocks the run.

Exit code 0 when the run would be ready, 3 when risk blocks it, 2 for bad input (the problems
and their lines on stderr, or in the JSON under ``errors``).
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from app.cli import EXIT_BAD_INPUT, EXIT_BLOCKED, EXIT_OK


MAX_AMOUNT = Decimal("1e15")  # far above any account; keeps exact arithmetic in range


def _decimal(minimum: Decimal, *, strict: bool = False, below: Decimal | None = None, whole: bool = False):
    def parse(text: str) -> Decimal:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value.is_finite() or value < minimum or (strict and value == minimum) or abs(value) > MAX_AMOUNT:
            raise argparse.ArgumentTypeError(f"must be a number {'>' if strict else '>='} {minimum}: {text!r}")
        if below is not None and value >= below:
            raise argparse.ArgumentTypeError(f"must be below {below}: {text!r}")
        if whole and value != value.to_integral_value():
            raise argparse.ArgumentTypeError(f"must be a whole number: {text!r}")
        return value

    return parse


def _fx_rate(text: str) -> tuple[str, Decimal]:
    currency, sep, value = text.partition("=")
    currency = currency.strip().upper()
    if not sep or len(currency) != 3 or not currency.isalpha():
        raise argparse.ArgumentTypeError(f"not CUR=RATE: {text!r}")
    return currency, _decimal(Decimal(0), strict=True)(value.strip())


def register(subparsers) -> None:
    parser = subparsers.add_parser("preview", help="build the orders of a snapshot and check them against risk (sends nothing)")
    parser.add_argument("--snapshot", required=True, metavar="FILE_OR_ID", help="snapshot file (CSV/JSON) or stored snapshot id")
    parser.add_argument("--portfolio-value", required=True, type=_decimal(Decimal(0), strict=True), metavar="V")
    parser.add_argument("--prices", metavar="FILE", help="CSV symbol,price (wins over the snapshot's prices)")
    parser.add_argument("--positions", metavar="FILE", help="CSV symbol,quantity (current positions)")
    parser.add_argument("--cash-buffer", type=_decimal(Decimal(0), below=Decimal(1)), default=Decimal(0), metavar="R", help="ratio kept as cash, 0 <= R < 1 (default 0)")
    parser.add_argument("--lot-size", type=_decimal(Decimal(0), strict=True, whole=True), default=Decimal(1), metavar="N", help="shares per lot, a whole number (default 1)")
    parser.add_argument("--rounding", choices=("nearest", "floor"), default="nearest")
    parser.add_argument("--order-type", choices=("MKT", "LMT"), type=str.upper, default="MKT")
    parser.add_argument("--limit-bps", type=_decimal(Decimal(0)), default=Decimal(0), metavar="B", help="LMT: reference price +/- B basis points (default 0)")
    parser.add_argument("--min-order-value", type=_decimal(Decimal(0)), default=Decimal(0), metavar="V")
    parser.add_argument("--liquidate-unlisted", action="store_true", help="sell held symbols that are not in the snapshot")
    parser.add_argument("--allow-short", action="store_true", help="accept negative weights in a snapshot file")
    parser.add_argument("--risk", action="extend", nargs="+", default=[], metavar="NAME=VALUE", help="override a risk limit (NAME=off switches it off)")
    parser.add_argument("--fx", action="extend", nargs="+", default=[], type=_fx_rate, metavar="CUR=RATE",
                        help="exchange rate of a listing currency: USD per unit (e.g. EUR=1.10)")
    parser.add_argument("--commission", choices=("fixed", "tiered"), default="fixed", help="IB commission model of the estimate (default fixed)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run_preview)


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

    try:
        parsed = parse_snapshot_file(path, allow_short=allow_short)
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
    from services.core.builder import Target
    from services.core.risk import trading_day_start
    from services.db.repositories import NotFound, OrderRepository, SettingsRepository, SnapshotRepository
    from services.domain import OrderState

    from app.commands.snapshot import open_database

    db = open_database(settings)
    try:
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
            stored = SettingsRepository(session)
            sent_today = [
                o for o in OrderRepository(session).list(since=trading_day_start())
                if OrderState(o.status) not in (OrderState.NEW, OrderState.BLOCKED)
            ]
            return (items, f"snapshot {snapshot.id} ({snapshot.source_file})", stored.risk_defaults(),
                    stored.trading_state(), len(sent_today))
    finally:
        db.dispose()


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
    from services.core.builder import BuildParams, Rounding, build_orders
    from services.core.commissions import FixedCommission, TieredCommission
    from services.core.inputs import read_positions, read_prices
    from services.core.risk import RiskContext, RiskParamError, evaluate_risk, rules_from_params
    from services.domain import OrderType, TradingState

    errors: list[dict] = []
    stored_limits: dict = {}
    trading_state = TradingState.ACTIVE
    orders_today = 0
    items: list = []
    source = args.snapshot
    path = Path(args.snapshot)
    try:
        if path.is_file():
            items, source = _load_snapshot_file(path, args.allow_short)
        elif args.snapshot.strip().isdigit():
            items, source, stored_limits, trading_state, orders_today = _load_stored(int(args.snapshot), settings)
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
    try:
        rules = rules_from_params(stored_limits, args.risk)
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
    result = build_orders(items, params, prices=prices, positions=positions)
    known_prices = {i.symbol: i.price for i in items if getattr(i, "price", None) is not None}
    known_prices.update(prices)
    ctx = RiskContext(
        params.portfolio_value,
        positions=positions,
        prices=known_prices,
        trading_state=trading_state,
        orders_today=orders_today,
        unpriced_symbols=result.unpriced_symbols,
        fx_rates=params.fx_rates,
    )
    report = evaluate_risk(result.orders, ctx, rules)
    model = TieredCommission() if args.commission == "tiered" else FixedCommission()
    orders = []
    total_commission = Decimal(0)
    for o in result.orders:
        row = o.to_dict()
        price = o.limit_price or o.reference_price
        commission = model.commission(o.quantity, price, side=o.side) if price is not None else None
        row["commission"] = None if commission is None else str(commission)
        total_commission += commission or 0
        orders.append(row)
    return {
        "snapshot": source,
        "portfolio_value": str(params.portfolio_value),
        "budget": str(result.budget),
        "target_value": str(result.target_value),
        "orders": orders,
        "commission_model": args.commission,
        "commission_total": str(total_commission),
        "orders_sent_today": orders_today,
        "skipped": [{"symbol": s.symbol, "reason": s.reason, "message": s.message} for s in result.skipped],
        "risk": report.to_dict(),
    }


def run_preview(args: argparse.Namespace, settings) -> int:
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
    print(f"{preview['snapshot']}: portfolio {preview['portfolio_value']}, budget {preview['budget']}, "
          f"target value {preview['target_value']}, {len(preview['orders'])} order(s), "
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
    print(f"risk verdict: {preview['risk']['verdict'].upper()}")
