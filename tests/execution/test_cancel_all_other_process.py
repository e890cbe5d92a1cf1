"""Cancel All reaches the senders of every process: a run that another process (a window, an
``execute`` command) is sending stops before its next order, gives its claims back and leaves its
unsent orders to Cancel All, which waits for it before it cancels at the broker and cancels every
unsent order. Else what that sender placed after the global cancel stayed working at the broker.
Runs started after the Cancel All are not touched."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.db.repositories import SettingsRepository
from services.domain import OrderState, TradeMode
from services.execution.lease import LeaseManager
from services.execution.sending import CANCEL_ALL, OrderSender
from tests.fixtures.waiting import wait_until

from .cli_helpers import cli_args, start
from .conftest import build_stack, make_snapshot
from .pacing_helpers import allow_large_runs, synthetic_symbols
from .stop_helpers import run_statuses
from .test_lease import _run_with_orders

pytestmark = pytest.mark.timeout(180)

EXIT_BROKER = 5  # app.cli: an execute that did not send its whole run



def _marker(db):
    with db.session() as session:
        return SettingsRepository(session).cancel_all_at()


# ------------------------------------------------------------------ the marker, unit level


def test_each_cancel_all_marker_is_later_than_the_one_before_even_when_the_clock_is_not(database):
    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        first = SettingsRepository(session).mark_cancel_all(now)
    with database.unit_of_work() as session:
        second = SettingsRepository(session).mark_cancel_all(now - timedelta(seconds=5))  # a clock stepped back
    assert first == now and second > first and _marker(database) == second


async def test_a_sender_stops_at_a_cancel_all_made_after_it_started_not_at_an_earlier_one(database):
    run_id, _ = _run_with_orders(database, 1)
    leases = LeaseManager(database)
    with database.unit_of_work() as session:
        earlier = SettingsRepository(session).mark_cancel_all(datetime.now(UTC))  # before the sender started
    async with leases.hold(run_id) as lease:
        sender = OrderSender(database, provider=None, writer=None, leases=leases, stop_requested=lambda: None)
        _, sender._mark = leases.start_sending(lease)
        assert sender._mark == earlier
        assert sender._stop_in_database() is None  # started after it: not touched
        assert leases.senders_before(earlier) == []
        with database.unit_of_work() as session:
            mark = SettingsRepository(session).mark_cancel_all(datetime.now(UTC))
        assert sender._stop_in_database() == CANCEL_ALL
        assert [h.run_id for h in leases.senders_before(mark)] == [run_id]  # Cancel All waits for it
        leases.stop_sending(lease)
        assert leases.senders_before(mark) == []  # stopped: no longer waited for


# ------------------------------------------------------------------ two stacks on one simulator


@pytest.mark.slow  # a paced run stopped mid-chunk
async def test_cancel_all_of_another_stack_stops_a_run_in_the_middle_of_its_chunk(database, make_simulator):
    """The sending stack's own Cancel All is not asked: only the database carries it. Its pacing
    is slow enough (5 a second) that its one chunk (15 orders) lasts seconds: the stop comes from the
    watcher's look at the marker, within a second, not at the next chunk."""
    from services.execution.pacing import PacingLimiter

    n = 15
    sim = await make_simulator(synthetic_symbols=n, state_file=None, ledger_file=None, market_hours="closed")
    sender = await build_stack(database, sim, client_id=1, pacing=PacingLimiter(capacity=5))
    canceler = await build_stack(database, sim, client_id=2)
    try:
        allow_large_runs(database)
        _, snapshot_id = make_snapshot(database, "chunk", {s: "0.004" for s in synthetic_symbols(n)})
        run = await sender.service.create_run("chunk", snapshot_id, TradeMode.PAPER, {})
        sending = asyncio.ensure_future(sender.service.execute(run.id, portfolio_value=Decimal(1_000_000),
                                                               require_market_health=False))
        await wait_until(lambda: len(sim.orders()) >= 3 or sending.done(), 30, "the first orders at the broker")
        assert not sending.done(), "the run ended before Cancel All"
        canceled = await canceler.actions.cancel_all()
        at_return = len(sim.orders())
        assert canceled.senders_not_stopped == ()
        result = await asyncio.wait_for(sending, 30)
        assert result.stopped == CANCEL_ALL
        assert 3 <= len(result.sent) < n
        await sender.writer.flush()
        await canceler.writer.flush()
        assert len(sim.orders()) == at_return, "orders placed after Cancel All returned"
        assert [ref for ref, n in Counter(o.order_ref for o in sim.orders()).items() if n > 1] == [], "orders sent twice"
        await wait_until(lambda: not sim.open_orders(), 10,
                         lambda: f"{len(sim.open_orders())} orders of the run still working at the broker")
        assert not {OrderState.NEW, OrderState.SENDING} & set(run_statuses(database, run.id).values())
    finally:
        await sender.close()
        await canceler.close()


async def test_a_run_started_after_cancel_all_sends_all_its_orders(database, make_simulator):
    n = 6
    sim = await make_simulator(synthetic_symbols=n, state_file=None, ledger_file=None, market_hours="closed")
    stack = await build_stack(database, sim, client_id=1)
    try:
        assert await stack.actions.cancel_all() == []
        _, snapshot_id = make_snapshot(database, "after", {s: "0.004" for s in synthetic_symbols(n)})
        run = await stack.service.create_run("after", snapshot_id, TradeMode.PAPER, {})
        result = await stack.service.execute(run.id, portfolio_value=Decimal(1_000_000), require_market_health=False)
        assert result.stopped is None and len(result.sent) == n
    finally:
        await stack.close()


# ------------------------------------------------------------------ a real `execute` process


@pytest.mark.slow  # a child process sending a few hundred orders
async def test_cancel_all_stops_an_execute_command_of_another_process_mid_send(database, db_url, make_simulator):
    n = 300  # at IB's 50 messages a second: six seconds of sending
    sim = await make_simulator(synthetic_symbols=n, state_file=None, ledger_file=None, market_hours="closed")
    allow_large_runs(database)
    _, snapshot_id = make_snapshot(database, "storm", {s: "0.002" for s in synthetic_symbols(n)})
    canceler = await build_stack(database, sim, client_id=2)
    child = None
    try:
        child = await start(cli_args(db_url, sim.port, "execute", "--snapshot", str(snapshot_id), "--project", "storm",
                                     "--mode", "paper", "--portfolio-value", "1000000", "--wait-seconds", "15", "--json",
                                     "--no-market-health", client_id=1))
        await wait_until(lambda: len(sim.orders()) >= 20 or child.returncode is not None, 90,
                         "the execute command's first orders at the broker")
        assert child.returncode is None, "the execute ended before Cancel All"
        canceled = await canceler.actions.cancel_all()
        at_return = len(sim.orders())
        assert canceled.senders_not_stopped == ()
        out, err = await asyncio.wait_for(child.communicate(), 90)
        await canceler.writer.flush()
        # nothing of the run goes out after Cancel All returned, nothing of it stays working
        assert len(sim.orders()) == at_return, "orders placed after Cancel All returned"
        assert [ref for ref, n in Counter(o.order_ref for o in sim.orders()).items() if n > 1] == [], "orders sent twice"
        await wait_until(lambda: not sim.open_orders(), 10,
                         lambda: f"{len(sim.open_orders())} orders of the run still working at the broker")
        run = json.loads(out.decode())["run"]
        statuses = run_statuses(database, run["id"])
        assert len(statuses) == n
        assert not {OrderState.NEW, OrderState.SENDING} & set(statuses.values())
        # the command says it was stopped, and fails: its run was not sent
        assert child.returncode == EXIT_BROKER, err.decode()[-2000:]
        assert run["stopped"] == CANCEL_ALL
        assert "sending stopped: Cancel All" in err.decode()
        assert 20 <= len(run["sent"]) < n
    finally:
        if child is not None and child.returncode is None:
            child.kill()
            await child.wait()
        await canceler.close()


# ------------------------------------------------------------------ confirmations of another client's orders


async def test_cancel_all_of_another_client_id_takes_the_confirmations_the_owner_wrote(database, make_simulator, caplog):
    """IB reports a cancel only to the client session that placed the order: the orders of
    another client id are confirmed from the database, where the owning process wrote them,
    instead of waiting out the whole confirmation time and saying they were not confirmed."""
    n = 5
    sim = await make_simulator(synthetic_symbols=n, state_file=None, ledger_file=None, market_hours="closed")
    owner = await build_stack(database, sim, client_id=1)
    canceler = await build_stack(database, sim, client_id=2)
    try:
        _, snapshot_id = make_snapshot(database, "owned", {s: "0.004" for s in synthetic_symbols(n)})
        run = await owner.service.create_run("owned", snapshot_id, TradeMode.PAPER, {})
        result = await owner.service.execute(run.id, portfolio_value=Decimal(1_000_000), require_market_health=False)
        assert len(result.sent) == n
        await wait_until(lambda: set(run_statuses(database, run.id).values()) == {OrderState.ACCEPTED}, 10,
                         lambda: f"the owner's orders working: {run_statuses(database, run.id)}")
        canceler.actions.confirm_timeout = 20.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        canceled = await canceler.actions.cancel_all(wait=True)
        took = loop.time() - started
        assert len(canceled) == n
        assert set(run_statuses(database, run.id).values()) == {OrderState.CANCELED}
        assert not [r for r in caplog.records if "not confirmed" in r.getMessage()]
        assert took < canceler.actions.confirm_timeout, f"waited {took:.1f} s for confirmations the owner had written"
        assert not sim.open_orders()
    finally:
        await owner.close()
        await canceler.close()
