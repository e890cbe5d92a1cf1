"""Simulator throughput against the real ib_async client, next to the client's own decoding rate.

    python3 dev.py bench sim_throughput [--orders=N] [--open-orders=N] [--executions=N]

Measures, in one run:

1. fills: N market orders (instant fills, throttling and pacing off) to one client: messages per
   second the client received (acks, fills, statuses, commission reports, position and account
   pushes), from the first placeOrder until the last commission report arrived;
2. sync: the client's full ``connectAsync`` (positions, open orders, completed orders, account
   updates, executions) with 1,000 open orders and 5,000 executions on the books;
3. the baseline for both: the same kind of frames, pre-encoded, fed straight into a fresh
   ib_async client's socket handler (decoder + wrapper, no socket, no simulator).

A ratio near 1 means the client is the bottleneck; well above 1, the simulator (or the socket).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.ibsim import IBGatewaySimulator, SimConfig
from services.ibsim import messages as m
from services.ibsim.codec import frame
from services.ibsim.config import Faults
from services.ibsim.model import SimExecution, SimOrder


def fresh_client(client_id: int = 1):
    """An ib_async IB whose client believes it is connected at server version 178."""
    from ib_async import IB
    from ib_async.client import Client

    ib = IB()
    ib.wrapper.clientId = client_id
    client = ib.client
    client._serverVersion = 178
    client.decoder.serverVersion = 178
    client.connState = Client.CONNECTED
    client._apiReady = True
    return ib


SYNC_EXEC_REQ_ID = 7


def decode_rate(frames: list[bytes], sync: bool = False) -> tuple[int, float]:
    """(messages, seconds) for feeding the frames to a fresh client in 64 KiB chunks."""

    async def run() -> tuple[int, float]:
        ib = fresh_client()
        if sync:  # the answers land in pending requests, as during connectAsync
            for key in ("openOrders", "completedOrders", SYNC_EXEC_REQ_ID):
                ib.wrapper.startReq(key)
        data = b"".join(frames)
        chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
        started = time.perf_counter()
        for chunk in chunks:
            ib.client._onSocketHasData(chunk)
        elapsed = time.perf_counter() - started
        received = ib.client._numMsgRecv
        ib.client.reset()  # "disconnected" without a socket: nothing to close, nothing logged at exit
        return received, elapsed

    return asyncio.run(run())


def _order(sim: IBGatewaySimulator, order_id: int, status: str, symbol: str = "AAPL") -> SimOrder:
    instrument = sim.universe[symbol]
    return SimOrder(
        order_id=order_id, client_id=1, perm_id=1_000_000 + order_id, account=sim.config.account, symbol=symbol,
        con_id=instrument.con_id, action="BUY", quantity=Decimal(100), order_type="LMT", limit_price=Decimal("1.00"),
        tif="GTC", order_ref=f"bench-{order_id}", status=status,
    )


def load_books(sim: IBGatewaySimulator, open_orders: int, executions: int) -> None:
    """Put resting orders and filled orders with their executions straight into the books."""
    now = datetime.now(UTC)
    order_id = 1
    for _ in range(open_orders):
        order = _order(sim, order_id, "Submitted")
        sim._orders[order.perm_id] = order
        sim._order_keys[(1, order_id)] = order.perm_id
        order_id += 1
    per_order = 5
    for start in range(0, executions, per_order):
        order = _order(sim, order_id, "Filled", symbol="MSFT")
        order.filled = order.quantity
        order.avg_fill_price = Decimal("400")
        order.completed_at = now
        order.completed_status = "Filled"
        sim._orders[order.perm_id] = order
        sim._order_keys[(1, order_id)] = order.perm_id
        for k in range(min(per_order, executions - start)):
            sim._exec_seq += 1
            execution = SimExecution(
                exec_id=f"{sim._exec_prefix}.{sim._exec_seq:08x}.01.01", order_id=order_id, client_id=1,
                perm_id=order.perm_id, account=sim.config.account, symbol="MSFT", con_id=order.con_id, side="BOT",
                shares=Decimal(20), price=Decimal("400"), time=now - timedelta(seconds=executions - start - k),
                cum_qty=Decimal(20 * (k + 1)), avg_price=Decimal("400"), order_ref=order.order_ref, exchange="NASDAQ",
                commission=Decimal("1"),
            )
            sim._executions[execution.base_id] = execution
        order_id += 1
    sim._next_order_id = order_id


def sync_frames(sim: IBGatewaySimulator) -> list[bytes]:
    """The frames of a startup sync of these books, for the decoding baseline."""
    frames = []
    for order in sim._orders.values():
        instrument = sim.universe[order.symbol]
        if order.is_done:
            frames.append(frame(m.completed_order(order, instrument)))
        else:
            frames.append(frame(m.open_order(order, instrument)))
            frames.append(frame(m.order_status(order)))
    for execution in sim._executions.values():
        instrument = sim.universe[execution.symbol]
        frames.append(frame(m.exec_details(SYNC_EXEC_REQ_ID, execution, instrument)))
        frames.append(frame(m.commission_report(execution.exec_id, execution.commission, "USD", None)))
    return frames


def fill_frames(sim: IBGatewaySimulator, orders: int) -> list[bytes]:
    """What one client receives per market order: ack, fill and pushes, pre-encoded."""
    instrument = sim.universe["AAPL"]
    account_values = sim.account_values()
    frames = []
    now = datetime.now(UTC)
    for order_id in range(1, orders + 1):
        order = _order(sim, order_id, "Submitted")
        frames.append(frame(m.open_order(order, instrument)))
        frames.append(frame(m.order_status(order)))
        order.filled, order.avg_fill_price, order.last_fill_price, order.status = order.quantity, Decimal("100.02"), Decimal("100.02"), "Filled"
        execution = SimExecution(
            exec_id=f"bench.{order_id:08x}.01.01", order_id=order_id, client_id=1, perm_id=order.perm_id,
            account=sim.config.account, symbol="AAPL", con_id=instrument.con_id, side="BOT", shares=order.quantity,
            price=Decimal("100.02"), time=now, cum_qty=order.quantity, avg_price=Decimal("100.02"), order_ref=order.order_ref,
            exchange="NASDAQ", commission=Decimal("1"),
        )
        frames.append(frame(m.exec_details(-1, execution, instrument)))
        frames.append(frame(m.order_status(order)))
        frames.append(frame(m.open_order(order, instrument)))
        frames.append(frame(m.commission_report(execution.exec_id, Decimal("1"), "USD", None)))
        frames.append(frame(m.position(sim.config.account, instrument, Decimal(100 * order_id), Decimal("100.03"))))
        for tag, value, currency in account_values:
            frames.append(frame(m.update_account_value(tag, value, currency, sim.config.account)))
        frames.append(frame(m.update_portfolio(instrument, Decimal(100 * order_id), Decimal(100), Decimal(10000 * order_id),
                                               Decimal("100.03"), Decimal(-3), Decimal(0), sim.config.account)))
        frames.append(frame(m.update_account_time(now)))
        for tag, value, currency in account_values:
            frames.append(frame(m.account_update_multi(1, sim.config.account, "", tag, value, currency)))
    return frames


async def measure_fills(orders: int) -> tuple[int, float]:
    from ib_async import IB, MarketOrder, Stock

    sim = IBGatewaySimulator(SimConfig(faults=Faults(pacing_limit=0)))
    await sim.start(port=0)
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=30)
        ib.client.MaxRequests = 0
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        done = asyncio.Event()
        reports = 0

        def on_report(trade, fill, report):
            nonlocal reports
            reports += 1
            if reports == orders:
                done.set()

        ib.commissionReportEvent += on_report
        before = ib.client._numMsgRecv
        started = time.perf_counter()
        for _ in range(orders):
            ib.placeOrder(aapl, MarketOrder("BUY", 100))
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - started
        return ib.client._numMsgRecv - before, elapsed
    finally:
        ib.disconnect()
        await sim.stop()


async def measure_sync(open_orders: int, executions: int) -> tuple[int, float, list[bytes]]:
    from ib_async import IB

    sim = IBGatewaySimulator(SimConfig(faults=Faults(pacing_limit=0)))
    load_books(sim, open_orders, executions)
    await sim.start(port=0)
    ib = IB()
    try:
        started = time.perf_counter()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=300, raiseSyncErrors=True)
        elapsed = time.perf_counter() - started
        assert len(ib.openTrades()) == open_orders, len(ib.openTrades())
        assert len(ib.fills()) == executions, len(ib.fills())
        return ib.client._numMsgRecv, elapsed, sync_frames(sim)
    finally:
        ib.disconnect()
        await sim.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench sim_throughput", description=" ".join((__doc__ or "").strip().split("\n\n")[0].split()))
    parser.add_argument("--orders", type=int, default=2000, help="orders placed for the message-rate part (default 2000)")
    parser.add_argument("--open-orders", type=int, default=1000, help="open orders at connect-and-sync (default 1000)")
    parser.add_argument("--executions", type=int, default=5000, help="executions at connect-and-sync (default 5000)")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.getLogger("ib_async").setLevel(logging.WARNING)
    logging.getLogger("services.ibsim").setLevel(logging.WARNING)

    fill_msgs, fill_secs = asyncio.run(measure_fills(args.orders))
    base_msgs, base_secs = decode_rate(fill_frames(IBGatewaySimulator(SimConfig()), args.orders))
    sim_rate, client_rate = fill_msgs / fill_secs, base_msgs / base_secs
    print(f"fills: {args.orders} MKT orders -> {fill_msgs} messages in {fill_secs:.3f} s = {sim_rate:,.0f} msg/s over the socket")
    print(f"       client decoding alone (same message mix, {base_msgs} msgs): {client_rate:,.0f} msg/s")
    print(f"       ratio client-alone / end-to-end = {client_rate / sim_rate:.2f}")

    sync_msgs, sync_secs, frames = asyncio.run(measure_sync(args.open_orders, args.executions))
    base_msgs, base_secs = decode_rate(frames, sync=True)
    print(f"sync:  connectAsync with {args.open_orders} open orders and {args.executions} executions: "
          f"{sync_secs:.3f} s ({sync_msgs} messages, {sync_msgs / sync_secs:,.0f} msg/s)")
    print(f"       client decoding alone of the sync frames ({base_msgs} msgs): {base_secs:.3f} s "
          f"({base_msgs / base_secs:,.0f} msg/s)")
    print(f"       ratio end-to-end / client-alone = {sync_secs / base_secs:.2f}")
    return 0
