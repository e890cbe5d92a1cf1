"""The broker adapter on its own: connection states, market data type, qualification cache,
unknown contracts, a deliberate disconnect never reconnects."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from services.execution.errors import BrokerError, NotConnected
from services.execution.events import ConnectionState
from services.execution.ib_provider import IbExecutionProvider

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(("kind", "code"), [("live", 1), ("delayed", 3)])
async def test_connect_states_and_market_data_type(simulator, kind, code):
    provider = IbExecutionProvider(port=simulator.port, client_id=4, market_data_type=kind, connect_timeout=5)
    states = []
    provider.subscribe(lambda ev: states.append((ev.state, ev.detail)))
    await provider.connect()
    try:
        assert states == [(ConnectionState.CONNECTING, f"127.0.0.1:{simulator.port} client 4"), (ConnectionState.CONNECTED, "DU1234567")]
        prices = await provider.market_prices(["AAPL", "MSFT"])
        assert prices == {"AAPL": Decimal("228.5"), "MSFT": Decimal("415.2")}
        assert simulator._sessions[4].market_data_type == code  # sent before the snapshot requests
    finally:
        await provider.disconnect()
    assert states[-1][0] is ConnectionState.DISCONNECTED
    await asyncio.sleep(0)
    assert provider.reconnect_attempts == []  # a deliberate disconnect does not reconnect


async def test_qualification_is_cached_and_unknown_symbols_fail(simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 200")
    provider = IbExecutionProvider(port=simulator.port, client_id=5, connect_timeout=5)
    await provider.connect()
    try:
        first = await provider.qualify(["AAPL"])
        spent = provider.pacing.granted + provider.pacing.recorded
        again = await provider.qualify(["AAPL"])
        assert again["AAPL"] is first["AAPL"] and first["AAPL"].conId == 265598
        assert provider.pacing.granted + provider.pacing.recorded == spent  # no second request
        with pytest.raises(BrokerError) as info:
            await provider.qualify(["NOPE"])
        assert info.value.code == "unknown_contract"
    finally:
        await provider.disconnect()


async def test_connect_to_nothing_is_a_broker_error(ib_log_guard):
    ib_log_guard.allow(r"API connection failed|Make sure API port")
    provider = IbExecutionProvider(port=1, client_id=6, connect_timeout=2)
    states = []
    provider.subscribe(lambda ev: states.append(ev.state))
    with pytest.raises(NotConnected) as info:
        await provider.connect()
    assert info.value.exit_code == 5
    assert states == [ConnectionState.CONNECTING, ConnectionState.DISCONNECTED]


async def test_qualified_contracts_are_kept_in_the_database(database, simulator):
    from services.execution.contracts import DbContractStore

    first = IbExecutionProvider(port=simulator.port, client_id=7, connect_timeout=5, contract_store=DbContractStore(database))
    await first.connect()
    try:
        await first.qualify(["AAPL", "MSFT"])
    finally:
        await first.disconnect()
    assert DbContractStore(database).load(["AAPL", "MSFT", "NVDA"]) == {"AAPL": (265598, "NASDAQ"), "MSFT": (272093, "NASDAQ")}
    second = IbExecutionProvider(port=simulator.port, client_id=7, connect_timeout=5, contract_store=DbContractStore(database))
    await second.connect()
    try:
        spent = second.pacing.granted + second.pacing.recorded
        contracts = await second.qualify(["AAPL", "MSFT"])
        assert second.pacing.granted + second.pacing.recorded == spent  # nothing asked from IB
        assert contracts["AAPL"].conId == 265598
        assert await second.market_prices(["AAPL"]) == {"AAPL": Decimal("228.5")}  # usable as they are
    finally:
        await second.disconnect()


async def test_pacing_violation_pauses_sending(simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 100, reqId -1")
    provider = IbExecutionProvider(port=simulator.port, client_id=8, connect_timeout=5)
    await provider.connect()
    try:
        provider.ib.wrapper.error(-1, 100, "Max rate of messages per second has been exceeded:max=50", "")
        assert (provider.pacing_violations, provider.pacing.pauses) == (1, 1)
        assert not provider.pacing.try_acquire()  # nothing goes out during the pause
    finally:
        await provider.disconnect()


async def test_two_callers_at_once_share_one_pnl_subscription(simulator):
    """The account panel's timer and a load asked for the account's figures at once while the
    pacing held both: each found no subscription yet and each sent reqPnL, and ib_async
    asserted on the second (a paper console's start-up failed on it in CI)."""
    provider = IbExecutionProvider(port=simulator.port, client_id=7, connect_timeout=5)
    await provider.connect()
    try:
        provider.pacing.pause(0.2)  # both callers wait for their token before asking
        first, second = await asyncio.gather(provider.daily_pnl(), provider.daily_pnl())
        assert first == second
        values = await asyncio.gather(provider.account_values(), provider.account_values())
        assert values[0] == values[1] and values[0]
        assert len(provider.ib.wrapper.pnlKey2ReqId) == 1
    finally:
        await provider.disconnect()


async def test_two_streams_of_one_listing_at_once_deliver_each_tick_once(simulator):
    """Enter pressed twice in the watchlist: two watches of one listing at once each found no
    stream while qualification was under way and each put a handler on the one Ticker that
    ib_async keeps per contract, so every tick reached the quote book twice. Stopping the
    stream takes the handler off too."""
    from services.core.contracts import spec_of

    provider = IbExecutionProvider(port=simulator.port, client_id=8, connect_timeout=5)
    await provider.connect()
    try:
        spec = spec_of("AAPL")
        await asyncio.gather(provider.stream_quote(spec), provider.stream_quote(spec))
        ticker = provider._quote_streams[spec.key][1]
        assert len(ticker.updateEvent) == 1
        seen = []
        provider.subscribe_quotes(seen.append)
        ticker.updateEvent.emit(ticker)
        assert [q.key for q in seen] == [spec.key]
        await provider.stream_quote(spec)  # again (a reconnect's restart): still one handler
        assert len(ticker.updateEvent) == 1
        await provider.stop_quote(spec.key)
        assert len(ticker.updateEvent) == 0
    finally:
        await provider.disconnect()
