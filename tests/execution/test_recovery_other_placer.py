"""Auto-recovery in one process (``trading-console recover``, the window's timer, ``serve``) and
orders another live process placed a moment ago, on one simulator and one database (SQLite and
MariaDB): two stacks with their own broker client ids stand for the two processes.

IB lets only the client that placed an order cancel it. The sender releases its run's lease as
soon as its orders are written, acknowledged or not, so the lease does not tell recovery that the
placer still follows them. Recovery recorded the acknowledgement timeout (the order CANCEL_REQUESTED,
an event) before trying the cancel, which the provider then refused ("not open in this session"):
the orders filled, and their events said a cancel was requested that never was."""

from __future__ import annotations

from contextlib import AsyncExitStack
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.db.models import AuditLog, OrderEvent
from services.db.repositories import SettingsRepository
from services.domain import EventSource, OrderState, TradeMode
from services.execution.lease import process_key
from tests.execution.stop_helpers import recovery_of as _recovery
from tests.execution.stop_helpers import run_orders as _run_orders
from tests.fixtures.waiting import wait_until

from .conftest import build_stack, make_snapshot

pytestmark = pytest.mark.timeout(90)

ACK_DELAY = 3.0  # seconds the simulator keeps each order PendingSubmit (the review's setting)


def _events(db, order_ids: list[int]) -> list[OrderEvent]:
    with db.session() as session:
        rows = list(session.scalars(select(OrderEvent).where(OrderEvent.order_id.in_(order_ids)).order_by(OrderEvent.id)))
        session.expunge_all()
        return rows


@pytest.fixture
async def two_processes(database, simulator):
    placer = await build_stack(database, simulator, client_id=1)
    recoverer = await build_stack(database, simulator, client_id=2)
    try:
        yield placer, recoverer
    finally:
        await recoverer.close()
        await placer.close()


@pytest.mark.slow  # over 3 s a case: out of --quick (README), in the whole suite
async def test_recovery_leaves_the_unacknowledged_orders_of_a_live_client_to_it(two_processes):
    a, b = two_processes
    db, sim = a.db, a.sim
    with db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 0})
    sim.faults.ack_delay = ACK_DELAY
    _, snapshot_id = make_snapshot(db, "placer", {"IBM": "0.01", "AAPL": "0.01"})
    run = await a.service.create_run("placer", snapshot_id, TradeMode.PAPER, {})
    sent = await a.service.execute(run.id, portfolio_value=Decimal("100000"))
    assert len(sent.sent) == 2
    await a.writer.flush()
    assert a.service.leases.holder(run.id) is None  # A's lease is released: its orders are not acknowledged yet
    coids = {o.client_order_id for o in _run_orders(db, run.id)}
    assert {o.status for o in _run_orders(db, run.id)} == {OrderState.SUBMITTED}

    result = await _recovery(b).run_once()  # B's pass, ack timeout 0
    await b.writer.flush()
    again = await _recovery(b).run_once()  # a second pass, the same reason: said, not written again
    assert {s.client_order_id for s in again.skipped} == coids
    # the pass ran while the broker still held them unacknowledged (what the old code canceled)
    assert {o.status for o in sim.orders()} == {"PendingSubmit"}
    assert _cancel_records(db, run.id) == []
    assert set(result.considered) == coids
    assert result.canceled == () and result.replaced == () and result.sent == ()
    assert {s.client_order_id for s in result.skipped} == coids
    assert all("placed by client id 1 in another process, which is alive" in s.reason for s in result.skipped), result.skipped

    async def filled() -> bool:
        await a.writer.flush()
        return {o.status for o in _run_orders(db, run.id)} == {OrderState.FILLED}

    await wait_until(filled, ACK_DELAY + 15, lambda: f"A's orders filled: {[o.status for o in _run_orders(db, run.id)]}")
    # as the broker says: each filled once, by A's client, nothing re-placed
    assert sorted((o.order_ref, o.client_id, o.status) for o in sim.orders()) == sorted((c, 1, "Filled") for c in coids)
    orders = _run_orders(db, run.id)
    assert {o.client_order_id for o in orders} == coids
    assert _cancel_records(db, run.id) == []
    # one skip per order however many passes gave the same reason (each pass wrote one: the
    # append-only log grew by a row per stuck order every pass)
    skips = [e for e in _events(db, [o.id for o in orders]) if e.source == EventSource.RECOVERY]
    assert sorted(e.event_type for e in skips) == ["recovery_skip"] * len(coids)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)
                              .where(AuditLog.action == "order.recovery_skip")) == len(coids)


@pytest.mark.slow  # over 3 s a case: out of --quick (README), in the whole suite
async def test_a_cancel_recovery_cannot_send_records_no_cancel_request(two_processes):
    """A placer known to be gone (its process key names a process that no longer runs): its
    orders are recovery's as before, but B's cancel cannot reach them (another client's): no
    acknowledgement timeout, no CANCEL_REQUESTED, a truthful event; the broker's word decides."""
    a, b = two_processes
    db, sim = a.db, a.sim
    with db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 0})
    sim.faults.ack_delay = ACK_DELAY
    _, snapshot_id = make_snapshot(db, "gone", {"IBM": "0.01"})
    run = await a.service.create_run("gone", snapshot_id, TradeMode.PAPER, {})
    assert len((await a.service.execute(run.id, portfolio_value=Decimal("100000"))).sent) == 1
    await a.writer.flush()
    [ibm] = _run_orders(db, run.id)
    machine, pid, _started = process_key().rsplit("/", 2)
    with db.unit_of_work() as session:  # the placer's record names a process that has ended
        submitted = session.scalars(select(OrderEvent).where(OrderEvent.order_id == ibm.id,
                                                             OrderEvent.event_type == "submitted")).one()
        submitted.payload = {**submitted.payload, "process": f"{machine}/{pid}/0"}

    result = await _recovery(b).run_once()
    await b.writer.flush()
    assert {o.status for o in sim.orders()} == {"PendingSubmit"}
    assert result.canceled == () and result.replaced == ()
    assert _cancel_records(db, run.id) == []
    failed = [e.message for e in _events(db, [ibm.id]) if e.event_type == "recovery_cancel_failed"]
    assert len(failed) == 1 and "placed by client id 1, not ours to cancel; cancel not sent" in failed[0], failed
    [skip] = result.skipped
    assert skip.reason.startswith("fate unknown: still ACCEPTED") or skip.reason.startswith("fate unknown: still SUBMITTED"), skip

    async def filled() -> bool:
        await a.writer.flush()
        return _run_orders(db, run.id)[0].status is OrderState.FILLED

    await wait_until(filled, ACK_DELAY + 15, "A's order filled")
    assert [(o.order_ref, o.status) for o in sim.orders()] == [(ibm.client_order_id, "Filled")]
    assert _cancel_records(db, run.id) == []


def _cancel_records(db, run_id: int) -> list[tuple[str, str]]:
    """Events saying a cancel was requested: the ack timeout and any move to CANCEL_REQUESTED."""
    return [(e.event_type, e.message or "") for e in _events(db, [o.id for o in _run_orders(db, run_id)])
            if e.event_type == "ack_timeout" or e.to_state is OrderState.CANCEL_REQUESTED or e.event_type == "recovery_cancel"]


async def test_a_new_order_another_sender_claims_during_the_pass_is_not_said_found_at_the_broker(two_processes):
    """The pass reads the order NEW; before it decides, the run's sender in the other process
    claims it (SENDING): the broker has never heard of it, and the skip says so."""
    a, b = two_processes
    db = a.db
    with db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 0})
    _, snapshot_id = make_snapshot(db, "claimed", {"MSFT": "0.01"})
    run = await a.service.create_run("claimed", snapshot_id, TradeMode.PAPER, {})
    preview = await a.service.preview(run.id, Decimal("100000"))
    await a.service._db(a.service._insert_orders, run.id, preview.plan)  # stored NEW, not sent yet
    [msft] = _run_orders(db, run.id)
    recovery = _recovery(b)
    look_up = recovery._look_up

    async with AsyncExitStack() as holding:
        async def claimed_meanwhile(orders, out):
            # between the pass's read and its decision: A takes its run (held until the pass
            # ends, as a sender at work does) and claims the order
            lease = await holding.enter_async_context(a.service.leases.hold(run.id))
            assert a.service.leases.claim_many(lease, [msft.client_order_id]) is not None
            return await look_up(orders, out)

        recovery._look_up = claimed_meanwhile
        result = await recovery.run_once()
    [skip] = result.skipped
    assert result.sent == () and skip.client_order_id == msft.client_order_id
    assert "found at the broker" not in skip.reason
    assert "claimed by a sender since this pass read it (now SENDING" in skip.reason, skip.reason
    assert a.sim.orders() == []
