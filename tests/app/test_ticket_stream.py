"""The order ticket's own quote stream in the real window offscreen against the simulator: a
stream IB ends while the ticket follows it is said in the ticket ("not following the market:
..."), which keeps the last prices; the symbol typed again asks IB again. Of two symbols chosen
quickly, the later one is shown and streamed, the earlier stream released."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtTest import QTest

from services.execution import ib_quotes
from services.ibsim import IBGatewaySimulator
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


@pytest.mark.slow  # over 3 s a case: out of --quick (README), in the whole suite
@pytest.mark.parametrize("while_", ["its quote is read", "its stream starts"])
def test_the_later_of_two_quick_symbol_choices_wins_and_the_earlier_stream_is_released(qloop, open_console, monkeypatch,
                                                                                        while_):
    """The symbol changed while the first listing's quote was read or its stream was starting
    (IB's answers not in yet): both quote tasks ran; the first, finishing last, showed IBM under
    the symbol MSFT, or (claiming its stream only once started) kept IBM streamed, holding a
    market data line, until the ticket closed. The later choice wins now."""
    answer_market_data = IBGatewaySimulator._handlers[1]
    asked_ibm: list[list[str]] = []

    def ibm_answered_late(server, session, fields):  # IBM's snapshot and stream answer slowly; the others at once
        if "IBM" in fields:
            asked_ibm.append(fields)
            asyncio.get_running_loop().call_later(1.0, answer_market_data, server, session, fields)
        else:
            answer_market_data(server, session, fields)

    monkeypatch.setitem(IBGatewaySimulator._handlers, 1, ibm_answered_late)
    monkeypatch.setattr(ib_quotes, "STREAM_ANSWER_WAIT", 5.0)  # the first answer awaited, not given up on

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        desk, provider = controller.desk, console.stack.provider
        try:
            w.ticket_action.trigger()  # F2
            dialog = desk.ticket
            dialog.symbol_edit.setText("IBM")
            controller.runner.run(desk.show_quote("IBM"), what="Quote")
            if while_ == "its quote is read":
                await wait_for(lambda: asked_ibm, 10, "IBM's price asked for, its answer not in")
            else:
                await wait_for(lambda: provider.streamed_quote("IBM") is not None, 10, "IBM's stream asked for, its answer not in")
            dialog.symbol_edit.setText("MSFT")  # changed meanwhile
            controller.runner.run(desk.show_quote("MSFT"), what="Quote")
            await wait_for(lambda: "Quote" not in controller.runner.running(), 15, "both quote tasks' end")
            assert dialog.quote_label.text().startswith("MSFT: "), dialog.quote_label.text()
            assert provider.streamed_quote("MSFT") is not None
            await wait_for(lambda: provider.streamed_quote("IBM") is None, 5,
                           "IBM's stream released (the old code kept it until the ticket closed)")
            assert provider.stream_lines() == 1
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # over 3 s a case: out of --quick (README), in the whole suite
def test_a_symbol_typed_over_another_gets_its_quote_with_its_verdict_before_the_field_is_left(qloop, open_console):
    """Walked under Xvfb: the ticket reopened on NVDA, AAPL typed over it; after the typing pause
    the verdict was AAPL's while the quote above it stayed NVDA's until the field was left
    (editingFinished alone asked for a quote)."""

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        desk = console.controller.desk
        try:
            sim.set_price("IBM", "200")
            sim.set_price("AAPL", "230")
            w.ticket_action.trigger()  # F2
            dialog = desk.ticket
            QTest.keyClicks(dialog.symbol_edit, "IBM")
            dialog.symbol_edit.editingFinished.emit()
            await wait_for(lambda: dialog.quote_label.text().startswith("IBM:"), 10, "IBM's quote")
            dialog.amount_edit.setText("10")

            dialog.symbol_edit.selectAll()
            QTest.keyClicks(dialog.symbol_edit, "AAPL")  # still in the field: no editingFinished
            await wait_for(lambda: "AAPL" in dialog.verdict_label.text(), 10,
                           lambda: f"AAPL's verdict: {dialog.verdict_label.text()!r}")
            await wait_for(lambda: dialog.quote_label.text().startswith("AAPL:"), 10,
                           lambda: f"AAPL's quote beside its verdict, not {dialog.quote_label.text()!r}")
        finally:
            await console.close()

    run(qloop, scenario())
