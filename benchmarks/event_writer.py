"""The event writer's fills per second into the database: batched transactions against one
commit per event, measured in the same run on the same data.

    python3 dev.py bench event_writer [--fills N] [--db-url URL]

Default database: the MariaDB test server (TC_TEST_MYSQL_URL, a private temporary database that
is dropped afterwards); ``--db-url sqlite:///...`` measures SQLite instead. Goal (issue 5):
batched at least 10x faster than one commit per event, and at least 3,000 fills a second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def _events(run_tag: str, orders: list[tuple[str, str]], fills: int):
    from services.execution.events import CommissionEvent, ExecutionEvent

    start = datetime.now(UTC)
    out = []
    for i in range(fills):
        coid, symbol = orders[i % len(orders)]
        exec_id = f"{run_tag}.{i:08x}.01.01"
        out.append(ExecutionEvent(exec_id=exec_id, ib_order_id=1 + i % len(orders), perm_id=0, client_id=1, order_ref=coid,
                                  account="DU1234567", symbol=symbol, side="BUY", shares=Decimal(1),
                                  price=Decimal("100.25") + Decimal(i % 7) / 100, time=start + timedelta(microseconds=i),
                                  exchange="NASDAQ", raw={"execId": exec_id}))
        out.append(CommissionEvent(exec_id=exec_id, commission=Decimal("0.35"), raw={"execId": exec_id}))
    return out


def _prepare(db, tag: str, n_orders: int, quantity: int) -> list[tuple[str, str]]:
    from services.db.repositories.orders import OrderRepository
    from services.domain import OrderState, Side

    symbols = ["AAPL", "MSFT", "AMZN", "NVDA", "META", "GOOGL", "TSLA", "AVGO"]
    orders = []
    with db.unit_of_work() as session:
        repo = OrderRepository(session)
        for k in range(n_orders):
            coid = f"B{tag}-{k}"
            symbol = symbols[k % len(symbols)]
            repo.create(coid, symbol, Side.BUY, Decimal(quantity), status=OrderState.ACCEPTED, account="DU1234567")
            orders.append((coid, symbol))
    return orders


async def _measure(db, batch_max: int, fills: int, tag: str) -> float:
    from services.execution.writer import EventWriter

    n_orders = 50
    orders = _prepare(db, tag, n_orders, fills // n_orders + 1)
    events = _events(tag, orders, fills)
    writer = EventWriter(db, batch_max=batch_max)
    started = time.perf_counter()
    for ev in events:  # everything queued at once, as after a burst of fills
        writer.queue.put_nowait(ev)
    writer.start()
    await writer.flush(timeout=3600)
    elapsed = time.perf_counter() - started
    await writer.stop()
    if writer.poisoned:
        raise RuntimeError(f"{len(writer.poisoned)} events could not be written: {writer.poisoned[0]}")
    return elapsed


def _check(db, expected: int) -> int:
    from sqlalchemy import func, select

    from services.db.models import TradeFill

    with db.session() as session:
        return session.scalar(select(func.count(TradeFill.id)).where(TradeFill.commission.is_not(None))) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench event_writer", description=" ".join((__doc__ or "").strip().split("\n\n")[0].split()))
    parser.add_argument("--fills", type=int, default=5000, help="fills written in batches (default 5000)")
    parser.add_argument("--baseline-fills", type=int, default=1000, help="fills for the one-commit-per-event baseline")
    parser.add_argument("--db-url", default=None, help="default: TC_TEST_MYSQL_URL's server (a private database)")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from services.db import Database
    from services.db.migrate import upgrade

    url = args.db_url
    created = None
    tmpdir = None
    if url is None:
        server = os.environ.get("TC_TEST_MYSQL_URL") or DEFAULT_MYSQL_URL
        admin = create_engine(server, connect_args={"connect_timeout": 3})
        try:
            with admin.begin() as c:
                name = f"tc_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
                c.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                created = name
            url = make_url(server).set(database=created).render_as_string(hide_password=False)
        except Exception as exc:  # no server: say so and measure SQLite instead
            import tempfile

            from services.urls import redact_text

            print(f"MariaDB unreachable ({redact_text(str(exc).splitlines()[0])}); measuring SQLite instead")
            tmpdir = tempfile.TemporaryDirectory()
            url = f"sqlite:///{tmpdir.name}/bench.sqlite3"
    try:
        upgrade(url)
        db = Database(url)
        try:
            one = asyncio.run(_measure(db, 1, args.baseline_fills, "one"))
            batched = asyncio.run(_measure(db, 1000, args.fills, "batch"))
            stored = _check(db, args.fills + args.baseline_fills)
        finally:
            db.dispose()
    finally:
        if created:
            with admin.begin() as c:
                c.exec_driver_sql(f"DROP DATABASE IF EXISTS `{created}`")
            admin.dispose()
        if tmpdir is not None:
            tmpdir.cleanup()
    rate_one = args.baseline_fills / one
    rate_batched = args.fills / batched
    ratio = rate_batched / rate_one
    print(f"database: {make_url(url).get_backend_name()}")
    print(f"one commit per event: {args.baseline_fills} fills (+ commissions) in {one:.2f} s = {rate_one:,.0f} fills/s")
    print(f"batched (up to 1000 events per transaction): {args.fills} fills (+ commissions) in {batched:.2f} s = {rate_batched:,.0f} fills/s")
    print(f"ratio batched / one-per-event: {ratio:.1f}x (goal >= 10x); batched rate goal >= 3,000 fills/s")
    ok = stored == args.fills + args.baseline_fills
    print(f"fills stored with their commission: {stored} of {args.fills + args.baseline_fills}" + ("" if ok else "  MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
