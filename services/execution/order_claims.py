"""The order claims outside a lease holder's own sending: who placed an order and whether that
process lives, the run lease a claim was made under, and the conditional updates that give
claimed orders back (NEW) or cancel them when they never reached the broker.

A claim (``claimed_by``: ``<lease token>/<claim id>``) is made by ``LeaseManager.claim_many``
(services.execution.lease) under a held lease; these functions are also what reconciliation,
recovery and a Cancel All use on the claims of another process (possibly dead), with no lease of
their own, so they stand apart from the lease. Each update names the very claim it undoes: a
newer claim or a broker event wins.
"""

from __future__ import annotations

from sqlalchemy import select, update

from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import OrderEvent as OrderEventRow
from services.db.models import TradeOrder
from services.db.types import utcnow
from services.domain import EventSource, OrderState

from .process_identity import holder_alive, process_key


def placed_by(client_id: int | None) -> dict:
    """Who placed an order, for the payload of its ``submitted`` event: the broker client id
    (IB lets only that client cancel or modify it) and this process's key. The run's lease is
    released as soon as the sending ends, often before the broker acknowledged the orders, so
    the lease cannot tell another process whether the placer still lives; the key can
    (``placer_alive``)."""
    return {"clientId": client_id, "process": process_key()}


def placer_alive(process: str | None) -> bool | None:
    """Whether the process that placed an order lives: True / False on this machine, None when
    that cannot be told here (another machine or container, or no key recorded)."""
    return holder_alive(process) if process else None


def lease_token(claimed_by: str | None) -> str | None:
    """The run lease a claim was made under (``claimed_by`` is ``<lease token>/<claim id>``)."""
    return claimed_by.split("/", 1)[0] if claimed_by else None


@retry_lock_conflicts  # one unit of work of conditional updates
def release_claims(db, claims: list[tuple[str, str | None]], reason: str, source: EventSource = EventSource.RECONCILE) -> list[str]:
    """Each (client_order_id, claim id): back to NEW if it is still SENDING under that very
    claim and has no broker id (a conditional update: a newer claim or a broker event wins)."""
    done: list[str] = []
    now = utcnow()
    with db.unit_of_work() as session:
        for client_order_id, token in claims:
            changed = session.execute(
                update(TradeOrder)
                .where(TradeOrder.client_order_id == client_order_id, TradeOrder.status == OrderState.SENDING,
                       TradeOrder.claimed_by == token, TradeOrder.ib_order_id.is_(None), TradeOrder.ib_perm_id.is_(None))
                .values(status=OrderState.NEW, claimed_by=None, claimed_at=None)
                .execution_options(synchronize_session=False)).rowcount == 1
            if changed:
                order_id = session.scalar(select(TradeOrder.id).where(TradeOrder.client_order_id == client_order_id))
                session.add(OrderEventRow(order_id=order_id, source=EventSource(source), event_type="not_sent",
                                          from_state=OrderState.SENDING, to_state=OrderState.NEW, message=reason,
                                          payload={"claim": token}, time=now))
                done.append(client_order_id)
    return done


# a claim a Cancel All found: its sender had claimed it (SENDING), or the Cancel All's global
# cancel wrote CANCEL_REQUESTED over that claim before its sender let it go
_CANCELABLE_CLAIM = (OrderState.SENDING, OrderState.CANCEL_REQUESTED)


@retry_lock_conflicts  # one unit of work of conditional updates
def cancel_claims(db, claims: list[tuple[str, str]], reason: str) -> list[str]:
    """Each (client_order_id, claim id) of a sender a Cancel All stopped: CANCELED if it is
    still under that very claim and was never written (no broker id: the sender refused its
    placeOrder). Not given back NEW: the Cancel All leaves the claims of a sender that did not
    stop within its wait to that sender, and has listed what to cancel before it lets them go.
    One still NEW afterwards (its sender died holding it, or let it go for another reason, and
    reconciliation or the sender gave it back) is closed by the first recovery pass or execute of
    its run that finds it (services.execution.halt_unsent.close_stopped), never sent."""
    done: list[str] = []
    now = utcnow()
    with db.unit_of_work() as session:
        for client_order_id, token in claims:
            row = session.execute(select(TradeOrder.id, TradeOrder.status).where(
                TradeOrder.client_order_id == client_order_id, TradeOrder.status.in_(_CANCELABLE_CLAIM),
                TradeOrder.claimed_by == token, TradeOrder.ib_order_id.is_(None), TradeOrder.ib_perm_id.is_(None))).first()
            if row is None:
                continue
            changed = session.execute(
                update(TradeOrder)
                .where(TradeOrder.id == row.id, TradeOrder.status == row.status, TradeOrder.claimed_by == token,
                       TradeOrder.ib_order_id.is_(None), TradeOrder.ib_perm_id.is_(None))
                .values(status=OrderState.CANCELED, claimed_by=None, claimed_at=None, last_status_time=now)
                .execution_options(synchronize_session=False)).rowcount == 1
            if changed:
                session.add(OrderEventRow(order_id=row.id, source=EventSource.SYSTEM, event_type="canceled_unsent",
                                          from_state=OrderState(row.status), to_state=OrderState.CANCELED, message=reason,
                                          payload={"claim": token}, time=now))
                done.append(client_order_id)
    return done
