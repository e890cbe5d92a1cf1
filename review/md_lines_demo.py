"""Demo: a preview of N listings asks IB for N market data snapshots at 45/s without counting
market data lines. IB allows ~100 simultaneous lines per account (a snapshot holds one until
tickSnapshotEnd, up to ~11 s); beyond that it answers error 101 "Max number of tickers has been
reached" and the console silently gets no price for those listings.

Usage: python review/md_lines_demo.py [N] [snapshot_seconds]"""
import asyncio
import logging
import sys

from services.execution.ib_provider import IbExecutionProvider
from services.ibsim import IBGatewaySimulator, SimConfig
from services.ibsim.model import synthetic_universe


async def main(n: int, snap: float) -> int:
    sim = IBGatewaySimulator(SimConfig(synthetic_symbols=n, state_file=None, ledger_file=None))
    sim.faults.market_data_lines = 100
    sim.faults.snapshot_seconds = snap
    await sim.start(host="127.0.0.1", port=0)
    errors: list[int] = []
    provider = IbExecutionProvider(port=sim.port, client_id=7)
    try:
        await provider.connect()
        provider.ib.errorEvent += lambda req_id, code, msg, *_: errors.append(code)
        symbols = list(synthetic_universe(n))
        try:
            prices = await provider.market_prices(symbols)
        except Exception as exc:  # noqa: BLE001
            print(f"market_prices raised {type(exc).__name__}: {exc}")
            return 1
        missing = [k for k, v in prices.items() if v is None]
        print(f"{n} listings: {len(prices) - len(missing)} priced, {len(missing)} without a price; "
              f"errors 101: {errors.count(101)}, errors 100: {errors.count(100)}")
        return 1 if missing or errors.count(101) else 0
    finally:
        await provider.disconnect()
        await sim.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200,
                              float(sys.argv[2]) if len(sys.argv) > 2 else 1.0)))
