"""A blotter row showing the broker's report the database had not taken (the writer kept it while
the database did not answer: services/execution/unrecorded_reports.py) takes the stored row once
the writer has written the report, even when writing it changed nothing in the row: the row's
version then stays the one the window was handed already, which the window drops as not newer
(services.change_feed.NewerOnly), and the report stayed shown, marked not recorded, for good.

Only the writer's change set does that: the change feed hands the window's own rows again, up to
half a second late (app.controller.FEED_SECONDS), and its row of the order, the version the report
was laid on, arriving after the report took the report away and showed the canceled order as
working (seen under load: the feed's poll landed after the report)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from services.domain import ChangeSet, OrderState, OrderType, Side
from services.execution.events import OrderStatusEvent
from tests.app.conftest import run
from tests.fixtures.ib import wait_for


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_report_shown_unrecorded_gives_way_to_the_stored_row_of_the_same_version(qloop, open_console):
    async def scenario():
        console = await open_console()
        w, monitoring = console.window, console.controller.monitoring
        try:
            limit = (console.sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
            order = await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.LMT, limit)
            await wait_for(lambda: (r := w.orders_model.get(order.id)) is not None and r.status is OrderState.ACCEPTED,
                           10, "the resting order in the blotter")
            stored = w.orders_model.get(order.id)
            report = OrderStatusEvent(ib_order_id=stored.ib_order_id or 0, perm_id=stored.ib_perm_id or 0, client_id=1,
                                      status="Cancelled", filled=Decimal(0), remaining=Decimal(10), avg_fill_price=None,
                                      last_fill_price=None, order_ref=stored.client_order_id)
            monitoring._on_unrecorded((report,))  # as the writer tells it while the database does not answer
            await wait_for(lambda: w.orders_model.get(order.id).unrecorded_since is not None, 10, "the report shown")
            # the change feed's row of the order, read before the report came: the report stays
            monitoring.take(ChangeSet(orders=(replace(stored),)))
            w.orders_model.flush()  # what the feed's row would do is done now, not at the model's timer
            assert w.orders_model.get(order.id).unrecorded_since is not None, "the feed's row took the report away"
            # the writer's change set once written, the row as stored at the version the window has
            monitoring._on_changes(ChangeSet(orders=(replace(stored),)))
            await wait_for(lambda: w.orders_model.get(order.id).unrecorded_since is None, 10,
                           lambda: f"the stored row back: {w.orders_model.get(order.id)}")
            assert w.orders_model.get(order.id) == stored
        finally:
            await console.close()

    run(qloop, scenario())
