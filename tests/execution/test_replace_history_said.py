"""An order's history (the order details' History tab) says what a replace asked for: its row read
"replace requested" and no more, so a trader reading back an order replaced twice could not tell
what it had been replaced to. The real replace against the simulator (SQLite and MariaDB), the
events as the services stored them, read as the window reads them (console_queries.order_details)
and put in rows by the dialog's own function."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services import console_queries as queries
from services.domain import OrderState, OrderType, Side
from services.execution.manual import ManualOrders, Ticket
from tests.fixtures.waiting import wait_until
from widgets.dialogs.order_details import event_cells

pytestmark = pytest.mark.timeout(60)


async def _accepted(stack, order_id: int) -> None:
    async def accepted():
        await stack.writer.flush()
        return queries.order_details(stack.db, order_id).order.status is OrderState.ACCEPTED

    await wait_until(accepted, 5, lambda: f"order {order_id} ACCEPTED: {queries.order_details(stack.db, order_id).order.status}")


def _replace_rows(db, order_id: int) -> list[str]:
    return [event_cells(e)[-1] for e in queries.order_details(db, order_id).events if e.event_type == "replace_requested"]


async def test_an_orders_history_says_what_each_replace_asked_for(stack):
    stack.sim.set_price("AAPL", "100")
    stack.sim.set_price("MSFT", "405")
    limit = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("400.00"))
    await _accepted(stack, limit.id)
    await stack.actions.replace(limit.id, quantity=Decimal(7), limit_price=Decimal("401.5"))
    await _accepted(stack, limit.id)
    await stack.actions.replace(limit.id, limit_price=Decimal("402"))
    await _accepted(stack, limit.id)
    # what each became, and what it was (a trader's walk: the old 5 @ 400 was said nowhere)
    assert _replace_rows(stack.db, limit.id) == ["replace requested to 7 @ 401.50, from 5 @ 400.00",
                                                 "replace requested to 7 @ 402.00, from 7 @ 401.50"]
    # the audit log's entries say it too (`audit list`, the Audit log panel)
    from services.audit import AuditLog

    replaced = [e.payload for e in AuditLog(stack.db).list(action="order.replace", entity_id=limit.id)]
    assert sorted(p["was"]["quantity"] for p in replaced) == ["5", "7"], replaced

    sent = await ManualOrders(stack.service).send(
        Ticket.of("AAPL", "BUY", quantity="5", order_type="STP LMT", stop_price="105", limit_price="106"))
    [stop_id] = [o.id for o in queries.order_list(stack.db) if o.client_order_id in sent.sent]
    await _accepted(stack, stop_id)
    await stack.actions.replace(stop_id, quantity=Decimal(6), stop_price=Decimal("104.5"))
    await _accepted(stack, stop_id)
    assert _replace_rows(stack.db, stop_id) == ["replace requested to 6 stop 104.50 limit 106.00, from 5 stop 105.00 limit 106.00"]


async def test_a_replace_stores_its_numbers_as_the_rest_of_its_record_does(stack):
    """A replace that leaves the quantity (or a price) as it was took it from the stored order,
    read back at its column's scale: the order event's payload and the audit entry said
    "quantity": "7.000000" (and "limit_price": "400.00000000") beside ``was``'s "7". Written as
    ``plain`` writes them, as ``was`` and the change feed's quantities are; old rows read back
    as before (``history_detail`` parses either)."""
    from services.audit import AuditLog

    stack.sim.set_price("MSFT", "405")
    limit = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(7), OrderType.LMT, Decimal("400"))
    await _accepted(stack, limit.id)
    await stack.actions.replace(limit.id, limit_price=Decimal("401.50"))  # the quantity kept: read back from the row
    await _accepted(stack, limit.id)
    await stack.actions.replace(limit.id, quantity=Decimal(8))  # the limit kept
    await _accepted(stack, limit.id)
    stored = [e.payload for e in queries.order_details(stack.db, limit.id).events if e.event_type == "replace_requested"]
    audited = [e.payload for e in AuditLog(stack.db).list(action="order.replace", entity_id=limit.id)]
    for payloads in (stored, sorted(audited, key=lambda p: p["was"]["quantity"])):
        said = [(p["quantity"], p["limit_price"], p["was"]["quantity"], p["was"]["limit_price"]) for p in payloads]
        assert said == [("7", "401.5", "7", "400"), ("8", "401.5", "7", "401.5")], payloads
    assert _replace_rows(stack.db, limit.id) == ["replace requested to 7 @ 401.50, from 7 @ 400.00",
                                                 "replace requested to 8 @ 401.50, from 7 @ 401.50"]
