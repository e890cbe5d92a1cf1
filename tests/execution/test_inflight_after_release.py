"""A placeOrder that IB's error 100 dropped is sent again by the provider's in-flight recovery
(services/execution/paced.py) only under the run's lease that sent it: once that lease is
released (the end of a run's sending), another process may hold the run, reconcile it and close
the dropped order as never received; a late resend would then put at the broker an order the
database says was canceled (and recovery could re-place it: the same intent twice)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import TradeOrder
from services.db.repositories import SettingsRepository
from services.domain import OrderState, TradeMode
from services.execution.errors import LeaseExpired
from services.execution.lease import LEASE_RELEASED, LeaseManager
from tests.fixtures.waiting import wait_until

from .conftest import build_stack, make_snapshot
from .pacing_helpers import synthetic_symbols
from .test_lease import _run_with_orders

pytestmark = pytest.mark.timeout(120)

ORDERS = 30


async def test_nothing_is_written_under_a_released_lease(database):
    run_id, _ = _run_with_orders(database, 1)
    leases = LeaseManager(database)
    async with leases.hold(run_id) as lease:
        leases.check_sendable(lease)  # held: sendable
    with pytest.raises(LeaseExpired) as refused:
        leases.check_sendable(lease)  # released: another process may hold the run now
    assert str(refused.value) == LEASE_RELEASED


@pytest.mark.slow  # two stacks, IB's error 100 and its settle time
async def test_an_order_dropped_by_error_100_is_not_sent_again_once_another_process_holds_the_run(
        database, make_simulator, ib_log_guard):
    ib_log_guard.allow(r"Error 100, reqId")
    sim = await make_simulator(synthetic_symbols=ORDERS, state_file=None, ledger_file=None)
    first = await build_stack(database, sim, client_id=1, grace=0.3, pacing_settle=2.0)
    second = await build_stack(database, sim, client_id=2, grace=0.3)
    try:
        with database.unit_of_work() as session:
            SettingsRepository(session).set_risk_defaults({"max_orders_per_run": 1000, "max_daily_orders": 100_000})
        symbols = synthetic_symbols(ORDERS)
        _, snapshot_id = make_snapshot(database, "dropped", {s: "0.02" for s in symbols})
        run = await first.service.create_run("dropped", snapshot_id, TradeMode.PAPER, {})
        store = first.service._insert_orders

        def stored_then_strict(run_id, plan):
            # the plan's orders stored: from here on IB drops what comes faster than 10 a second
            requests = store(run_id, plan)
            sim.faults.pacing_limit = 10
            return requests

        first.service._insert_orders = stored_then_strict
        sim.restart_pacing_windows()
        result = await first.service.execute(run.id, portfolio_value=Decimal(1_000_000))
        sim.faults.pacing_limit = 50
        assert len(result.sent) == ORDERS
        # the run's lease is released; some placeOrders are still unanswered (dropped)
        assert first.provider.pacing_violations >= 1 and len(first.provider.inflight) >= 1, "no order was dropped"
        async with second.service.hold_run(run.id):  # another process takes the run at once
            seen = max(o.perm_id for o in sim.orders())
            resumed = await second.service.execute(run.id)  # reconciled: the dropped ones are closed
            assert resumed.sent == ()
            await wait_until(lambda: len(first.provider.inflight) == 0, 30, "the first process's in-flight orders settled")
            late = [o.order_ref for o in sim.orders() if o.perm_id > seen and o.client_id == 1]
            assert late == [], "placeOrders written by a process whose run lease was released"
        await first.writer.flush()
        await second.writer.flush()
        refs = Counter(o.order_ref for o in sim.orders())
        assert [r for r, n in refs.items() if n > 1] == []
        with database.session() as session:
            rows = session.execute(select(TradeOrder.client_order_id, TradeOrder.status)).all()
        # each order either reached the broker or is closed as never received: none lost, and
        # none at the broker that the database calls canceled
        assert {OrderState(s) for _, s in rows} <= {OrderState.FILLED, OrderState.CANCELED}
        assert [c for c, s in rows if OrderState(s) is OrderState.CANCELED and c in refs] == []
        assert {c for c, s in rows if OrderState(s) is OrderState.FILLED} == set(refs)
    finally:
        await first.close()
        await second.close()
