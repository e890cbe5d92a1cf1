"""The Positions panel's "Assign to project…" on an unassigned line: the window's way to what
the ``assign`` command does (services.books.BooksService.assign, audited). Before, a sale from a
project's book of shares the account held unassigned was refused as short, the refusal naming
`assign`, and the window had no way to assign them. The real window offscreen, the real
simulator (another API client's fill, as a trade in TWS), SQLite and MariaDB."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from sqlalchemy import select

from services.core.books import UNASSIGNED
from services.db.models import AuditLog, Position
from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from tests.fixtures.menus import shown_text
from widgets.dialogs.assign import CHOOSE_PROJECT
from widgets.views.positions import BOOK

DEMO_PROJECT = "Demo momentum"


def _line_item(tree, group_kind: str, symbol: str):
    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        key = group.data(BOOK, Qt.ItemDataRole.UserRole)
        if key and key[0] == group_kind:
            for j in range(group.childCount()):
                child = group.child(j)
                if child.text(BOOK).startswith(symbol):
                    return child
    return None


def _menu_of(view, item):
    """The context menu the panel opens on ``item`` (a right click there), and its actions' texts."""
    menu = view.menu_at(view.tree.visualItemRect(item).center())
    assert menu is not None
    return [shown_text(a.text()) for a in menu.actions() if shown_text(a.text())], menu


def _stored(db, project_id=None, symbol="AAPL"):
    with db.session() as session:
        return {(p.project_id, p.symbol): p.quantity for p in session.scalars(select(Position).where(Position.symbol == symbol))}


def test_an_unassigned_line_is_assigned_to_a_projects_book_from_the_positions_panel(qloop, open_console):
    async def scenario():
        console = await open_console()
        w, sim, stack = console.window, console.sim, console.stack
        other = None
        try:
            sim.set_price("AAPL", "100")
            from ib_async import IB, MarketOrder, Stock

            other = IB()  # another API client (as a trade in TWS): the account holds what no book does
            await other.connectAsync("127.0.0.1", sim.port, clientId=9, timeout=5)
            [contract] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
            trade = other.placeOrder(contract, MarketOrder("BUY", 10, orderRef="by-hand"))
            await wait_for(lambda: trade.orderStatus.status == "Filled", 10, "the other client's order filled")
            await console.controller.orders.reconcile()
            view = w.positions_view
            await wait_for(lambda: _line_item(view.tree, "unassigned", "AAPL") is not None, 10,
                           "the unassigned AAPL line in the panel")

            texts, _ = _menu_of(view, _line_item(view.tree, "unassigned", "AAPL"))
            assert "Assign to project…" in texts, texts
            account_texts, _ = _menu_of(view, _line_item(view.tree, "account", "AAPL"))
            assert "Assign to project…" not in account_texts  # the account's line holds every book's

            _, menu = _menu_of(view, _line_item(view.tree, "unassigned", "AAPL"))
            [assign] = [a for a in menu.actions() if shown_text(a.text()) == "Assign to project…"]
            assign.trigger()
            dialog = console.controller.books.dialog
            assert dialog is not None and dialog.isVisible()
            # prefilled with what no book holds, no project and no cost chosen for the trader
            assert (dialog.quantity_edit.text(), dialog.cost_edit.text()) == ("10", "")
            assert dialog.project_combo.currentText() == CHOOSE_PROJECT
            assert DEMO_PROJECT in [dialog.project_combo.itemText(i) for i in range(dialog.project_combo.count())]
            assert UNASSIGNED not in [dialog.project_combo.itemText(i) for i in range(dialog.project_combo.count())]

            async def refused_with(text: str) -> None:
                dialog.assign_button.click()
                await wait_for(lambda: dialog.error_label.text(), 10, f"a refusal with {text!r}")
                assert text in dialog.error_label.text(), dialog.error_label.text()
                assert dialog.isVisible() and dialog.assign_button.isEnabled() and dialog.assign_button.isDefault()

            await refused_with("choose the project whose book takes the shares")
            dialog.project_combo.setCurrentText(DEMO_PROJECT)
            await refused_with("cost per share: required")  # no default: the audit keeps what was stated
            # Assign pressed from the keyboard, refused, and Enter again: it assigns again. Seen under
            # Xvfb: the button was disabled while the service answered, the focus went to Cancel,
            # and the next Enter closed the dialog
            asked: list[dict] = []
            dialog.assign_requested.connect(asked.append)
            dialog.activateWindow()
            dialog.assign_button.setFocus()
            QTest.keyClick(dialog.assign_button, Qt.Key.Key_Return)
            await wait_for(lambda: asked and dialog.error_label.text(), 10, lambda: f"Enter's request: {asked}")
            asked.clear()
            QTest.keyClick(dialog.focusWidget(), Qt.Key.Key_Return)
            await wait_for(lambda: asked and dialog.error_label.text(), 10, lambda: f"Enter's request: {asked}")
            assert dialog.isVisible() and "cost per share: required" in dialog.error_label.text()
            dialog.cost_edit.setText("1e2")
            await refused_with("cost per share: must be a number in digits, without an exponent: '1e2'")
            dialog.cost_edit.setText("99.5")
            dialog.quantity_edit.setText("12")
            await refused_with("not enough unassigned AAPL")  # the service's words, as `assign` says them
            assert (stack.db and _stored(stack.db)) == {(None, "AAPL"): Decimal(10)}  # nothing assigned

            dialog.quantity_edit.setText("4")
            dialog.assign_button.click()
            await wait_for(lambda: not dialog.isVisible(), 10, lambda: f"the dialog closed: {dialog.error_label.text()!r}")
            demo_id = {name: pid for pid, name in w.positions_model.project_names().items()}[DEMO_PROJECT]
            assert _stored(stack.db) == {(None, "AAPL"): Decimal(10), (demo_id, "AAPL"): Decimal(4)}
            with stack.db.session() as session:
                [entry] = [e for e in session.scalars(select(AuditLog)) if e.action == "position.assign"]
            assert (entry.payload["project"], entry.payload["quantity"], entry.payload["cost"]) == (DEMO_PROJECT, "4", "99.5")
            # the panel shows the project's book holding them and the rest unassigned
            await wait_for(lambda: (u := _line_item(view.tree, "unassigned", "AAPL")) is not None and u.text(1) == "6", 10,
                           "6 AAPL left unassigned in the panel")
            assert _line_item(view.tree, "project", "AAPL").text(1) == "4"
            assert sim.orders() and all(o.symbol == "AAPL" and o.quantity == 10 for o in sim.orders())  # nothing sent
        finally:
            if other is not None:
                other.disconnect()
            await console.close()

    run(qloop, scenario())
