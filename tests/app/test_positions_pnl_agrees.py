"""The Positions panel's unrealized P&L and the Account panel's (IB's reqPnL) are one figure as
IB defines it: each holding at the market price, less its average cost with commissions. The
real window offscreen against the demo simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.domain import OrderType, Side
from tests.app.conftest import run
from tests.fixtures.ib import wait_for

# end-to-end in the whole window: the whole suite, not --quick
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.timeout(60)
def test_right_after_a_fill_the_positions_pnl_is_at_the_market_as_the_account_panels(qloop, open_console):
    """Walked in the demo: after the run, the Positions panel's unrealized P&L was about 40 USD
    above the Account panel's. The panel valued each holding at its fill's price (ask plus
    slippage) until its next marks, up to 15 s later; IB (the simulator's reqPnL) values it at the
    market. Now the symbols just filled are marked at the market once the fills are in.

    By hand: AAPL at 100.00 (bid 99.99, ask 100.01); BUY 10 MKT fills at the ask plus the 0.01
    slippage, 100.02, commission 1.00 (IB Pro fixed, its minimum): average cost
    (10 x 100.02 + 1.00) / 10 = 100.12; unrealized (100.00 - 100.12) x 10 = -1.20 (at the fill's
    price it read -1.00: the commission alone)."""

    async def scenario():
        console = await open_console()
        w, controller, sim = console.window, console.controller, console.sim
        try:
            controller.monitoring._equity_timer.stop()  # no periodic marks: only those after the fill
            sim.set_price("AAPL", "100")
            await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.MKT)

            def aapl():
                w.positions_model.flush()
                return next((p for p in w.positions_model.records() if p.symbol == "AAPL" and p.project_id is None), None)

            await wait_for(lambda: (p := aapl()) is not None and p.quantity == 10 and p.average_cost == Decimal("100.12"), 10,
                           lambda: f"the position with its commission: {aapl()}")
            await wait_for(lambda: aapl().market_price == Decimal(100), 10,
                           lambda: f"AAPL marked at the market after its fill: {aapl()}")
            assert aapl().unrealized_pnl == Decimal("-1.20")
            assert w.positions_view.totals_label.text() == "1 position · unrealized -1.20 · realized 0.00"

            async def ibs_figure():
                await controller.desk.refresh_account()  # what the panel's timer does every 5 s
                return w.account_view.value("Unrealized P&L") == "-1.20"

            await wait_for(ibs_figure, 10, lambda: f"IB's unrealized P&L: {w.account_view.value('Unrealized P&L')}")
            # the panel says whose figure it is and why the Positions panel's can differ between marks
            said = w.account_view.values["Unrealized P&L"].toolTip()
            assert said.startswith("IB's figure (reqPnL): every holding at IB's market price now"), said
            assert "the marks it asks every 15 s and after fills" in said, said
        finally:
            await console.close()

    run(qloop, scenario())
