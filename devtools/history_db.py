"""A year of trading history in a database, for the history benchmark and for trying the window.

    PYTHONPATH=. python -m devtools.history_db --orders 100000 --fills 1000000 \\
        --db-url sqlite:///history.sqlite

Migrates the database to head, then bulk-inserts ``--orders`` orders spread evenly over
``--days`` days (ids and creation times grow together, as the console writes them) and
``--fills`` fills spread over those orders (partial fills, a fill's time after its order's),
with Core ``executemany`` in batches. Deterministic for a given ``--seed``. Refuses a database
that already holds orders (it would mix with real history): give a new file or an empty schema.
About 30 s for 100,000 orders and 1,000,000 fills on SQLite.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select

from services.db import migrate
from services.db.models import TradeFill, TradeOrder
from services.db.session import Database
from services.domain import OrderState

BATCH = 20_000
SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "JPM", "V", "UNH", "XOM", "JNJ", "WMT",
           "PG", "MA", "HD", "CVX", "ABBV", "KO", "PEP", "COST", "AVGO", "MRK", "ORCL", "BAC", "ADBE", "CRM",
           "NFLX", "AMD", "INTC", "CSCO", "QCOM", "TXN", "IBM", "SPY", "QQQ", "IWM", "DIA", "GLD", "TLT")
#: Most history is done; a few orders of the newest day are still working.
FINAL_STATES = (OrderState.FILLED,) * 8 + (OrderState.CANCELED, OrderState.REJECTED)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devtools.history_db", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", required=True, help="SQLAlchemy URL (a new SQLite file or an empty schema)")
    parser.add_argument("--orders", type=int, default=100_000, help="orders to write (default 100,000)")
    parser.add_argument("--fills", type=int, default=1_000_000, help="fills to write, spread over the orders")
    parser.add_argument("--days", type=int, default=365, help="the history's length, ending now")
    parser.add_argument("--seed", type=int, default=15, help="the random seed (the same history each time)")
    return parser


def generate(url: str, orders: int, fills: int, *, days: int = 365, seed: int = 15,
             end: datetime | None = None) -> tuple[int, int]:
    """Fill ``url`` with ``orders`` orders and ``fills`` fills; returns the counts written."""
    if orders < 1 or fills < 0 or days < 1:
        raise ValueError("--orders must be at least 1, --fills at least 0, --days at least 1")
    migrate.upgrade(url)
    db = Database(url)
    try:
        with db.session() as session:
            existing = session.scalar(select(func.count()).select_from(TradeOrder))
        if existing:
            raise ValueError(f"the database already holds {existing} orders; give a new file or an empty schema")
        rng = random.Random(seed)
        end = end or datetime.now(UTC).replace(microsecond=0)
        start = end - timedelta(days=days)
        step = (end - start) / orders
        per_order, extra = divmod(fills, orders)
        with db.engine.begin() as connection:
            first_id = 1
            order_rows: list[dict] = []
            fill_rows: list[dict] = []
            fill_id = 1
            for n in range(orders):
                created = start + step * n
                symbol = rng.choice(SYMBOLS)
                side = "BUY" if rng.random() < 0.5 else "SELL"
                count = per_order + (1 if n < extra else 0)
                lot = rng.randint(1, 20) * 10
                quantity = Decimal(lot * max(count, 1))
                price = Decimal(rng.randint(1000, 50000)) / 100
                status = OrderState.ACCEPTED if n >= orders - 20 else rng.choice(FINAL_STATES)
                filled = Decimal(lot * count) if status is OrderState.FILLED else Decimal(0)
                order_id = first_id + n
                order_rows.append({
                    "id": order_id, "client_order_id": f"hist-{order_id:07d}", "symbol": symbol, "side": side,
                    "quantity": quantity, "order_type": "LMT", "limit_price": price, "tif": "DAY",
                    "status": status, "filled_quantity": filled, "avg_fill_price": price if filled else None,
                    "ib_order_id": 1000 + order_id, "account": "DU000001", "retry_count": 0, "is_external": False,
                    "created_at": created, "updated_at": created,
                })
                for k in range(count):
                    fill_rows.append({
                        "id": fill_id, "order_id": order_id, "exec_id": f"hx.{fill_id:08d}",
                        "exec_base_id": f"hx.{fill_id:08d}", "exec_revision": 1, "superseded": False,
                        "symbol": symbol, "side": side, "quantity": Decimal(lot), "price": price,
                        "commission": Decimal("1.00"), "currency": "USD", "exchange": "SMART",
                        "account": "DU000001", "fill_time": created + timedelta(milliseconds=10 * (k + 1)),
                        "created_at": created, "updated_at": created,
                    })
                    fill_id += 1
                if len(order_rows) >= BATCH:
                    connection.execute(insert(TradeOrder.__table__), order_rows)
                    order_rows = []
                if len(fill_rows) >= BATCH:
                    # a fill's order is written before it (the foreign key)
                    if order_rows:
                        connection.execute(insert(TradeOrder.__table__), order_rows)
                        order_rows = []
                    connection.execute(insert(TradeFill.__table__), fill_rows)
                    fill_rows = []
            if order_rows:
                connection.execute(insert(TradeOrder.__table__), order_rows)
            if fill_rows:
                connection.execute(insert(TradeFill.__table__), fill_rows)
        return orders, fill_id - 1
    finally:
        db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        orders, fills = generate(args.db_url, args.orders, args.fills, days=args.days, seed=args.seed)
    except ValueError as exc:
        print(f"history_db: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {orders} orders and {fills} fills over {args.days} days in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
