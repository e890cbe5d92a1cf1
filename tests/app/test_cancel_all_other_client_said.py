"""Cancel All's question names the orders another API client id placed, which "This console's
orders" (one cancel each) cannot cancel from this session, in the words a row's Cancel refuses
them with; it named none of them, and the trader learnt it only from the outcome after. The
outcome says the same words."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtWidgets import QMessageBox

from services.domain import OrderState, OrderType, Side
from services.execution.errors import BrokerError
from tests.app.conftest import run
from tests.execution.conftest import build_stack
from tests.execution.test_actions import _settle
from tests.fixtures.ib import wait_for

pytestmark = pytest.mark.slow  # a real window against the simulator, beside a second API client


def test_cancel_all_names_the_orders_another_client_id_placed_before_and_after(qloop, open_console, monkeypatch):
    shown: list[str] = []

    def one_by_one(box):  # the real question, offscreen: "Cancel this console's orders"
        shown.append(box.text() + "\n" + box.informativeText())
        next(b for b in box.buttons() if b.text().startswith("Cancel this console's orders")).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", one_by_one)

    async def scenario():
        console = await open_console()
        w = console.window
        other = await build_stack(console.stack.db, console.stack.simulator, client_id=11,
                                  account=console.stack.provider.account)
        try:
            record = await other.actions.manual_order("MSFT", Side.BUY, Decimal(5), OrderType.LMT, Decimal("405.00"))
            await _settle(other, record.id, {OrderState.ACCEPTED})
            with pytest.raises(BrokerError) as refused:  # a row's Cancel, from the window's session
                await console.stack.actions.cancel(record.id)
            words = str(refused.value)
            assert words.startswith(f"order {record.id} ({record.client_order_id}) was placed by API client id 11")
            w.blotter_view.cancel_all_button.click()
            await wait_for(lambda: shown, 10, "the Cancel All question")
            assert f"1 of them is not canceled that way: {words}." in shown[0], shown[0]
            said = f"Cancel All: 1 order not canceled: {words}"  # the outcome, a warning that stays
            await wait_for(lambda: w.statusBar().currentMessage() == said, 10, lambda: w.statusBar().currentMessage())
        finally:
            await other.close()
            await console.close()

    run(qloop, scenario())
