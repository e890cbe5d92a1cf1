"""The one positions book (IB's average-cost method, docs/ib-average-cost.md): examples with the
numbers IB reports, and properties over random sequences of fills, corrections and late
commissions."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.positions_book import (
    BookedFill,
    PositionBook,
    PositionState,
    apply_fill,
    apply_late_commission,
    split_exec_id,
)


def book_all(fills):
    state = PositionState()
    for signed, price, commission in fills:
        state, _ = apply_fill(state, D(signed), D(price), D(commission))
    return state


def test_round_trip_realizes_net_of_both_commissions():
    # the example: buy 100 at 50, sell 100 at 51, 1.00 commission each way
    state, realized = apply_fill(PositionState(), D(100), D(50), D("1.00"))
    assert (state.average_cost, realized) == (D("50.01"), None)  # the buy's commission is in the cost
    state, realized = apply_fill(state, D(-100), D(51), D("1.00"))
    assert (state.quantity, state.average_cost, state.realized_pnl, realized) == (0, 0, D("98.00"), D("98.00"))
    assert state.commissions == D("2.00")


def test_short_average_cost_is_the_sale_net_of_commission():
    state = book_all([(-100, 10, 1)])
    assert (state.quantity, state.average_cost) == (D(-100), D("9.99"))
    state = book_all([(-100, 10, 1), (100, 9, 1)])
    assert (state.quantity, state.realized_pnl) == (0, D(98))


def test_reversal_through_zero_splits_the_commission():
    state = book_all([(100, 10, 0), (-150, 12, 3)])  # closes 100 (commission 2), opens -50 (commission 1)
    assert (state.quantity, state.realized_pnl, state.average_cost) == (D(-50), D(198), D("11.98"))
    state, realized = apply_fill(state, D(80), D(11), D(0))  # covers 50 at 0.98 each, opens +30 at 11
    assert (state.quantity, realized, state.average_cost) == (D(30), D(49), D(11))


def test_partial_close_keeps_the_average_cost():
    state = book_all([(100, 10, 1), (100, 12, 1), (-50, 13, 1)])
    assert (state.quantity, state.average_cost, state.realized_pnl) == (D(150), D("11.01"), D("98.50"))


def test_correction_supersedes_and_older_revisions_change_nothing():
    book = PositionBook()
    book.execution("a.b.01.01", D(100), D(10), D(1))
    book.execution("a.b.02.01", D(-50), D(11), D(1))
    book.execution("a.b.01.02", D(100), D("10.10"), D(1))  # the first execution corrected
    assert book.state == book_all([(100, "10.10", 1), (-50, 11, 1)])
    book.execution("a.b.01.01", D(100), D(10), D(1))  # the older revision again: ignored
    assert book.commission("a.b.01.01", D(5)) is False  # a report for the superseded revision
    assert book.state == book_all([(100, "10.10", 1), (-50, 11, 1)])


def test_late_commission_of_an_earlier_fill_is_booked_as_if_known():
    book = PositionBook()
    book.execution("x.y.01.01", D(100), D(10))  # commission unknown yet
    book.execution("x.y.02.01", D(-40), D(12), D(1))
    assert book.commission("x.y.01.01", D("1.50"))
    assert book.state == book_all([(100, 10, "1.50"), (-40, 12, 1)])


@pytest.mark.parametrize("exec_id, expected", [("0001f4e8.6538e7b4.01.01", ("0001f4e8.6538e7b4.01", 1)),
                                               ("0001f4e8.6538e7b4.01.02", ("0001f4e8.6538e7b4.01", 2)),
                                               ("plain", ("plain", 1))])
def test_split_exec_id(exec_id, expected):
    assert split_exec_id(exec_id) == expected


quantities = st.integers(-500, 500).filter(bool).map(D)
prices = st.integers(100, 20000).map(lambda c: D(c) / 100)
commissions = st.integers(0, 500).map(lambda c: D(c) / 100)
fills = st.lists(st.tuples(quantities, prices, commissions), min_size=1, max_size=15)


@settings(max_examples=100, deadline=None)
@given(fills)
def test_a_flat_book_has_realized_exactly_its_cash_flow(sequence):
    state = PositionState()
    cash = D(0)
    for signed, price, commission in sequence:
        state, _ = apply_fill(state, signed, price, commission)
        cash -= signed * price + commission
    if state.quantity:
        closing = -state.quantity
        state, _ = apply_fill(state, closing, D(100), D(1))
        cash -= closing * D(100) + D(1)
    assert state.average_cost == 0
    assert abs(state.realized_pnl - cash) < D("1e-18")
    assert state.commissions == sum((c for *_, c in sequence), D(0)) + (D(1) if closing_needed(sequence) else 0)


def closing_needed(sequence) -> bool:
    return sum((s for s, *_ in sequence), D(0)) != 0


@settings(max_examples=100, deadline=None)
@given(fills)
def test_a_commission_for_the_last_fill_booked_late_equals_booked_at_once(sequence):
    *before, (signed, price, commission) = sequence
    state = book_all(before)
    at_once, _ = apply_fill(state, signed, price, commission)
    without, _ = apply_fill(state, signed, price, None)
    late = apply_late_commission(without, signed, commission)
    assert late.quantity == at_once.quantity
    assert abs(late.average_cost - at_once.average_cost) < D("1e-18")
    assert abs(late.realized_pnl - at_once.realized_pnl) < D("1e-18")
    assert late.commissions == at_once.commissions


@settings(max_examples=100, deadline=None)
@given(fills, st.data())
def test_corrections_and_late_commissions_in_any_order_equal_the_final_fills_booked_once(sequence, data):
    """Whatever arrives late or corrected, the book ends where booking the final executions
    (latest revisions, known commissions) in arrival order ends."""
    book = PositionBook()
    final = []
    late = []
    for n, (signed, price, commission) in enumerate(sequence):
        exec_id = f"0000.{n:04x}.01.01"
        corrected = data.draw(st.booleans(), label=f"correct {n}")
        report_late = data.draw(st.booleans(), label=f"late {n}")
        book.execution(exec_id, signed, price, None if report_late else commission)
        if report_late:
            late.append((exec_id, commission))
        if corrected:  # a new revision with another price and its own commission report
            exec_id = f"0000.{n:04x}.01.02"
            price = price + D("0.05")
            book.execution(exec_id, signed, price, None)
            late = [(e, c) for e, c in late if split_exec_id(e)[0] != split_exec_id(exec_id)[0]]
            late.append((exec_id, commission))
        final.append(BookedFill(exec_id, signed, price, commission))
        # some late reports arrive now, the rest after later fills
        while late and data.draw(st.booleans(), label="deliver one"):
            assert book.commission(*late.pop(0))
    for exec_id, commission in late:
        assert book.commission(exec_id, commission)
    expected = PositionBook.replay(final).state
    assert book.state == expected
    assert expected == book_all([(f.signed_quantity, f.price, f.commission) for f in final])
