"""Auto-recovery after a Cancel All: an order sent before the trader canceled everything and proven
dead since (lost on its way to the gateway, closed as never received) is not re-placed. Recovery
re-placed it as a new order at the broker after the Cancel All, which had nothing to cancel for it
(already closed, or one by one not cancelable from the trader's session), so nothing of the
trader's cancel reached the replacement. On SQLite and MariaDB, against the simulator over a real
socket; the clock is injected (``run_once(now=...)``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import OrderEvent, TradeOrder
from services.domain import EventSource, OrderState, TradeMode
from tests.execution.stop_helpers import recovery_of as _recovery

from .conftest import make_snapshot
from .test_auto_recovery import TIMEOUT, _orders, _run_with_ibm_lost, _settings

pytestmark = pytest.mark.timeout(60)


def _refusals(db, order_id: int) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(OrderEvent.message).where(
            OrderEvent.order_id == order_id, OrderEvent.source == EventSource.RECOVERY,
            OrderEvent.event_type == "recovery_refused")))


async def test_an_order_sent_before_a_cancel_all_and_dead_since_is_not_replaced(stack, ib_log_guard):
    _settings(stack.db)
    _run_id, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "canceled")
    # the next connect's reconciliation (here: a pass after the grace) closes it as never received
    await stack.reconciler.reconcile()
    await stack.writer.flush()
    [dead] = _orders(stack.db, "IBM")
    assert dead.status is OrderState.CANCELED and dead.ib_perm_id is None
    # then the trader cancels everything: nothing of the run is working, nothing to cancel
    assert await stack.actions.cancel_all() == []

    result = await _recovery(stack).run_once(now=datetime.now(UTC) + timedelta(seconds=TIMEOUT + 1))

    assert result.replaced == () and result.sent == ()
    assert [o for o in stack.sim.orders() if o.symbol == "IBM"] == []  # nothing went out after the Cancel All
    with stack.db.session() as session:
        assert session.scalars(select(TradeOrder.client_order_id).where(TradeOrder.replaces_order_id == ibm.id)).all() == []
    [skipped] = result.skipped
    assert skipped.client_order_id == ibm.client_order_id and "Cancel All" in skipped.reason
    assert _refusals(stack.db, ibm.id) == [skipped.reason]  # for good: never considered again


async def test_an_order_a_slow_sender_gave_back_after_a_cancel_all_is_not_sent_by_recovery(stack):
    """Cancel All cancels a run's unsent (NEW) orders; those another process's sender holds
    (SENDING) while it has not stopped within the wait are its to give back. It gave them back NEW
    once it saw the Cancel All, after the listing, and the next recovery pass sent them as stuck
    orders never sent: new orders at the broker after the trader canceled everything (the Cancel
    All said only that this sender was still sending). An order of a run stored before the last
    Cancel All and never sent is closed by recovery, never sent, as one sent before it is not
    re-placed."""
    _settings(stack.db)
    _, snapshot_id = make_snapshot(stack.db, "slow", {"MSFT": "0.01", "AAPL": "0.01"})
    run = await stack.service.create_run("slow", snapshot_id, TradeMode.PAPER, {})
    preview = await stack.service.preview(run.id, Decimal("100000"))
    await stack.service._db(stack.service._insert_orders, run.id, preview.plan)  # stored, for its sender
    run_id, coids = run.id, [d.client_order_id for d in preview.plan.orders]
    leases = stack.service.leases
    stack.actions.senders_timeout = 0.3
    async with leases.hold(run_id) as lease:
        await asyncio.to_thread(leases.start_sending, lease)  # a sender at work, of another process
        claim_id, claimed = await asyncio.to_thread(leases.claim_many, lease, coids)
        assert claimed == set(coids)
        canceled = await stack.actions.cancel_all(one_by_one=True)
        assert list(canceled) == [] and canceled.senders_not_stopped  # said still sending, left to it
        # the sender sees the Cancel All before its next placeOrder: nothing sent, its claims given back
        await asyncio.to_thread(leases.unclaim, claim_id, coids, "not sent: Cancel All")
        await asyncio.to_thread(leases.stop_sending, lease)
    assert {o.status for o in [*_orders(stack.db, "AAPL"), *_orders(stack.db, "MSFT")]} == {OrderState.NEW}

    result = await _recovery(stack).run_once(now=datetime.now(UTC) + timedelta(seconds=TIMEOUT + 1))

    assert result.sent == () and stack.sim.orders() == []  # nothing went out after the Cancel All
    assert sorted(s.client_order_id for s in result.skipped) == sorted(coids)
    assert all("Cancel All" in s.reason for s in result.skipped), result.skipped
    # closed for good, not left NEW (abandoned, yet counted as the project's intent): the trader
    # sends them again only by previewing again (services/execution/halt_unsent.py)
    closed = [*_orders(stack.db, "AAPL"), *_orders(stack.db, "MSFT")]
    assert {(o.status, o.ib_order_id) for o in closed} == {(OrderState.CANCELED, None)}
