"""What a halt does to the orders of runs that were not sent yet: closes them, for good.

The rule (README "Halt", docs/plans.md): nothing reaches the broker that the trader did not
confirm for the market as it is. A run's order that a halt stopped before it went out is never
sent automatically after the resume (by auto-recovery, possibly hours later, with no fresh price
check), nor by executing the halted run again: it is CANCELED, never sent, with the halt as its
reason, and the trader sends it again only by previewing and executing again, which prices it
anew and goes through the plan's age and price checks. Orders already at the broker when the
halt came are left as the halt leaves them (working; ``halt --cancel-all`` cancels them).

It is closed wherever the halt is seen first, so that no timing decides its fate:

* by the halt itself, in the transaction that sets HALTED (``cancel_unsent_of_runs``): every
  such order stored NEW and unclaimed;
* by the run's sender that the halt stopped, for what it had claimed (``OrderSender._give_back``);
* by the first recovery pass, or the first execute of the run, that finds one still NEW and stored
  at or before the last halt (``last_halt_at``): a sender that died holding its claim, given
  back NEW by reconciliation afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from services.audit_actions import AuditAction
from services.db.models import AuditLog as AuditLogRow
from services.db.models import OrderEvent as OrderEventRow
from services.db.models import TradeOrder
from services.db.scope import not_backtest
from services.domain import EventSource, OrderState

from .audit import audit, os_user

HALT_STOPPED = "trading HALTED"  # why a sender stopped at a halt (of this process or another)
CLOSED_BY_HALT = ("not sent: trading HALTED stopped its run before it went out; canceled, never sent "
                  "automatically after the resume: preview and execute again to send it")
CANCELED_UNSENT = "canceled_unsent"  # the order event's type (as a Cancel All's closed claims)

# an order a run's sender (a resumed run, recovery) would send: NEW, never at the broker, the
# plan's own or recovery's replacement (a trader's manual replace is the trader's to send)
_UNSENT_OF_A_RUN = (TradeOrder.run_id.is_not(None) & (TradeOrder.status == OrderState.NEW)
                    & TradeOrder.ib_order_id.is_(None) & TradeOrder.ib_perm_id.is_(None)
                    & (TradeOrder.replaces_order_id.is_(None) | (TradeOrder.retry_count > 0)))


def cancel_unsent_of_runs(session, reason: str = CLOSED_BY_HALT, *, client_order_ids: list[str] | None = None) -> list[str]:
    """Every run's order never sent and not claimed (stored NEW: ``_UNSENT_OF_A_RUN``) of a real
    account, or only those of ``client_order_ids``: CANCELED in ``session``'s transaction, each
    with its event. A conditional update: one a sender claimed since it was read is left to that
    sender. Returns their client order ids."""
    query = select(TradeOrder.id, TradeOrder.client_order_id).where(_UNSENT_OF_A_RUN, not_backtest(TradeOrder.account))
    if client_order_ids is None:
        found = session.execute(query.order_by(TradeOrder.id)).all()
    else:
        found = []
        for start in range(0, len(client_order_ids), 500):
            found.extend(session.execute(query.where(TradeOrder.client_order_id.in_(client_order_ids[start:start + 500]))).all())
    now = datetime.now(UTC)
    closed: list[str] = []
    for order_id, client_order_id in found:
        changed = session.execute(
            update(TradeOrder).where(TradeOrder.id == order_id, _UNSENT_OF_A_RUN)
            .values(status=OrderState.CANCELED, last_status_time=now)
            .execution_options(synchronize_session=False)).rowcount == 1
        if changed:
            session.add(OrderEventRow(order_id=order_id, source=EventSource.SYSTEM, event_type=CANCELED_UNSENT,
                                      from_state=OrderState.NEW, to_state=OrderState.CANCELED, message=reason,
                                      payload={"halted": True}, time=now))
            closed.append(client_order_id)
    return closed


def last_halt_at(session) -> datetime | None:
    """When trading was last set HALTED (the audit log's ``trading.halt``; None: never). An order
    of a run stored at or before it and still NEW escaped the halt's closing (its sender held
    it then): it was stopped by that halt all the same."""
    found = session.scalar(select(func.max(AuditLogRow.time)).where(AuditLogRow.action == AuditAction.TRADING_HALT.value))
    if found is not None and found.tzinfo is None:
        found = found.replace(tzinfo=UTC)
    return found


def close_stopped_by_halt(session, *, run_id: int | None = None, client_order_ids: list[str] | None = None) -> list[str]:
    """Of a run's orders (or of those named), those still NEW, never sent, that were stored at or
    before the last halt: CANCELED as the halt would have closed them. Returns their client order
    ids (none when trading was never halted)."""
    halted_at = last_halt_at(session)
    if halted_at is None:
        return []
    query = select(TradeOrder.client_order_id).where(_UNSENT_OF_A_RUN, TradeOrder.created_at <= halted_at)
    if run_id is not None:
        query = query.where(TradeOrder.run_id == run_id)
    if client_order_ids is not None:
        query = query.where(TradeOrder.client_order_id.in_(client_order_ids))
    stopped = list(session.scalars(query))
    return cancel_unsent_of_runs(session, client_order_ids=stopped) if stopped else []


def audit_closed(db, session, run_id: int | None, closed: list[str], *, actor: str | None = None) -> None:
    """``run.unsent_closed_by_halt`` for what a stopped sender or an execute closed (nothing closed:
    nothing written), in ``session``'s transaction."""
    if closed:
        audit(db, actor or os_user(), AuditAction.RUN_UNSENT_CLOSED_BY_HALT, "trade_run", run_id,
              {"orders": closed, "reason": CLOSED_BY_HALT}, session=session)
