"""The TCA of an order ticket's run (the simulator over a real socket): its totals are in the
account's base currency and say which, as a run's of a plan."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.backtest.tca import run_tca
from services.backtest.tca_text import order_text, totals_text
from services.execution.manual import ManualOrders, Ticket
from tests.fixtures.ib import wait_until

from .conftest import build_stack

pytestmark = pytest.mark.timeout(120)


async def test_a_ticket_runs_tca_names_the_accounts_base_currency(database, make_simulator):
    """A ticket's run kept no base currency (a plan's run keeps it with its rates): the TCA of a
    EUR account's ticket for a USD listing called its EUR totals USD, and its USD line the base."""
    sim = await make_simulator(base_currency="EUR", fx_rates={"USD": Decimal("0.90")})
    stack = await build_stack(database, sim)
    try:
        sim.set_price("AAPL", "100")
        result = await ManualOrders(stack.service).send(Ticket.of("AAPL", "BUY", quantity="10"))

        async def filled():
            await stack.writer.flush()
            return run_tca(stack.db, result.run_id).filled

        await wait_until(filled, 10, lambda: "the ticket's fill")
        whole = run_tca(stack.db, result.run_id).to_dict()
    finally:
        await stack.close()

    assert whole["base_currency"] == "EUR"
    assert " USD)" in order_text(whole["orders"][0], whole["base_currency"])  # the line in the listing's dollars
    assert totals_text(whole, "close").startswith("shortfall ") and " EUR" in totals_text(whole, "close")
