"""The change feed (services/change_feed.py: what monitor windows and `watch` poll) on a short and
a long history: a poll with nothing new, and a poll after a burst (orders changing status, new
fills), against reloading the orders and fills in full (what a monitor without a feed would do)
in the same run.

    python3 dev.py bench change_feed [--history 1000,100000] [--fills-per-order 10] [--burst 50] [--db-url URL]

The history is generated (a year of orders, each with its fills, all older than the feed's
overlap window) into a temporary SQLite file per size (``--db-url``: another database, emptied
first). Goal: a poll costs the same on both histories (ratio long / short within 1.5) while the
full reload grows with the history.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

YEAR_AGO = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
CHUNK = 20_000


def _fresh_database(url: str | None, folder: str, size: int):
    import logging

    from sqlalchemy import text

    from services.db import Database
    from services.db.migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    url = url or f"sqlite:///{folder}/feed_{size}.sqlite3"
    upgrade(url)
    db = Database(url)
    with db.engine.begin() as c:
        for table in ("order_events", "trade_fills", "trade_orders", "positions"):
            c.execute(text(f"DELETE FROM {table}"))
    return db


def generate_history(db, orders: int, fills_per_order: int) -> float:
    """``orders`` filled orders spread over a year, ``fills_per_order`` fills each; seconds taken."""
    from services.db.models import TradeFill, TradeOrder

    started = time.perf_counter()
    step = timedelta(days=365) / max(orders, 1)
    with db.engine.begin() as c:
        for first in range(0, orders, CHUNK):
            rows, fills = [], []
            for n in range(first, min(first + CHUNK, orders)):
                when = YEAR_AGO + step * n
                rows.append({"id": n + 1, "client_order_id": f"HIST-{n}", "symbol": f"S{n % 500:03d}", "side": "BUY",
                             "quantity": Decimal(100), "order_type": "MKT", "status": "FILLED",
                             "filled_quantity": Decimal(100), "avg_fill_price": Decimal("50.25"),
                             "created_at": when, "updated_at": when})
                for k in range(fills_per_order):
                    exec_id = f"h{n:08x}.{k:02d}.01"
                    fills.append({"order_id": n + 1, "exec_id": exec_id, "exec_base_id": exec_id[:-3], "symbol": f"S{n % 500:03d}",
                                  "side": "BUY", "quantity": Decimal(100) / fills_per_order, "price": Decimal("50.25"),
                                  "fill_time": when, "created_at": when, "updated_at": when})
            c.execute(TradeOrder.__table__.insert(), rows)
            if fills:
                c.execute(TradeFill.__table__.insert(), fills)
    return time.perf_counter() - started


def _burst(db, orders: int, burst: int, round_: int) -> None:
    """``burst`` orders of the history change status, each with a new fill: a run landing."""
    from sqlalchemy import update

    from services.db.models import TradeFill, TradeOrder
    from services.db.types import utcnow

    ids = [1 + (round_ * burst + i) % orders for i in range(burst)]
    with db.unit_of_work() as session:
        session.execute(update(TradeOrder).where(TradeOrder.id.in_(ids)).values(status="PARTIALLY_FILLED"))
        session.execute(TradeFill.__table__.insert(), [
            {"order_id": i, "exec_id": f"b{round_:04d}.{i:08x}.01", "exec_base_id": f"b{round_:04d}.{i:08x}", "symbol": "S000",
             "side": "BUY", "quantity": Decimal(1), "price": Decimal("50.30"), "fill_time": utcnow()} for i in ids])


def measure(db, orders: int, burst: int, rounds: int) -> dict[str, float]:
    from services import console_queries as queries
    from services.change_feed import ChangeFeed

    feed = ChangeFeed(db)
    started = time.perf_counter()
    feed.prime()
    prime = time.perf_counter() - started
    idle = []
    for _ in range(rounds):
        started = time.perf_counter()
        if feed.poll():
            raise RuntimeError("an idle poll found changes")
        idle.append(time.perf_counter() - started)
    after_burst = []
    for round_ in range(rounds):
        _burst(db, orders, burst, round_)
        started = time.perf_counter()
        batch = feed.poll()
        after_burst.append(time.perf_counter() - started)
        if len(batch.orders) != burst or len(batch.fills) != burst:
            raise RuntimeError(f"the feed passed on {len(batch.orders)} orders and {len(batch.fills)} fills, not {burst}")
    started = time.perf_counter()
    everything = queries.recent_orders(db, limit=10**9), queries.recent_fills(db, limit=10**9)
    reload = time.perf_counter() - started
    if len(everything[0]) != orders:
        raise RuntimeError("the full reload did not read every order")
    return {"prime": prime, "idle": statistics.median(idle), "burst": statistics.median(after_burst), "reload": reload}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench change_feed",
                                     description="The monitors' change feed on a short and a long history, against a full reload.")
    parser.add_argument("--history", default="1000,100000", help="orders in the history, comma separated (first = baseline)")
    parser.add_argument("--fills-per-order", type=int, default=10, help="fills generated per order (10: 1,000,000 fills)")
    parser.add_argument("--burst", type=int, default=50, help="orders changing and fills landing between two polls")
    parser.add_argument("--rounds", type=int, default=20, help="polls measured per kind")
    parser.add_argument("--db-url", default=None, help="default: a temporary SQLite file per history")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    sizes = [int(s) for s in args.history.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            db = _fresh_database(args.db_url, folder, size)
            try:
                built = generate_history(db, size, args.fills_per_order)
                result = measure(db, size, args.burst, args.rounds)
            finally:
                db.dispose()
            results.append((size, result))
            print(f"{size:>9,} orders, {size * args.fills_per_order:>10,} fills (generated in {built:.1f} s): "
                  f"prime {result['prime'] * 1000:.1f} ms; poll idle {result['idle'] * 1000:.2f} ms, after a burst of "
                  f"{args.burst} {result['burst'] * 1000:.2f} ms (medians of {args.rounds}); full reload "
                  f"{result['reload'] * 1000:,.0f} ms", flush=True)
    (base, small), (top, large) = results[0], results[-1]
    idle_ratio, burst_ratio = large["idle"] / small["idle"], large["burst"] / small["burst"]
    print(f"poll {top:,} / {base:,} orders: idle ratio {idle_ratio:.2f}, after a burst {burst_ratio:.2f} (goal <= 1.5); "
          f"full reload ratio {large['reload'] / small['reload']:.1f}; at {top:,} orders a poll after a burst costs "
          f"{large['burst'] / large['reload'] * 100:.2f} % of a full reload")
    return 0 if max(idle_ratio, burst_ratio) <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
