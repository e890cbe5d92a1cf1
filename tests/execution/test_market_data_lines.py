"""IB's market data lines: a snapshot holds one of the account's lines until it ends, and IB
refuses a request beyond them with error 101 "Max number of tickers has been reached". A
preview of more listings than the account has lines must not ask for all of them at once, and
a snapshot refused anyway (another program's lines) is asked again or named in a clear error."""

from __future__ import annotations

import asyncio

import pytest

from services.core.contracts import spec_of
from services.execution.errors import QueryFailed
from services.execution.ib_contracts import ib_contract
from services.execution.ib_provider import IbExecutionProvider

from ..fixtures.waiting import wait_until
from .pacing_helpers import synthetic_symbols

pytestmark = pytest.mark.timeout(60)


async def _provider(sim, client_id: int, **kwargs) -> IbExecutionProvider:
    provider = IbExecutionProvider(port=sim.port, client_id=client_id, connect_timeout=5, auto_reconnect=False,
                                   request_timeout=5, pacing_settle=0.2, **kwargs)
    await provider.connect()
    return provider


def _errors(provider, code: int) -> list[int]:
    seen: list[int] = []
    provider.ib.errorEvent += lambda req_id, error_code, *_: seen.append(req_id) if error_code == code else None
    return seen


async def test_snapshots_of_more_listings_than_lines_never_exceed_the_lines(make_simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 101, reqId")  # the old code's failure, if it comes back
    sim = await make_simulator(synthetic_symbols=30, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 10  # an account with 10 lines
    sim.faults.snapshot_seconds = 0.3  # each snapshot holds its line this long (IB: up to ~11 s)
    provider = await _provider(sim, 31)
    provider.market_data_lines = 10
    refused = _errors(provider, 101)
    try:
        symbols = synthetic_symbols(30)
        prices = await provider.market_prices(symbols)
        assert refused == []
        assert prices == {s: sim.universe[s].price for s in symbols}
    finally:
        await provider.disconnect()


async def test_a_snapshot_refused_for_lines_is_asked_again_once_lines_free(make_simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Error 101, reqId")
    sim = await make_simulator(synthetic_symbols=12, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 10
    symbols = synthetic_symbols(12)
    other = await ib_client(client_id=32, sim=sim)  # another program streams 9 of the 10 lines

    held = await other.qualifyContractsAsync(*[ib_contract(spec_of(s)) for s in symbols[:9]])
    streams = [other.reqMktData(contract, "", False, False) for contract in held]
    await wait_until(lambda: sim.market_data_lines_used() == 9, 5, "the other program's 9 streams")
    provider = await _provider(sim, 33)
    refused = _errors(provider, 101)

    def free_lines(req_id, code, *_):  # the other program stops streaming when ours is refused
        if code == 101 and streams:
            for ticker in streams:
                other.cancelMktData(ticker.contract)
            streams.clear()

    provider.ib.errorEvent += free_lines
    try:
        wanted = symbols[9:]
        await provider.qualify(wanted)
        sim.faults.snapshot_seconds = 0.3  # the first snapshot holds the last free line
        prices = await provider.market_prices(wanted)
        assert refused, "the other program's streams left too few lines: IB refused some snapshots"
        assert prices == {s: sim.universe[s].price for s in wanted}  # asked again, not left without a price
    finally:
        await provider.disconnect()


async def test_snapshots_refused_for_lines_every_time_fail_naming_error_101_and_the_listings(make_simulator, ib_client,
                                                                                            ib_log_guard):
    ib_log_guard.allow(r"Error 101, reqId")
    sim = await make_simulator(synthetic_symbols=12, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 9
    symbols = synthetic_symbols(12)
    other = await ib_client(client_id=34, sim=sim)

    # another program holds every line for good
    for contract in await other.qualifyContractsAsync(*[ib_contract(spec_of(s)) for s in symbols[:9]]):
        other.reqMktData(contract, "", False, False)
    await wait_until(lambda: sim.market_data_lines_used() == 9, 5, "the other program's 9 streams")
    provider = await _provider(sim, 35)
    try:
        wanted = symbols[9:]
        with pytest.raises(QueryFailed) as failure:
            await provider.market_prices(wanted)
        message = str(failure.value)
        assert "error 101" in message and "market data lines" in message
        assert all(s in message for s in wanted)
    finally:
        await provider.disconnect()


async def test_a_history_request_dropped_by_error_100_is_asked_again(make_simulator, ib_log_guard, monkeypatch):
    """Error 100 drops the reqHistoricalData itself: asked again after the quiet ``settle``, not
    left to fail the listing after HISTORY_TIMEOUT (120 s)."""
    from datetime import date, timedelta

    import services.execution.ib_queries as queries
    from services.execution.history_pacing import HistoricalPacing

    ib_log_guard.allow(r"Error 100, reqId")
    monkeypatch.setattr(queries, "HISTORY_TIMEOUT", 20.0)
    sim = await make_simulator(state_file=None, ledger_file=None)
    provider = await _provider(sim, 36)
    now = [1_000_000.0]

    async def fake_sleep(seconds: float) -> None:  # the 15 s identical-request rule passes at once
        now[0] += seconds

    provider.history_pacing = HistoricalPacing(clock=lambda: now[0], sleep=fake_sleep)
    dropped = []
    try:
        spec = spec_of("AAPL")
        await provider.qualify([spec])
        original = provider.ib.client.reqHistoricalData

        def dropped_once(*args):  # the gateway allows one message this second: the history request is dropped
            provider.ib.client.reqHistoricalData = original
            sim.faults.pacing_limit = 1
            sim.restart_pacing_windows()
            provider.ib.client.reqCurrentTime()
            original(*args)
            dropped.append(True)

        provider.ib.client.reqHistoricalData = dropped_once
        provider.ib.errorEvent += lambda req_id, code, *_: setattr(sim.faults, "pacing_limit", 50) if code == 100 else None
        last = date.today() - timedelta(days=7)
        loop = asyncio.get_running_loop()
        started = loop.time()
        bars = await provider.daily_bars(spec, last - timedelta(days=30), last)
        assert dropped and bars and provider.pacing_violations >= 1
        assert loop.time() - started < queries.HISTORY_TIMEOUT  # not after the history timeout
    finally:
        await provider.disconnect()


@pytest.mark.slow  # over 3 s a case: out of --quick (README), in the whole suite
async def test_snapshots_asked_at_once_by_several_callers_share_the_lines(make_simulator, ib_log_guard):
    """Each ``market_prices`` call had its own budget of half the lines: three at once (a
    preview, a ticket, the monitor) held one and a half times the account's lines, and IB
    refused the rest with error 101. They now share one budget."""
    ib_log_guard.allow(r"Error 101, reqId")  # the old code's failure, if it comes back
    sim = await make_simulator(synthetic_symbols=30, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 10  # an account with 10 lines
    sim.faults.snapshot_seconds = 0.5  # each snapshot holds its line this long (IB: up to ~11 s)
    provider = await _provider(sim, 32)
    provider.market_data_lines = 10
    refused = _errors(provider, 101)
    try:
        symbols = synthetic_symbols(30)
        await provider.qualify(symbols)
        answers = await asyncio.gather(*(provider.market_prices(symbols[i:i + 10]) for i in (0, 10, 20)))
        assert refused == []
        assert {key: price for answer in answers for key, price in answer.items()} == {s: sim.universe[s].price for s in symbols}
    finally:
        await provider.disconnect()
