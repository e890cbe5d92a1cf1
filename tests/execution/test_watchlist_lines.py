"""The watchlist's streams and IB's market data lines: each stream holds one of the account's
lines (the setting ``market_data_lines``). A listing beyond them is refused with a message that
names it and the lines, whether the console's own streams hold every line (nothing is asked) or
IB refuses it (error 101: TWS and other programs share the lines); the refused stream is dropped,
so the preview's snapshot limiter counts only the lines the streams really hold."""

from __future__ import annotations

import asyncio

import pytest

from services.core.contracts import spec_of
from services.execution import ib_quotes
from services.execution.errors import StreamRefused
from services.execution.ib_contracts import ib_contract
from services.execution.ib_provider import IbExecutionProvider
from services.execution.quotes import QuoteBook
from services.ibsim import IBGatewaySimulator

from ..fixtures.waiting import wait_until
from .pacing_helpers import synthetic_symbols

pytestmark = pytest.mark.timeout(60)
LINES_IN_USE = "IB's market data lines are all in use"


async def _provider(sim, client_id: int) -> IbExecutionProvider:
    provider = IbExecutionProvider(port=sim.port, client_id=client_id, connect_timeout=5, auto_reconnect=False,
                                   request_timeout=5, pacing_settle=0.2)
    await provider.connect()
    return provider


def _errors(provider, code: int) -> list[int]:
    seen: list[int] = []
    provider.ib.errorEvent += lambda req_id, error_code, *_: seen.append(req_id) if error_code == code else None
    return seen


def _priced(book: QuoteBook, keys: list[str]) -> bool:
    return all((quote := book.latest(key)) is not None and quote.price is not None for key in keys)


async def test_streams_beyond_the_lines_of_the_settings_are_refused_naming_the_listing_without_asking_ib(
        make_simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 101, reqId")  # the old code's requests beyond the lines
    sim = await make_simulator(synthetic_symbols=5, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 3  # an account with 3 lines ...
    provider = await _provider(sim, 41)
    provider.market_data_lines = 3  # ... and the settings say so
    asked_beyond = _errors(provider, 101)
    book = QuoteBook(provider)
    symbols = synthetic_symbols(5)
    streamed, beyond = symbols[:3], symbols[3:]
    try:
        assert book.watch_later(symbols) == []
        refused = await book.start()
        assert len(refused) == 2, refused  # the old code: [] and two rows that never get a price
        for key, message in zip(beyond, refused, strict=True):
            assert message.startswith(f"{key}: ") and f"{LINES_IN_USE} (3;" in message
            assert book.latest(key).refused == message and book.latest(key).price is None
        await wait_until(lambda: _priced(book, streamed), 5, "the quotes of the three listings that have a line")
        assert asked_beyond == []  # nothing asked beyond the lines
        assert provider.stream_lines() == 3 == sim.market_data_lines_used()  # what the snapshots' limiter counts
    finally:
        await provider.disconnect()


async def test_streams_ib_refuses_with_error_101_are_said_and_hold_no_line(make_simulator, ib_client, ib_log_guard):
    ib_log_guard.allow(r"Error 101, reqId")
    sim = await make_simulator(synthetic_symbols=5, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 5
    symbols = synthetic_symbols(5)
    other = await ib_client(client_id=42, sim=sim)  # another program of the account streams 2 of the 5 lines
    held = await other.qualifyContractsAsync(*[ib_contract(spec_of(s)) for s in symbols[:2]])
    others = [other.reqMktData(contract, "", False, False) for contract in held]
    await wait_until(lambda: sim.market_data_lines_used() == 2, 5, "the other program's 2 streams")
    provider = await _provider(sim, 43)
    provider.market_data_lines = 5
    refused_by_ib = _errors(provider, 101)
    book = QuoteBook(provider)
    streamed, beyond = symbols[:3], symbols[3:]
    try:
        book.watch_later(symbols)
        refused = await book.start()
        assert len(refused_by_ib) == 2 and len(refused) == 2, refused
        for key, message in zip(beyond, refused, strict=True):
            assert message.startswith(f"{key}: ") and f"{LINES_IN_USE} (5;" in message
            assert book.latest(key).refused == message
        await wait_until(lambda: _priced(book, streamed), 5, "the quotes of the three listings IB took")
        assert provider.stream_lines() == 3  # the refused streams are not kept as lines held

        for ticker in others:  # the other program stops: the refused listings stream when started again
            other.cancelMktData(ticker.contract)
        await wait_until(lambda: sim.market_data_lines_used() == 3, 5, "the other program's lines freed")
        assert await book.start() == []
        await wait_until(lambda: _priced(book, symbols), 5, "every listing's quotes")
        assert book.latest(beyond[0]).refused is None and provider.stream_lines() == 5
    finally:
        await provider.disconnect()


async def test_a_refusal_after_the_answer_wait_reaches_the_watchlist(make_simulator, ib_log_guard, monkeypatch):
    """IB slower than ``STREAM_ANSWER_WAIT``: ``watch`` returned, then error 101 comes; the
    stream is dropped and the listing's quote says why."""
    ib_log_guard.allow(r"Error 101, reqId")
    sim = await make_simulator(synthetic_symbols=2, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 1
    loop = asyncio.get_running_loop()
    answer_market_data = IBGatewaySimulator._handlers[1]
    # the gateway answers market data requests 0.3 s late; the console waits 0.05 s
    monkeypatch.setitem(IBGatewaySimulator._handlers, 1,
                        lambda server, session, fields: loop.call_later(0.3, answer_market_data, server, session, fields))
    monkeypatch.setattr(ib_quotes, "STREAM_ANSWER_WAIT", 0.05)
    provider = await _provider(sim, 44)
    book = QuoteBook(provider)
    seen = []
    book.subscribe(seen.append)
    first, second = synthetic_symbols(2)
    try:
        await book.watch(first)
        await book.watch(second)  # no answer yet: taken as started
        await wait_until(lambda: (q := book.latest(second)) is not None and q.refused is not None, 5,
                         "the late refusal of the second listing")
        assert book.latest(second).refused.startswith(f"{second}: ") and LINES_IN_USE in book.latest(second).refused
        assert any(q.key == second and q.refused for q in seen)
        await wait_until(lambda: _priced(book, [first]), 5, "the first listing's quotes")
        assert provider.stream_lines() == 1
    finally:
        await provider.disconnect()


async def test_a_watched_listing_keeps_the_ticks_that_came_while_its_stream_started(make_simulator):
    """``stream_quote`` waits for the first answer, so the first ticks (the only ones, with prices
    that do not move) arrive before ``watch`` has added the listing: they still reach the book."""
    sim = await make_simulator(synthetic_symbols=1, state_file=None, ledger_file=None)
    provider = await _provider(sim, 45)
    book = QuoteBook(provider)
    seen = []
    book.subscribe(seen.append)
    (symbol,) = synthetic_symbols(1)
    try:
        await book.watch(symbol)
        await wait_until(lambda: _priced(book, [symbol]), 5, "the listing's first quotes")
        assert any(q.key == symbol and q.price is not None for q in seen)
    finally:
        await provider.disconnect()


async def test_a_stream_answered_by_another_error_stops_waiting_at_once(make_simulator, ib_log_guard, monkeypatch):
    """IB answers a stream with an error other than 101 (354: no market data permission) and no
    tick: ``stream_quote`` takes that as its answer at once. It waited ``STREAM_ANSWER_WAIT`` for a
    tick that never came, one listing after another at a watchlist's start. The stream is refused
    and holds no line (tests/execution/test_watchlist_stream_errors.py: its row, the cancel)."""
    ib_log_guard.allow(r"Error 354, reqId")
    sim = await make_simulator(synthetic_symbols=1, state_file=None, ledger_file=None)
    (symbol,) = synthetic_symbols(1)
    sim.faults.market_data_errors[symbol] = 354
    monkeypatch.setattr(ib_quotes, "STREAM_ANSWER_WAIT", 60.0)
    provider = await _provider(sim, 46)
    try:
        # well under the answer wait: the error ended it (the old code waited the 60 s out)
        with pytest.raises(StreamRefused, match="not subscribed"):
            await asyncio.wait_for(provider.stream_quote(spec_of(symbol)), 10)
        assert provider.stream_lines() == 0  # before: 1, a line held by a stream that never ticks
    finally:
        await provider.disconnect()


async def test_a_listing_removed_frees_its_line_for_a_refused_one(make_simulator, ib_log_guard):
    """Three lines, four watched: the fourth is refused. Removing one of the three frees a line:
    the refused listing is asked again and streams (it stayed refused until typed again)."""
    ib_log_guard.allow(r"Error 101, reqId")
    sim = await make_simulator(synthetic_symbols=4, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 3
    provider = await _provider(sim, 47)
    provider.market_data_lines = 3
    book = QuoteBook(provider)
    symbols = synthetic_symbols(4)
    try:
        assert book.watch_later(symbols) == []
        assert len(await book.start()) == 1 and book.is_refused(symbols[3])
        await book.unwatch(symbols[0])
        assert not book.is_refused(symbols[3])
        await wait_until(lambda: _priced(book, symbols[1:]), 5, "the once refused listing's quotes")
        assert provider.stream_lines() == 3 == sim.market_data_lines_used()
    finally:
        await provider.disconnect()


async def test_the_watchlist_leaves_a_tenth_of_the_lines_to_the_snapshots_of_a_preview(make_simulator, ib_log_guard):
    """A watchlist as long as the account's lines took every one of them: a preview's snapshots
    of other listings were then all refused by IB (error 101, asked three times) and the run
    failed. The streams now stop a tenth of the lines short (10 of 100): the preview is priced."""
    ib_log_guard.allow(r"Error 101, reqId")  # the old code's snapshots beyond the lines
    sim = await make_simulator(synthetic_symbols=30, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 20  # an account with 20 lines ...
    provider = await _provider(sim, 47)
    provider.market_data_lines = 20  # ... and the settings say so
    refused_by_ib = _errors(provider, 101)
    book = QuoteBook(provider)
    symbols = synthetic_symbols(30)
    watched, priced = symbols[:20], symbols[20:]
    try:
        assert book.watch_later(watched) == []
        refused = await book.start()
        assert [message.split(":")[0] for message in refused] == watched[18:]  # 2 of the 20 lines kept
        assert all(f"{LINES_IN_USE} (20; 2 kept for the snapshots of previews and tickets;" in m for m in refused), refused
        assert provider.stream_lines() == 18 == sim.market_data_lines_used()
        prices = await provider.market_prices(priced)
        assert prices == {s: sim.universe[s].price for s in priced}
        assert refused_by_ib == []
    finally:
        await provider.disconnect()
