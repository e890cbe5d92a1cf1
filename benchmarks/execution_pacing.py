"""A 500-order run against the simulator: wall time against IB's pacing bound.

    python3 dev.py bench execution_pacing [--orders N] [--db-url URL]

Every order is stored NEW before placeOrder, sent through the shared pacing limiter (45
messages a second) and acknowledged by the simulator over a real socket; the simulator answers
error 100 when a client goes above its limit of 50 messages a second. The bound is
``orders / 45`` seconds (500 orders: about 11.1 s). Goal (issue 5): within 10 % of the bound and
no pacing error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

SYMBOLS = ["AAPL", "MSFT", "AMZN", "NVDA", "META", "GOOGL", "TSLA", "AVGO"]


async def _run(n_orders: int, db_url: str, workdir: Path) -> dict:
    from services.db import Database
    from services.db.migrate import upgrade
    from services.db.repositories import OrderRepository, ProjectRepository, RunRepository
    from services.domain import OrderType, Side
    from services.execution.ib_provider import IbExecutionProvider
    from services.execution.pacing import IB_MAX_MESSAGES_PER_SECOND
    from services.execution.provider import OrderRequest
    from services.execution.runs import TradeService
    from services.execution.writer import EventWriter
    from services.ibsim import IBGatewaySimulator, SimConfig

    upgrade(db_url)  # the benchmark's own database: it creates its schema itself (also on MySQL)
    db = Database(db_url)
    sim = IBGatewaySimulator(SimConfig(state_file=workdir / "state.json", ledger_file=workdir / "ledger.json"))
    await sim.start(host="127.0.0.1", port=0)
    provider = IbExecutionProvider(port=sim.port, client_id=1, connect_timeout=10, auto_reconnect=False)
    writer = EventWriter(db, provider.events)
    writer.start()
    service = TradeService(db, provider, writer, None, actor="bench")
    pacing_errors: list[str] = []
    provider.ib.errorEvent += lambda req_id, code, text, contract: pacing_errors.append(text) if code == 100 else None
    try:
        await provider.connect()
        await provider.qualify(SYMBOLS)
        with db.unit_of_work() as session:
            project = ProjectRepository(session).get_or_create("bench-pacing")
            run = RunRepository(session).create(project.id, params={"benchmark": "execution_pacing"})
            run_id = run.id
        requests = [OrderRequest(f"BP{run_id}-{i}", SYMBOLS[i % len(SYMBOLS)], Side.BUY, Decimal(1), OrderType.MKT) for i in range(n_orders)]
        # pacing starts fresh: the connection's own requests must not count against the run
        await asyncio.sleep(1.05)
        started = time.perf_counter()
        with db.unit_of_work() as session:
            orders = OrderRepository(session)
            for r in requests:
                orders.create(r.client_order_id, r.symbol, r.side, r.quantity, order_type=r.order_type, run_id=run_id,
                              project_id=project.id, account=provider.account)
        stored = time.perf_counter()
        async with service.hold_run(run_id):  # _send refuses to send without the run's lease
            result = await service._send(run_id, requests, ())
            sent = time.perf_counter()
            waiting = await service.wait_acknowledged(run_id, timeout=60)
            acked = time.perf_counter()
            still = await service.wait_done(run_id, 60)
            done = time.perf_counter()
        return {
            "orders": n_orders, "sent": len(result.sent), "failed": len(result.failed), "unacknowledged": len(waiting),
            "not_done": len(still), "store_s": stored - started, "send_s": sent - started, "ack_s": acked - started,
            "done_s": done - started, "bound_s": n_orders / IB_MAX_MESSAGES_PER_SECOND, "pacing_errors": len(pacing_errors),
            "sim_orders": len(sim.orders()), "limiter_waits": provider.pacing.waits,
        }
    finally:
        await writer.stop()
        await provider.disconnect()
        await sim.stop()
        db.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench execution_pacing", description=" ".join((__doc__ or "").strip().split("\n\n")[0].split()))
    parser.add_argument("--orders", type=int, default=500, help="orders sent through the pacing limiter (default 500)")
    parser.add_argument("--db-url", default=None, help="default: a temporary SQLite file")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = args.db_url or f"sqlite:///{(workdir / 'bench.sqlite3').as_posix()}"
        r = asyncio.run(_run(args.orders, url, workdir))
    ratio = r["ack_s"] / r["bound_s"]
    print(f"{r['orders']} orders: stored NEW in {r['store_s']:.2f} s, all sent after {r['send_s']:.2f} s, "
          f"all acknowledged after {r['ack_s']:.2f} s, all filled after {r['done_s']:.2f} s")
    print(f"pacing bound ({r['orders']} / 45 per second): {r['bound_s']:.2f} s; ratio acknowledged / bound = {ratio:.3f} "
          f"(goal: within 10 %, i.e. <= 1.10)")
    print(f"pacing errors (100): {r['pacing_errors']}; orders at the simulator: {r['sim_orders']}; "
          f"failed: {r['failed']}; unacknowledged: {r['unacknowledged']}; not done: {r['not_done']}")
    ok = r["pacing_errors"] == 0 and r["sim_orders"] == r["orders"] and r["failed"] == 0 and r["not_done"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
