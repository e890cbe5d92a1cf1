"""A reconciliation that meets a lock another connection keeps (another console's writer frozen
in its transaction, holding orders of a run and the audit chain) waits it out instead of failing
the pass (SQLite and MariaDB, the simulator over a real socket).

Before, its audit entry gave up after the lock wait (MariaDB's 1205, SQLite's "database is
locked") and ``reconcile`` raised (``reconcile_with_retry`` retries only failed broker queries):
what it found was never audited, and a recovery pass looking an order up skipped it. The entry is
one unit of work of the database alone: it runs again, and is written once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import AuditLog
from services.db.repositories import OrderRepository, PositionRepository
from services.domain import Side
from tests.fixtures.locks import FrozenWriter, outlast, short_lock_waits

from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(60)
LOCK_WAIT_S = 1


def _reconcile_audits(db) -> list[dict]:
    with db.session() as session:
        return [row.payload for row in session.scalars(select(AuditLog).where(AuditLog.action == "reconcile").order_by(AuditLog.id))]


async def test_a_reconciliation_waits_out_a_frozen_writers_locks_and_audits_once(stack, caplog):
    project_id, _ = make_snapshot(stack.db, "frozen", {"MSFT": "0.5"})
    with stack.db.unit_of_work() as session:
        # a project's book holds 5 MSFT the broker does not: a mismatch the pass audits
        PositionRepository(session).upsert(stack.provider.account, "MSFT", Decimal(5), Decimal(300), project_id=project_id)
        order = OrderRepository(session).create("frozen-1", "MSFT", Side.BUY, Decimal(5), project_id=project_id,
                                                account=stack.provider.account)
    short_lock_waits(stack.db, LOCK_WAIT_S)
    frozen = FrozenWriter(stack.db.url, orders=[order.id])
    try:
        report = await outlast(frozen, stack.reconciler.reconcile(), caplog)
    finally:
        frozen.close()

    [mismatch] = report.book_mismatches
    assert mismatch["symbol"] == "MSFT"
    assert [a["book_mismatches"] for a in _reconcile_audits(stack.db)] == [report.book_mismatches]  # once
