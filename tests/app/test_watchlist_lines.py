"""The watchlist in the real window when the account's market data lines run out: a saved listing
beyond them keeps its row, which reads "refused" and says why in its tooltip and in the activity
log; a listing typed in then is refused with the same words and not added; once a line is freed,
the refused listing typed again streams. The lines come from the settings ([ib] market_data_lines)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from tests.app.conftest import run
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.slow  # a whole console against the simulator

LINES_IN_USE = "IB's market data lines are all in use (2;"


@pytest.fixture
def console_settings(console_settings):
    """An account with 2 market data lines and 3 listings saved on its watchlist."""
    return replace(console_settings, ib=replace(console_settings.ib, market_data_lines=2),
                   ui=replace(console_settings.ui, watchlist=("AAPL", "MSFT", "AMZN")))


def test_a_watchlist_row_beyond_the_accounts_lines_says_so_and_a_new_listing_is_refused(qloop, open_console):
    async def scenario():
        console = await open_console()
        w = console.window
        model, view = w.quotes_model, w.watchlist_view
        try:
            assert console.stack.provider.market_data_lines == 2  # from the settings
            await wait_until(lambda: all((q := model.get(k)) is not None and q.bid is not None for k in ("AAPL", "MSFT")),
                             10, "the quotes of the two listings that have a line")
            row = view.keys().index("AMZN")
            await wait_until(lambda: model.display_text(row, model.DATA) == "refused", 10,
                             lambda: f"AMZN's row says it has no line: {model.display_text(row, model.DATA)!r}")
            tooltip = model.data(model.index(row, model.DATA), Qt.ItemDataRole.ToolTipRole)
            assert tooltip.startswith("AMZN: ") and LINES_IN_USE in tooltip
            assert model.get("AMZN").bid is None
            assert any(e.text == tooltip for e in w.activity_log.entries())

            view.symbol_edit.setText("NVDA")
            view.symbol_edit.returnPressed.emit()
            await wait_until(lambda: view.message_label.text().startswith("NVDA: "), 10, "NVDA refused")
            assert LINES_IN_USE in view.message_label.text()
            assert model.get("NVDA") is None and view.keys() == ["AAPL", "MSFT", "AMZN"]
            assert console.controller.desk.settings_part.settings.ui.watchlist == ("AAPL", "MSFT", "AMZN")

            # a line freed: the refused listing streams, without typing it again
            await console.controller.desk.remove("AAPL")
            await wait_until(lambda: (q := model.get("AMZN")) is not None and q.bid is not None, 10, "AMZN's quotes")
            row = view.keys().index("AMZN")
            assert model.display_text(row, model.DATA) == "live" and view.message_label.text() == ""
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_tickets_quote_with_no_line_left_says_it_does_not_follow_the_market(qloop, open_console):
    """Seen under Xvfb with 2 lines, both held by the watchlist: the ticket on IBM showed
    "IBM: 214.29 / live data · tick 0.01" and never moved, while the stream it asked for had been
    refused (said only in the log file). The ticket now says its price is not followed, and why."""

    async def scenario():
        console = await open_console()
        w, desk = console.window, console.controller.desk
        try:
            await wait_until(lambda: all((q := w.quotes_model.get(k)) is not None and q.bid is not None
                                         for k in ("AAPL", "MSFT")), 10, "the two listings that have a line")
            w.ticket_action.trigger()  # F2
            dialog = desk.ticket
            dialog.symbol_edit.setText("IBM")
            await desk.show_quote("IBM")  # what the symbol's editingFinished runs
            text = dialog.quote_label.text()
            assert text.startswith("IBM: ") and "not following the market: IBM: " + LINES_IN_USE in text, text
            # a watched listing whose row reads refused has no stream for the ticket either
            await wait_until(lambda: console.controller.desk.quotes.is_refused("AMZN"), 10, "AMZN's row refused")
            dialog.symbol_edit.setText("AMZN")
            await desk.show_quote("AMZN")
            text = dialog.quote_label.text()
            assert text.startswith("AMZN: ") and "not following the market: AMZN: " + LINES_IN_USE in text, text
            dialog.close()
        finally:
            await console.close()

    run(qloop, scenario())
