"""The Replace dialog shows the replace's risk verdict as the trader types, as the order ticket
does, and enables Replace only when it passes. It said "after the risk check" and ran the check
only on the click: a replace the rules block (max_position_ratio) came back in an error box
after it. The real window, blotter, dialog and controller against the simulator; the dialog
opened from a Qt slot, as a right-click opens it (its own event loop answers the check)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtTest import QTest
from shiboken6 import isValid

from services.db.repositories import SettingsRepository
from services.domain import OrderState, OrderType, Side
from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from tests.fixtures.menus import shown_text

pytestmark = pytest.mark.timeout(120)


def exec_with_a_deadline(opened: list):
    """``exec()`` as Qt runs it (the dialog shown modal, a nested event loop until it is closed),
    each dialog put in ``opened``, closed after a deadline: offscreen nobody clicks, and
    pytest-timeout's alarm does not fire inside a nested loop (tests/fixtures/modal_guard.py)."""

    def exec_(dialog) -> int:
        opened.append(dialog)
        loop = QEventLoop()
        dialog.finished.connect(loop.quit)
        QTimer.singleShot(60_000, loop.quit)
        dialog.setModal(True)
        dialog.show()
        loop.exec()
        if dialog.isVisible():
            dialog.reject()
        return dialog.result()

    return exec_


def test_the_replace_dialog_shows_the_risk_verdict_and_replace_is_off_for_a_blocked_replace(qloop, open_console, monkeypatch):
    monkeypatch.setattr("widgets.views.blotter.confirm", lambda *a, **k: True)
    opened: list = []
    monkeypatch.setattr("widgets.views.blotter.ReplaceDialog.exec", exec_with_a_deadline(opened))

    async def scenario():
        console = await open_console()
        w, sim, controller = console.window, console.sim, console.controller
        blotter = w.blotter_view
        try:
            limit = (sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
            order = await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(100), OrderType.LMT, limit)
            await wait_for(lambda: (r := w.orders_model.get(order.id)) is not None and r.status is OrderState.ACCEPTED,
                           10, "the resting order in the blotter")
            with console.stack.db.unit_of_work() as session:
                settings = SettingsRepository(session)
                limits = settings.risk_defaults()
                settings.set_risk_defaults({**limits, "max_position_ratio": "0.0001"})  # any AAPL position is too big

            menu = blotter.context_menu_for(w.orders_model.get(order.id))
            replace_item = next(a for a in menu.actions() if shown_text(a.text()).startswith("Replace"))
            QTimer.singleShot(0, replace_item.trigger)  # from the loop, not this task: the dialog's exec() runs its own
            await wait_for(lambda: opened and opened[-1].isVisible(), 10, "the Replace dialog open")
            dialog = opened[-1]
            dialog.quantity_edit.selectAll()
            QTest.keyClicks(dialog.quantity_edit, "120")
            assert not dialog.ok_button.isEnabled()  # not before its verdict (it was on: the check came after the click)
            await wait_for(lambda: dialog.verdict_label.text().startswith("Not replaceable"), 10,
                           lambda: f"the blocked verdict; the dialog says {dialog.verdict_label.text()!r}")
            assert "max_position_ratio" in dialog.verdict_label.text() and dialog.verdict_label.isVisible()
            assert not dialog.ok_button.isEnabled()
            dialog.accept()  # Enter: nothing goes
            assert dialog.isVisible() and controller.last_error is None

            # the rule as it was: the same replace typed again passes, and Replace sends it
            with console.stack.db.unit_of_work() as session:
                SettingsRepository(session).set_risk_defaults(limits)
            dialog.quantity_edit.selectAll()
            QTest.keyClicks(dialog.quantity_edit, "110")
            await wait_for(lambda: dialog.verdict_label.text() == "Risk: passed.", 10,
                           lambda: f"the passing verdict; the dialog says {dialog.verdict_label.text()!r}")
            assert dialog.ok_button.isEnabled()
            dialog.ok_button.click()
            said = f"Replace {order.client_order_id} to 110 @ {limit:,.2f}: modified at the broker"
            await wait_for(lambda: any(e.text == said for e in w.activity_log.entries()), 10,
                           lambda: f"{said!r} in {[e.text for e in w.activity_log.entries()]}")
            assert not isValid(dialog) or not dialog.isVisible()  # closed (and deleted after its exec)
        finally:
            for left in opened:
                if isValid(left) and left.isVisible():
                    left.reject()
            await console.close()

    run(qloop, scenario())
