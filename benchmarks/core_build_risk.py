"""Build and risk-check a 5,000-symbol snapshot against 2,000 current positions.

    python3 dev.py bench core_build_risk [--runs=N] [--symbols=N] [--positions=N]

Prints the median of several runs of the real path (``build_orders`` + ``evaluate_risk``) next
to a naive per-row baseline measured in the same run: positions and prices looked up by
scanning lists, every rule asked about one order at a time (``check_order``), the way the
predecessor's per-item loop worked. Goal: the real path under 100 ms on this machine.
The numbers are printed, not asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from decimal import Decimal

from services.core.builder import BuildParams, Target, build_orders
from services.core.risk import RiskContext, evaluate_risk, rules_from_params
from services.domain import OrderType

GOAL_MS = 100.0


def make_case(symbols: int, positions: int, seed: int = 7):
    rng = random.Random(seed)
    weight = Decimal("0.98") / Decimal(symbols)
    targets = [
        Target(f"S{i:05d}", weight if i % 9 else Decimal(0), Decimal(rng.randint(100, 90_000)) / 100)
        for i in range(symbols)
    ]
    held: dict[str, Decimal] = {}
    for i in range(positions):
        # half of the positions are in the snapshot, half are not (liquidated)
        symbol = f"S{(i * 2) % symbols:05d}" if i % 2 else f"U{i:05d}"
        held[symbol] = Decimal(rng.randint(1, 400))
    prices = {s: Decimal(rng.randint(100, 90_000)) / 100 for s in held if s.startswith("U")}
    params = BuildParams(
        Decimal(250_000_000), cash_buffer=Decimal("0.02"), liquidate_unlisted=True,
        order_type=OrderType.LMT, limit_offset_bps=Decimal(10), run_id=1,
    )
    limits = {"max_orders_per_run": 20_000, "max_daily_orders": 100_000, "max_order_notional": 250_000}
    return targets, held, prices, params, rules_from_params(limits)


def fast(targets, held, prices, params, rules):
    result = build_orders(targets, params, prices=prices, positions=held)
    ctx = RiskContext(params.portfolio_value, held, prices, unpriced_symbols=result.unpriced_symbols)
    return result, evaluate_risk(result.orders, ctx, rules)


def naive(targets, held, prices, params, rules):
    """Per-row: list scans instead of dict lookups, one order at a time through each rule."""
    held_rows = list(held.items())
    price_rows = list(prices.items())

    def lookup(rows, symbol):
        for s, v in rows:
            if s == symbol:
                return v
        return None

    per_row_targets = []
    for t in targets:
        price = lookup(price_rows, t.symbol) or t.price
        current = lookup(held_rows, t.symbol) or Decimal(0)
        per_row_targets.append((t, price, current))
    result = build_orders([t for t, _, _ in per_row_targets], params, prices=prices, positions=held)
    ctx = RiskContext(params.portfolio_value, held, prices, unpriced_symbols=result.unpriced_symbols)
    blocks = 0
    for order in result.orders:
        lookup(held_rows, order.symbol)
        for rule in rules:
            if not rule.check_order(order, ctx).passed:
                blocks += 1
    return result, blocks


def timed(fn, args, runs):
    samples = []
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn(*args)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), samples, out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench core_build_risk", description=" ".join((__doc__ or "").strip().split("\n\n")[0].split()))
    parser.add_argument("--runs", type=int, default=7, help="timed runs of the real path; the median is printed (default 7)")
    parser.add_argument("--symbols", type=int, default=5000, help="symbols in the snapshot (default 5000)")
    parser.add_argument("--positions", type=int, default=2000, help="current positions (default 2000)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    runs, symbols, positions = args.runs, args.symbols, args.positions
    case = make_case(symbols, positions)
    fast(*case)  # warm-up
    fast_ms, fast_samples, (result, report) = timed(fast, case, runs)
    naive_ms, _, (naive_result, _naive_blocks) = timed(naive, case, max(1, runs // 3))
    assert len(naive_result.orders) == len(result.orders)
    build_ms = statistics.median(timed(lambda *a: build_orders(a[0], a[3], prices=a[2], positions=a[1]), case, runs)[1])
    print(f"snapshot {symbols} symbols vs {positions} positions: {len(result.orders)} orders, "
          f"{len(report.all_blocks())} blocking results, verdict {report.verdict}")
    print(f"build + risk (median of {runs}): {fast_ms:8.1f} ms   (build alone {build_ms:.1f} ms; runs {', '.join(f'{s:.1f}' for s in fast_samples)})")
    print(f"naive per-row baseline:         {naive_ms:8.1f} ms")
    print(f"ratio baseline / build+risk:    {naive_ms / fast_ms:8.1f} x")
    print(f"goal < {GOAL_MS:.0f} ms: {'met' if fast_ms < GOAL_MS else 'NOT met'}")
    return 0
