"""The window's line after Reconcile with the broker (Ctrl+R), in the real window offscreen
against the simulator: the words of services.execution.reconcile_words, not the report's dict
("Reconciled: {'time': ..., 'open_orders': 0, ...}")."""

from __future__ import annotations

from services.execution.reconcile_words import describe_reconcile
from tests.app.conftest import run
from tests.fixtures.waiting import wait_until


def test_the_reconcile_line_is_said_in_words(qloop, open_console):
    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            def said() -> list[str]:
                return [e.text for e in w.activity_log.entries() if e.text.startswith("Reconciled")]

            # the connection's own reconciliation at the start is said too (said once)
            assert len(said()) == 1
            w.reconcile_requested.emit()
            await wait_until(lambda: len(said()) == 2, 15, "the reconciliation's line in the activity log")
            await wait_until(lambda: "Reconcile" not in controller.runner.running(), 15, "the reconciliation's end")
            line = said()[-1]
            assert line == describe_reconcile(console.stack.reconciler.last_report)
            assert "{" not in line
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_restart_whose_simulator_lost_a_working_order_says_which_order_it_closed_and_why(
        qloop, open_console, console_settings):
    """The demo restarted and its simulator does not hold the last session's working order (the
    order taken out of demo-simulator-state.json, a kill -9): the connect's reconciliation closes
    it as never received. Before, the activity log said "1 order IB does not know closed as never
    received" and no more: which order, among the day's, the trader had to find in the blotter."""
    import json
    from decimal import Decimal

    from services.domain import OrderState, OrderType, Side

    async def scenario():
        first = await open_console()
        try:
            limit = (first.sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))  # rests: no walk in tests
            order = await first.stack.actions.manual_order("AAPL", Side.BUY, Decimal(5), OrderType.LMT, limit)
            await wait_until(lambda: (r := first.window.orders_model.get(order.id)) is not None
                             and r.status is OrderState.ACCEPTED, 10, "the working order")
        finally:  # everything but the window (closing the last window would stop the test's loop)
            first.controller.close()
            await first.controller.runner.drain(timeout=5)
            await first.stack.close()
        # the simulator's saved state without the order (as after a kill -9 before it saved it)
        state_file = console_settings.data_dir / "demo-simulator-state.json"
        state = json.loads(state_file.read_text())
        assert [o["order_ref"] for o in state["orders"]] == [order.client_order_id]
        state_file.write_text(json.dumps({**state, "orders": []}))
        console = await open_console()
        first.window.close()
        w = console.window
        try:
            await wait_until(lambda: (r := w.orders_model.get(order.id)) is not None and r.status is OrderState.CANCELED,
                             15, lambda: f"the order closed: {w.orders_model.get(order.id)} {console.stack.reconciler.last_report} {console.sim.orders()}")
            [line] = [e.text for e in w.activity_log.entries() if e.text.startswith("Reconciled")]
            assert line == describe_reconcile(console.stack.reconciler.last_report)
            assert (f"1 order IB does not know closed as never received (BUY 5 AAPL LMT {limit:,.2f}, "
                    f"{order.client_order_id})") in line, line
        finally:
            await console.close()

    run(qloop, scenario())
