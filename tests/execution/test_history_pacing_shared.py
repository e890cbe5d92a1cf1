"""IB counts its historical-data pacing per gateway, not per process (docs/ib-pacing.md,
"Historical data"): two downloads by two processes (two providers, each with its own
``HistoricalPacing``) on one gateway and one database keep one window between them, and a pacing
violation IB answers anyway is asked again after the pacing's wait, not reported as a failed
listing. The simulator counts by the same fake clock as the pacings, whose sleep moves it: the
10-minute windows pass at once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services import price_cache
from services.execution.engine import ExecutionEngine
from services.execution.history_log import DbHistoryLog, gateway_key
from services.execution.history_pacing import HistoricalPacing
from services.execution.ib_provider import IbExecutionProvider
from services.execution.ib_queries import HISTORY_PACING_ATTEMPTS

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2025, 1, 6, 22, 0, tzinfo=UTC)  # Monday, an hour after the close in New York
FIRST = ["AAPL", "MSFT", "AMZN"]
SECOND = ["GOOGL", "META", "NVDA"]
LIMIT, WINDOW = 4, 600.0  # IB's 60 in 600 s, fewer requests


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0  # wall-clock seconds, as the shared history keeps them

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def _simulator(make_simulator, clock: FakeClock):
    sim = await make_simulator(clock=lambda: NOW)
    sim.faults.history_pacing, sim.faults.history_window = LIMIT, WINDOW
    sim.faults.history_pacing_bar_seconds = None  # daily bars too (IB: strict for 30 s or less)
    sim.history_clock = clock
    return sim


async def _download(sim, database, client_id: int, symbols: list[str], pacing: HistoricalPacing):
    """One process's download: its own provider, its own pacing."""
    provider = IbExecutionProvider(port=sim.port, client_id=client_id, connect_timeout=5, auto_reconnect=False)
    provider.history_pacing = pacing
    await provider.connect()
    try:
        return await price_cache.download_daily_bars(database, provider, symbols, date(2025, 1, 2), date(2025, 1, 6), now=NOW)
    finally:
        await provider.disconnect()


def _pacing(clock: FakeClock, shared=None) -> HistoricalPacing:
    return HistoricalPacing(max_requests=LIMIT, window=WINDOW, clock=clock, sleep=clock.sleep, shared=shared)


async def test_two_downloads_on_one_gateway_share_the_window(make_simulator, database, ib_log_guard):
    clock = FakeClock()
    sim = await _simulator(make_simulator, clock)
    gateway = gateway_key("127.0.0.1", sim.port)
    first = await _download(sim, database, 21, FIRST, _pacing(clock, DbHistoryLog(database, gateway)))
    started = clock.now
    second = await _download(sim, database, 22, SECOND, _pacing(clock, DbHistoryLog(database, gateway)))
    assert first.failed == () and second.failed == ()
    assert (first.stored, second.stored) == (3 * 3, 3 * 3)
    assert sim.history_pacing.violations == 0 and len(sim.history_requests) == 6  # no error 162, nothing asked twice
    assert clock.now - started >= WINDOW  # the second process waited for the first one's requests to leave the window


async def test_another_gateway_has_its_own_window(database):
    clock = FakeClock()
    here, there = (_pacing(clock, DbHistoryLog(database, gateway_key("127.0.0.1", port))) for port in (4001, 4002))
    for n in range(LIMIT):
        await here.acquire(n, ("here", n))
        await there.acquire(n, ("there", n))
    assert clock.now == 1_700_000_000.0 and here.waited == there.waited == 0  # four each: neither window is full
    again = _pacing(clock, DbHistoryLog(database, gateway_key("localhost", 4001)))  # a later process, the same gateway
    await again.acquire("next", "next")
    assert clock.now == pytest.approx(1_700_000_000.0 + WINDOW + 0.5)


async def test_a_pacing_violation_is_asked_again_after_the_pacings_wait(make_simulator, database, ib_log_guard):
    ib_log_guard.allow(r"Error 162")
    clock = FakeClock()
    sim = await _simulator(make_simulator, clock)
    # two processes that do not share their requests (another program on the gateway): the second
    # one's requests beyond the window are answered with pacing violations
    await _download(sim, database, 21, FIRST, _pacing(clock))
    second = await _download(sim, database, 22, SECOND, _pacing(clock))
    assert second.failed == () and second.stored == 3 * 3
    assert sim.history_pacing.violations == 1  # META, the fifth in the window
    assert [r.listing for r in sim.history_requests] == [*FIRST, "GOOGL", "META", "META", "NVDA"]  # asked again


async def test_a_listing_fails_after_a_few_pacing_violations_in_a_row(make_simulator, database, ib_log_guard):
    ib_log_guard.allow(r"Error 162")
    clock = FakeClock()
    sim = await _simulator(make_simulator, clock)
    sim.faults.history_pacing, sim.faults.history_window = 1, 1e9  # one request, then violations for ever
    sim.faults.history_pacing_bar_seconds = None  # daily bars too (IB: strict for 30 s or less)
    report = await _download(sim, database, 21, ["AAPL", "MSFT"], _pacing(clock))
    [msft] = report.failed
    assert msft.symbol == "MSFT" and "pacing violation" in (msft.error or "")
    assert f"{HISTORY_PACING_ATTEMPTS} times in a row" in (msft.error or "")
    assert len(sim.history_requests) == 1 + HISTORY_PACING_ATTEMPTS


def test_the_engine_shares_the_history_of_its_gateway(database):
    engine = ExecutionEngine.for_ib(database, host="LOCALHOST", port=4002, auto_reconnect=False)
    shared = engine.provider.history_pacing.shared
    assert isinstance(shared, DbHistoryLog) and shared.gateway == "127.0.0.1:4002" and shared.db is database
