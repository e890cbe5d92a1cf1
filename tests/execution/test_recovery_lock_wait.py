"""A recovery pass that meets a row another connection keeps locked (another console's writer
frozen in its transaction) waits it out instead of failing the whole pass (SQLite and MariaDB,
the simulator over a real socket).

Before, the pass's record of its cancel (an order event and an audit entry) gave up after the
lock wait (MariaDB's 1205, SQLite's "database is locked") and ``run_once`` raised: the lost order
stayed canceled and never re-placed until a later pass. Each of the pass's units of work that
only writes the database now runs again from scratch, and writes what it should once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import TradeOrder
from services.db.repositories import OrderRepository
from services.domain import OrderState, Side
from tests.fixtures.locks import FrozenWriter, outlast, outlast_blocking, short_lock_waits

from .conftest import make_snapshot
from .test_auto_recovery import (
    _audit,
    _later,
    _orders,
    _recovery,
    _recovery_events,
    _run_with_ibm_lost,
    _settings,
)

pytestmark = pytest.mark.timeout(90)
LOCK_WAIT_S = 1


async def test_a_recovery_pass_waits_out_a_frozen_writers_locks_and_records_each_step_once(stack, ib_log_guard, caplog):
    _settings(stack.db)
    run_id, ibm = await _run_with_ibm_lost(stack, ib_log_guard, "frozen")
    short_lock_waits(stack.db, LOCK_WAIT_S)
    frozen = FrozenWriter(stack.db.url, orders=[ibm.id], runs=[run_id])
    try:
        result = await outlast(frozen, _recovery(stack).run_once(now=_later()), caplog)
    finally:
        frozen.close()

    assert result.canceled == (ibm.client_order_id,) and result.skipped == ()
    [replaced] = result.replaced
    assert await stack.service.wait_done(run_id, 10) == []
    await stack.writer.flush()
    dead, new = _orders(stack.db, "IBM")
    assert (new.client_order_id, new.replaces_order_id, new.retry_count) == (replaced.replacement, dead.id, 1)
    # every step recorded once, none twice for the attempts the lock cost
    kinds = [kind for kind, _ in _recovery_events(stack.db, dead.id)]
    assert [k for k in kinds if k.startswith("recovery_")] == ["recovery_cancel", "recovery_replace"]
    assert len(_audit(stack.db, "order.recovery_cancel")) == 1
    assert len(_audit(stack.db, "order.recovery_replace")) == 1
    assert len(_audit(stack.db, "order.recovery_replacement")) == 1
    assert _audit(stack.db, "test.frozen_writer") == []  # the frozen transaction left nothing
    assert {e.order_ref for e in stack.sim.executions() if e.symbol == "IBM"} == {new.client_order_id}


def test_a_replacement_stored_while_a_frozen_writer_holds_its_run_is_stored_once(database, caplog):
    """The replacement is stored (its own unit of work, before anything is sent) while another
    connection holds the run's row (its foreign key waits for it) and the audit chain's head."""
    from services.execution.recovery_writes import insert_replacement

    from .test_lock_conflicts import _create, _service

    project_id, snapshot_id = make_snapshot(database, "frozen-run", {"AAPL": "0.5"})
    run = _create(_service(database), "frozen-run", snapshot_id)
    with database.unit_of_work() as session:
        dead = OrderRepository(session).create("dead-1", "AAPL", Side.BUY, Decimal(10), run_id=run.id, project_id=project_id,
                                               status=OrderState.CANCELED, ib_order_id=7)
    short_lock_waits(database, LOCK_WAIT_S)
    frozen = FrozenWriter(database.url, runs=[run.id])
    try:
        assert outlast_blocking(frozen, lambda: insert_replacement(database, "tester", dead.id, 1), caplog) == ("dead-1-A1", True)
    finally:
        frozen.close()
    with database.session() as session:
        rows = list(session.scalars(select(TradeOrder).where(TradeOrder.replaces_order_id == dead.id)))
        assert [(r.client_order_id, r.retry_count, r.status) for r in rows] == [("dead-1-A1", 1, OrderState.NEW)]
    assert [p["replaces"] for p in _audit(database, "order.recovery_replacement")] == ["dead-1"]
