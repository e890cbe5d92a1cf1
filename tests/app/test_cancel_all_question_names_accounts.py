"""The window's Cancel All question says what the global cancel ("everything at the broker") does
to the login's other accounts: it stops their runs and cancels their unsent and working orders
too (CancelAll._acted_on). It said "every open order of the login" without naming them, and a
trader of one account of a shared login could take it for their own account's. The words are the
service's (OrderActions.global_cancel_also), through the controller; a login of one account
hears nothing of other accounts."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.app.conftest import run
from tests.execution.test_cancel_all_other_accounts import OTHER
from tests.fixtures.ib import wait_for

pytestmark = pytest.mark.slow  # a real window against the simulator

CONNECTED = "DU1234567"
THIRD = "DU5550001"


def _asked(monkeypatch) -> list[str]:
    """The Cancel All question's words as shown (the real question, offscreen), answered
    "Keep the orders": nothing is canceled."""
    shown: list[str] = []

    def keep(box):
        shown.append(box.text() + "\n" + box.informativeText())
        next(b for b in box.buttons() if b.text() == "Keep the orders").click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", keep)
    return shown


@pytest.mark.parametrize("accounts", [(CONNECTED, OTHER, THIRD), (CONNECTED,)], ids=["login-of-three", "login-of-one"])
def test_the_cancel_all_question_names_the_other_accounts_of_the_login(qloop, open_console, monkeypatch, accounts):
    shown = _asked(monkeypatch)

    async def scenario():
        console = await open_console(accounts=accounts)
        try:
            assert console.stack.provider.login_accounts() == accounts
            console.window.blotter_view.cancel_all_button.click()
            await wait_for(lambda: shown, 10, "the Cancel All question")
        finally:
            await console.close()

    run(qloop, scenario())
    [question] = shown
    if len(accounts) > 1:
        assert (f"The global cancel also acts on the login's other accounts {OTHER}, {THIRD}: their runs stop "
                "sending, and their orders not sent yet and those working at the broker are canceled.") in question
    else:
        assert OTHER not in question and "other account" not in question
