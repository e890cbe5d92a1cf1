"""The broker's order statuses the database has not taken, on the rows a window shows
(services/execution/unrecorded_reports.py) and from the writer that keeps them
(EventWriter.subscribe_unrecorded). Before, a cancel sent while the database did not answer left
the blotter showing the order working until the database came back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from services.console_queries import recent_orders
from services.domain import OrderRecord, OrderState, OrderType, Side
from services.execution.events import OrderStatusEvent
from services.execution.unrecorded_reports import as_reported
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


async def test_the_writer_tells_the_statuses_it_keeps_while_the_database_is_down_then_that_they_are_written(
        database, simulator):
    """The real writer, the real broker client against the simulator; the database made to fail."""
    stack = await build_stack(database, simulator)
    await stack.writer.stop()
    flaky = FlakyDatabase(database)
    writer = EventWriter(flaky, stack.provider.events, retry_initial=0.02, retry_max=0.05, account=stack.provider.account)
    _swap_writer(stack, writer)
    told: list[tuple[OrderStatusEvent, ...]] = []
    writer.subscribe_unrecorded(told.append)
    writer.start()
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
