"""In LIVE mode the window asks for the word before a global Cancel All, and that confirmation
says what the global cancel does to the login's other accounts as the first question did: their
runs stop sending and their orders not sent yet (and those at the broker) are canceled. It named
only the login's accounts whose orders the broker cancels ("every open order of the login's
accounts ..."), and the trader typed the word without reading that other accounts' runs stop.
The words are the service's (OrderActions.global_cancel_also), the first question's too; a login
of one account hears nothing of other accounts."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog, QMessageBox

from services.domain import TradeMode
from services.live_word import LiveWord
from tests.app.conftest import run
from tests.app.test_cancel_all_question_names_accounts import CONNECTED, THIRD
from tests.execution.test_cancel_all_other_accounts import OTHER
from tests.fixtures.ib import wait_for

pytestmark = pytest.mark.slow  # a real window against the simulator

ALSO = (f"The global cancel also acts on the login's other accounts {OTHER}, {THIRD}: their runs stop "
        "sending, and their orders not sent yet and those working at the broker are canceled.")


def _answered(monkeypatch) -> tuple[list[str], list[str]]:
    """The first question (real, offscreen) answered "Cancel everything at the broker", then the
    LIVE confirmation (real, offscreen) read and refused: nothing is canceled. Their words."""
    from widgets.dialogs.live_confirm import LiveConfirmDialog

    asked: list[str] = []
    confirmed: list[str] = []

    def everything(box):
        asked.append(box.text() + "\n" + box.informativeText())
        next(b for b in box.buttons() if b.text() == "Cancel everything at the broker").click()
        return 0

    def refuse(dialog):
        confirmed.append(dialog.windowTitle() + "\n" + dialog.subject_text())
        dialog.reject()
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(QMessageBox, "exec", everything)
    monkeypatch.setattr(LiveConfirmDialog, "exec", refuse)
    return asked, confirmed


@pytest.mark.parametrize("accounts", [(CONNECTED, OTHER, THIRD), (CONNECTED,)], ids=["login-of-three", "login-of-one"])
def test_the_live_cancel_all_confirmation_says_the_other_accounts_runs_stop_and_their_unsent_orders_are_canceled(
        qloop, open_console, monkeypatch, accounts):
    asked, confirmed = _answered(monkeypatch)

    async def scenario():
        console = await open_console(accounts=accounts)
        try:
            assert console.stack.provider.login_accounts() == accounts
            console.controller.ctx.live_word = LiveWord(TradeMode.LIVE)  # a LIVE session, its word not typed yet
            console.window.blotter_view.cancel_all_button.click()
            await wait_for(lambda: confirmed, 10, "the LIVE Cancel All confirmation")
        finally:
            await console.close()

    run(qloop, scenario())
    [question], [confirmation] = asked, confirmed
    assert confirmation.startswith("Cancel every LIVE order at the broker\n")
    if len(accounts) > 1:
        assert f"every open order of the login's accounts {CONNECTED}, {OTHER}, {THIRD}" in confirmation
        assert ALSO in confirmation and ALSO in question  # the same words, read before the word is typed
    else:
        assert OTHER not in confirmation and "other account" not in confirmation
