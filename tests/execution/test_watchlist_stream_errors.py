"""The watchlist's streams that IB ends with an error other than 101 (against the simulator over a
real socket): 354 "not subscribed", 200 "no security definition", 10168, and 10197 (a competing
live session) ending a stream that ran. Each is dropped, cancelled at IB and frees its line; its
row says why in a word and the log warns once. A notice (10167: delayed data follows) leaves the
stream live. Before, only 101 ended a stream: the others stayed as if live, holding a line.

And the start: every listing asked, then the answers awaited together (20 quiet listings held the
start 40 s, 2 s each); a refused listing is said once, not again after every reconnect."""

from __future__ import annotations

import logging
import time

import pytest

from services.execution import ib_quotes
from services.execution.errors import StreamRefused
from services.execution.quotes import QuoteBook
from services.ibsim import IBGatewaySimulator

from ..fixtures.waiting import wait_until
from .pacing_helpers import synthetic_symbols
from .test_watchlist_lines import _errors, _priced, _provider

pytestmark = pytest.mark.timeout(60)


def _cancels_seen(monkeypatch) -> list[int]:
    """The request ids of the cancelMktData the simulator receives."""
    seen: list[int] = []
    cancel = IBGatewaySimulator._handlers[2]

    def record(server, session, fields):
        seen.append(int(fields[2]))
        cancel(server, session, fields)

    monkeypatch.setitem(IBGatewaySimulator._handlers, 2, record)
    return seen


def _warnings_about(caplog, key: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "services.execution.quotes" and r.levelno == logging.WARNING and r.getMessage().startswith(f"{key}: ")]


@pytest.mark.parametrize(("code", "word"), [(354, "not subscribed"), (200, "no such listing"), (10168, "not subscribed")])
async def test_a_stream_ib_refuses_is_cancelled_frees_its_line_and_says_why_in_a_word(
        make_simulator, ib_log_guard, monkeypatch, caplog, code, word):
    ib_log_guard.allow(rf"Error {code}, reqId")
    sim = await make_simulator(synthetic_symbols=2, state_file=None, ledger_file=None)
    live, refused_key = synthetic_symbols(2)
    sim.faults.market_data_errors[refused_key] = code
    provider = await _provider(sim, 51)
    delayed_notices = _errors(provider, 10167)  # the default market data type: delayed, said with 10167
    cancels = _cancels_seen(monkeypatch)
    book = QuoteBook(provider)
    try:
        book.watch_later([live, refused_key])
        with caplog.at_level(logging.WARNING, logger="services.execution.quotes"):
            [message] = await book.start()
        assert message.startswith(f"{refused_key}: no quotes, {word} (IB error {code}: ")
        quote = book.latest(refused_key)
        assert (quote.refused, quote.refused_word, quote.price) == (message, word, None)
        await wait_until(lambda: len(cancels) == 1, 5, "the cancel of the refused stream at IB")
        assert provider.stream_lines() == 1  # the old code: 2, a line held by a stream that never ticks
        assert refused_key not in {t.contract.symbol for t in provider.ib.wrapper.ticker2ReqId.get("mktData", {})}
        await wait_until(lambda: _priced(book, [live]), 5, "the other listing's quotes")
        assert delayed_notices and book.latest(live).refused is None  # a notice leaves its stream live
        assert _warnings_about(caplog, refused_key) == [message]

        with pytest.raises(StreamRefused, match=word):  # typed again: still refused, said to the trader
            await book.watch(refused_key)
    finally:
        await provider.disconnect()


async def test_a_running_stream_ib_ends_is_cancelled_and_its_row_says_why(make_simulator, ib_log_guard, monkeypatch, caplog):
    ib_log_guard.allow(r"Error 10197, reqId")
    sim = await make_simulator(synthetic_symbols=2, state_file=None, ledger_file=None)
    symbols = synthetic_symbols(2)
    provider = await _provider(sim, 52)
    cancels = _cancels_seen(monkeypatch)
    book = QuoteBook(provider)
    seen = []
    book.subscribe(seen.append)
    try:
        book.watch_later(symbols)
        assert await book.start() == []
        await wait_until(lambda: _priced(book, symbols), 5, "both listings' quotes")
        with caplog.at_level(logging.WARNING, logger="services.execution.quotes"):
            assert sim.end_market_data(symbols[0], 10197) == 1  # a competing live session took the data
            await wait_until(lambda: book.is_refused(symbols[0]), 5, "the ended stream said on its row")
            await wait_until(lambda: len(cancels) == 1, 5, "the cancel of the ended stream at IB")
        quote = book.latest(symbols[0])
        assert quote.refused_word == "competing session" and "IB error 10197" in quote.refused
        assert provider.stream_lines() == 1 and not book.is_refused(symbols[1])
        assert len(_warnings_about(caplog, symbols[0])) == 1
        assert [q.refused_word for q in seen if q.key == symbols[0] and q.refused] == ["competing session"]
    finally:
        await provider.disconnect()


async def test_a_start_waits_for_its_quiet_listings_together(make_simulator, monkeypatch):
    """IB answers none of the streams (quiet listings): the start waits one answer wait for them
    all, not one after another (10 listings, 1 s each: the old code took over 10 s)."""
    sim = await make_simulator(synthetic_symbols=10, state_file=None, ledger_file=None)
    monkeypatch.setitem(IBGatewaySimulator._handlers, 1, lambda server, session, fields: None)
    monkeypatch.setattr(ib_quotes, "STREAM_ANSWER_WAIT", 1.0)
    provider = await _provider(sim, 53)
    book = QuoteBook(provider)
    symbols = synthetic_symbols(10)
    try:
        book.watch_later(symbols)
        await provider.qualify(symbols)  # the listings' details asked apart: only the streams' wait is measured
        began = time.monotonic()
        assert await book.start() == []
        took = time.monotonic() - began
        assert 1.0 <= took < 5.0, f"the start took {took:.1f} s for 10 quiet listings"
        assert provider.stream_lines() == 10
    finally:
        await provider.disconnect()


async def test_a_refused_listing_is_said_once_across_reconnects_until_it_streams(make_simulator, ib_log_guard, caplog):
    ib_log_guard.allow(r"Error 101, reqId")
    sim = await make_simulator(synthetic_symbols=3, state_file=None, ledger_file=None)
    sim.faults.market_data_lines = 2  # IB refuses the third (101)
    provider = await _provider(sim, 54)
    book = QuoteBook(provider)
    refusals = []
    book.subscribe(lambda q: refusals.append(q.key) if q.refused else None)
    symbols = synthetic_symbols(3)
    try:
        book.watch_later(symbols)
        with caplog.at_level(logging.WARNING, logger="services.execution.quotes"):
            assert len(await book.start()) == 1
            for _ in range(2):  # two reconnects: every listing asked again, the third refused again
                await provider.disconnect()
                await provider.connect()
                await wait_until(lambda: _priced(book, symbols[:2]) and provider.stream_lines() == 2, 10,
                                 "the two listings streaming again after the reconnect")
            assert book.is_refused(symbols[2])
            assert refusals == [symbols[2]] and len(_warnings_about(caplog, symbols[2])) == 1  # the old code: 3 each

            sim.faults.market_data_lines = 3  # a line for it: accepted at the next reconnect ...
            await provider.disconnect()
            await provider.connect()
            await wait_until(lambda: _priced(book, symbols), 10, "the third listing's quotes")
            sim.faults.market_data_lines = 2  # ... and refused again after the one after: news again
            await provider.disconnect()
            await provider.connect()
            await wait_until(lambda: book.is_refused(symbols[2]), 10, "the third listing refused again")
        assert refusals == [symbols[2], symbols[2]] and len(_warnings_about(caplog, symbols[2])) == 2
    finally:
        await provider.disconnect()
