"""The account summary subscription across connectivity notices (1100 / 1102).

IB keeps two account summary subscriptions per client at once and refuses a third (error 322).
ib_async subscribes again on every 1102 ("connectivity restored - data maintained") without
cancelling the one it has: a console that lived through two such gaps held three, and IB refused
the third ("Maximum number of account summary requests exceeded"). The adapter now keeps one: on
1102 it cancels its own and subscribes afresh at the next read."""

from __future__ import annotations

import pytest

from services.execution.events import ConnectionState
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.timeout(90)


def _summaries(simulator) -> list[int]:
    return [len(s.account_summaries) for s in simulator._sessions.values()]


async def test_gaps_in_connectivity_leave_one_account_summary_subscription(stack, ib_log_guard):
    ib_log_guard.allow(r"Error 110[012], reqId -1")
    sim, provider = stack.sim, stack.provider
    assert await provider.net_liquidation() == sim.account_snapshot().net_liquidation
    assert _summaries(sim) == [1]
    for gap in range(3):
        sim.connectivity_lost()
        await wait_until(lambda: provider.state is ConnectionState.LOST, 5, f"the provider to hear 1100 (gap {gap + 1})")
        sim.connectivity_restored(data_lost=False)
        await wait_until(lambda: provider.state is ConnectionState.RESTORED, 5, f"the provider to hear 1102 (gap {gap + 1})")
        assert await provider.net_liquidation() == sim.account_snapshot().net_liquidation
        # one subscription at the gateway, never the two or three ib_async's 1102 handler left
        await wait_until(lambda: _summaries(sim) == [1], 5, lambda: f"one account summary subscription: {_summaries(sim)}")
    # and no error 322 (ib_log_guard fails the test on any error ib_async logs but the notices)


async def test_a_summary_asked_again_for_want_of_an_answer_cancels_the_unanswered_subscription(simulator):
    """The adapter asks again a query left unanswered past its timeout. For the account summary
    that second request is a second subscription, and the first, which IB still holds, was
    forgotten: two answers lost and IB refused the third with 322, the NetLiquidation unknown.
    Each new request now cancels the one it replaces."""
    from services.execution.ib_provider import IbExecutionProvider

    simulator.faults.account_summary_silent = 2  # the first two subscriptions never answer
    provider = IbExecutionProvider(host="127.0.0.1", port=simulator.port, client_id=1, connect_timeout=15,
                                   request_timeout=0.5)
    await provider.connect()
    try:
        assert await provider.net_liquidation() == simulator.account_snapshot().net_liquidation
        assert simulator.faults.account_summary_silent == 0  # asked three times
        assert _summaries(simulator) == [1]  # the two unanswered ones cancelled, none refused
    finally:
        await provider.disconnect()
