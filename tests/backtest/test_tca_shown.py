"""Which committed changes make the TCA a window shows stale (services.backtest.tca.ShownTca):
a commission report of one of its run's executions, IB's last word on a fill that may come
seconds after the run settled and its TCA was shown, and nothing of another run's. A change
committed while the TCA was being read may be missing from that read's answer: it is weighed
against the answer once shown, never lost."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.backtest.tca import ShownTca, TcaReport
from services.domain import FillRecord, OrderRecord, OrderState, OrderType, Side

T0 = datetime(2024, 3, 1, 15, 0, tzinfo=UTC)


def report(run_id: int, order_ids: set[int]) -> TcaReport:
    return TcaReport(run_id, "paper", "2024-03-01", (), order_ids=frozenset(order_ids))


def fill(order_id: int, commission: str | None = "1.00") -> FillRecord:
    return FillRecord(id=order_id * 10, order_id=order_id, exec_id=f"e{order_id}.01.01", symbol="AAA", side=Side.BUY,
                      quantity=Decimal(10), price=Decimal(100), commission=None if commission is None else Decimal(commission),
                      fill_time=T0)


def order(order_id: int, run_id: int | None) -> OrderRecord:
    return OrderRecord(id=order_id, client_order_id=f"T.{run_id}-{order_id}", run_id=run_id, symbol="AAA", side=Side.BUY,
                       quantity=Decimal(10), order_type=OrderType.MKT, limit_price=None, status=OrderState.FILLED,
                       filled_quantity=Decimal(10), avg_fill_price=Decimal(100), created_at=T0, updated_at=T0)


def test_a_commission_report_of_the_shown_runs_execution_makes_it_stale_another_runs_does_not():
    shown = ShownTca()
    assert not shown.stale_after((), [fill(1)])  # nothing shown: nothing to read again
    shown.asked()
    assert not shown.shown(report(7, {1, 2}))

    assert shown.stale_after((), [fill(3), fill(2)])  # its order 2's commission came
    assert not shown.stale_after((), [fill(3)])  # another run's
    assert shown.stale_after([order(4, 7)], ())  # an order of its run (a new one, a status)
    assert not shown.stale_after([order(5, 8), order(6, None)], ())

    shown.asked()
    shown.cleared()  # an unknown run asked for: nothing shown
    assert not shown.stale_after((), [fill(2)])


def test_a_change_committed_while_the_tca_was_read_is_weighed_against_the_answer():
    shown = ShownTca()
    shown.asked()
    shown.stale_after((), [fill(2)])  # committed during the read: in its answer or not
    assert shown.shown(report(7, {1, 2}))  # read again

    shown.asked()
    shown.stale_after((), [fill(3)])
    shown.stale_after([order(5, 8)], ())
    assert not shown.shown(report(7, {1, 2}))  # another run's changes: the answer stands

    shown.asked()
    shown.stale_after([order(4, 7)], ())
    assert shown.shown(report(7, {1, 2}))  # a new order of its run

    shown.stale_after((), [fill(1)])  # after the answer was shown: stale at once, not held for a next answer
    shown.asked()
    assert not shown.shown(report(7, {1, 2}))
