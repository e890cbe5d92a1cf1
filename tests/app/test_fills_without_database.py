"""A fill at the broker while the window's MariaDB server is down (a private ``mariadbd`` the test
kills and starts again: tests/fixtures/mariadb.py). The fills and the positions show what the
database holds, so the fill was in neither, and nothing said so: a trader read a position the
broker no longer had, and the run's progress read "0 of ... filled" beside a row reading FILLED.
Now both panels say which fills the database has not taken yet
(services/execution/unrecorded_reports.py) and the progress line says the order filled at the
broker (services/run_progress.py), until the writer has stored them and the fill is a row like
any other."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest

from services.core.wording import counted
from services.domain import OrderState
from tests.app.conftest import demo_settings, run
from tests.fixtures.ib import wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # a private server killed and started again


@pytest.fixture
def console_settings(private_mariadb_url, tmp_path):  # the trading window on the private server
    return demo_settings(private_mariadb_url, tmp_path)


def test_a_fill_while_the_database_is_down_is_said_over_the_fills_and_positions_until_it_is_stored(
        qloop, open_console, private_mariadb):
    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        fills_notice, positions_notice = w.fills_view.unrecorded_label, w.positions_view.unrecorded_label
        try:
            limit = (sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
            # sent as the ticket sends it: a run of its own, whose progress the window follows
            assert await console.controller.desk.send({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(7),
                                                       "order_type": "LMT", "limit_price": limit,
                                                       "project": "Demo momentum"}) is not None
            await wait_for(lambda: any(r.quantity == 7 for r in w.orders_model.records()), 10, "the ticket's order")
            [order] = [r for r in w.orders_model.records() if r.quantity == 7]
            await wait_for(lambda: (r := w.orders_model.get(order.id)) is not None and r.status is OrderState.ACCEPTED,
                           10, "the resting order in the blotter")
            progress = w.preview_view.progress
            await wait_for(lambda: progress.format().endswith("· 1 working"), 15,
                           lambda: f"the run's progress line: {progress.format()}")
            assert fills_notice.isHidden() and positions_notice.isHidden()  # nothing waits: nothing said
            stored_fills = len(w.fills_model.records())

            await asyncio.to_thread(private_mariadb.kill)
            await wait_for(lambda: "database unreachable since" in w.connection_status.database_label.text(), 15,
                           lambda: f"the database label: {w.connection_status.database_label.text()}")
            sim.set_price("AAPL", limit - Decimal("0.50"))  # the resting buy crosses: filled at the broker

            def said_bought() -> int:  # the shares the fills' notice lists (the demo fills in parts)
                return sum(int(n) for n in re.findall(r"BUY (\d+) AAPL at \d", fills_notice.text()))

            await wait_for(lambda: said_bought() == 7 and not fills_notice.isHidden(), 20,
                           lambda: f"the fills' notice: {fills_notice.text()!r}")
            fills = len(re.findall("BUY", fills_notice.text()))
            assert fills_notice.text().startswith("Not recorded yet (the database does not answer): "
                                                  f"{counted(fills, 'fill')} at the broker: BUY "), fills_notice.text()
            assert not positions_notice.isHidden()
            assert positions_notice.text().endswith(f"{counted(fills, 'fill')} at the broker of AAPL, "
                                                    "not counted in these lines yet"), positions_notice.text()
            assert len(w.fills_model.records()) == stored_fills  # the panel holds stored fills only
            await wait_for(lambda: w.orders_model.get(order.id).status is OrderState.FILLED, 10,
                           "the order's row filled (not recorded)")
            # the run's progress counts stored fills: it says the one filled at the broker beside them
            await wait_for(lambda: progress.format().endswith("· 1 order with fills at the broker not recorded yet"), 10,
                           lambda: f"the run's progress line: {progress.format()}")

            await asyncio.to_thread(private_mariadb.start)
            await wait_for(lambda: fills_notice.isHidden() and positions_notice.isHidden(), 60,
                           lambda: f"the notices gone once stored: {fills_notice.text()!r} {positions_notice.text()!r}")
            await wait_for(lambda: sum(f.quantity for f in w.fills_model.records() if f.order_id == order.id) == 7, 15,
                           "the fills as stored rows")
            assert w.orders_model.get(order.id).unrecorded_since is None
            await wait_for(lambda: "not recorded" not in progress.format() and " 0 of " not in progress.format(), 15,
                           lambda: f"the run's progress line once stored: {progress.format()}")
        finally:
            await console.close()

    run(qloop, scenario())
