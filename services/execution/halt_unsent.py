"""What a halt or a Cancel All does to the orders of runs that were not sent yet: closes them, for good.

The rule (README "Halt" and "Cancel All", docs/plans.md): nothing reaches the broker that the
trader did not confirm for the market as it is, and nothing goes out after the trader canceled
everything. A run's order that a halt or a Cancel All stopped before it went out is never sent
automatically afterwards (by auto-recovery, possibly hours later, with no fresh price check), nor
by executing the stopped run again: it is CANCELED, never sent, with the halt or the Cancel All as
its reason, and the trader sends it again only by previewing and executing again, which prices it
anew and goes through the plan's age and price checks. Orders already at the broker when the halt
came are left as the halt leaves them (working; ``halt --cancel-all`` cancels them); a Cancel All
cancels them at the broker.

It is closed wherever the stop is seen first, so that no timing decides its fate:

* by the halt itself, in the transaction that sets HALTED (``cancel_unsent_of_runs``): every
  such order stored NEW and unclaimed; by the Cancel All itself, which cancels every unsent
  order of the accounts it acts on, the connected one or, IB's global cancel, every account of
  the login (services.execution.cancel_all);
* by the run's sender that the halt or the Cancel All stopped, for what it had claimed
  (``OrderSender._give_back``, ``OrderSender.send``);
* by the first recovery pass, or the first execute of the run, that finds one still NEW and stored
  at or before the last halt (``last_halt_at``) or the last Cancel All of its account (its marker,
  ``cancel_all_marks``: ``SettingsRepository.cancel_all_marks``, ``last_cancel_all_concerning``):
  ``close_stopped``. Such an order escaped the stop's own
  closing: a sender held it then and died holding it (SIGKILL, a lost database link, paused past
  its lease), and reconciliation gave it back NEW afterwards (a claim made after a Cancel All's
  marker by a sender that had not looked at it again yet), or the sender gave it back NEW for
  another reason (its lease ran out) once the stop had listed what to close.

One rule for both (``Stop``): only the event's words and payload, and the audit action, differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from services.audit_actions import AuditAction
from services.db.models import AuditLog as AuditLogRow
from services.db.models import OrderEvent as OrderEventRow
from services.db.models import TradeOrder
from services.db.repositories.settings import SettingsRepository, last_cancel_all_concerning
from services.db.scope import not_backtest
from services.domain import EventSource, OrderState

from .audit import audit, os_user

HALT_STOPPED = "trading HALTED"  # why a sender stopped at a halt (of this process or another)
CLOSED_BY_HALT = ("not sent: trading HALTED stopped its run before it went out; canceled, never sent "
                  "automatically after the resume: preview and execute again to send it")
CLOSED_BY_CANCEL_ALL = ("not sent: a Cancel All canceled everything not sent before it went out; canceled, never sent "
                        "automatically: preview and execute again to send it")
CANCELED_UNSENT = "canceled_unsent"  # the order event's type (as a Cancel All's closed claims)


@dataclass(frozen=True, slots=True, eq=False)  # two of them, each its own: told apart (and hashed) by identity
class Stop:
    """What stopped a run's unsent orders, as their closing says it: the closed order's event
    message and payload (``audit_closed`` names its audit action)."""

    reason: str
    payload: dict[str, Any]


HALT = Stop(CLOSED_BY_HALT, {"halted": True})
CANCEL_ALL_STOP = Stop(CLOSED_BY_CANCEL_ALL, {"cancel_all": True})

# an order a run's sender (a resumed run, recovery) would send: NEW, never at the broker, the
# plan's own or recovery's replacement (a trader's manual replace is the trader's to send)
_UNSENT_OF_A_RUN = (TradeOrder.run_id.is_not(None) & (TradeOrder.status == OrderState.NEW)
                    & TradeOrder.ib_order_id.is_(None) & TradeOrder.ib_perm_id.is_(None)
                    & (TradeOrder.replaces_order_id.is_(None) | (TradeOrder.retry_count > 0)))


def cancel_unsent_of_runs(session, stop: Stop = HALT, *, client_order_ids: list[str] | None = None) -> list[str]:
    """Every run's order never sent and not claimed (stored NEW: ``_UNSENT_OF_A_RUN``) of a real
    account, or only those of ``client_order_ids``: CANCELED in ``session``'s transaction, each
    with its event, ``stop`` named as its reason. A conditional update: one a sender claimed since
    it was read is left to that sender. Returns their client order ids."""
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
                                      from_state=OrderState.NEW, to_state=OrderState.CANCELED, message=stop.reason,
                                      payload=dict(stop.payload), time=now))
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


def stopped_by(created_at: datetime, halted_at: datetime | None, canceled_all_at: datetime | None) -> Stop | None:
    """What stopped a run's order still NEW and never sent that was stored at ``created_at``: the
    last halt, or the last Cancel All that concerns its account (``canceled_all_at``: its marker,
    ``last_cancel_all_concerning``), made at or after that moment, the halt first (as before the
    Cancel All's rule); None: neither came after it, it is the plan's to send. A halt stops every
    account's runs; a Cancel All acts on the account it was connected to, or IB's global cancel on
    every account of its login (one of unknown account: on every account's), and another
    account's unsent orders are left to that account's run, as the Cancel All said
    (``other_accounts``)."""
    if halted_at is not None and created_at <= halted_at:
        return HALT
    if canceled_all_at is not None and created_at <= canceled_all_at:
        return CANCEL_ALL_STOP
    return None


def close_stopped(session, *, run_id: int | None = None, client_order_ids: list[str] | None = None) -> dict[Stop, list[str]]:
    """Of a run's orders (or of those named), those still NEW, never sent, that were stored at or
    before the last halt or the last Cancel All of their account (``stopped_by``): CANCELED as
    that stop would have closed them. Returns their client order ids per stop (empty: nothing was
    stopped)."""
    halted_at = last_halt_at(session)
    marks = SettingsRepository(session).cancel_all_marks()
    latest = max((t for t in (halted_at, *marks.values()) if t is not None), default=None)
    if latest is None:
        return {}
    query = select(TradeOrder.client_order_id, TradeOrder.created_at, TradeOrder.account).where(
        _UNSENT_OF_A_RUN, TradeOrder.created_at <= latest)
    if run_id is not None:
        query = query.where(TradeOrder.run_id == run_id)
    if client_order_ids is not None:
        query = query.where(TradeOrder.client_order_id.in_(client_order_ids))
    per_stop: dict[Stop, list[str]] = {}
    for client_order_id, created_at, account in session.execute(query.order_by(TradeOrder.id)):
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        stop = stopped_by(created_at, halted_at, last_cancel_all_concerning(marks, account))
        if stop is not None:
            per_stop.setdefault(stop, []).append(client_order_id)
    closed = {stop: cancel_unsent_of_runs(session, stop, client_order_ids=ids) for stop, ids in per_stop.items()}
    return {stop: ids for stop, ids in closed.items() if ids}


def audit_closed(db, session, run_id: int | None, closed: list[str], *, stop: Stop = HALT, actor: str | None = None) -> None:
    """``stop``'s audit action (``run.unsent_closed_by_halt``, ``run.unsent_closed_by_cancel_all``)
    for what a stopped sender or an execute closed (nothing closed: nothing written), in
    ``session``'s transaction."""
    if closed:
        audit(db, actor or os_user(),
              AuditAction.RUN_UNSENT_CLOSED_BY_CANCEL_ALL if stop is CANCEL_ALL_STOP else AuditAction.RUN_UNSENT_CLOSED_BY_HALT,
              "trade_run", run_id,
              {"orders": closed, "reason": stop.reason}, session=session)
