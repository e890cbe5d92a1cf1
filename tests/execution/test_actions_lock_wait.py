"""The trader's order actions meet a lock another connection keeps (another console's writer
frozen in its transaction) and wait it out (SQLite and MariaDB, the simulator over a real socket).

Before, a cancel already at the broker raised the lock wait's error (MariaDB's 1205, SQLite's
"database is locked") from its audit entry, as if it had failed, and a halt was not stored at
all. Their database steps are units of work of their own, apart from what goes to the broker:
each runs again from scratch, and is written once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.audit import AuditLog
from services.db.repositories import SettingsRepository
from services.domain import OrderState, OrderType, Side, TradingState
from tests.fixtures.locks import FrozenWriter, outlast, short_lock_waits

from .test_actions import _settle

pytestmark = pytest.mark.timeout(60)
LOCK_WAIT_S = 1


async def test_a_cancel_while_a_frozen_writer_holds_the_order_goes_through_and_is_audited_once(stack, caplog):
    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"))
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    short_lock_waits(stack.db, LOCK_WAIT_S)
    frozen = FrozenWriter(stack.db.url, orders=[record.id])
    try:
        await outlast(frozen, stack.actions.cancel(record.id), caplog)
    finally:
        frozen.close()
    await _settle(stack, record.id, {OrderState.CANCELED})
    assert stack.sim.open_orders() == []
    entries = AuditLog(stack.db).list(entity_type="trade_order", entity_id=record.id)
    assert [e.action for e in entries] == ["order.manual", "order.cancel"]
    assert AuditLog(stack.db).verify().ok


async def test_a_halt_while_a_frozen_writer_holds_the_audit_chain_is_stored_and_audited_once(stack, caplog):
    short_lock_waits(stack.db, LOCK_WAIT_S)
    frozen = FrozenWriter(stack.db.url)
    try:
        assert (await outlast(frozen, stack.actions.halt(), caplog)).state is TradingState.HALTED
    finally:
        frozen.close()
    with stack.db.session() as session:
        assert SettingsRepository(session).trading_state() is TradingState.HALTED
    assert [e.payload["to"] for e in AuditLog(stack.db).list(entity_type="trade_settings") if e.action == "trading.halt"] == ["HALTED"]


async def test_a_halt_with_cancel_all_sends_the_cancel_without_waiting_out_a_frozen_writers_lock(stack):
    """A lock another connection keeps (a process stopped inside its transaction) made a halt's
    database step wait the server's lock wait timeout (50 s by default) three times over before
    its Cancel All even began: the orders stayed working at the broker for minutes. Now the
    cancel goes to the broker after ``lock_wait_limit``; the halt holds in the process meanwhile
    and is written once the lock is free (services/execution/unrecorded.py)."""
    from tests.fixtures.waiting import wait_until

    record = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"))
    await _settle(stack, record.id, {OrderState.ACCEPTED})
    short_lock_waits(stack.db, 30)  # the frozen writer outlasts the test's wait for the broker's cancel
    stack.actions.unrecorded.lock_wait_limit = 0.5
    frozen = FrozenWriter(stack.db.url)
    try:
        halted = await stack.actions.halt(cancel_all=True)
        assert "the halt is not recorded yet: the database kept a lock it needs" in halted.headline()
        assert halted.canceled is not None and halted.canceled.everything
        await wait_until(lambda: stack.sim.open_orders() == [], 15, lambda: f"the broker's cancel: {stack.sim.open_orders()}")
        assert stack.actions.unrecorded.halt_pending  # held while the lock is
    finally:
        frozen.close()
    assert await stack.actions.unrecorded.wait_written(60), f"still unrecorded: {stack.actions.unrecorded.waiting}"
    with stack.db.session() as session:
        assert SettingsRepository(session).trading_state() is TradingState.HALTED
    actions = [e.action for e in AuditLog(stack.db).list(entity_type="trade_settings")]
    assert sorted(actions) == ["trading.cancel_all", "trading.halt"]  # each once
    assert AuditLog(stack.db).verify().ok
    await _settle(stack, record.id, {OrderState.CANCELED}, timeout=30)
