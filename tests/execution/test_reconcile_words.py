"""The reconciliation as the trader reads it (services.execution.reconcile_words): one plain
line, not the report's dict ("Reconciled: {'time': ..., 'open_orders': 0, ...}" in the status bar
and the activity log)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.execution.reconcile import ReconcileReport
from services.execution.reconcile_words import describe_reconcile, found_something

AT = datetime(2026, 12, 5, 10, 32, 5, tzinfo=UTC)


def test_a_pass_that_found_nothing_says_so_in_words():
    text = describe_reconcile(ReconcileReport(AT, open_orders=3, completed_orders=4, executions=12))
    assert text == "Reconciled at 10:32:05 UTC: 3 open orders at IB, 12 fills checked; nothing missing, nothing to correct"
    assert "{" not in text and "'" not in text


def test_one_of_each_is_singular():
    text = describe_reconcile(ReconcileReport(AT, open_orders=1, executions=1, missing_fills=["e1"], corrected=["C-1"]))
    assert text == ("Reconciled at 10:32:05 UTC: 1 open order at IB, 1 fill checked; 1 missing fill taken in; "
                    "1 order status corrected from IB")


def test_what_the_pass_corrected_is_said_and_long_lists_are_cut():
    report = ReconcileReport(AT, open_orders=0, executions=5, missing_fills=["e1", "e2"], corrected=["C-1", "C-2"],
                             external=["perm 7"], resolved_unknown=["C-3"], released=["C-4", "C-5"],
                             named={"C-3": "SELL 5 AAPL LMT 235.00", "C-4": "BUY 10 MSFT MKT"},
                             positions_corrected=["AAPL", "MSFT", "IBM", "SAP@IBIS:EUR", "NVDA"],
                             book_mismatches=[{"account": "DU1", "symbol": "AMZN", "broker": "10", "books": "25"}],
                             unassigned={"AAPL": "5"})
    assert describe_reconcile(report) == (
        "Reconciled at 10:32:05 UTC: 0 open orders at IB, 5 fills checked; 2 missing fills taken in; "
        "2 order statuses corrected from IB; 1 order placed outside the console recorded; "
        "1 order IB does not know closed as never received (SELL 5 AAPL LMT 235.00, C-3); "
        "2 orders of a sender that is gone given back to be sent (BUY 10 MSFT MKT, C-4; C-5); "
        "positions set to the broker's: AAPL, MSFT, IBM and 2 more; "
        "the projects' books hold what the broker does not: AMZN (broker 10, books 25); "
        "held in no project's book: AAPL 5")


def test_the_orders_closed_as_never_received_are_named_the_first_three_and_the_rest_counted():
    """Which orders a pass closed, and what each is: "1 order IB does not know closed as never
    received" alone left the trader to find it among the day's (a demo restart whose simulator
    lost the working order, tests/app/test_reconcile_line.py)."""
    coids = [f"C-{n}" for n in range(1, 6)]
    report = ReconcileReport(AT, resolved_unknown=coids, named={c: f"BUY {n} IBM MKT" for n, c in enumerate(coids, 1)})
    assert describe_reconcile(report) == (
        "Reconciled at 10:32:05 UTC: 0 open orders at IB, 0 fills checked; 5 orders IB does not know closed as never "
        "received (BUY 1 IBM MKT, C-1; BUY 2 IBM MKT, C-2; BUY 3 IBM MKT, C-3 and 2 more)")


def test_shares_no_project_claimed_are_not_a_correction():
    text = describe_reconcile(ReconcileReport(AT, open_orders=2, executions=0, unassigned={"AAPL": "5", "MSFT": "-3"}))
    assert text.endswith("0 fills checked; nothing missing, nothing to correct; held in no project's book: AAPL 5, MSFT -3")


def test_a_pass_that_corrected_something_is_a_warning_and_shares_in_no_book_are_not():
    """The window says a pass that found the record or the books wrong as a warning."""
    assert not found_something(ReconcileReport(AT, open_orders=3, executions=12))
    assert not found_something(ReconcileReport(AT, unassigned={"AAPL": "5"}))
    assert found_something(ReconcileReport(AT, missing_fills=["e1"]))
    assert found_something(ReconcileReport(AT, book_mismatches=[{"account": "DU1", "symbol": "AMZN", "broker": "10",
                                                                  "books": "25"}]))
