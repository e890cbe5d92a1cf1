"""A holder whose clock is stepped against the database server's while it sends (MariaDB: the
database several machines share, whose clock stamps the lease) stops sending under the run's lease. Nobody took the run over:
the run's result, the command's words and the window's message say the clock is the cause and
what to do, not that another process took the lease."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from services.execution.headless_run import RunOutcome
from services.preview_session import describe_execute
from tests.fixtures.waiting import wait_until

from .test_lease import _setup_run

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)]


async def test_a_clock_stepped_while_sending_is_said_as_the_cause(stack, simulator):
    symbols = ["AAPL", "MSFT", "AMZN", "GOOG", "NVDA", "META"]
    run_id, drafts = await _setup_run(stack, dict.fromkeys(symbols, "0.01"))
    leases = stack.service.leases
    # a short lease: its heartbeat (every third of it) measures the clock again within a second
    leases.ttl, leases.claim_margin, leases.send_margin = 3.0, 1.0, 0.5
    provider = stack.provider
    acquire = provider.pacing.acquire
    placed: list[object] = []

    async def clock_stepped_before_the_third_write():
        await acquire()
        placed.append(None)
        if len(placed) == 3:
            lease = leases.held[run_id]
            leases.clock = lambda: datetime.now(UTC) + timedelta(seconds=10)  # NTP stepped it, say
            await wait_until(lambda: lease.lost, 5, "the heartbeat to see the clock stepped")

    provider.pacing.acquire = clock_stepped_before_the_third_write
    result = await stack.service.execute(run_id)

    assert len(result.sent) < len(drafts) and result.lease_lost
    assert "taken by another process" not in result.stopped
    assert "ahead of the database server's" in result.stopped
    # the step, measured across two round trips to the server: 10 s give or take their milliseconds
    assert abs(float(re.search(r"clock is ([0-9.]+) s", result.stopped).group(1)) - 10) < 0.5, result.stopped
    assert "synchronise the clocks" in result.stopped
    assert "Nothing was sent from here" not in result.stopped  # it was sending
    assert "clock" in describe_execute(run_id, result)  # the window's message
    view = SimpleNamespace(orders=(), run=SimpleNamespace(params={}))
    problems = "; ".join(RunOutcome(view, result, False, [], [], list(result.unsent), None).problems())  # the command's stderr
    assert "clock" in problems and "took the run over" not in problems, problems
    assert len(result.unsent) == len(drafts) - len(result.sent)  # given back NEW for the next execute, once the clocks agree
