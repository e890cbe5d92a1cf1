"""What a cancel did not do plainly is said in the window (the service's outcome, in its words):
Cancel All leaving another account's orders."""

from __future__ import annotations

from tests.app.conftest import run
from tests.execution.test_cancel_all_other_accounts import LEFT, OTHER, _orders_of_two_accounts
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
