from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.order_state import (
    IB_STATUSES,
    EventKind,
    OrderEvent,
    OrderStatus,
    Outcome,
    apply_event,
    apply_events,
    run_status,
)
from services.domain import OrderState as S
from services.domain import RunStatus

E = OrderEvent


def status(name, filled=None, why_held=""):
    return E.ib_status(name, None if filled is None else D(filled), why_held)


def run(events, quantity=100, start=S.NEW):
    st0 = OrderStatus(start, D(quantity))
    return apply_events(st0, events)


def trail(transitions):
    return [(t.after.state, t.after.filled, t.outcome) for t in transitions]


def test_happy_path_with_partial_fills():
    final, ts = run([E(EventKind.SUBMITTED), status("PendingSubmit"), status("PreSubmitted"), status("Submitted"),
                     E.fill(D(40)), status("Submitted", 40), E.fill(D(60)), status("Filled", 100)])
    assert trail(ts) == [
        (S.SUBMITTED, 0, Outcome.APPLIED),
        (S.SUBMITTED, 0, Outcome.IGNORED),  # PendingSubmit after we marked it sent
        (S.ACCEPTED, 0, Outcome.APPLIED),
        (S.ACCEPTED, 0, Outcome.IGNORED),  # Submitted after PreSubmitted: no change for us
        (S.PARTIALLY_FILLED, 40, Outcome.APPLIED),
        (S.PARTIALLY_FILLED, 40, Outcome.APPLIED),  # status_filled catches up (filled unchanged)
        (S.FILLED, 100, Outcome.APPLIED),
        (S.FILLED, 100, Outcome.IGNORED),  # terminal absorbs
    ]
    assert final.state is S.FILLED and final.filled == D(100)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PendingSubmit", S.SUBMITTED), ("ApiPending", S.SUBMITTED), ("PreSubmitted", S.ACCEPTED),
        ("Submitted", S.ACCEPTED), ("PendingCancel", S.CANCEL_REQUESTED), ("ApiCancelled", S.CANCELED),
        ("Cancelled", S.CANCELED), ("Filled", S.FILLED), ("Inactive", S.REJECTED),
    ],
)
def test_every_ib_status_from_submitted(name, expected):
    t = apply_event(OrderStatus(S.SUBMITTED, D(10)), status(name))
    assert t.state is expected
    assert name in IB_STATUSES


def test_status_and_executions_overlap_without_double_counting():
    # orderStatus reports the fill before execDetails arrives (the usual IB order)
    final, ts = run([E(EventKind.SUBMITTED), status("Submitted", 30), E.fill(D(30)), status("Filled", 100), E.fill(D(70))])
    assert trail(ts)[1:] == [
        (S.PARTIALLY_FILLED, 30, Outcome.APPLIED),
        (S.PARTIALLY_FILLED, 30, Outcome.APPLIED),
        (S.FILLED, 100, Outcome.APPLIED),
        (S.FILLED, 100, Outcome.APPLIED),  # the execution catches up with the status
    ]
    assert (final.exec_filled, final.status_filled) == (D(100), D(100))


def test_filled_never_decreases_and_overfills_are_capped_and_flagged():
    final, ts = run([E(EventKind.SUBMITTED), status("Submitted", 50), status("Submitted", 20), E.fill(D(80)), E.fill(D(30))])
    assert [t.after.filled for t in ts] == [0, 50, 50, 80, 100]
    assert ts[2].outcome is Outcome.IGNORED
    assert ts[4].outcome is Outcome.FLAGGED and ts[4].reason == "filled; overfill by 10 capped"
    assert final.state is S.FILLED
    t = apply_event(final, E.fill(D(1)))
    assert (t.outcome, t.after) == (Outcome.FLAGGED, final)


def test_late_fill_after_cancel_is_recorded_and_flagged():
    _final, ts = run([E(EventKind.SUBMITTED), status("Submitted"), E.fill(D(10)), E(EventKind.CANCEL_REQUESTED),
                     status("PendingCancel", 10), E.fill(D(5)), status("Cancelled", 15), E.fill(D(20)), status("Submitted", 40)])
    assert trail(ts)[3:] == [
        (S.CANCEL_REQUESTED, 10, Outcome.APPLIED),
        (S.CANCEL_REQUESTED, 10, Outcome.IGNORED),
        (S.CANCEL_REQUESTED, 15, Outcome.APPLIED),  # fills can still arrive while the cancel travels
        (S.CANCELED, 15, Outcome.APPLIED),
        (S.CANCELED, 35, Outcome.FLAGGED),  # late fill
        (S.CANCELED, 40, Outcome.FLAGGED),  # a status with more filled after terminal: recorded
    ]
    assert ts[7].reason == "late fill after CANCELED: recorded, state kept, reconcile"


def test_cancelled_after_a_201_reject_is_rejected_with_the_reason():
    final, ts = run([E(EventKind.SUBMITTED), E.error(201, "Order rejected - reason: no trading permissions"), status("Cancelled")])
    assert trail(ts) == [(S.SUBMITTED, 0, Outcome.APPLIED), (S.SUBMITTED, 0, Outcome.APPLIED), (S.REJECTED, 0, Outcome.APPLIED)]
    assert final.reject_reason == "201: Order rejected - reason: no trading permissions"


def test_informational_codes_never_cancel():
    st0 = OrderStatus(S.ACCEPTED, D(10))
    for code in (10349, 2104, 2158, 399):
        t = apply_event(st0, E.error(code, "informational"))
        assert (t.after, t.outcome) == (st0, Outcome.IGNORED)
    t = apply_event(st0, E.error(202, "Order Canceled"))
    assert (t.after.state, t.outcome) == (S.ACCEPTED, Outcome.IGNORED)  # only IB's status decides


def test_inactive_is_rejected_and_final():
    t = apply_event(OrderStatus(S.SUBMITTED, D(10)), status("Inactive", why_held="locate"))
    assert (t.state, t.outcome, t.after.reject_reason) == (S.REJECTED, Outcome.FLAGGED, "Inactive: locate")
    assert apply_event(t.after, status("Submitted")).outcome is Outcome.IGNORED


def test_replace_rejected_rolls_back_and_confirmed_applies_new_quantity():
    final, ts = run([E(EventKind.SUBMITTED), status("Submitted"), E(EventKind.REPLACE_REQUESTED, quantity=D(50)),
                     E(EventKind.REPLACE_REJECTED, message="no"), E(EventKind.REPLACE_REQUESTED, quantity=D(60)),
                     E.fill(D(10)), E(EventKind.REPLACE_CONFIRMED)])
    assert trail(ts)[2:] == [
        (S.REPLACE_REQUESTED, 0, Outcome.APPLIED),
        (S.ACCEPTED, 0, Outcome.APPLIED),
        (S.REPLACE_REQUESTED, 0, Outcome.APPLIED),
        (S.REPLACE_REQUESTED, 10, Outcome.APPLIED),
        (S.PARTIALLY_FILLED, 10, Outcome.APPLIED),
    ]
    assert final.quantity == D(60) and ts[3].after.quantity == D(100)


def test_broker_error_during_replace_rolls_back():
    st0 = OrderStatus(S.REPLACE_REQUESTED, D(10), exec_filled=D(4), before_replace=S.PARTIALLY_FILLED, pending_quantity=D(5))
    t = apply_event(st0, E.error(201, "modify rejected"))
    assert (t.state, t.after.quantity, t.after.reject_reason, t.outcome) == (S.PARTIALLY_FILLED, D(10), None, Outcome.APPLIED)


def test_own_events():
    new = OrderStatus.new(D(10))
    assert apply_event(new, E(EventKind.RISK_BLOCKED, message="max_order_notional")).state is S.BLOCKED
    assert apply_event(new, E(EventKind.CANCEL_REQUESTED)).state is S.CANCELED
    assert apply_event(new, E(EventKind.EXPIRED)).state is S.EXPIRED
    sub = OrderStatus(S.SUBMITTED, D(10))
    assert apply_event(sub, E(EventKind.ACK_TIMEOUT)).state is S.CANCEL_REQUESTED
    assert apply_event(OrderStatus(S.ACCEPTED, D(10)), E(EventKind.ACK_TIMEOUT)).outcome is Outcome.IGNORED
    assert apply_event(sub, E(EventKind.RISK_BLOCKED)).outcome is Outcome.IGNORED
    assert apply_event(OrderStatus(S.BLOCKED, D(10)), E.fill(D(1))).outcome is Outcome.FLAGGED


def test_a_sending_order_moves_on_as_a_submitted_one():
    sending = OrderStatus(S.SENDING, D(10))
    assert apply_event(sending, E(EventKind.SUBMITTED)).state is S.SUBMITTED  # our own "sent" lands first
    assert apply_event(sending, E.fill(D(4))).state is S.PARTIALLY_FILLED  # a fill may overtake it
    assert apply_event(sending, E.fill(D(10))).state is S.FILLED
    assert apply_event(sending, E(EventKind.CANCEL_REQUESTED)).state is S.CANCEL_REQUESTED
    for kind in (EventKind.RISK_BLOCKED, EventKind.ACK_TIMEOUT):  # not at the broker yet / not our timeout
        assert apply_event(sending, E(kind)).outcome is Outcome.IGNORED
    assert apply_event(sending, E(EventKind.REPLACE_REQUESTED, quantity=D(5))).outcome is Outcome.IGNORED
    assert run_status([S.SENDING, S.NEW]) is RunStatus.RUNNING
    assert S.SENDING.is_working and not S.SENDING.is_terminal


def test_out_of_order_events_are_ignored_never_raised_and_a_bug_is_an_internal_error():
    st0 = OrderStatus(S.PARTIALLY_FILLED, D(10), exec_filled=D(3))
    for ev in (status("PendingSubmit"), status("PreSubmitted"), E(EventKind.SUBMITTED), status("Bogus"),
               E.fill(D(-1)), E(EventKind.REPLACE_CONFIRMED), E(EventKind.REPLACE_REJECTED)):
        t = apply_event(st0, ev)
        assert (t.after, t.outcome) == (st0, Outcome.IGNORED), ev
    broken = apply_event(st0, E(EventKind.STATUS, status="Submitted", filled="not a number"))
    assert broken.outcome is Outcome.INTERNAL_ERROR and broken.reason.startswith("internal error")
    assert broken.after == st0 and "Traceback" in broken.traceback


def test_run_status_roll_up():
    f = D(0)
    assert run_status([]) is RunStatus.QUEUED
    assert run_status([S.NEW, S.NEW]) is RunStatus.QUEUED
    assert run_status([S.BLOCKED, S.NEW]) is RunStatus.BLOCKED
    assert run_status([S.FILLED, S.ACCEPTED]) is RunStatus.RUNNING
    assert run_status([S.NEW, S.SUBMITTED]) is RunStatus.RUNNING
    assert run_status([S.FILLED, S.FILLED]) is RunStatus.DONE
    assert run_status([S.FILLED, S.REJECTED]) is RunStatus.FAILED
    assert run_status([(S.CANCELED, f), (S.EXPIRED, f)]) is RunStatus.CANCELED
    assert run_status([(S.CANCELED, D(5)), (S.CANCELED, f)]) is RunStatus.PARTIAL
    assert run_status([S.FILLED, S.CANCELED]) is RunStatus.PARTIAL


# ---------------------------------------------------------------------------------------------
# Property: random event sequences

events_st = st.one_of(
    st.sampled_from(IB_STATUSES).flatmap(
        lambda name: st.one_of(st.none(), st.integers(0, 120).map(D)).map(lambda filled: E.ib_status(name, filled))
    ),
    st.integers(-5, 60).map(lambda q: E.fill(D(q))),
    st.sampled_from([201, 202, 10349, 2104, 103, 10147]).map(lambda c: E.error(c, "x")),
    st.sampled_from([EventKind.SUBMITTED, EventKind.CANCEL_REQUESTED, EventKind.REPLACE_REJECTED, EventKind.REPLACE_CONFIRMED,
                     EventKind.RISK_BLOCKED, EventKind.EXPIRED, EventKind.ACK_TIMEOUT]).map(E),
    st.integers(0, 150).map(lambda q: E(EventKind.REPLACE_REQUESTED, quantity=D(q))),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(events_st, max_size=40), st.integers(1, 100))
def test_random_sequences_keep_the_invariants(events, quantity):
    status_ = OrderStatus.new(D(quantity))
    for ev in events:
        t = apply_event(status_, ev)
        before, after = t.before, t.after
        assert after.filled >= before.filled
        assert 0 <= after.filled <= after.quantity
        if before.state.is_terminal:
            assert after.state is before.state
            if t.outcome is not Outcome.FLAGGED:
                assert after.filled == before.filled
        assert (t.outcome is Outcome.IGNORED) == (after == before) or t.outcome is Outcome.FLAGGED
        if after.state is S.FILLED:
            assert after.filled == after.quantity or t.outcome is Outcome.FLAGGED or before.state is S.FILLED
        status_ = after


# The whole IB status table, from every non-terminal state (a = applied, i = ignored).
STATUS_TABLE = {
    S.NEW: "SUBMITTED/a SUBMITTED/a ACCEPTED/a ACCEPTED/a CANCEL_REQUESTED/a CANCELED/a CANCELED/a FILLED/a REJECTED/a",
    # SENDING (claimed, placeOrder on its way) moves on exactly as NEW and SUBMITTED do
    S.SENDING: "SUBMITTED/a SUBMITTED/a ACCEPTED/a ACCEPTED/a CANCEL_REQUESTED/a CANCELED/a CANCELED/a FILLED/a REJECTED/a",
    S.SUBMITTED: "SUBMITTED/i SUBMITTED/i ACCEPTED/a ACCEPTED/a CANCEL_REQUESTED/a CANCELED/a CANCELED/a FILLED/a REJECTED/a",
    S.ACCEPTED: "ACCEPTED/i ACCEPTED/i ACCEPTED/i ACCEPTED/i CANCEL_REQUESTED/a CANCELED/a CANCELED/a FILLED/a REJECTED/a",
    S.PARTIALLY_FILLED: "PARTIALLY_FILLED/i PARTIALLY_FILLED/i PARTIALLY_FILLED/i PARTIALLY_FILLED/i CANCEL_REQUESTED/a CANCELED/a CANCELED/a FILLED/a REJECTED/a",
    S.CANCEL_REQUESTED: "CANCEL_REQUESTED/i CANCEL_REQUESTED/i CANCEL_REQUESTED/i CANCEL_REQUESTED/i CANCEL_REQUESTED/i CANCELED/a CANCELED/a FILLED/a REJECTED/a",
    S.REPLACE_REQUESTED: "REPLACE_REQUESTED/i REPLACE_REQUESTED/i REPLACE_REQUESTED/i REPLACE_REQUESTED/i CANCEL_REQUESTED/a CANCELED/a CANCELED/a FILLED/a REJECTED/a",
}


@pytest.mark.parametrize("state", list(STATUS_TABLE))
def test_ib_status_table(state):
    st0 = OrderStatus(state, D(10), exec_filled=D(4) if state is S.PARTIALLY_FILLED else D(0),
                      before_replace=S.ACCEPTED if state is S.REPLACE_REQUESTED else None)
    got = []
    for name in IB_STATUSES:
        t = apply_event(st0, status(name))
        got.append(f"{t.state.name}/{t.outcome.value[0]}")
    assert " ".join(got) == STATUS_TABLE[state]


@pytest.mark.parametrize("state", [S.FILLED, S.CANCELED, S.REJECTED, S.BLOCKED, S.EXPIRED])
def test_terminal_states_absorb_every_status_and_own_event(state):
    st0 = OrderStatus(state, D(10), exec_filled=D(10) if state is S.FILLED else D(0))
    for name in IB_STATUSES:
        assert apply_event(st0, status(name)).after == st0
    for kind in (EventKind.SUBMITTED, EventKind.CANCEL_REQUESTED, EventKind.REPLACE_REQUESTED, EventKind.REPLACE_REJECTED,
                 EventKind.REPLACE_CONFIRMED, EventKind.RISK_BLOCKED, EventKind.EXPIRED, EventKind.ACK_TIMEOUT):
        t = apply_event(st0, E(kind))
        assert (t.after, t.outcome) == (st0, Outcome.IGNORED)


def test_the_reasons_write_quantities_as_the_trader_does():
    """A quantity read back from the database carries its column's scale (23.000000): the
    reasons shown in the order's history write it plainly."""
    st0 = OrderStatus(S.ACCEPTED, D("23.000000"))
    partial = apply_event(st0, E.fill(D("8.000000")))
    assert partial.reason == "partial fill 8/23"
    over = apply_event(partial.after, E.fill(D("20.000000")))
    assert over.reason == "filled; overfill by 5 capped"
