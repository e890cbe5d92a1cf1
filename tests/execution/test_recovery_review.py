"""Adversarial review of auto-recovery against the simulator over a real socket, SQLite and
MariaDB: an order IB knows and the database did not (placed by hand in TWS, by another client)
is recorded as external and never canceled, re-placed or sent by recovery, however long it sits
unacknowledged."""

from __future__ import annotations

import asyncio
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


async def test_a_dead_order_another_process_re_placed_during_this_pass_is_said_already_re_placed(stack, ib_log_guard):
    """Two processes' passes over the same dead order (tests/execution/test_recovery_two_processes.py):
    the other stores its replacement after this pass saw none and before this pass's risk check.
    The order's record says it was re-placed by the other, not that today's risk limits refused
    it for good ('blocked by risk now (duplicate_order ...)', a final refusal on the audit log
    for an order that was re-placed)."""
    from services.execution.recovery_writes import insert_replacement

    from .test_auto_recovery import _audit, _later, _recovery, _run_with_ibm_lost, _settings

    _settings(stack.db)
    _run_id, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "raced")
    recovery = _recovery(stack)
    ask_hours = recovery._refusals._ask_hours

    async def the_other_process_re_places_it_meanwhile(spec) -> None:
        await asyncio.to_thread(insert_replacement, recovery.db, recovery.actor, ibm.id, 1)  # the other's unit of work
        await ask_hours(spec)

    recovery._refusals._ask_hours = the_other_process_re_places_it_meanwhile

    result = await recovery.run_once(now=_later())

    assert result.replaced == ()
    [skipped] = result.skipped
    assert skipped.reason == "already re-placed", skipped.reason
    assert [p["reason"] for p in _audit(stack.db, "order.recovery_refused")] == ["already re-placed"]
