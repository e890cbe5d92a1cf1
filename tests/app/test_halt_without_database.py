"""The window's Halt and Cancel All while its MariaDB server is down (a private ``mariadbd`` the
test kills and starts again: tests/fixtures/mariadb.py). Both asked the database first how many
orders were working and, with no answer, showed an error and no question: the trader could
neither halt nor cancel while orders were working at the broker. Now the question says the
count is unknown, the halt holds in the window at once (said as not recorded yet), Cancel All
goes to the broker, and both are recorded when the database answers
(services/execution/unrecorded.py). The orders canceled at the broker meanwhile are shown so,
marked not recorded (services/execution/unrecorded_reports.py): they stayed ACCEPTED."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt

from services.domain import OrderState, OrderType, Side, TradingState
from services.execution.errors import TradingHalted
from tests.app.conftest import demo_settings, run
from tests.fixtures.ib import wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # a private server killed and started again


@pytest.fixture
def console_settings(private_mariadb_url, tmp_path):  # the trading window on the private server
    return demo_settings(private_mariadb_url, tmp_path)


def test_halt_and_cancel_all_while_the_database_is_down_go_through_and_are_recorded_when_it_returns(
        qloop, open_console, private_mariadb, monkeypatch):
    asked: list[tuple[str, str]] = []

    def confirm(_parent, title, text):
        asked.append((title, text))
        return True

    scopes: list[int | None] = []

    def ask_scope(_parent, working, **_kwargs):
        scopes.append(working)
        return "broker"

    monkeypatch.setattr("widgets.views.blotter.confirm", confirm)
    monkeypatch.setattr("widgets.views.blotter.ask_cancel_all_scope", ask_scope)

    async def scenario():
        console = await open_console()
        w, sim, actions = console.window, console.sim, console.stack.actions
        actions.unrecorded.retry_initial = actions.unrecorded.retry_max = 0.1

        def said() -> str:
            return "\n".join(entry.text for entry in w.activity_log.entries())

        def working_at_broker() -> list[str]:
            return [o.order_ref for o in sim.orders() if o.status in ("Submitted", "PreSubmitted")]

        def status_shown(placed) -> tuple[str, str]:
            """The blotter's Status cell of ``placed``: its text and its tooltip."""
            model = w.orders_model
            index = model.index(model.row_of(placed.id), model.STATUS)
            return index.data(Qt.ItemDataRole.DisplayRole), index.data(Qt.ItemDataRole.ToolTipRole) or ""

        async def shown_canceled_not_recorded(placed) -> None:
            # the broker's Cancelled, kept by the writer, on the row: before, the row stayed ACCEPTED
            await wait_for(lambda: (r := w.orders_model.get(placed.id)) is not None and r.unrecorded_since is not None,
                           20, lambda: f"the broker's cancel on the row: {w.orders_model.get(placed.id)}")
            text, tip = status_shown(placed)
            assert text == "CANCELED (not recorded)", text
            assert "not recorded yet: the database does not answer" in tip, tip

        try:
            limit = (sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
            order = await actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.LMT, limit)
            # sent as the ticket sends it: a run of its own, whose progress the window follows
            assert await console.controller.desk.send({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(5),
                                                       "order_type": "LMT", "limit_price": limit,
                                                       "project": "Demo momentum"}) is not None
            await wait_for(lambda: any(r.quantity == 5 for r in w.orders_model.records()), 10, "the ticket's order")
            [row_canceled] = [r for r in w.orders_model.records() if r.quantity == 5]
            for placed in (order, row_canceled):
                await wait_for(lambda o=placed: (r := w.orders_model.get(o.id)) is not None and r.status is OrderState.ACCEPTED,
                               10, "the resting orders in the blotter")
            # the ticket's run, followed: its progress line
            progress = w.preview_view.progress
            await wait_for(lambda: progress.format().endswith("· 1 working"), 15,
                           lambda: f"the run's progress line: {progress.format()}")
            await asyncio.to_thread(private_mariadb.kill)
            # the window's database label says it while it lasts (the status bar's messages come and go)
            status = w.connection_status
            await wait_for(lambda: "database unreachable since" in status.database_label.text(), 15,
                           lambda: f"the database label: {status.database_label.text()}")
            assert status.database_label.property("state") == "disconnected"

            # a row's Cancel (the blotter's intent, as its right-click menu emits it) goes by the row as shown
            w.blotter_view.cancel_requested.emit(row_canceled.id)
            await wait_for(lambda: working_at_broker() == [order.client_order_id], 15,
                           lambda: f"the row's order canceled at the broker: {working_at_broker()}")
            await wait_for(lambda: "requested at the broker; the database did not answer" in said(), 15,
                           lambda: f"the row's cancel said: {said()}")
            await shown_canceled_not_recorded(row_canceled)
            assert "working" not in progress.format(), progress.format()  # it was "· 1 working" till written

            w.blotter_view.halt_button.click()
            await wait_for(lambda: asked, 15, "the halt question")
            [(title, text)] = asked
            assert title == "Halt trading" and "The database did not answer" in text, text
            await wait_for(lambda: w.blotter_view.trading_state is TradingState.HALTED, 15, "the window halted")
            assert "the halt is not recorded yet: the database did not answer" in said(), said()
            with pytest.raises(TradingHalted):  # held in this window meanwhile
                await actions.manual_order("AAPL", Side.BUY, Decimal(1), OrderType.LMT, limit)

            w.blotter_view.cancel_all_button.click()
            await wait_for(lambda: scopes, 15, "the Cancel All question")
            assert scopes == [None]  # the count unknown, said so in the question
            await wait_for(lambda: not working_at_broker(), 15, lambda: f"canceled at the broker: {working_at_broker()}")
            await wait_for(lambda: "Global cancel sent to the broker" in said(), 15, "the Cancel All said")
            await shown_canceled_not_recorded(order)

            await asyncio.to_thread(private_mariadb.start)
            assert await actions.unrecorded.wait_written(60), f"still unrecorded: {actions.unrecorded.waiting}"
            for placed in (order, row_canceled):
                await wait_for(lambda o=placed: (r := w.orders_model.get(o.id)) is not None and r.status is OrderState.CANCELED
                               and r.unrecorded_since is None,
                               60, "the broker's cancels in the blotter, as stored, once the database answered")
                assert status_shown(placed)[0] == "CANCELED"
            assert w.blotter_view.trading_state is TradingState.HALTED
            await wait_for(lambda: "unreachable" not in status.database_label.text(), 15, "the database label back")
            assert status.database_label.property("state") == "" and "Database reachable again" in said()
            await wait_for(lambda: all(f"Recorded now: the {what} asked at" in said()
                                       for what in ("halt", "Cancel All", f"cancel of order {row_canceled.id}")),
                           15, lambda: f"the late records said: {said()}")
        finally:
            await console.close()

    run(qloop, scenario(), timeout=150)
