"""What auto-recovery writes (services.execution.recovery.AutoRecovery): each decision, a dead
order's replacement, and the close of a run's order a halt or a Cancel All stopped.

Each is one unit of work of its own, run again alone after a lock conflict
(services.db.lock_conflicts), never the pass as a whole: the pass cancels and sends at the
broker between them, and a second cancel or placeOrder is not a retry.
``record_decision`` writes a decision to the audit log and to the order's events;
``insert_replacement`` stores the replacement NEW before anything is sent;
``close_stopped_order`` closes a stopped order as canceled, if it is still unsent.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from services.audit_actions import AuditAction, recovery_action
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import OrderEvent as OrderEventRow
from services.db.repositories import OrderRepository
from services.domain import EventSource, OrderState

from .audit import audit
from .halt_unsent import Stop, cancel_unsent_of_runs
from .recovery_outcomes import replacement_id


@retry_lock_conflicts  # one unit of work, written after the broker was asked: runs again alone
def record_decision(db, actor: str, client_order_id: str, decision: str, reason: str, extra: dict) -> None:
    """The decision in the audit log and on the order's events, in one transaction. A skip
    that repeats the order's last recovery decision word for word (the same passing reason,
    pass after pass: hours without a connection, a placer still alive) is not written again:
    one pass a minute wrote a row per stuck order to the append-only log every minute."""
    action = recovery_action(decision)  # an unknown decision fails here, before anything is written
    with db.unit_of_work() as session:
        row = OrderRepository(session).get_by_client_id(client_order_id)
        if row is None:
            return
        if decision == "skip" and _last_recovery_decision(session, row.id) == ("recovery_skip", row.status, reason[:2000]):
            return
        payload = {"client_order_id": client_order_id, "decision": decision, "reason": reason, **extra}
        session.add(OrderEventRow(order_id=row.id, source=EventSource.RECOVERY, event_type=f"recovery_{decision}",
                                  from_state=row.status, to_state=row.status, message=reason[:2000], payload=payload,
                                  time=datetime.now(UTC)))
        audit(db, actor, action, "trade_order", row.id, payload, session=session)


def _last_recovery_decision(session, order_id: int) -> tuple[str, OrderState | None, str | None] | None:
    """(event type, state, message) of the order's latest recovery event, None if it has none."""
    last = session.execute(
        select(OrderEventRow.event_type, OrderEventRow.to_state, OrderEventRow.message)
        .where(OrderEventRow.order_id == order_id, OrderEventRow.source == EventSource.RECOVERY)
        .order_by(OrderEventRow.id.desc()).limit(1)).first()
    return None if last is None else (last.event_type, last.to_state, last.message)


@retry_lock_conflicts  # one unit of work, stored before anything is sent: runs again from scratch
def insert_replacement(db, actor: str, order_id: int, retry: int) -> tuple[str, bool]:
    """The replacement stored NEW, linked to the dead order; its client order id is derived
    from the dead one's, so that a second process racing for it finds it taken."""
    with db.unit_of_work() as session:
        dead = OrderRepository(session).get(order_id)
        coid = replacement_id(dead.client_order_id, retry)
        params = {k: v for k, v in (dead.params or {}).items() if k in ("draft", "plan_id")}
        params["auto_recovery"] = {"replaces": dead.client_order_id, "retry": retry}
        row, created = OrderRepository(session).insert_once(
            coid, dead.symbol, dead.side, dead.quantity, order_type=dead.order_type, limit_price=dead.limit_price,
            tif=dead.tif, run_id=dead.run_id, project_id=dead.project_id, sec_type=dead.sec_type, exchange=dead.exchange,
            currency=dead.currency, primary_exchange=dead.primary_exchange, account=dead.account,
            replaces_order_id=dead.id, retry_count=retry, params=params)
        if created:
            audit(db, actor, AuditAction.ORDER_RECOVERY_REPLACEMENT, "trade_order", row.id,
                  {"client_order_id": coid, "replaces": dead.client_order_id, "replaces_order_id": dead.id, "retry": retry},
                  session=session)
        return coid, created


@retry_lock_conflicts  # one unit of work of conditional updates: runs again from scratch
def close_stopped_order(db, client_order_id: str, stop: Stop) -> list[str]:
    with db.unit_of_work() as session:
        return cancel_unsent_of_runs(session, stop, client_order_ids=[client_order_id])
