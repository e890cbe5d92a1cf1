"""The broker's reports of orders that the database has not taken yet, on the rows a window shows.

While the database does not answer, the writer keeps the broker's order statuses in memory
(services.execution.writer.queue) and the blotter, which shows what the database holds, kept
an order the broker had canceled (a row's Cancel, Cancel All, sent without the database) as
working until the database came back: a trader read an order still at the broker that was not.
``as_reported`` gives those rows as the broker reports them, through the one state machine
(services.core.order_state), marked ``unrecorded_since``; the writer's change set replaces them
with the database's rows once it has written the reports.

The rows take statuses only, not executions: IB's orderStatus carries the cumulative filled
quantity, which the state machine takes as it is, so a fill counted in the row already is never
counted twice. The executions are said over the fills and the positions (``unrecorded_fills_line``,
``unrecorded_positions_line``): those panels show what the database holds, and a fill it has not
taken moved a position at the broker that the panel does not show yet."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from services.core.order_state import OrderEvent, OrderStatus, apply_events
from services.core.wording import counted, grouped, price
from services.domain import OrderRecord
from services.execution.events import BrokerReport, ExecutionEvent, OrderStatusEvent

#: Said first on each panel's line: why what it shows is not the whole story.
NOT_RECORDED_YET = "Not recorded yet (the database does not answer)"


def _matching(record: OrderRecord, by_ref: dict[str, list[OrderStatusEvent]],
              by_perm: dict[int, list[OrderStatusEvent]]) -> list[OrderStatusEvent]:
    if record.client_order_id in by_ref:
        return by_ref[record.client_order_id]
    return by_perm.get(record.ib_perm_id, []) if record.ib_perm_id else []


def as_reported(records: Iterable[OrderRecord], reports: Sequence[BrokerReport],
                now: datetime | None = None) -> list[OrderRecord]:
    """The ``records`` whose state or filled quantity the unwritten ``reports``' statuses (in the
    order the broker sent them) change, as the broker reports them: state, filled quantity and
    average price, ``unrecorded_since`` the newest report's time (``now`` when it has none). An
    order is matched by its order reference, else by its permanent id."""
    by_ref: dict[str, list[OrderStatusEvent]] = {}
    by_perm: dict[int, list[OrderStatusEvent]] = {}
    for report in reports:
        if not isinstance(report, OrderStatusEvent):
            continue
        if report.order_ref:
            by_ref.setdefault(report.order_ref, []).append(report)
        if report.perm_id:
            by_perm.setdefault(report.perm_id, []).append(report)
    if not (by_ref or by_perm):
        return []
    shown = []
    for record in records:
        matched = _matching(record, by_ref, by_perm)
        if not matched:
            continue
        before = OrderStatus(record.status, record.quantity, status_filled=record.filled_quantity)
        after, _ = apply_events(before, (OrderEvent.ib_status(r.status, r.filled, r.why_held) for r in matched))
        if after.state is record.status and after.filled == record.filled_quantity:
            continue
        newest = matched[-1]
        average = next((r.avg_fill_price for r in reversed(matched) if r.avg_fill_price), None)
        shown.append(replace(record, status=after.state, filled_quantity=after.filled,
                             avg_fill_price=average or record.avg_fill_price,
                             rejected_reason=after.reject_reason or record.rejected_reason,
                             unrecorded_since=newest.time or now or datetime.now(UTC)))
    return shown


def unrecorded_fills(reports: Sequence[BrokerReport]) -> list[ExecutionEvent]:
    """The executions among ``reports``, each once (a repeated report of one execution id: the
    last), in the order they came."""
    latest: dict[str, ExecutionEvent] = {}
    for report in reports:
        if isinstance(report, ExecutionEvent):
            latest.pop(report.exec_id, None)
            latest[report.exec_id] = report
    return list(latest.values())


def unrecorded_fills_line(reports: Sequence[BrokerReport]) -> str | None:
    """The fills panel's line for the executions the database has not taken (None: none):
    ``Not recorded yet (the database does not answer): 2 fills at the broker: BUY 45 AAPL at
    190.12, SELL 10 MSFT at 410.00``."""
    fills = unrecorded_fills(reports)
    if not fills:
        return None
    listed = ", ".join(f"{f.side} {grouped(f.shares)} {f.symbol} at {price(f.price)}" for f in fills)
    return f"{NOT_RECORDED_YET}: {counted(len(fills), 'fill')} at the broker: {listed}"


def unrecorded_positions_line(reports: Sequence[BrokerReport]) -> str | None:
    """The positions panel's line for the same (None: none): the symbols whose lines do not
    count them yet."""
    fills = unrecorded_fills(reports)
    if not fills:
        return None
    symbols = ", ".join(dict.fromkeys(f.symbol for f in fills))
    return (f"{NOT_RECORDED_YET}: {counted(len(fills), 'fill')} at the broker of {symbols}, "
            f"not counted in these lines yet")
