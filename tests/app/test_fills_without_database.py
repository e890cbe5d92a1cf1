"""A fill at the broker while the window's MariaDB server is down (a private ``mariadbd`` the test
kills and starts again: tests/fixtures/mariadb.py). The fills and the positions show what the
database holds, so the fill was in neither, and nothing said so: a trader read a position the
broker no longer had. Now both panels say which fills the database has not taken yet
(services/execution/unrecorded_reports.py), until the writer has stored them and the fill is a
row like any other."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from decimal import Decimal

import pytest

from services.core.wording import counted
from services.domain import OrderState, OrderType, Side
from tests.app.conftest import run
from tests.fixtures.ib import wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # a private server killed and started again


@pytest.fixture
def console_settings(private_mariadb_url, tmp_path):  # the trading window on the private server
    from app.settings import load_settings

    settings = load_settings(env={"TC_DATA_DIR": str(tmp_path / "data"), "TC_LOG_DIR": str(tmp_path / "logs"),
                                  "TC_CONFIG_FILE": str(tmp_path / "settings.toml")})
    return replace(settings, db_url=private_mariadb_url, profile="demo")


def test_a_fill_while_the_database_is_down_is_said_over_the_fills_and_positions_until_it_is_stored(
        qloop, open_console, private_mariadb):
    async def scenario():
        console = await open_console()
        w, sim, actions = console.window, console.sim, console.stack.actions
        fills_notice, positions_notice = w.fills_view.unrecorded_label, w.positions_view.unrecorded_label
        try:
            limit = (sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
            order = await actions.manual_order("AAPL", Side.BUY, Decimal(7), OrderType.LMT, limit)
            await wait_for(lambda: (r := w.orders_model.get(order.id)) is not None and r.status is OrderState.ACCEPTED,
                           10, "the resting order in the blotter")
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

            await asyncio.to_thread(private_mariadb.start)
            await wait_for(lambda: fills_notice.isHidden() and positions_notice.isHidden(), 60,
                           lambda: f"the notices gone once stored: {fills_notice.text()!r} {positions_notice.text()!r}")
            await wait_for(lambda: sum(f.quantity for f in w.fills_model.records() if f.order_id == order.id) == 7, 15,
                           "the fills as stored rows")
            assert w.orders_model.get(order.id).unrecorded_since is None
        finally:
            await console.close()

    run(qloop, scenario())
