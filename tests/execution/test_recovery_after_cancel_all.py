"""Auto-recovery after a Cancel All: an order sent before the trader canceled everything and proven
dead since (lost on its way to the gateway, closed as never received) is not re-placed. Recovery
re-placed it as a new order at the broker after the Cancel All, which had nothing to cancel for it
(already closed, or one by one not cancelable from the trader's session), so nothing of the
trader's cancel reached the replacement. On SQLite and MariaDB, against the simulator over a real
socket; the clock is injected (``run_once(now=...)``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.db.models import OrderEvent, TradeOrder
from services.domain import EventSource, OrderState
from services.execution.recovery import AutoRecovery

from .test_auto_recovery import TIMEOUT, _orders, _run_with_ibm_lost, _settings

pytestmark = pytest.mark.timeout(60)


def _recovery(stack) -> AutoRecovery:
    return AutoRecovery(stack.db, stack.provider, stack.writer, stack.reconciler, stack.service.leases, actor="tester",
                        busy_runs=stack.service.executing_runs)


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
