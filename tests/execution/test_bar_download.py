"""Daily bars from the broker into the price cache: only missing days are asked for (a second
download of the same range sends nothing), within IB's historical-data pacing."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete

from services import price_cache
from services.core.contracts import ContractSpec
from services.core.trading_hours import session_days
from services.db.models import PriceBar
from services.execution.history_pacing import HistoricalPacing
from services.execution.ib_provider import IbExecutionProvider
from services.execution.ib_queries import history_span

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2025, 1, 6, 22, 0, tzinfo=UTC)  # Monday, an hour after the close in New York


async def test_a_second_download_fetches_nothing(make_simulator, database):
    sim = await make_simulator(clock=lambda: NOW)
    sim.set_price("AAPL", "250")
    provider = IbExecutionProvider(port=sim.port, client_id=9, connect_timeout=5, auto_reconnect=False)
    await provider.connect()
    try:
        days = session_days(date(2024, 12, 2), date(2025, 1, 6))
        first = await price_cache.download_daily_bars(database, provider, ["AAPL", "MSFT"], date(2024, 12, 1),
                                                      date(2025, 1, 10), now=NOW)
        assert (first.requests, first.stored, first.failed, first.last) == (2, 2 * len(days), (), date(2025, 1, 6))
        assert [r.listing for r in sim.history_requests] == ["AAPL", "MSFT"]
        aapl = price_cache.load_bars(database, ["AAPL"])
        assert [b.day for b in aapl] == days and date(2024, 12, 25) not in {b.day for b in aapl}
        assert aapl[-1].close == Decimal("250")  # the simulator's current price closes its history
        assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in aapl)

        second = await price_cache.download_daily_bars(database, provider, ["AAPL", "MSFT"], date(2024, 12, 1),
                                                       date(2025, 1, 10), now=NOW)
        assert second.requests == 0 and second.stored == 0
        assert len(sim.history_requests) == 2 and provider.history_pacing.requests == 2  # nothing new was asked
        assert price_cache.load_bars(database, ["AAPL"]) == aapl

        # a longer range asks for the days before the cached ones only, from the first to the last missing
        wider = await price_cache.download_daily_bars(database, provider, ["AAPL"], date(2024, 11, 1),
                                                      date(2025, 1, 6), now=NOW)
        new_days = session_days(date(2024, 11, 1), date(2024, 11, 29))
        assert [(item.missing, item.stored) for item in wider.listings] == [(len(new_days), len(new_days))]
        request = sim.history_requests[-1]
        assert (request.end, request.duration, request.bar_size, request.what_to_show) == (
            "20241130-04:59:59", "29 D", "1 day", "TRADES")
        assert price_cache.load_bars(database, ["AAPL"], last=date(2024, 11, 29))[-1].day == date(2024, 11, 29)
        assert price_cache.load_bars(database, ["AAPL"])[len(new_days):] == aapl  # the cached days untouched

        # gaps are asked for one by one: a missing day in the middle costs one day, not the range
        with database.unit_of_work() as session:
            session.execute(delete(PriceBar).where(PriceBar.symbol == "AAPL", PriceBar.day.in_(
                [date(2024, 12, 11), date(2025, 1, 3), date(2025, 1, 6)])))
        gaps = await price_cache.download_daily_bars(database, provider, ["AAPL"], date(2024, 11, 1), date(2025, 1, 6), now=NOW)
        assert (gaps.requests, gaps.stored, gaps.listings[0].still_missing) == (2, 3, ())
        assert [(r.end, r.duration) for r in list(sim.history_requests)[-2:]] == [
            ("20241212-04:59:59", "1 D"), ("20250107-04:59:59", "4 D")]
        assert price_cache.load_bars(database, ["AAPL"])[len(new_days):] == aapl
    finally:
        await provider.disconnect()


async def test_an_unknown_listing_is_reported_and_the_others_go_on(make_simulator, database, ib_log_guard):
    ib_log_guard.allow(r"Error 200")
    sim = await make_simulator(clock=lambda: NOW)
    provider = IbExecutionProvider(port=sim.port, client_id=9, connect_timeout=5, auto_reconnect=False)
    await provider.connect()
    try:
        report = await price_cache.download_daily_bars(database, provider, ["NOPE", "AAPL"], date(2025, 1, 2),
                                                       date(2025, 1, 6), now=NOW)
    finally:
        await provider.disconnect()
    [nope] = report.failed
    assert nope.symbol == "NOPE" and "unknown contract" in (nope.error or "") and len(nope.still_missing) == 3
    assert [b.symbol for b in price_cache.load_bars(database)] == ["AAPL"] * 3


async def test_a_connection_closed_before_the_answer_is_a_broker_error(make_simulator, database, monkeypatch, ib_log_guard):
    """ib_async ends an outstanding request with a builtin ConnectionError("Socket disconnect"):
    it went up through every layer (`bars download`, `backtest --from-broker`: exit 1, "details in
    the log file") instead of the broker error a lost connection is (exit 5)."""
    from services.execution.errors import NotConnected

    ib_log_guard.allow(r"Peer closed connection")
    sim = await make_simulator(clock=lambda: NOW)
    monkeypatch.setitem(sim._handlers, 20, lambda sim, session, fields: sim.drop_connections())
    provider = IbExecutionProvider(port=sim.port, client_id=9, connect_timeout=5, auto_reconnect=False)
    await provider.connect()
    try:
        with pytest.raises(NotConnected, match="historical data AAPL: the connection to IB closed before the answer"):
            await price_cache.download_daily_bars(database, provider, ["AAPL"], date(2024, 12, 1), date(2025, 1, 6), now=NOW)
    finally:
        await provider.disconnect()


async def test_a_canceled_download_stops_before_the_next_listing_and_keeps_what_came(make_simulator, database):
    """The Backtest panel's Cancel while the bars come: within IB's pacing a download of many
    listings takes minutes, and one that went on to the end made the Cancel no Cancel."""
    sim = await make_simulator(clock=lambda: NOW)
    provider = IbExecutionProvider(port=sim.port, client_id=9, connect_timeout=5, auto_reconnect=False)
    await provider.connect()
    done: list[str] = []
    try:
        with pytest.raises(price_cache.DownloadCanceled) as raised:
            await price_cache.download_daily_bars(database, provider, ["AAPL", "MSFT", "NVDA"], date(2024, 12, 2),
                                                  date(2025, 1, 6), now=NOW, on_listing=lambda item: done.append(item.symbol),
                                                  canceled=lambda: bool(done))
    finally:
        await provider.disconnect()
    assert [r.listing for r in sim.history_requests] == ["AAPL"] and done == ["AAPL"]
    stored = len(session_days(date(2024, 12, 2), date(2025, 1, 6)))
    assert len(price_cache.load_bars(database, ["AAPL"])) == stored  # what came stays in the cache
    assert raised.value.words() == (f"canceled while fetching the broker's bars: 1 of 3 listings done, {stored} new bars "
                                    "kept in the price cache; nothing was backtested")


@pytest.mark.parametrize("read_before_cancel", [0, 1])
async def test_a_cancel_takes_effect_while_the_missing_days_are_read_before_the_broker_is_asked(
        make_simulator, database, monkeypatch, read_before_cancel):
    """Every listing's missing days were read from the database (a query and its calendar each)
    and the broker asked about them (``refuse_unknown``: the panel's broker bars, `bars
    download`) before the first look at ``canceled``: the Backtest panel's Cancel of a backtest
    on hundreds of listings waited for all of that. It now stops before the next listing's read,
    nothing asked of the broker. The reads counted on the real ``missing_days``."""
    sim = await make_simulator(clock=lambda: NOW)
    provider = IbExecutionProvider(port=sim.port, client_id=9, connect_timeout=5, auto_reconnect=False)
    await provider.connect()
    read: list[str] = []
    real = price_cache.missing_days

    def counted(db, spec, *args, **kwargs):
        read.append(spec.key)
        return real(db, spec, *args, **kwargs)

    monkeypatch.setattr(price_cache, "missing_days", counted)
    details: list[str] = []  # the broker asked about a listing (check_listings), the real handler answering
    answer = sim._handlers[9]

    def detailed(simulator, session, fields):
        details.append(fields[2])
        return answer(simulator, session, fields)

    monkeypatch.setitem(sim._handlers, 9, detailed)
    try:
        with pytest.raises(price_cache.DownloadCanceled) as raised:
            await price_cache.download_daily_bars(database, provider, ["AAPL", "MSFT", "NVDA"], date(2024, 12, 2),
                                                  date(2025, 1, 6), now=NOW, refuse_unknown=True,
                                                  canceled=lambda: len(read) >= read_before_cancel)
        assert read == ["AAPL", "MSFT", "NVDA"][:read_before_cancel]  # the Cancel seen before the next listing's read
        assert list(sim.history_requests) == [] and details == [] and price_cache.load_bars(database) == []
        # not canceled, the same download asks the broker about its listings, then for their bars
        await price_cache.download_daily_bars(database, provider, ["AAPL"], date(2024, 12, 2), date(2025, 1, 6), now=NOW,
                                              refuse_unknown=True, canceled=lambda: False)
        assert len(details) == 1 and [r.listing for r in sim.history_requests] == ["AAPL"]
    finally:
        await provider.disconnect()
    assert raised.value.words() == ("canceled while fetching the broker's bars: 0 of 3 listings done, 0 new bars kept "
                                    "in the price cache; nothing was backtested")


def test_request_spans_follow_the_runs_of_missing_days():
    days = session_days(date(2024, 12, 2), date(2024, 12, 31))
    assert price_cache.request_spans([], days) == []
    assert price_cache.request_spans(days[3:6], days) == [(days[3], days[5])]
    # a weekend or a holiday between two trading days does not break a run
    assert price_cache.request_spans([date(2024, 12, 24), date(2024, 12, 26)], days) == [(date(2024, 12, 24), date(2024, 12, 26))]
    assert price_cache.request_spans([days[0], days[5], days[9]], days) == [(days[0], days[0]), (days[5], days[5]), (days[9], days[9])]
    assert price_cache.request_spans([days[0], days[5], days[9], days[12]], days) == [(days[0], days[12])]  # many gaps: one request


def test_only_closed_sessions_are_expected():
    spec = ContractSpec("AAPL")
    during = datetime(2025, 1, 6, 18, 0, tzinfo=UTC)  # Monday 13:00 in New York: no final bar yet
    assert price_cache.expected_days(spec, date(2025, 1, 2), date(2025, 1, 6), during) == [date(2025, 1, 2), date(2025, 1, 3)]
    assert price_cache.expected_days(spec, date(2025, 1, 2), date(2025, 1, 6), NOW)[-1] == date(2025, 1, 6)
    xetra = ContractSpec.from_key("SAP@IBIS:EUR")
    assert price_cache.listing_calendar(xetra) == "XETR"


def test_the_request_span_covers_the_days_in_days_or_years():
    assert history_span(date(2024, 12, 2), date(2025, 1, 6), "XNYS") == ("20250107-04:59:59", "36 D")
    assert history_span(date(2015, 1, 6), date(2025, 1, 6), "XNYS")[1] == "11 Y"
    assert history_span(date(2024, 1, 8), date(2025, 1, 6), "XNYS")[1] == "365 D"
    assert history_span(date(2024, 1, 7), date(2025, 1, 6), "XNYS")[1] == "2 Y"  # IB takes no more than 365 D


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_pacing_keeps_ibs_three_rules():
    clock = FakeClock()
    pacing = HistoricalPacing(clock=clock, sleep=clock.sleep)
    await pacing.acquire("AAPL", ("AAPL", "1 Y"))
    await pacing.acquire("AAPL", ("AAPL", "1 Y"))  # identical: 15 s later (plus the margin)
    assert clock.now == pytest.approx(1015.5)
    for n in range(4):
        await pacing.acquire("AAPL", ("AAPL", n))
    assert clock.now == pytest.approx(1015.5)  # five for one contract within 2 s are allowed
    await pacing.acquire("AAPL", ("AAPL", "sixth"))  # the sixth waits for the window
    assert clock.now == pytest.approx(1015.5 + 2.5)
    start = clock.now
    for n in range(60 - 7):
        await pacing.acquire(f"S{n}", n)
    assert clock.now == start and pacing.requests == 60
    await pacing.acquire("LAST", "61st")  # waits until the first of the 60 is 10 minutes old
    assert clock.now == pytest.approx(1000 + 600.5) and pacing.requests == 61


SIX = ["AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA"]


async def _download_six(make_simulator, database, pacing: HistoricalPacing, sim_clock=None):
    sim = await make_simulator(clock=lambda: NOW)
    sim.faults.history_pacing, sim.faults.history_window = 4, 3.0  # IB's 60 in 600 s, shrunk
    sim.faults.history_pacing_bar_seconds = None  # daily bars too (IB: strict for 30 s or less)
    if sim_clock is not None:
        sim.history_clock = sim_clock
    provider = IbExecutionProvider(port=sim.port, client_id=9, connect_timeout=5, auto_reconnect=False)
    provider.history_pacing = pacing
    await provider.connect()
    try:
        await provider.qualify(SIX)  # the contracts first: the timing below is the bars'
        started = asyncio.get_running_loop().time()
        report = await price_cache.download_daily_bars(database, provider, SIX, date(2025, 1, 2), date(2025, 1, 6), now=NOW)
        return report, asyncio.get_running_loop().time() - started, sim
    finally:
        await provider.disconnect()


@pytest.mark.slow  # one of the longest of the quick subset (3-10 s): left out of --quick
async def test_the_console_keeps_the_simulators_historical_pacing(make_simulator, database):
    report, elapsed, _sim = await _download_six(make_simulator, database, HistoricalPacing(max_requests=4, window=3.0, margin=0.2))
    assert report.failed == () and report.requests == 6 and report.stored == 6 * 3
    assert elapsed >= 3.0  # the fifth request waited for the window


async def test_without_pacing_the_simulator_answers_pacing_violations(make_simulator, database, ib_log_guard):
    ib_log_guard.allow(r"Error 162")
    clock = FakeClock()  # the simulator's too: the pacing's waits after a violation pass at once
    report, _, sim = await _download_six(make_simulator, database, HistoricalPacing(
        max_requests=1000, window=3.0, clock=clock, sleep=clock.sleep), sim_clock=clock)
    assert sim.history_pacing.violations == 1  # META, the fifth within 3 s
    assert [request.listing for request in sim.history_requests] == [*SIX[:5], "META", "NVDA"]  # META asked again
    assert report.failed == () and report.stored == 6 * 3
    assert clock.slept == [15.5]  # the violation's wait: the window (3.5 s), at least the identical request's 15.5 s
