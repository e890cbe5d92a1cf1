"""What a cancel did not do plainly is said in the window (the service's outcome, in its words):
Cancel All leaving another account's orders, and a row's Cancel that its run's sender beat to
the order (it went out as it was canceled: the cancel followed it to the broker)."""

from __future__ import annotations

from sqlalchemy import update

from services.db.models import TradeOrder
from services.db.repositories import OrderRepository
from services.domain import OrderState
from tests.app.conftest import run
from tests.execution.test_cancel_all_other_accounts import LEFT, OTHER, _orders_of_two_accounts
from tests.execution.test_cancel_loses_to_the_sender import (
    _claimed_as_it_is_read,
    _send_as_its_sender,
    _status,
)
from tests.execution.test_lease import _run_with_orders
from tests.fixtures.ib import wait_for


def _say_yes(monkeypatch):
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)
    monkeypatch.setattr("widgets.views.blotter.confirm", lambda *a, **k: True)
    monkeypatch.setattr("widgets.views.blotter.ask_cancel_all_scope", lambda *a, **k: "console", raising=False)


def _message(window) -> str:
    return window.statusBar().currentMessage()


def test_cancel_all_says_the_orders_of_another_account_it_left(qloop, open_console, monkeypatch):
    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            connected = console.stack.provider.account
            _orders_of_two_accounts(console.stack.db, connected)
            w.blotter_view.cancel_all_button.click()
            said = f"Cancel All: orders of another account: {LEFT.format(connected=connected)}"
            await wait_for(lambda: _message(w) == said, 10, lambda: _message(w))
            assert OTHER in said
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_cancel_its_sender_beat_says_it_followed_the_order_to_the_broker(qloop, open_console, monkeypatch):
    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console(market_hours="closed")  # the order rests, working
        w, stack = console.window, console.stack
        try:
            run_id, (coid,) = _run_with_orders(stack.db, 1)
            with stack.db.unit_of_work() as session:
                session.execute(update(TradeOrder).values(account=stack.provider.account))
            async with stack.service.leases.hold(run_id) as lease:
                _claimed_as_it_is_read(stack, lease, coid)
                flush, sent = stack.writer.flush, []

                async def sent_before_the_cancel_is_written(*args, **kwargs):
                    if not sent:
                        sent.append(await _send_as_its_sender(stack, lease, coid))
                    return await flush(*args, **kwargs)

                stack.writer.flush = sent_before_the_cancel_is_written
                with stack.db.session() as session:
                    order_id = OrderRepository(session).get_by_client_id(coid).id
                await wait_for(lambda: w.orders_model.get(order_id) is not None, 10, "the order in the blotter")
                w.blotter_view.cancel_requested.emit(order_id)
                await wait_for(lambda: "was being sent by its run's sender" in _message(w), 10, lambda: _message(w))
            assert _message(w) == (f"Cancel {coid}: order {order_id} ({coid}) was being sent by its run's sender as it "
                                   f"was canceled: cancel requested at the broker; its answer shows in the blotter")
            await wait_for(lambda: _status(stack.db, coid) is OrderState.CANCELED, 10, "canceled at the broker")
        finally:
            await console.close()

    run(qloop, scenario())


def test_cancel_all_warns_of_a_sender_still_at_work_after_the_wait(qloop, open_console, monkeypatch):
    """A run whose sender (another process's) still sent after Cancel All's wait may have orders
    working that the trader believes canceled: the window said it as an ordinary line, gone with
    the next message, while ``cancel-all`` wrote it to stderr. Now a warning that stays, in the
    command's words (CanceledOrders.left_notes)."""
    import asyncio

    from services.activity_log import Level

    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, stack = console.window, console.stack
        stack.actions.senders_timeout = 0.3
        try:
            run_id, coids = _run_with_orders(stack.db, 1)
            leases = stack.service.leases
            async with leases.hold(run_id) as lease:
                await asyncio.to_thread(leases.start_sending, lease)  # a sender at work that sees no marker
                await asyncio.to_thread(leases.claim_many, lease, coids)
                w.blotter_view.cancel_all_button.click()
                await wait_for(lambda: "still sending" in _message(w), 10, lambda: _message(w))
            said = [e for e in w.activity_log.entries() if "still sending" in e.text]
            assert [(e.level, e.text.split(": run ")[0]) for e in said] == [
                (Level.WARNING, "Cancel All: still sending after the wait (what they sent since may be working)")]
            assert f"run {run_id} (" in said[0].text
        finally:
            await console.close()

    run(qloop, scenario())


def test_cancel_all_says_the_cancels_the_broker_confirmed(qloop, open_console, monkeypatch):
    """Cancel All's line said the request ("Cancel All: ... sent"), and the activity log nothing
    when the broker confirmed the cancels: a trader scrolling it could not tell they happened.
    Each confirmation batch is a line of its own (services.activity_log.describe_cancels)."""
    from decimal import Decimal

    from services.domain import OrderType, Side

    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            working = await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(5), OrderType.LMT, Decimal("222"),
                                                               require_market_health=False)
            await wait_for(lambda: _status(console.stack.db, working.client_order_id) is OrderState.ACCEPTED, 10,
                           "the limit order working at the simulator")
            w.blotter_view.cancel_all_button.click()

            def said() -> list[str]:
                return [e.text for e in w.activity_log.entries() if "canceled at the broker" in e.text.lower()]

            await wait_for(lambda: said(), 10, lambda: [e.text for e in w.activity_log.entries()][-5:])
            await console.controller.runner.drain(timeout=10)  # Cancel All's own line said too
            assert said()[0] == f"Canceled at the broker: BUY 5 AAPL LMT 222.00 ({working.client_order_id})"
            # read in the order it happened: no request said after its answer (the simulator answers
            # at once, before Cancel All's call returns: "Cancel requested ..." came under the answer)
            texts = [e.text for e in w.activity_log.entries()]
            answered = texts.index(said()[0])
            assert not [t for t in texts[answered:] if t.startswith("Cancel requested")], texts
        finally:
            await console.close()

    run(qloop, scenario())
