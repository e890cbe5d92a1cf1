"""The order ticket's own quote stream in the real window offscreen against the simulator: a
stream IB ends while the ticket follows it is said in the ticket ("not following the market:
..."), which keeps the last prices; the symbol typed again asks IB again."""

from __future__ import annotations

from PySide6.QtTest import QTest

from tests.app.conftest import run
from tests.fixtures.ib import wait_for

NOT_FOLLOWING = "not following the market: IBM: no quotes, competing session (IB error 10197"


def test_a_stream_ib_ends_under_the_ticket_is_said_in_the_ticket(qloop, open_console, ib_log_guard):
    ib_log_guard.allow(r"Error 10197, reqId")

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        desk, provider = console.controller.desk, console.stack.provider
        try:
            sim.set_price("IBM", "200")
            w.ticket_action.trigger()  # F2
            dialog = desk.ticket
            QTest.keyClicks(dialog.symbol_edit, "ibm")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: "Bid 199.99 × Ask 200.01" in dialog.quote_label.text(), 10,
                           lambda: f"the ticket following IBM: {dialog.quote_label.text()!r}")
            assert w.quotes_model.get("IBM") is None  # the ticket's own stream: not on the watchlist

            assert sim.end_market_data("IBM", 10197) == 1  # a competing live session took the data
            await wait_for(lambda: NOT_FOLLOWING in dialog.quote_label.text(), 10,
                           lambda: f"the ticket saying its price stopped: {dialog.quote_label.text()!r}")  # the old code: no word
            assert dialog.quote_label.text().startswith("IBM: Bid 199.99 × Ask 200.01")  # the last prices kept
            assert provider.streamed_quote("IBM") is None

            sim.set_price("IBM", "203")
            dialog.symbol_edit.editingFinished.emit()  # the symbol entered again: IB asked again
            await wait_for(lambda: "Bid 202.99 × Ask 203.01" in dialog.quote_label.text()
                           and "not following" not in dialog.quote_label.text(), 10,
                           lambda: f"the ticket following IBM again: {dialog.quote_label.text()!r}")
            assert provider.streamed_quote("IBM") is not None
        finally:
            await console.close()

    run(qloop, scenario())
