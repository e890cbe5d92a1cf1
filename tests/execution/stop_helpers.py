"""What the halt, Cancel All and recovery tests read back: a recovery of the test's stack, a run's
orders, the closing messages of an order, the audit entries of an action (one copy for the
test files that had each their own)."""

from __future__ import annotations

from sqlalchemy import select

from services.db.models import AuditLog, OrderEvent, TradeOrder
from services.domain import OrderState
from services.execution.recovery import AutoRecovery


def recovery_of(stack) -> AutoRecovery:
    return AutoRecovery(stack.db, stack.provider, stack.writer, stack.reconciler, stack.service.leases, actor="tester",
                        busy_runs=stack.service.executing_runs)


def run_orders(db, run_id: int) -> list[TradeOrder]:
    with db.session() as session:
        rows = list(session.scalars(select(TradeOrder).where(TradeOrder.run_id == run_id).order_by(TradeOrder.id)))
        session.expunge_all()
        return rows


def closing_messages(db, order_id: int) -> list[str]:
    with db.session() as session:
        return [e.message or "" for e in session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.to_state == OrderState.CANCELED))]


def audits(db, action: str) -> list[dict]:
    with db.session() as session:
        return [row.payload for row in session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))]


def run_statuses(db, run_id: int) -> dict[str, OrderState]:
    """Each of the run's orders, by client order id: its state."""
    with db.session() as session:
        return {c: OrderState(s) for c, s in session.execute(
            select(TradeOrder.client_order_id, TradeOrder.status).where(TradeOrder.run_id == run_id))}


async def ended_canceled(sim, stack, db, run_id: int, sent) -> None:
    """The run's orders ``sent`` no longer work at the broker, and every order of the run is
    recorded CANCELED (the writer flushed first)."""
    from tests.fixtures.waiting import wait_until

    await wait_until(lambda: not [o for o in sim.open_orders() if o.order_ref in sent], 10,
                     lambda: f"orders of the run still working after Cancel All: "
                             f"{sorted(o.order_ref for o in sim.open_orders())}")
    await stack.writer.flush()
    await wait_until(lambda: set(run_statuses(db, run_id).values()) == {OrderState.CANCELED}, 10,
                     lambda: f"the run's orders recorded canceled: {run_statuses(db, run_id)}")
