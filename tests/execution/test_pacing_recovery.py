"""IB's error 100 answered: a simulator stricter than our budget drops messages; the provider
slows down, asks dropped queries again, and sends a dropped order again exactly once (never an
order the broker has)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import OrderType, Side
from services.execution.events import BrokerErrorEvent
from services.execution.ib_provider import IbExecutionProvider
from services.execution.provider import OrderRequest

from ..fixtures.ib import wait_for
from .pacing_helpers import record_socket_sends, refs_at_simulator, synthetic_symbols

pytestmark = pytest.mark.timeout(120)


async def _provider(sim, client_id: int, **kwargs) -> IbExecutionProvider:
    provider = IbExecutionProvider(port=sim.port, client_id=client_id, connect_timeout=5, auto_reconnect=False,
                                   request_timeout=5, pacing_settle=0.5, **kwargs)
    await provider.connect()
    return provider


def _events(provider, kind=BrokerErrorEvent) -> list:
    out = []
    while not provider.events.empty():
        event = provider.events.get_nowait()
        if isinstance(event, kind):
            out.append(event)
    return out


@pytest.mark.slow  # one of the longest of the quick subset (3-10 s): left out of --quick
async def test_contract_details_and_snapshots_dropped_by_error_100_are_asked_again(make_simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 100, reqId")
    sim = await make_simulator(synthetic_symbols=30, state_file=None, ledger_file=None)
    sim.faults.pacing_limit = 12  # stricter than our 45/s: messages get dropped
    provider = await _provider(sim, 21)
    try:
        symbols = synthetic_symbols(30)
        prices = await provider.market_prices(symbols)  # qualifies first: 30 + 30 requests
        assert prices == {s: sim.universe[s].price for s in symbols}
        assert provider.pacing_violations >= 1 and provider.sender.resent >= 1
        assert provider.pacing.slow_downs >= 1
    finally:
        await provider.disconnect()


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_a_query_that_never_gets_an_answer_fails_naming_the_symbols(make_simulator, ib_log_guard):
    import re

    from services.execution.errors import QueryFailed

    ib_log_guard.allow(r"Error 100, reqId")
    sim = await make_simulator(synthetic_symbols=12, state_file=None, ledger_file=None)
    provider = await _provider(sim, 22, request_attempts=2)
    try:
        sim.faults.pacing_limit = 1  # from now on about one message a second gets through
        sim.faults.pacing_disconnect_after = 0  # below the console's slowest rate: TWS would close the line
        sim.restart_pacing_windows()  # the connection's own messages no longer count
        with pytest.raises(QueryFailed) as info:
            await provider.qualify(synthetic_symbols(12))
        message = str(info.value)
        match = re.match(r"contract details: no answer for (\d+) requests? after 2 attempts "
                         r"\(IB reported pacing errors 100\): (.*)$", message)
        assert match, message
        named = match.group(2).split(", ")
        assert int(match.group(1)) == len(named) >= 1
        # exactly the symbols that got no answer, and no answer is taken for "unknown contract"
        assert set(named) == set(synthetic_symbols(12)) - {spec.key for spec in provider._contracts}  # by listing
    finally:
        await provider.disconnect()


@pytest.mark.slow  # one of the longest of the quick subset (3-10 s): left out of --quick
async def test_orders_dropped_by_error_100_are_sent_again_exactly_once(make_simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 100, reqId")
    sim = await make_simulator(synthetic_symbols=30, state_file=None, ledger_file=None)
    provider = await _provider(sim, 23)
    sends = record_socket_sends(provider.ib)
    try:
        symbols = synthetic_symbols(30)
        await provider.qualify(symbols)
        sim.faults.pacing_limit = 10
        sim.restart_pacing_windows()  # a fresh window at the simulator: the orders alone
        refs = [f"PACE-{i}" for i in range(30)]
        placed = {}
        for ref, symbol in zip(refs, symbols, strict=True):
            placed[ref] = await provider.place_order(OrderRequest(ref, symbol, Side.BUY, Decimal(1), OrderType.MKT))
        await wait_for(lambda: len(provider.inflight) == 0 and set(refs_at_simulator(sim)) == set(refs), 60,
                       "every order at the simulator and answered")
        assert refs_at_simulator(sim) == {ref: 1 for ref in refs}  # each exactly once
        assert {o.order_ref: o.order_id for o in sim.orders()} == placed  # sent again under the same orderId
        assert provider.inflight.resent_ids  # some were dropped and sent again
        again = [e for e in _events(provider) if e.code == 100 and "sent again" in e.message]
        assert {e.order_ref for e in again} <= set(refs) and again
        assert len(sends) > 30 + len(again)  # the lookups (open / completed orders) went out too
    finally:
        await provider.disconnect()


async def test_an_order_the_broker_has_is_never_sent_again(make_simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 100, reqId")
    sim = await make_simulator(state_file=None, ledger_file=None)
    sim.faults.add_rule(symbols={"AAPL"}, ack_delay=5)  # accepted, but silent for 5 s
    provider = await _provider(sim, 24)
    try:
        await provider.qualify(["AAPL"])
        await provider.place_order(OrderRequest("HELD-1", "AAPL", Side.BUY, Decimal(1), OrderType.MKT))
        assert len(provider.inflight) == 1
        # an error 100 arrives before any answer: the order is a suspect
        provider.ib.wrapper.error(-1, 100, "Max rate of messages per second has been exceeded:max=50", "")
        await wait_for(lambda: len(provider.inflight) == 0, 10, "the suspect looked up at the broker")
        assert not provider.inflight.resent_ids
        assert not [e for e in _events(provider) if e.code == 100 and "sent again" in e.message]
        assert refs_at_simulator(sim) == {"HELD-1": 1}
    finally:
        await provider.disconnect()
