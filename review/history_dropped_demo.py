"""Demo: a reqHistoricalData dropped by IB's error 100 is never asked again: daily_bars waits
HISTORY_TIMEOUT (120 s; shortened to 6 s here) and fails the listing, although every other
query dropped by error 100 is asked again after 2 quiet seconds (docs/ib-pacing.md).

The gateway is made to drop exactly the history request: its limit is 1 message a second right
when a paced message and the history request leave 22 ms apart."""
import asyncio
import sys
from datetime import date, timedelta

import services.execution.ib_queries as q
from services.core.contracts import spec_of
from services.execution.ib_provider import IbExecutionProvider
from services.ibsim import IBGatewaySimulator, SimConfig


async def main() -> int:
    q.HISTORY_TIMEOUT = 6.0
    sim = IBGatewaySimulator(SimConfig(state_file=None, ledger_file=None))
    await sim.start(host="127.0.0.1", port=0)
    provider = IbExecutionProvider(port=sim.port, client_id=9, auto_reconnect=False)
    errors: list[int] = []
    try:
        await provider.connect()
        provider.ib.errorEvent += lambda req_id, code, *_: errors.append(code)
        spec = spec_of("AAPL")
        await provider.qualify([spec])
        original = provider.ib.client.reqHistoricalData

        def strict_then_history(*args):
            provider.ib.client.reqHistoricalData = original  # only the first request is dropped
            sim.faults.pacing_limit = 1  # this second: the filler below is the only message let through
            sim.restart_pacing_windows()
            provider.ib.client.reqCurrentTime()
            original(*args)
            asyncio.get_running_loop().call_later(0.5, lambda: setattr(sim.faults, "pacing_limit", 50))

        provider.ib.client.reqHistoricalData = strict_then_history
        last = date.today() - timedelta(days=7)
        try:
            bars = await provider.daily_bars(spec, last - timedelta(days=30), last)
            print(f"daily_bars: {len(bars)} bars; errors seen {errors}")
            return 0
        except Exception as exc:  # noqa: BLE001
            print(f"daily_bars failed: {type(exc).__name__}: {exc}; errors seen {errors}")
            return 1
    finally:
        await provider.disconnect()
        await sim.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
