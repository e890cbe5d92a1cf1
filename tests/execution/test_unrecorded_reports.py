"""The broker's order statuses and executions the database has not taken, on the rows and the
lines a window shows (services/execution/unrecorded_reports.py) and from the writer that keeps
them (EventWriter.subscribe_unrecorded). Before, a cancel sent while the database did not answer
left the blotter showing the order working until the database came back, and a fill then was in
neither the fills nor the positions, with nothing said."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from services.console_queries import recent_orders
from services.domain import OrderRecord, OrderState, OrderType, Side
from services.execution.events import BrokerReport, ExecutionEvent, OrderStatusEvent
from services.execution.unrecorded_reports import (
    as_reported,
    unrecorded_fills,
    unrecorded_fills_line,
    unrecorded_positions_line,
)
from services.execution.writer import EventWriter
from tests.fixtures.waiting import wait_until

from .conftest import build_stack
from .test_actions import _settle
from .test_db_outage import FlakyDatabase, _swap_writer

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 7, 12, 3, 4, tzinfo=UTC)


def _record(ref: str, status: OrderState = OrderState.ACCEPTED, filled: str = "0", perm: int | None = None) -> OrderRecord:
    return OrderRecord(id=hash(ref) % 1000, client_order_id=ref, run_id=None, symbol="AAPL", side=Side.BUY,
                       quantity=Decimal(100), order_type=OrderType.LMT, limit_price=Decimal("200"), status=status,
                       filled_quantity=Decimal(filled), avg_fill_price=None, created_at=T0, updated_at=T0,
                       ib_perm_id=perm)


def _status(status: str, ref: str | None = "A", filled: str = "0", perm: int = 0, avg: str | None = None,
            why_held: str = "") -> OrderStatusEvent:
    return OrderStatusEvent(ib_order_id=1, perm_id=perm, client_id=1, status=status, filled=Decimal(filled),
                            remaining=Decimal(100) - Decimal(filled), avg_fill_price=Decimal(avg) if avg else None,
                            last_fill_price=None, why_held=why_held, order_ref=ref, time=T1)


def test_a_cancel_the_database_did_not_take_shows_the_row_canceled_and_not_recorded():
    working, other = _record("A"), _record("B")
    [shown] = as_reported([working, other], [_status("PendingCancel"), _status("Cancelled")])
    assert shown == replace(working, status=OrderState.CANCELED, unrecorded_since=T1)


def test_the_cumulative_filled_is_taken_as_reported_never_added():
    partly = _record("A", OrderState.PARTIALLY_FILLED, filled="40")
    [shown] = as_reported([partly], [_status("Submitted", filled="40"), _status("Submitted", filled="70", avg="199.5")])
    assert (shown.status, shown.filled_quantity, shown.avg_fill_price) == (OrderState.PARTIALLY_FILLED, Decimal(70), Decimal("199.5"))
    [done] = as_reported([partly], [_status("Filled", filled="100", avg="199.8")])
    assert (done.status, done.filled_quantity, done.avg_fill_price) == (OrderState.FILLED, Decimal(100), Decimal("199.8"))


def test_reports_that_change_nothing_leave_the_row_as_stored():
    assert as_reported([_record("A")], [_status("Submitted")]) == []  # still working, as stored
    assert as_reported([_record("A", OrderState.CANCELED)], [_status("Cancelled")]) == []  # stored already
    assert as_reported([_record("A")], [_status("Cancelled", ref="other")]) == []  # another order's


def test_an_order_without_its_reference_in_the_report_is_found_by_its_permanent_id():
    external = _record("placed-in-tws", perm=987654)
    [shown] = as_reported([external], [_status("Cancelled", ref=None, perm=987654)])
    assert shown.status is OrderState.CANCELED


def test_an_inactive_order_is_shown_rejected_with_the_brokers_reason():
    [shown] = as_reported([_record("A")], [_status("Inactive", why_held="locate")])
    assert shown.status is OrderState.REJECTED and "locate" in (shown.rejected_reason or "")


def _execution(exec_id: str, symbol: str = "AAPL", side: str = "BUY", shares: str = "45", price: str = "190.12") -> ExecutionEvent:
    return ExecutionEvent(exec_id=exec_id, ib_order_id=1, perm_id=0, client_id=1, order_ref="A", account="DU1",
                          symbol=symbol, side=side, shares=Decimal(shares), price=Decimal(price), time=T1)


def test_the_fills_the_database_did_not_take_are_said_over_the_fills_and_the_positions():
    reports = [_status("Submitted", filled="45"), _execution("e1"), _execution("e2", "MSFT", "SELL", "10", "410"),
               _execution("e3", shares="5", price="190.2"), _status("Filled", filled="50")]
    assert unrecorded_fills_line(reports) == ("Not recorded yet (the database does not answer): 3 fills at the broker: "
                                              "BUY 45 AAPL at 190.12, SELL 10 MSFT at 410.00, BUY 5 AAPL at 190.20")
    assert unrecorded_positions_line(reports) == ("Not recorded yet (the database does not answer): 3 fills at the "
                                                  "broker of AAPL, MSFT, not counted in these lines yet")
    # statuses alone: no fill to say; the rows take the statuses, never the executions
    assert unrecorded_fills_line(reports[:1]) is None and unrecorded_positions_line(()) is None
    [shown] = as_reported([_record("A")], reports)
    assert shown.filled_quantity == Decimal(50)


def test_an_execution_reported_twice_is_said_once_as_last_reported():
    assert [e.shares for e in unrecorded_fills([_execution("e1"), _execution("e1", shares="40")])] == [Decimal(40)]


async def _writer_on_a_failing_database(database, simulator):
    """The stack with the real writer on a database the test makes fail (``flaky.down``), started,
    and what it tells of the reports it holds: (stack, flaky, told)."""
    stack = await build_stack(database, simulator)
    await stack.writer.stop()
    flaky = FlakyDatabase(database)
    writer = EventWriter(flaky, stack.provider.events, retry_initial=0.02, retry_max=0.05, account=stack.provider.account)
    _swap_writer(stack, writer)
    told: list[tuple[BrokerReport, ...]] = []
    writer.subscribe_unrecorded(told.append)
    writer.start()
    return stack, flaky, told


async def test_the_writer_tells_the_statuses_it_keeps_while_the_database_is_down_then_that_they_are_written(
        database, simulator):
    """The real writer, the real broker client against the simulator; the database made to fail."""
    stack, flaky, told = await _writer_on_a_failing_database(database, simulator)
    try:
        order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.LMT, Decimal("225"))
        await _settle(stack, order.id, {OrderState.ACCEPTED})
        assert told == []  # nothing waited: nothing said
        flaky.down = True
        await stack.provider.cancel_order(order.client_order_id, order.ib_order_id)

        def canceled_said() -> bool:
            return bool(told) and any(s.order_ref == order.client_order_id and s.status == "Cancelled" for s in told[-1])

        await wait_until(canceled_said, 15, lambda: f"the broker's Cancelled told as unrecorded: {told}")
        stored = order_record(database, order.id)
        assert stored.status is OrderState.ACCEPTED  # not in the database yet
        [shown] = as_reported([stored], told[-1])
        assert shown.status is OrderState.CANCELED and shown.unrecorded_since is not None

        flaky.down = False
        await wait_until(lambda: told[-1] == (), 15, lambda: f"the statuses said written: {told[-1]}")
        await _settle(stack, order.id, {OrderState.CANCELED})
    finally:
        await stack.close()


def order_record(database, order_id: int) -> OrderRecord:
    [record] = [o for o in recent_orders(database) if o.id == order_id]
    return record


async def test_the_writer_tells_a_fill_it_keeps_while_the_database_is_down_then_that_it_is_written(database, simulator):
    """A resting order fills at the broker while the database does not answer: the execution is
    told (the fills' and positions' line), and ``()`` once it is stored."""
    stack, flaky, told = await _writer_on_a_failing_database(database, simulator)
    try:
        order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.LMT, Decimal("225"))
        await _settle(stack, order.id, {OrderState.ACCEPTED})
        flaky.down = True
        simulator.set_price("AAPL", "224")  # the resting buy crosses: filled at the broker

        def fill_said() -> bool:
            return bool(told) and bool(unrecorded_fills(told[-1]))

        await wait_until(fill_said, 15, lambda: f"the broker's execution told as unrecorded: {told}")
        line = unrecorded_fills_line(told[-1]) or ""
        assert line.startswith("Not recorded yet") and "BUY 10 AAPL at " in line, line
        assert order_record(database, order.id).status is OrderState.ACCEPTED  # not in the database yet

        flaky.down = False
        await wait_until(lambda: told[-1] == (), 15, lambda: f"the reports said written: {told[-1]}")
        await _settle(stack, order.id, {OrderState.FILLED})
    finally:
        await stack.close()
