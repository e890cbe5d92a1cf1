"""Order state machine: IB statuses, fills and our own events onto ``OrderState``.

A pure function, :func:`apply_event`, takes an order's :class:`OrderStatus` (state, quantity,
filled) and one :class:`OrderEvent` and returns a :class:`Transition`: the new status, whether
the event was ``applied``, ``ignored`` or ``flagged``, and why. It never raises: an illegal or
out-of-order event, or one that changes nothing, comes back ``ignored`` with the reason, and the execution layer records
every transition in ``order_events`` either way.

Invariants (property-tested):

* filled quantity never decreases and never exceeds the order quantity;
* terminal states (FILLED, CANCELED, REJECTED, BLOCKED, EXPIRED) absorb later status events;
  a fill that arrives after CANCELED (or REJECTED / EXPIRED: IB can still execute) is recorded
  (the filled quantity grows) and ``flagged`` for reconciliation, the state stays terminal;
* a replace the broker rejects rolls back to the state before REPLACE_REQUESTED (moved forward
  by any fill that arrived meanwhile).

Filled quantity has two sources: executions (fill events, deduplicated by execId upstream) and
the cumulative ``filled`` of IB's orderStatus. They overlap, so they are never added: the
machine keeps the sum of executions and the highest cumulative status value, and the filled
quantity is the larger of the two (capped at the order quantity).

SENDING sits between NEW and SUBMITTED: one sender claims a NEW order (one conditional update in
the database, never through this machine) right before ``placeOrder``; the broker's events move a
SENDING order on exactly as they move a SUBMITTED one. Back to NEW is again one conditional update
(services.execution.lease), when reconciliation proved that the broker never saw the order and
its sender is gone.


IB specifics (docs/ib-message-codes.md; codes are classified in ``services.core.ib_codes``, the
one table): an error code never decides a final state; information, warnings, connectivity and
data-farm notices (10349, 2104, ...) change nothing; a rejecting code (201, 110, 103, ...)
records the reject reason so that the "Cancelled" that follows becomes REJECTED; ``Inactive`` is
REJECTED (treated as final, to reconcile). A code that refuses a modification (105, 104, 201,
...) while a replace is pending rolls the replace back.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.core.ib_codes import is_warning, refuses_modify, rejects_order
from services.core.typed_numbers import plain
from services.domain import OrderState, RunStatus

ZERO = Decimal(0)
S = OrderState


class EventKind(StrEnum):
    SUBMITTED = "submitted"  # placeOrder called
    STATUS = "status"  # an IB orderStatus (status string, cumulative filled)
    FILL = "fill"  # one execution
    ERROR = "error"  # an IB error with this order's id
    CANCEL_REQUESTED = "cancel_requested"
    REPLACE_REQUESTED = "replace_requested"
    REPLACE_REJECTED = "replace_rejected"
    REPLACE_CONFIRMED = "replace_confirmed"
    RISK_BLOCKED = "risk_blocked"
    EXPIRED = "expired"
    ACK_TIMEOUT = "ack_timeout"  # no acknowledgement in time: cancel requested, reconcile


class Outcome(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    FLAGGED = "flagged"  # recorded but needs a human or reconciliation
    INTERNAL_ERROR = "internal_error"  # a bug in this module: the order is unchanged, the caller records and logs it


IB_STATUSES = (
    "PendingSubmit", "ApiPending", "PreSubmitted", "Submitted", "PendingCancel",
    "ApiCancelled", "Cancelled", "Filled", "Inactive",
)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    kind: EventKind
    status: str | None = None  # IB status string (STATUS)
    filled: Decimal | None = None  # cumulative filled (STATUS)
    quantity: Decimal | None = None  # execution size (FILL) or new order quantity (REPLACE_REQUESTED)
    code: int | None = None  # IB error code (ERROR)
    message: str = ""
    why_held: str = ""

    @classmethod
    def ib_status(cls, status: str, filled: Decimal | None = None, why_held: str = "") -> OrderEvent:
        return cls(EventKind.STATUS, status=status, filled=filled, why_held=why_held)

    @classmethod
    def fill(cls, quantity: Decimal) -> OrderEvent:
        return cls(EventKind.FILL, quantity=quantity)

    @classmethod
    def error(cls, code: int, message: str = "") -> OrderEvent:
        return cls(EventKind.ERROR, code=code, message=message)


@dataclass(frozen=True, slots=True)
class OrderStatus:
    state: OrderState
    quantity: Decimal
    exec_filled: Decimal = ZERO  # sum of executions
    status_filled: Decimal = ZERO  # highest cumulative filled seen in an orderStatus
    before_replace: OrderState | None = None
    pending_quantity: Decimal | None = None  # quantity asked for by a pending replace
    reject_reason: str | None = None

    @property
    def filled(self) -> Decimal:
        return min(self.quantity, max(self.exec_filled, self.status_filled))

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @classmethod
    def new(cls, quantity: Decimal) -> OrderStatus:
        return cls(S.NEW, Decimal(quantity))


_STATUS_FIELDS = frozenset(f.name for f in fields(OrderStatus))


def _with(st: OrderStatus, **changes: Any) -> OrderStatus:
    """``dataclasses.replace`` for an ``OrderStatus``, without its generic walk over the fields
    (which cost more than the rule that called it: every event of every order comes through here)."""
    if not changes.keys() <= _STATUS_FIELDS:
        raise TypeError(f"OrderStatus has no field {sorted(changes.keys() - _STATUS_FIELDS)}")
    get = changes.get
    return OrderStatus(get("state", st.state), get("quantity", st.quantity), get("exec_filled", st.exec_filled),
                       get("status_filled", st.status_filled), get("before_replace", st.before_replace),
                       get("pending_quantity", st.pending_quantity), get("reject_reason", st.reject_reason))


@dataclass(frozen=True, slots=True)
class Transition:
    before: OrderStatus
    after: OrderStatus
    event: OrderEvent
    outcome: Outcome
    reason: str
    traceback: str | None = None  # INTERNAL_ERROR only: where the state machine failed

    @property
    def state(self) -> OrderState:
        return self.after.state

    @property
    def filled(self) -> Decimal:
        return self.after.filled

    @property
    def changed(self) -> bool:
        return self.before != self.after


# SENDING: claimed for sending, placeOrder may or may not have left; the broker's events move it
# on exactly as they move a SUBMITTED order.
_RANK = {S.NEW: 0, S.SENDING: 1, S.SUBMITTED: 1, S.ACCEPTED: 2, S.PARTIALLY_FILLED: 3}


def _progress(status: OrderStatus, working: OrderState) -> OrderState:
    """The working state that matches the fill progress (never FILLED from here)."""
    if status.filled > 0 and working in (S.SENDING, S.SUBMITTED, S.ACCEPTED):
        return S.PARTIALLY_FILLED
    return working


def apply_event(status: OrderStatus, event: OrderEvent) -> Transition:
    """The next status of an order; never raises: one bad event must not stop the stream of the
    others. A bug here comes back as ``Outcome.INTERNAL_ERROR`` (order unchanged) with the message
    and traceback, which the caller records as an order event and logs with the order's id."""
    try:
        after, outcome, reason = _apply(status, event)
        if outcome is Outcome.APPLIED and after == status:
            outcome, reason = Outcome.IGNORED, f"{reason} (no change)"
    except Exception as exc:  # noqa: BLE001 - a bug in a rule becomes INTERNAL_ERROR, recorded by the caller
        return Transition(status, status, event, Outcome.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}",
                          traceback="".join(traceback.format_exception(exc)))
    return Transition(status, after, event, outcome, reason)


def apply_events(status: OrderStatus, events: Iterable[OrderEvent]) -> tuple[OrderStatus, list[Transition]]:
    transitions = []
    for event in events:
        t = apply_event(status, event)
        transitions.append(t)
        status = t.after
    return status, transitions


def _apply(st: OrderStatus, ev: OrderEvent) -> tuple[OrderStatus, Outcome, str]:
    A, I, F = Outcome.APPLIED, Outcome.IGNORED, Outcome.FLAGGED  # noqa: E741 - the rule table's short outcome names
    state = st.state
    kind = ev.kind

    if kind is EventKind.FILL:
        return _fill(st, ev)

    if kind is EventKind.STATUS:
        return _status(st, ev)

    if kind is EventKind.ERROR:
        code = ev.code
        if is_warning(code):
            return st, I, f"informational code {code}: no state change"
        if state is S.REPLACE_REQUESTED and refuses_modify(code):
            return _rollback(st), A, f"replace refused by the broker ({code}: {ev.message})"
        if state.is_terminal:
            return st, I, f"error {code} after {state}: absorbed"
        if rejects_order(code):
            return _with(st, reject_reason=f"{code}: {ev.message}".strip()), A, "reject reason recorded; the final state comes from IB's status"
        return st, I, f"error {code}: no state change (reconcile decides)"

    if state.is_terminal:
        return st, I, f"{kind} after terminal {state}: absorbed"

    if kind is EventKind.SUBMITTED:
        if state in (S.NEW, S.SENDING):
            return _with(st, state=S.SUBMITTED), A, "sent"
        return st, I, f"submitted again while {state}"

    if kind is EventKind.RISK_BLOCKED:
        if state is S.NEW:
            return _with(st, state=S.BLOCKED), A, ev.message or "blocked by risk"
        return st, I, f"risk block after the order was sent ({state})"

    if kind is EventKind.CANCEL_REQUESTED:
        if state is S.NEW:
            return _with(st, state=S.CANCELED), A, "canceled before it was sent"
        if state is S.CANCEL_REQUESTED:
            return st, I, "cancel already requested"
        return _with(st, state=S.CANCEL_REQUESTED, before_replace=None, pending_quantity=None), A, "cancel requested"

    if kind is EventKind.ACK_TIMEOUT:
        if state is S.SUBMITTED:
            return _with(st, state=S.CANCEL_REQUESTED), A, "no acknowledgement in time: cancel requested, reconcile before calling it dead"
        return st, I, f"acknowledgement timeout while {state}: already acknowledged"

    if kind is EventKind.EXPIRED:
        return _with(st, state=S.EXPIRED, before_replace=None, pending_quantity=None), A, ev.message or "expired"

    if kind is EventKind.REPLACE_REQUESTED:
        if state in (S.ACCEPTED, S.PARTIALLY_FILLED, S.SUBMITTED):  # never while SENDING: not at the broker yet
            new_qty = ev.quantity
            if new_qty is not None and new_qty < st.filled:
                return st, I, f"replace to {plain(new_qty)} below the filled {plain(st.filled)}"
            return _with(st, state=S.REPLACE_REQUESTED, before_replace=state, pending_quantity=new_qty), A, "replace requested"
        return st, I, f"cannot replace while {state}"

    if kind is EventKind.REPLACE_REJECTED:
        if state is S.REPLACE_REQUESTED:
            return _rollback(st), A, ev.message or "replace rejected"
        return st, I, f"replace rejected while {state}"

    if kind is EventKind.REPLACE_CONFIRMED:
        if state is not S.REPLACE_REQUESTED:
            return st, I, f"replace confirmed while {state}"
        quantity = st.pending_quantity if st.pending_quantity is not None else st.quantity
        if quantity < st.filled:
            return _rollback(st), F, f"replaced quantity {plain(quantity)} below the filled {plain(st.filled)}: kept the old quantity"
        confirmed = _with(st, quantity=quantity, before_replace=None, pending_quantity=None)
        if confirmed.filled >= quantity:
            return _with(confirmed, state=S.FILLED), A, "replaced; already filled"
        return _with(confirmed, state=_progress(confirmed, S.ACCEPTED)), A, "replace confirmed"

    return st, I, f"unknown event {kind!r}"


def _rollback(st: OrderStatus) -> OrderStatus:
    previous = st.before_replace or S.ACCEPTED
    back = _with(st, state=previous, before_replace=None, pending_quantity=None)
    if back.filled >= back.quantity:
        return _with(back, state=S.FILLED)
    return _with(back, state=_progress(back, previous))


def _fill(st: OrderStatus, ev: OrderEvent) -> tuple[OrderStatus, Outcome, str]:
    A, I, F = Outcome.APPLIED, Outcome.IGNORED, Outcome.FLAGGED  # noqa: E741 - the rule table's short outcome names
    size = ev.quantity
    if size is None or size <= 0:
        return st, I, f"fill of {size}: not a positive quantity"
    state = st.state
    if state is S.BLOCKED:
        return st, F, "fill for an order that was never sent (BLOCKED): not applied, reconcile"
    room = st.quantity - st.exec_filled
    if room <= 0:
        return st, F, f"overfill: {plain(size)} more than the order quantity {plain(st.quantity)}: not applied"
    take = min(size, room)
    filled_before = st.filled
    nxt = _with(st, exec_filled=st.exec_filled + take)
    note = "" if take == size else f"; overfill by {plain(size - take)} capped"
    if nxt.filled == filled_before:
        # IB's orderStatus often reports the fill before execDetails arrives
        return nxt, (F if note else A), f"execution already counted by IB's status{note}"
    if state.is_terminal:
        return nxt, F, f"late fill after {state}: recorded, state kept, reconcile{note}"
    if state is S.NEW:
        # A fill on an order we never marked sent: we crashed between placeOrder and the write.
        nxt = _with(nxt, state=S.FILLED if nxt.remaining <= 0 else S.PARTIALLY_FILLED)
        return nxt, F, f"fill before the order was marked sent{note}"
    if nxt.remaining <= 0:
        return _with(nxt, state=S.FILLED, before_replace=None, pending_quantity=None), (F if note else A), f"filled{note}"
    if state in (S.SENDING, S.SUBMITTED, S.ACCEPTED):
        nxt = _with(nxt, state=S.PARTIALLY_FILLED)
    return nxt, (F if note else A), f"partial fill {plain(nxt.filled)}/{plain(nxt.quantity)}{note}"


def _status(st: OrderStatus, ev: OrderEvent) -> tuple[OrderStatus, Outcome, str]:
    A, I, F = Outcome.APPLIED, Outcome.IGNORED, Outcome.FLAGGED  # noqa: E741 - the rule table's short outcome names
    name = ev.status or ""
    state = st.state
    if name not in IB_STATUSES:
        # ib_async's own "ValidationError" and anything unknown: never a state change
        return st, I, f"unknown status {name!r}"

    # Cumulative filled: monotone, capped.
    nxt = st
    notes = []
    if ev.filled is not None and ev.filled > st.status_filled:
        reported = ev.filled
        if reported > st.quantity:
            notes.append(f"reported filled {plain(reported)} above the quantity {plain(st.quantity)}: capped")
            reported = st.quantity
        nxt = _with(st, status_filled=reported)
    filled_changed = nxt.filled != st.filled

    if state.is_terminal:
        if filled_changed:
            return nxt, F, f"{name} after terminal {state} with more filled: recorded, reconcile"
        return st, I, f"{name} after terminal {state}: absorbed"

    outcome = F if notes else A
    prefix = ("; ".join(notes) + "; ") if notes else ""

    if name in ("PendingSubmit", "ApiPending"):
        if state in (S.NEW, S.SENDING):
            return _with(nxt, state=S.SUBMITTED), outcome, prefix + f"{name}: sent"
        return _keep(st, nxt, filled_changed, f"{name} while {state}: out of order", prefix)

    if name in ("PreSubmitted", "Submitted"):
        if state in (S.NEW, S.SENDING, S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED):
            target = S.PARTIALLY_FILLED if nxt.filled > 0 else S.ACCEPTED
            if _RANK[target] < _RANK[state]:
                return _keep(st, nxt, filled_changed, f"{name} while {state}: out of order", prefix)
            if nxt.filled >= nxt.quantity:
                return _with(nxt, state=S.FILLED), outcome, prefix + f"{name} with everything filled"
            return _with(nxt, state=target), outcome, prefix + f"{name}: working"
        # CANCEL_REQUESTED / REPLACE_REQUESTED: a status sent before our request was handled
        if nxt.filled >= nxt.quantity:
            return _with(nxt, state=S.FILLED, before_replace=None, pending_quantity=None), outcome, prefix + f"{name} with everything filled"
        return _keep(st, nxt, filled_changed, f"{name} while {state}: request still pending", prefix)

    if name == "PendingCancel":
        if state is S.CANCEL_REQUESTED:
            return _keep(st, nxt, filled_changed, "PendingCancel: cancel on its way", prefix)
        return _with(nxt, state=S.CANCEL_REQUESTED, before_replace=None, pending_quantity=None), outcome, prefix + "PendingCancel: cancel on its way"

    if name in ("ApiCancelled", "Cancelled"):
        if st.reject_reason:
            return _with(nxt, state=S.REJECTED, before_replace=None, pending_quantity=None), outcome, prefix + f"{name} after a reject: {st.reject_reason}"
        return _with(nxt, state=S.CANCELED, before_replace=None, pending_quantity=None), outcome, prefix + f"{name}: canceled"

    if name == "Filled":
        if ev.filled is None:
            nxt = _with(nxt, status_filled=nxt.quantity)
        if nxt.filled < nxt.quantity:
            return _with(nxt, state=S.FILLED, before_replace=None, pending_quantity=None), F, prefix + f"Filled with only {plain(nxt.filled)}/{plain(nxt.quantity)} filled"
        return _with(nxt, state=S.FILLED, before_replace=None, pending_quantity=None), outcome, prefix + "Filled"

    # Inactive: rejected, invalid or held (whyHeld=locate). Final for us; reconciliation may revive.
    why = ev.why_held or st.reject_reason or "inactive"
    return _with(nxt, state=S.REJECTED, before_replace=None, pending_quantity=None, reject_reason=st.reject_reason or f"Inactive: {why}"), F if ev.why_held else outcome, prefix + f"Inactive: rejected ({why}), reconcile"


def _keep(st: OrderStatus, nxt: OrderStatus, filled_changed: bool, reason: str, prefix: str) -> tuple[OrderStatus, Outcome, str]:
    if filled_changed:
        state = _progress(nxt, nxt.state) if nxt.state in (S.SENDING, S.SUBMITTED, S.ACCEPTED) else nxt.state
        return _with(nxt, state=state), Outcome.APPLIED, prefix + reason + "; filled quantity updated"
    return st, Outcome.IGNORED, prefix + reason


# ---------------------------------------------------------------------------------------------
# Run status


def run_status(orders: Iterable) -> RunStatus:
    """Roll a run's status up from its orders.

    Items are ``OrderState`` values, ``(state, filled_quantity)`` pairs, or objects with
    ``status`` (or ``state``) and ``filled_quantity`` (e.g. OrderRecord).

    * no orders, or all NEW: queued;  any BLOCKED: blocked (nothing may be sent);
    * anything not terminal: running;
    * all terminal: any REJECTED -> failed; all FILLED -> done; nothing filled at all
      (canceled / expired) -> canceled; otherwise partial.
    """
    states: list[OrderState] = []
    filled_any = False
    for item in orders:
        if isinstance(item, OrderState):
            state, filled = item, ZERO
        elif isinstance(item, tuple):
            state, filled = item
        else:
            state = getattr(item, "status", None) or item.state
            filled = getattr(item, "filled_quantity", None) or getattr(item, "filled", ZERO) or ZERO
        state = OrderState(state)
        states.append(state)
        if state is S.FILLED or (filled and filled > 0):
            filled_any = True
    if not states:
        return RunStatus.QUEUED
    if any(s is S.BLOCKED for s in states):
        return RunStatus.BLOCKED
    if all(s is S.NEW for s in states):
        return RunStatus.QUEUED
    if not all(s.is_terminal for s in states):
        return RunStatus.RUNNING
    if any(s is S.REJECTED for s in states):
        return RunStatus.FAILED
    if all(s is S.FILLED for s in states):
        return RunStatus.DONE
    if not filled_any:
        return RunStatus.CANCELED
    return RunStatus.PARTIAL
