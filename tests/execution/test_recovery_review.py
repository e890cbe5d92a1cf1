"""Adversarial review of auto-recovery against the simulator over a real socket, SQLite and
MariaDB: an order IB knows and the database did not (placed by hand in TWS, by another client)
is recorded as external and never canceled, re-placed or sent by recovery, however long it sits
unacknowledged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.db.repositories import OrderRepository, SettingsRepository
from services.domain import OrderState
from services.execution.recovery import AutoRecovery
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


async def test_an_external_order_unacknowledged_for_hours_is_never_touched_by_recovery(stack, ib_client):
    from ib_async import LimitOrder, Stock

    with stack.db.unit_of_work() as session:
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 0, "max_auto_retries": 3})
    stack.sim.faults.add_rule(order_ref=r"^by-hand$", ack_delay=3600)  # IB never acknowledges it
    other = await ib_client(client_id=9)
    [contract] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    other.placeOrder(contract, LimitOrder("BUY", 3, 220.0, orderRef="by-hand"))
    await wait_until(lambda: [o.order_ref for o in stack.sim.orders()] == ["by-hand"], 5, "the order at the gateway")
    report = await stack.reconciler.reconcile()
    assert report.external == ["by-hand"]
    recovery = AutoRecovery(stack.db, stack.provider, stack.writer, stack.reconciler, stack.service.leases, actor="tester",
                            busy_runs=stack.service.executing_runs)

    result = await recovery.run_once(datetime.now(UTC) + timedelta(hours=3))

    assert (result.considered, result.canceled, result.sent, result.replaced) == ((), (), (), ())
    assert [(o.order_ref, o.status) for o in stack.sim.orders()] == [("by-hand", "PendingSubmit")]
    await stack.writer.flush()
    with stack.db.session() as session:
        external = OrderRepository(session).get_by_client_id("by-hand")
        assert (external.is_external, external.status) == (True, OrderState.SUBMITTED)
        assert OrderRepository(session).list() == [external]  # nothing placed for it
