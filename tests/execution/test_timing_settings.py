"""The run lease's time to live and the writer's wait are settings (``[execution] lease_ttl`` /
``TC_LEASE_TTL``, ``write_timeout`` / ``TC_WRITE_TIMEOUT``): a stack built from the settings, the
one way the window and every command get theirs, takes its leases for that long and waits that
long for its writer (the validation of the values: tests/foundation/test_settings.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from app.composition import assemble_stack
from app.settings import load_settings
from services.db.models import RunLease
from services.db.repositories import OrderRepository
from services.domain import OrderState, Side
from services.execution.errors import DatabaseLockHeld
from services.execution.events import OrderStatusEvent

from .test_lease import _run_with_orders

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)  # the lease row's times: the same on both
async def test_a_stack_built_with_a_lease_ttl_takes_and_renews_its_leases_for_that_long(database, db_url, monkeypatch):
    monkeypatch.setenv("TC_DB_URL", db_url)
    monkeypatch.setenv("TC_LEASE_TTL", "5")
    stack = await assemble_stack(load_settings(None), demo=False)
    try:
        run_id, _ = _run_with_orders(database, 1)
        leases = stack.engine.leases
        lease = leases.try_acquire(run_id)
        with database.session() as session:
            row = session.get(RunLease, run_id)
            assert row is not None and row.expires_at - row.acquired_at == timedelta(seconds=5)
        assert leases.renew(lease)
        with database.session() as session:
            row = session.get(RunLease, run_id)
            assert row is not None and row.expires_at - row.heartbeat_at == timedelta(seconds=5)
        # what derives from the time to live follows it: the heartbeat's period (a third), the
        # lease left a claim needs (a third) and a placeOrder needs (a sixth, the clock limit's double)
        assert (lease.ttl, leases.claim_margin, leases.send_margin) == (5, 5 / 3, 5 / 6)
        leases.release(lease)
    finally:
        await stack.close()


@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)  # row locks another connection holds
@pytest.mark.parametrize("waits", ["an action", "the stop"])
async def test_a_stack_built_with_a_write_timeout_waits_that_long_for_its_writer_then_says_why(
        database, db_url, monkeypatch, caplog, isolated_user_dirs, waits):
    """An action's wait for the writer (a flush) and the stop's (the setting's too when shorter
    than 10 s) last ``write_timeout``. Once a flush has said the locks are held, the stop does not
    wait for them again: each wait is seen on a stack of its own."""
    with database.unit_of_work() as session:
        OrderRepository(session).create("W-1", "AAPL", Side.BUY, Decimal(10), status=OrderState.ACCEPTED, account="DU1")
    monkeypatch.setenv("TC_DB_URL", db_url)
    monkeypatch.setenv("TC_WRITE_TIMEOUT", "1")
    stack = await assemble_stack(load_settings(None), demo=False)
    stack.writer.start()
    locker = database.engine.connect()
    try:
        locker.exec_driver_sql("BEGIN")
        locker.exec_driver_sql("SELECT id FROM trade_orders WHERE client_order_id = 'W-1' FOR UPDATE").all()
        stack.writer.submit(OrderStatusEvent(7, 5001, 1, "Filled", Decimal(10), Decimal(0), Decimal(99), Decimal(99),
                                             order_ref="W-1"))
        if waits == "an action":
            with pytest.raises(DatabaseLockHeld, match=r"waiting 1 s on rows another connection keeps locked"):
                await stack.writer.flush()  # the setting's, not the default 30 s
        else:
            with caplog.at_level(logging.WARNING, logger="services.execution.writer.queue"):
                await stack.close()
            assert "waiting 1 s on rows another connection keeps locked" in caplog.text, caplog.text
        await stack.close()
        assert (isolated_user_dirs / "data" / "writer-journal.jsonl").read_text().strip(), "the event kept in the journal"
    finally:
        locker.rollback()
        locker.close()
        await stack.close()
