"""The order ticket's own stream (QuoteBook.follow: streamed, not on the watchlist) refused by IB
after the first-answer wait, or ended by IB while it ran: the book hands on a quote that says
why, as it does for a watched listing, so that the ticket can say its price no longer follows
the market. Before, the refusal was only logged and the ticket's price froze with no word. Against
the simulator over a real socket."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.execution import ib_quotes
from services.execution.quotes import QuoteBook
from services.ibsim import IBGatewaySimulator

from ..fixtures.waiting import wait_until
from .pacing_helpers import synthetic_symbols
from .test_watchlist_lines import _priced, _provider

pytestmark = pytest.mark.timeout(60)


def _refusals_of(seen, key: str) -> list[str]:
    return [q.refused_word for q in seen if q.key == key and q.refused]


async def test_a_late_refusal_of_a_followed_listing_reaches_its_listeners(make_simulator, ib_log_guard, monkeypatch, caplog):
    ib_log_guard.allow(r"Error 354, reqId")
    sim = await make_simulator(synthetic_symbols=1, state_file=None, ledger_file=None)
    (key,) = synthetic_symbols(1)
    sim.faults.market_data_errors[key] = 354
    loop = asyncio.get_running_loop()
    answer_market_data = IBGatewaySimulator._handlers[1]
    # the gateway answers 0.3 s late; the console waits 0.05 s for the first answer
    monkeypatch.setitem(IBGatewaySimulator._handlers, 1,
                        lambda server, session, fields: loop.call_later(0.3, answer_market_data, server, session, fields))
    monkeypatch.setattr(ib_quotes, "STREAM_ANSWER_WAIT", 0.05)
    provider = await _provider(sim, 61)
    book = QuoteBook(provider)
    seen = []
    book.subscribe(seen.append)
    try:
        with caplog.at_level(logging.WARNING, logger="services.execution.quotes"):
            await book.follow(key)  # no answer yet: taken as started
            await wait_until(lambda: book.is_refused(key), 5, "the late refusal said to the book's listeners")
        quote = book.latest(key)
        assert quote.refused.startswith(f"{key}: no quotes, not subscribed (IB error 354: ") and quote.price is None
        assert _refusals_of(seen, key) == ["not subscribed"]  # the old code: [] (only logged)
        assert [r.getMessage() for r in caplog.records
                if r.name == "services.execution.quotes" and r.levelno == logging.WARNING] == [quote.refused]
        assert not book.is_watched(key) and provider.stream_lines() == 0
    finally:
        await provider.disconnect()


async def test_a_followed_stream_ib_ends_is_said_and_following_it_again_asks_ib_again(make_simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 10197, reqId")
    sim = await make_simulator(synthetic_symbols=1, state_file=None, ledger_file=None)
    (key,) = synthetic_symbols(1)
    provider = await _provider(sim, 62)
    book = QuoteBook(provider)
    seen = []
    book.subscribe(seen.append)
    try:
        await book.follow(key)
        await wait_until(lambda: _priced(book, [key]), 5, "the followed listing's quotes")
        assert sim.end_market_data(key, 10197) == 1  # a competing live session took the data
        await wait_until(lambda: book.is_refused(key), 5, "the ended stream said to the book's listeners")
        assert _refusals_of(seen, key) == ["competing session"]
        assert provider.stream_lines() == 0

        await book.follow(key)  # the ticket's symbol typed again: asked again (it returned at once)
        await wait_until(lambda: _priced(book, [key]) and not book.is_refused(key), 5, "the listing streaming again")
        assert provider.stream_lines() == 1
    finally:
        await provider.disconnect()
