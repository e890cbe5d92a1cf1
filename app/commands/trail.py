"""`trading-console trail --run ID | --plan ID [--json]`: the decision trail, read-only.

What the preview saw and decided (signals with score and rank; per symbol the target, current
and delta with the rounding applied, or why it got no order; every risk rule's measured value,
limit and verdict per order and for the account), then what happened (the orders' state changes
and the projects' portfolio snapshots at each fill batch and at the run's end, each saying what
its money is in: ``IN``, and ``no rate`` for figures a missing exchange rate left out). A run shows the
plan it executed (or its newest plan); a run with none says why, as its message does ("run 3,
no plan: preview refused: unknown contract: ..."). ``--json``: one object with the lists
``signals``, ``order_decisions``, ``risk_decisions``, ``state_changes`` and ``portfolio_snapshots``,
and ``no_plan`` (that reason, or null).
The tables show weights and the ratio rules' figures as percents, as the window does ("10.00%",
``services.core.wording.percent``), and quantities, prices and money as its panels do
("10,000", "171.30", "96,954.55"); ``--json`` keeps every value exact ("0.1").
Exit 2 for an unknown run or plan.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from decimal import Decimal

from app.cli import EXIT_BAD_INPUT, EXIT_OK, say_failure
from app.commands import arguments
from app.commands.db import run_guarded
from services.core.risk_measures import trail_figure
from services.core.wording import grouped, money, percent, price

SECTIONS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    # the snapshot row's own price and the reference price the builder used (a quote, a backtest's
    # bar): one PRICE, the reference, read as the signal's price, the snapshot's printed nowhere
    ("signals", "Signals", (("symbol", "SYMBOL"), ("weight", "WEIGHT"), ("score", "SCORE"), ("rank", "RANK"),
                            ("snapshot_price", "SNAPSHOT PRICE"), ("price", "REF PRICE"))),
    ("order_decisions", "Order decisions", (
        ("sequence", "#"), ("symbol", "SYMBOL"), ("action", "ACTION"), ("reason", "REASON"), ("target_weight", "WEIGHT"),
        ("raw_quantity", "RAW QTY"), ("target_quantity", "TARGET"), ("current_quantity", "CURRENT"), ("delta", "DELTA"),
        ("rounding", "ROUNDING"), ("price", "PRICE"))),
    ("risk_decisions", "Risk decisions", (
        ("scope", "SCOPE"), ("sequence", "#"), ("symbol", "SYMBOL"), ("rule", "RULE"), ("measured", "MEASURED"),
        ("limit_value", "LIMIT"), ("verdict", "VERDICT"), ("message", "MESSAGE"))),
    ("state_changes", "State changes", (
        ("time", "TIME"), ("client_order_id", "ORDER"), ("symbol", "SYMBOL"), ("event_type", "EVENT"),
        ("from_state", "FROM"), ("to_state", "TO"), ("source", "SOURCE"))),
    ("portfolio_snapshots", "Portfolio snapshots", (
        ("time", "TIME"), ("reason", "REASON"), ("project_id", "PROJECT"), ("account", "ACCOUNT"), ("positions", "POSITIONS"),
        ("market_value", "MARKET VALUE"), ("cash", "CASH"), ("equity", "EQUITY"), ("money_in", "IN"))),
)
# a snapshot's money that could not be converted into the account's base currency (its IN says why)
MONEY_COLUMNS = ("market_value", "cash", "equity")
NOT_CONVERTED = "no rate"
WEIGHTS = ("weight", "target_weight")  # shown as the preview shows them: "10.00%"
# and the other numbers as the window's panels show them (services.core.wording): quantities with
# their significant digits, grouped; prices at two to four places; money to the cent
QUANTITIES = ("raw_quantity", "target_quantity", "current_quantity", "delta", "rounding")
PRICES = ("price", "snapshot_price")
FIGURES = ("measured", "limit_value")  # a ratio rule's as a percent too (risk_measures.trail_figure)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "trail", help="the decision trail of a run or plan: signals, order and risk decisions, state changes, snapshots",
        description="Print every decision behind a run or a plan: the signals its preview saw, why each order exists "
                    "(or why a symbol got none), every risk rule's measured value, limit and verdict, the orders' "
                    "state changes and the portfolio snapshots during the run. Exit 2 for an unknown id.")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", type=arguments.record_id, default=None, metavar="ID", help="the run (its executed plan, or its newest)")
    which.add_argument("--plan", type=arguments.record_id, default=None, metavar="ID", help="the plan (a stored preview)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object with the five lists instead of tables, every value exact (a weight 0.1, not 10.00%%)")
    parser.set_defaults(handler=_trail)


def _cell(key: str, row: dict) -> str:
    value = row.get(key)
    if value is None:
        return NOT_CONVERTED if key in MONEY_COLUMNS and key in row else ""
    if key == "positions":
        return ", ".join(f"{p['symbol']} {grouped(Decimal(p['quantity']))}" for p in value) or "(none)"
    if key in WEIGHTS:
        return percent(Decimal(value))
    if key in QUANTITIES:
        return grouped(Decimal(value))
    if key in PRICES:
        return price(Decimal(value))
    if key in MONEY_COLUMNS:
        return money(Decimal(value))
    if key in FIGURES:
        return trail_figure(row, key) or ""
    return str(value)


def table(rows: Sequence[dict], columns: tuple[tuple[str, str], ...]) -> str:
    lines = [tuple(title for _, title in columns)]
    lines.extend(tuple(_cell(key, row) for key, _ in columns) for row in rows)
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def render(trail) -> str:
    # headed as the Decisions panel heads it: "run 2, plan 2 (executed)" was said of a backtest's
    # rebalance, never sent to a broker, as of a paper or live run's
    out = [trail.title]
    for name, title, columns in SECTIONS:
        rows = getattr(trail, name)
        out.append(f"\n{title} ({len(rows)})")
        out.append(table(rows, columns) if rows else "  (none)")
    return "\n".join(out)


def _trail(args: argparse.Namespace, settings) -> int:
    from app.composition import open_existing_database
    from services.trail_queries import TrailNotFound, decision_trail

    url = settings.effective_db_url
    def action() -> int:
        database = open_existing_database(url)
        try:
            trail = decision_trail(database, run_id=args.run, plan_id=args.plan)
        except TrailNotFound as exc:
            return say_failure(args, "not_found", exc.args[0], EXIT_BAD_INPUT)
        finally:
            database.dispose()
        print(json.dumps(trail.to_dict(), indent=2, ensure_ascii=False) if args.json else render(trail))
        return EXIT_OK

    return run_guarded(url, action, args)
