"""The order ticket's verdict and what Send confirms are the newest check's (the real window,
offscreen, demo simulator): the ticket checks itself after each pause in the typing, so checks
overlap; an older check finishing last became what Send confirmed while the ticket showed the
newer verdict (the service then refused the send, and a LIVE confirmation named the older order)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.app.conftest import run
from tests.fixtures.ib import wait_for

# end-to-end in the whole window (a console each): the whole suite, not --quick
pytestmark = pytest.mark.slow


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_an_older_check_finishing_last_is_not_what_send_confirms(qloop, open_console, monkeypatch):
    async def scenario():
        console = await open_console()
        sim, desk = console.sim, console.controller.desk
        manual = desk.manual
        real_check = manual.check
        held, release = asyncio.Event(), asyncio.Event()

        async def seven_answered_late(ticket):
            check = await real_check(ticket)
            if ticket.quantity == 7 and not held.is_set():
                held.set()  # the check of 7 shares, answered after the one of 9
                await release.wait()
            return check

        monkeypatch.setattr(manual, "check", seven_answered_late)
        try:
            sim.set_price("AAPL", "100")
            dialog = desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(7)})
            await wait_for(held.is_set, 10, "the check of 7 shares")
            dialog.amount_edit.setText("9")
            dialog.amount_edit.textEdited.emit("9")
            await wait_for(lambda: dialog.send_button.text() == "Send BUY 9 AAPL" and dialog.send_button.isEnabled(), 10,
                           lambda: f"the verdict for 9 shares: {dialog.verdict_label.text()}")
            release.set()
            await wait_for(lambda: "Check order" not in console.controller.runner.running(), 10, "the older check's end")
            assert dialog.send_button.text() == "Send BUY 9 AAPL"
            dialog.send_button.click()
            await wait_for(lambda: sim.orders() or dialog.verdict_label.text().startswith("Not sent"), 20,
                           lambda: f"the send: {dialog.verdict_label.text()}")
            assert [(o.symbol, o.quantity) for o in sim.orders()] == [("AAPL", Decimal(9))], dialog.verdict_label.text()
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_check_asked_before_a_send_and_answered_after_it_does_not_switch_send_on_again(qloop, open_console, monkeypatch):
    """A check of the very fields sent (the typing pause's, or a price suggested under the
    verdict) still on its way when Send was clicked: answered after the send, it put "Risk:
    passed" over the send's outcome and switched Send on again for the order just sent (seen in
    tests/app/test_desk.py under load): one more click sent it twice."""

    async def scenario():
        console = await open_console()
        sim, desk = console.sim, console.controller.desk
        manual = desk.manual
        real_check = manual.check
        hold = {"on": False}
        held, release = asyncio.Event(), asyncio.Event()

        async def answered_late_when_held(ticket):
            check = await real_check(ticket)
            if hold["on"] and not held.is_set():
                held.set()
                await release.wait()
            return check

        monkeypatch.setattr(manual, "check", answered_late_when_held)
        try:
            sim.set_price("AAPL", "100")
            dialog = desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(7)})
            await wait_for(lambda: dialog.send_button.isEnabled(), 10, lambda: f"the verdict: {dialog.verdict_label.text()}")
            hold["on"] = True
            dialog.request_check()  # the same fields checked again, its answer held
            await wait_for(held.is_set, 10, "the second check")
            dialog.send_button.click()
            await wait_for(lambda: dialog.verdict_label.text().startswith("Sent BUY 7 AAPL"), 20,
                           lambda: f"the send's outcome: {dialog.verdict_label.text()}")
            release.set()
            await wait_for(lambda: "Check order" not in console.controller.runner.running(), 10, "the held check's end")
            assert dialog.verdict_label.text().startswith("Sent BUY 7 AAPL"), dialog.verdict_label.text()
            assert not dialog.send_button.isEnabled()
            assert [(o.symbol, o.quantity) for o in sim.orders()] == [("AAPL", Decimal(7))]
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)
