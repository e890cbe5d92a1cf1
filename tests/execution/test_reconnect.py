"""Reconnecting against the simulator over a real socket."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from services.domain import Side, TradeMode
from services.execution.errors import NotConnected
from services.execution.events import ConnectionState
from tests.fixtures.waiting import wait_until

from .conftest import build_stack

pytestmark = pytest.mark.timeout(60)


async def test_a_drop_during_the_resync_after_a_reconnect_is_reconnected_again(database, simulator, ib_log_guard):
    """The soak found it: a connection lost while the resync hooks of the previous reconnect ran
    was never retried (the disconnect handler left it to the loop that was ending)."""

    async def no_wait(_seconds: float) -> None:
        await asyncio.sleep(0)

    ib_log_guard.allow(r"Peer closed connection")  # the drops are the point
    stack = await build_stack(database, simulator, sleep=no_wait)
    drop_started, drops_in_resync = [], []

    async def drop_once_while_resyncing(state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTED and not drop_started:
            drop_started.append(True)
            simulator.drop_connections()
            await wait_until(lambda: not stack.provider.is_connected, 10, "the drop during the resync")
            # Only now: until the client has seen the drop it still reports itself connected,
            # and the wait below would end before the second reconnect (CI saw it once).
            drops_in_resync.append(True)

    try:
        stack.provider.add_resync_hook(drop_once_while_resyncing)
        simulator.drop_connections()
        await wait_until(lambda: drops_in_resync and stack.provider.is_connected, 20,
                         "connected again after the drop during the resync")
        assert len(stack.provider.reconnect_attempts) >= 2
    finally:
        await stack.close()


@pytest.mark.parametrize(("mode", "token", "first", "second"), [
    (TradeMode.PAPER, None, "DU1111111", "DU2222222"),
    (TradeMode.LIVE, "LIVE", "U1111111", "U2222222"),
], ids=["paper-to-paper", "live-to-live"])
async def test_a_reconnect_that_finds_another_account_is_refused_and_sends_nothing(
        database, sim_config, tmp_path, ib_log_guard, mode, token, first, second):
    """The review found it: with no account configured, a reconnect took whatever single account
    the Gateway now managed (the guard only compares paper and live), so the session went on
    trading DU2222222 (or U2222222, without asking for LIVE again) while the writer, still on the
    first account, dropped every fill of it."""
    from services.ibsim import IBGatewaySimulator

    ib_log_guard.allow(r"Peer closed connection")  # the Gateway going away is the point
    first_sim = IBGatewaySimulator(sim_config(accounts=(first,)))
    await first_sim.start(host="127.0.0.1", port=0)
    port = first_sim.port
    second_up = asyncio.Event()

    async def until_the_gateway_is_back(_seconds: float) -> None:
        await second_up.wait()  # one reconnect attempt, against the Gateway logged into `second`

    stack = await build_stack(database, first_sim, mode=mode, live_token=token, sleep=until_the_gateway_is_back)
    events = []
    stack.provider.subscribe(events.append)
    second_sim = None
    try:
        assert (stack.provider.account, stack.writer.account) == (first, first)
        await first_sim.stop()
        await wait_until(lambda: stack.provider._reconnect_task is not None, 10, "the reconnect loop to start")
        # the same Gateway port, now logged into another account of the same kind
        second_sim = IBGatewaySimulator(sim_config(accounts=(second,), state_file=tmp_path / "second-state.json",
                                                   ledger_file=tmp_path / "second-ledger.json"))
        await second_sim.start(host="127.0.0.1", port=port)
        second_up.set()
        await wait_until(lambda: stack.provider._reconnect_task.done(), 20, "the reconnect attempt to end")

        assert not stack.provider.is_connected
        assert stack.provider.state is ConnectionState.DISCONNECTED
        assert (stack.provider.account, stack.writer.account) == (first, first)
        assert events[-1].refused  # final: the window says it (no reconnect follows)
        refusal = events[-1].detail
        assert "refused" in refusal and first in refusal and second in refusal, refusal
        assert len(stack.provider.reconnect_attempts) == 1  # final: the loop does not try again
        with pytest.raises(NotConnected):
            await stack.actions.manual_order("AAPL", Side.BUY, Decimal(5), live_token=token, require_market_health=False)
        assert second_sim.orders() == []
    finally:
        await stack.close()
        await first_sim.stop()  # again when the test failed before the switch; stopping twice is harmless
        if second_sim is not None:
            await second_sim.stop()


async def test_a_connect_right_after_a_disconnect_waits_only_for_the_old_socket_to_close(simulator, monkeypatch):
    """The old socket reports its close on the loop's next turn: the connect listened for that
    report only after it had come, and waited its whole close wait for nothing (5 s for every
    disconnect then connect: the window's reconnect, a watchlist's test took 20 s for four).
    With the close wait longer than this test may take, the connect still comes at once."""
    from services.execution import ib_connection
    from services.execution.ib_provider import IbExecutionProvider

    monkeypatch.setattr(ib_connection, "PREVIOUS_CLOSE_WAIT", 3600.0)
    provider = IbExecutionProvider(port=simulator.port, client_id=61, connect_timeout=5, auto_reconnect=False)
    await provider.connect()

    async def reconnect() -> None:  # in one step of the loop, as a caller awaiting both does
        await provider.disconnect()
        assert provider.ib.client.conn.transport is not None  # still closing: the case at issue
        await provider.connect()

    try:
        for _ in range(2):
            await asyncio.wait_for(reconnect(), 30)  # a hang bound, far below the close wait
            assert provider.is_connected
    finally:
        await provider.disconnect()
