"""An order's state as the writer moves it: every event goes through the state machine
(``services.core.order_state``) and is recorded in ``order_events`` with the broker's raw payload.
The machine's hidden fields (what executions and statuses each said was filled, the state before
a replace...) are kept in the order's ``params["sm"]``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam

from services.core.order_state import OrderEvent as SmEvent
from services.core.order_state import OrderStatus as SmStatus
from services.core.order_state import Outcome, apply_event
from services.db.models import TradeOrder
from services.db.repositories.base import execute_many
from services.db.repositories.orders import OrderEventRepository
from services.domain import EventSource, OrderState

from .batch import OrderRow

log = logging.getLogger(__name__)


def now_utc() -> datetime:
    return datetime.now(UTC)


def decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def sm_status(order: OrderRow) -> SmStatus:
    """Rebuild the state machine's view of a stored order (its hidden fields live in params).
    Kept on the row (``sm_memo``) until its params, status or quantity is replaced: a batch
    runs several events of one order through the machine (a fill, its status, ...)."""
    memo = order.sm_memo
    if memo is not None and memo[0] is order.params and memo[1] is order.status and memo[2] is order.quantity:
        return memo[3]
    sm = (order.params or {}).get("sm", {})
    before = sm.get("before_replace")
    pending = sm.get("pending_quantity")
    status = SmStatus(
        state=OrderState(order.status),
        quantity=Decimal(order.quantity),
        exec_filled=Decimal(sm.get("exec_filled", "0")),
        status_filled=Decimal(sm.get("status_filled", "0")),
        before_replace=OrderState(before) if before else None,
        pending_quantity=Decimal(pending) if pending is not None else None,
        reject_reason=sm.get("reject_reason"),
    )
    order.sm_memo = (order.params, order.status, order.quantity, status)
    return status


def store_sm(order: OrderRow, st: SmStatus) -> None:
    params = dict(order.params or {})
    params["sm"] = {
        "exec_filled": str(st.exec_filled),
        "status_filled": str(st.status_filled),
        "before_replace": st.before_replace.value if st.before_replace else None,
        "pending_quantity": decimal_text(st.pending_quantity),
        "reject_reason": st.reject_reason,
    }
    order.params = params
    # what sm_status would read back from these params, when the row's status and quantity are st's
    fits = st.state is order.status and st.quantity is order.quantity
    order.sm_memo = (params, order.status, order.quantity, st) if fits else None


def apply_to_order(
    session,
    order: OrderRow,
    event: SmEvent,
    *,
    source: EventSource,
    event_type: str,
    payload: dict | None,
    when: datetime | None = None,
    note: str = "",
) -> bool:
    """Run one event through the state machine and record it in ``order_events``.
    Returns whether the order changed. ``note``: why the event came, said before the state
    machine's words in the event's message (a reconciliation's: "IB does not know this order
    after a targeted query: closed as never received, not resent (Cancelled: canceled)")."""
    before = sm_status(order)
    transition = apply_event(before, event)
    if transition.outcome is Outcome.INTERNAL_ERROR:
        # a bug, not a broker fact: recorded on the order (flagged) and logged with its context
        log.error("order state machine failed on order %s (%s, %s) for %s event %r: %s\n%s", order.id,
                  order.client_order_id, before.state, event_type, event, transition.reason, transition.traceback)
        add_order_event(session, order.id, source=source, event_type="internal_error", from_state=before.state,
                        to_state=before.state, flagged=True, message=f"{event_type} event {event!r}: {transition.reason}",
                        payload=payload, time=when or now_utc())
        return False
    after = transition.after
    changed = transition.changed
    when = when or now_utc()
    if changed:
        order.status = after.state
        order.quantity = after.quantity
        order.filled_quantity = after.filled
        if after.reject_reason and after.state is OrderState.REJECTED and not order.rejected_reason:
            order.rejected_reason = after.reject_reason
        order.last_status_time = when
        store_sm(order, after)
    # every state change, every flagged event and every error; a fill that only moves the filled
    # quantity is recorded in trade_fills (with its raw payload), not a second time here
    state_changed = before.state is not after.state
    if state_changed or transition.outcome is Outcome.FLAGGED or event_type == "error" or (
            event_type != "fill" and (changed or transition.outcome is not Outcome.IGNORED)):
        add_order_event(session, order.id, source=source, event_type=event_type, from_state=before.state,
                        to_state=after.state, flagged=transition.outcome is Outcome.FLAGGED,
                        message=_noted(note, transition.reason), payload=payload, time=when)
    return changed


_ORDERS = cast(Table, TradeOrder.__table__)
# the SET clause is the parameters' columns (one statement per set of changed columns)
_UPDATE_ORDER = _ORDERS.update().where(_ORDERS.c.id == bindparam("order_id"))


def write_orders(session, orders: Iterable[OrderRow]) -> None:
    """Store what changed in ``orders`` (with their ``updated_at``): one executemany UPDATE per
    set of changed columns, only the changed columns (a concurrent change of another column
    is kept, as with the ORM's flush), through the driver (``execute_many``)."""
    now = now_utc()
    updates: dict[tuple[str, ...], list[tuple]] = {}
    for order in sorted(orders, key=lambda o: o.id):
        changes = order.changes()
        if not changes:
            continue
        order.updated_at = changes["updated_at"] = now
        order.stored.update(changes)
        names = tuple(sorted(changes))
        updates.setdefault(names, []).append((order.id, *(changes[name] for name in names)))
    for names, rows in updates.items():
        execute_many(session, _UPDATE_ORDER, ("order_id", *names), rows)


_PENDING_EVENTS = "tc_pending_order_events"  # session.info key: the order events not inserted yet


def add_order_event(session, order_id: int, *, source: EventSource, event_type: str, from_state=None, to_state=None,
                    flagged: bool = False, message: str | None = None, payload: dict | None = None, time: datetime | None = None) -> None:
    """Append to ``order_events``: kept in the session until ``insert_order_events`` puts the
    batch's events in with one executemany (as ORM objects, SQLite inserted them one statement
    with RETURNING each: a third of a backtest's statements)."""
    # a row of EVENT_COLUMNS
    session.info.setdefault(_PENDING_EVENTS, []).append(
        (order_id, EventSource(source), event_type, from_state, to_state, flagged, message, payload, time or now_utc()))


def insert_order_events(session) -> int:
    """Insert the order events ``add_order_event`` kept in this session, in the order they were
    added (their ids follow it); returns how many."""
    rows = session.info.pop(_PENDING_EVENTS, None)
    if rows:
        OrderEventRepository(session).insert_rows(rows)
    return len(rows or ())


def _noted(note: str, reason: str | None) -> str | None:
    if not note:
        return reason
    return f"{note} ({reason})" if reason else note
