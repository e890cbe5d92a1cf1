"""The blotter view: intents from the context menu, double-click, confirmations, filters,
sorting, CSV export."""

from __future__ import annotations

import csv
from dataclasses import replace
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox

from services.domain import OrderState, OrderType, Side, TradingState
from tests.fixtures.menus import menu_action, shown_text
from widgets.dialogs.replace import ReplaceDialog
from widgets.models.orders import OrderBlotterModel
from widgets.models.proxy import BlotterFilterProxyModel, StatusFilter
from widgets.views.blotter import BlotterView

from .factories import order


@pytest.fixture
def blotter(qtbot):
    model = OrderBlotterModel()
    view = BlotterView(model)
    qtbot.addWidget(view)
    view.resize(1200, 500)
    view.show()
    model.upsert([
        order(1, status=OrderState.ACCEPTED, run_id=1),
        order(2, status=OrderState.FILLED, run_id=1, filled="100"),
        order(3, status=OrderState.PARTIALLY_FILLED, run_id=2, filled="30", symbol="IBM"),
        order(4, status=OrderState.CANCELED, run_id=2),
    ])
    model.flush()
    return view


def answer(monkeypatch, button):
    """The trader answers ``button`` to every question (``widgets.common.confirm``'s box)."""
    asked = []

    def exec_(box):
        asked.append(box.text())
        box.button(button).click()
        return button

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


def visible_ids(view):
    return [o.id for o in view.proxy.visible_records()]


def passes(dialog: ReplaceDialog) -> None:
    """The controller's answer to the Replace dialog's check: the replace as typed passes risk."""
    typed = dialog.typed()
    assert typed is not None
    dialog.show_check(typed, True, [])


def test_default_sort_is_newest_first(blotter):
    assert visible_ids(blotter) == [4, 3, 2, 1]


def test_context_menu_cancel_emits_cancel_requested(blotter, qtbot):
    menu = blotter.context_menu_for(blotter.model.get(3))
    with qtbot.waitSignal(blotter.cancel_requested) as sig:
        menu_action(menu, "Cancel").trigger()
    assert sig.args == [3]


def test_context_menu_disables_cancel_for_a_finished_order(blotter):
    menu = blotter.context_menu_for(blotter.model.get(2))
    assert not menu_action(menu, "Cancel").isEnabled()
    assert not menu_action(menu, "Replace…").isEnabled()


def test_context_menu_replace_opens_the_dialog_and_emits_the_values(blotter, qtbot, monkeypatch):
    def exec_(dialog):
        dialog.quantity_edit.setText("80")
        dialog.limit_edit.setText("99.5")
        return ReplaceDialog.DialogCode.Accepted

    monkeypatch.setattr(ReplaceDialog, "exec", exec_)
    with qtbot.waitSignal(blotter.replace_requested) as sig:
        menu_action(blotter.context_menu_for(blotter.model.get(3)), "Replace…").trigger()
    assert sig.args == [3, Decimal("80"), Decimal("99.5"), None]  # a LMT order: no stop


def test_the_replace_dialog_of_a_stop_order_shows_its_stop_and_emits_the_new_one(blotter, qtbot, monkeypatch):
    """A working STP order's stop can be replaced: the dialog shows a Stop field filled with the
    order's stop, says what Replace sends with the new one, and the blotter emits it. A LMT order's
    dialog has no Stop field (its stop would be refused: it has none)."""
    stop_order = order(7, symbol="AAPL", side=Side.SELL, quantity="10", order_type=OrderType.STP, limit=None, stop="180")
    blotter.model.upsert([stop_order])
    blotter.model.flush()
    seen = {}

    def exec_(dialog):
        seen["stop shown"] = dialog.stop_edit.isVisibleTo(dialog), dialog.stop_edit.text()
        seen["limit editable"] = dialog.limit_edit.isEnabled()
        dialog.stop_edit.setText("178.5")
        seen["hint"] = dialog.hint_label.text()
        return ReplaceDialog.DialogCode.Accepted

    monkeypatch.setattr(ReplaceDialog, "exec", exec_)
    with qtbot.waitSignal(blotter.replace_requested) as sig:
        menu_action(blotter.context_menu_for(blotter.model.get(7)), "Replace…").trigger()
    assert sig.args == [7, Decimal("10"), None, Decimal("178.5")]
    assert seen["stop shown"] == (True, "180.00") and seen["limit editable"] is False
    assert seen["hint"].startswith("Replace sends: SELL 10 AAPL STP 178.50 in all")
    lmt = ReplaceDialog(order(1, symbol="AAPL", quantity="10", limit="225"))
    qtbot.addWidget(lmt)
    lmt.quantity_edit.setText("12")
    assert not lmt.stop_edit.isVisibleTo(lmt) and lmt.values() == (Decimal(12), Decimal(225), None)


def test_the_replace_dialog_follows_its_order_filling_while_it_is_open(blotter, qtbot, monkeypatch):
    """Walked under Xvfb: an order filled while its Replace dialog was open; the dialog still said
    "(0 filled)" with Replace enabled, and the click only brought "the order is FILLED: nothing
    to replace" from the service."""
    seen = {}

    def exec_(dialog):
        dialog.limit_edit.setText("99.5")
        passes(dialog)
        seen["before"] = dialog.ok_button.isEnabled()
        working = blotter.model.get(1)
        blotter.model.upsert([replace(working, status=OrderState.FILLED, filled_quantity=working.quantity)])
        blotter.model.flush()
        seen["after"] = dialog.ok_button.isEnabled()
        seen["said"] = dialog.error_label.text(), dialog.order_label.text()
        return ReplaceDialog.DialogCode.Rejected

    monkeypatch.setattr(ReplaceDialog, "exec", exec_)
    menu_action(blotter.context_menu_for(blotter.model.get(1)), "Replace…").trigger()
    assert seen["before"] is True
    assert seen["after"] is False
    error, shown = seen["said"]
    assert error == "The order is FILLED: nothing to replace."
    assert "(100 filled)" in shown and "FILLED" in shown


def test_the_replace_dialog_names_the_order_as_the_confirmations_do(qtbot):
    """The Replace dialog had its own describe_order, which said "(0 filled)" of an order
    nothing filled while the cancel question and the LIVE confirmation say nothing of it: it
    names the order in services.core.wording.describe_order's words, without the client order id
    that has its own row."""
    from services.core.wording import describe_order

    for record, said in ((order(1, symbol="AAPL", quantity="1000"), "BUY 1,000 AAPL LMT 100.25"),
                         (order(3, symbol="IBM", filled="30"), "BUY 100 IBM LMT 100.25 (30 filled)")):
        dialog = ReplaceDialog(record)
        qtbot.addWidget(dialog)
        assert dialog.order_label.text() == said
        assert describe_order(record, with_id=False) == said
        assert describe_order(record) == f"{said} · {record.client_order_id}"
        assert dialog.client_id_label.text() == record.client_order_id


def test_a_canceled_replace_dialog_emits_nothing(blotter, qtbot, monkeypatch):
    monkeypatch.setattr(ReplaceDialog, "exec", lambda dialog: ReplaceDialog.DialogCode.Rejected)
    with qtbot.assertNotEmitted(blotter.replace_requested):
        menu_action(blotter.context_menu_for(blotter.model.get(1)), "Replace…").trigger()


def test_copy_id_puts_the_client_order_id_on_the_clipboard(blotter):
    menu_action(blotter.context_menu_for(blotter.model.get(1)), "Copy id").trigger()
    assert QGuiApplication.clipboard().text() == blotter.model.get(1).client_order_id


def test_double_click_asks_for_details_and_never_cancels(blotter, qtbot, monkeypatch):
    asked = answer(monkeypatch, QMessageBox.StandardButton.Yes)
    row = visible_ids(blotter).index(1)
    rect = blotter.table.visualRect(blotter.proxy.index(row, 2))
    with qtbot.waitExposed(blotter):
        pass
    with qtbot.assertNotEmitted(blotter.cancel_requested), qtbot.waitSignal(blotter.details_requested) as sig:
        qtbot.mouseClick(blotter.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(blotter.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert sig.args == [1]
    assert asked == []  # not even a question about cancelling


@pytest.mark.parametrize("choice, emitted", [("Cancel this console", "console"), ("Cancel everything at the broker", "broker"),
                                             ("Keep the orders", None)])
def test_cancel_all_offers_this_consoles_orders_or_everything_at_the_broker(blotter, monkeypatch, choice, emitted):
    shown = []

    def click(box):
        shown.append((box.text() + " " + box.informativeText(), [b.text() for b in box.buttons()], box.defaultButton().text()))
        next(b for b in box.buttons() if b.text().startswith(choice)).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", click)
    received, clicked = [], []
    blotter.cancel_all_requested.connect(received.append)
    blotter.cancel_all_clicked.connect(lambda: clicked.append(1))
    blotter.cancel_all_button.click()
    assert clicked == [1] and shown == []  # the count comes first, from the service (the controller's)
    blotter.choose_cancel_all_scope(7)
    [(text, buttons, default)] = shown
    assert "Cancel this console's orders (7)" in buttons
    assert "TWS" in text and "global cancel" in text  # each worded for what it really does
    assert default == "Keep the orders"  # Enter cancels nothing
    assert received == ([emitted] if emitted else [])


@pytest.mark.parametrize("button, emitted", [(QMessageBox.StandardButton.Yes, True), (QMessageBox.StandardButton.No, False)])
def test_halt_and_resume_need_confirmation(blotter, monkeypatch, button, emitted):
    asked = answer(monkeypatch, button)
    clicked, halts, resumes = [], [], []
    blotter.halt_clicked.connect(lambda: clicked.append(True))
    blotter.halt_requested.connect(lambda: halts.append(True))
    blotter.resume_requested.connect(lambda: resumes.append(True))
    blotter.halt_button.click()
    assert (clicked, asked) == ([True], [])  # the working count comes first, from the service (the controller's)
    blotter.confirm_halt(2)
    assert (len(asked), halts, resumes) == (1, [True] if emitted else [], [])
    blotter.set_trading_state(TradingState.HALTED)
    assert blotter.halt_button.text() == "Resume"
    blotter.halt_button.click()
    assert (len(asked), resumes, clicked) == (2, [True] if emitted else [], [True])


def test_the_halt_question_says_how_many_working_orders_stay_open_at_the_broker(blotter, monkeypatch):
    """A halt stops sending and cancels nothing at the broker (OrderActions.halt): the question
    said so without a count, where Cancel All's counts them; a trader halting with orders
    working must know how many can still fill."""
    asked = answer(monkeypatch, QMessageBox.StandardButton.No)
    for working in (3, 1, 0):
        blotter.confirm_halt(working)
    many, one, none = asked
    assert ("3 orders of this console are working at the broker and stay open after the halt: "
            "they can still fill. Use Cancel All to cancel them.") in many
    assert ("1 order of this console is working at the broker and stays open after the halt: "
            "it can still fill. Use Cancel All to cancel it.") in one
    assert "No order of this console is working at the broker" in none
    # a run's orders not sent yet are closed by the halt (services/execution/halt_unsent.py)
    for text in asked:
        assert "not sent yet are canceled" in text and "never sent automatically after Resume" in text


def _toolbar_rects(view):
    from PySide6.QtCore import QRect

    widgets = (view.show_label, view.status_combo, view.run_combo, view.search_edit, view.count_label,
               view.export_button, view.cancel_all_button, view.halt_button)
    return [QRect(w.mapTo(view, w.rect().topLeft()), w.size()) for w in widgets if w.isVisibleTo(view)]


def _settle_layouts(view) -> None:
    """Run the layout requests a resize posted, nested ones included (a toolbar row moved to a
    second row posts its parent's), until none is left: a fixed 10 ms wait for "the layout's
    turn" failed on a busy machine with the toolbar's widgets overlapping."""
    from PySide6.QtCore import QCoreApplication, QEvent

    for _ in range(10):  # each pass settles one level of nesting; the blotter has three
        view.layout().activate()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    QCoreApplication.processEvents()


def test_the_toolbar_keeps_one_tighter_row_on_a_narrow_blotter_and_wraps_only_narrower(qtbot, monkeypatch):
    """At a 1024 px window the blotter gets ~518 px and its whole row needs ~680: it wrapped
    onto two rows, and the orders lost a row of height to it. Narrow, the row is tighter (no
    "Show" label, a shorter search box, Export CSV… left to the File menu and the rows' context
    menu), Cancel All and Halt whole; narrower than that, the buttons go to a second row,
    everything shown; wide, the whole row. Whole and overlapping nothing each time."""
    from PySide6.QtWidgets import QWidget

    holder = QWidget()  # a child can be narrower than its minimum, as in the main window
    qtbot.addWidget(holder)
    holder.resize(1400, 500)
    view = BlotterView(OrderBlotterModel(), holder)
    view.model.upsert([order(i) for i in range(1, 14)])
    view.model.flush()
    holder.show()
    tight = view.one_row_width(tight=True)
    for width, rows in ((1200, 1), (575, 1), (518, 1), (tight, 1), (tight - 1, 2)):
        view.setGeometry(0, 0, width, 400)
        _settle_layouts(view)
        rects = _toolbar_rects(view)
        assert view.toolbar_rows() == rows, (width, view.toolbar_rows())
        assert len({r.center().y() for r in rects}) <= (2 if rows == 1 else 4), (width, rects)  # a combo and a button may differ by a pixel
        assert all(r.left() >= 0 and r.right() < width for r in rects), (width, rects)
        assert not [(a, b) for i, a in enumerate(rects) for b in rects[i + 1:] if a.intersects(b)], (width, rects)
        assert view.export_button.isHidden() is (width < view.one_row_width() and rows == 1), width
        for button in (view.export_button, view.cancel_all_button, view.halt_button):
            assert button.isHidden() or button.width() >= button.sizeHint().width(), (width, button.text())
        assert view.table.geometry().top() > max(r.bottom() for r in rects)
    asked = []
    monkeypatch.setattr("widgets.views.blotter.choose_and_export", lambda _view, title, *_a: asked.append(title))
    menu_action(view.context_menu_for(view.model.get(1)), "Export CSV…").trigger()
    assert asked == ["Export orders"]


def test_the_run_filter_shows_the_run_it_filters_by_and_export_stays_in_the_toolbar(qtbot):
    """A run named as the console names one ("Demo momentum, run 1 (demo) of 2026-12-07") was
    cut to "Demo m" in the closed filter (walked under Xvfb, 1366x768: the blotter 858 px wide);
    then, as wide as its whole name, it took the row's room and the toolbar went tight: Export
    CSV… and "Show" left it whenever a run was chosen (seen under Xvfb). The filter takes the
    room the whole row leaves, its name cut at the right with an ellipsis (whole in its tooltip
    and its list), whole where the blotter is wide enough; "All runs" gives the room back."""
    from PySide6.QtWidgets import QWidget

    holder = QWidget()
    qtbot.addWidget(holder)
    holder.resize(1400, 500)
    view = BlotterView(OrderBlotterModel(), holder)
    view.model.upsert([order(1, run_id=1), order(2, run_id=2)])
    view.model.flush()
    holder.show()
    asked: list[list[int]] = []
    view.run_names_wanted.connect(asked.append)
    view.model.upsert([order(3, run_id=3)])
    view.model.flush()
    assert asked == [[3]]  # each run's name asked for once, when the filter first lists it
    names = {1: "Demo momentum, run 1 (demo) of 2026-12-07", 2: "Value tilt, run 2 (demo) of 2026-12-07"}
    view.name_runs(names)
    combo = view.run_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["All runs", *names.values(), "Run 3"]
    whole = combo.fontMetrics().horizontalAdvance(names[1]) + 20
    for width, cut in ((858, True), (1100, False)):
        view.setGeometry(0, 0, width, 400)
        _settle_layouts(view)
        assert view.toolbar_rows() == 1 and not view.toolbar_is_tight()
        view.set_run_filter(1)
        _settle_layouts(view)
        assert view.toolbar_rows() == 1 and not view.toolbar_is_tight(), width  # Export CSV… in view
        assert view.export_button.isVisible() and view.show_label.isVisible()
        assert (combo.width() < whole) is cut and combo.width() >= view.RUN_FILTER_WIDTH, (width, combo.width())
        assert combo.toolTip() == names[1]
        rects = _toolbar_rects(view)
        assert all(r.left() >= 0 and r.right() < width for r in rects), rects
        assert not [(a, b) for i, a in enumerate(rects) for b in rects[i + 1:] if a.intersects(b)], rects
        view.set_run_filter(None)
        _settle_layouts(view)
        assert view.toolbar_rows() == 1 and not view.toolbar_is_tight()
        assert combo.toolTip() == ""


def test_busy_buttons_are_disabled_and_ignore_shortcuts(blotter, monkeypatch):
    asked = answer(monkeypatch, QMessageBox.StandardButton.Yes)
    blotter.set_busy("cancel_all", True)
    assert not blotter.cancel_all_button.isEnabled()
    assert blotter.halt_button.isEnabled()
    blotter.cancel_all_action.trigger()
    assert asked == []
    blotter.set_busy("cancel_all", False)
    assert blotter.cancel_all_button.isEnabled()
    blotter.set_busy("all", True)
    assert not blotter.halt_button.isEnabled() and not blotter.cancel_all_button.isEnabled()


def test_delete_cancels_the_selected_working_orders_after_confirmation(blotter, qtbot, monkeypatch):
    asked = answer(monkeypatch, QMessageBox.StandardButton.Yes)
    blotter.table.selectAll()
    received = []
    blotter.cancel_requested.connect(received.append)
    blotter.cancel_selected_action.trigger()
    assert len(asked) == 1
    assert sorted(received) == [1, 3]  # the filled and the canceled order are not working


def test_the_cancel_confirmation_says_what_each_order_is(blotter, monkeypatch):
    """Walked under Xvfb: Del on a working NVDA order asked "Cancel 1 selected order?" naming only
    its client order id; the trader confirms an order, not an id."""
    asked = answer(monkeypatch, QMessageBox.StandardButton.No)
    blotter.table.selectRow(blotter.proxy.visible_records().index(blotter.model.get(3)))
    blotter.cancel_selected_action.trigger()
    ibm = blotter.model.get(3)
    assert asked == [f"Cancel 1 selected order?\nBUY 100 IBM LMT 100.25 (30 filled) · {ibm.client_order_id}"]


def test_an_unsent_new_order_can_be_canceled_from_the_blotter_as_the_service_allows(blotter, qtbot, monkeypatch):
    """A run stopped by a halt leaves its unsent orders NEW; OrderActions.cancel cancels them
    ("canceled before sending"), and the blotter offers it too (OrderState.is_cancelable, the
    one rule): its menu and Delete had refused them as not working."""
    blotter.model.upsert([order(5, status=OrderState.NEW, run_id=3)])
    blotter.model.flush()
    assert OrderState.NEW.is_cancelable and not OrderState.NEW.is_working
    menu = blotter.context_menu_for(blotter.model.get(5))
    assert menu_action(menu, "Cancel").isEnabled()
    assert not menu_action(menu, "Replace…").isEnabled()  # not at the broker: nothing to modify
    answer(monkeypatch, QMessageBox.StandardButton.Yes)
    blotter.table.selectAll()
    received = []
    blotter.cancel_requested.connect(received.append)
    blotter.cancel_selected_action.trigger()
    assert sorted(received) == [1, 3, 5]


def test_shortcuts_are_declared(blotter):
    assert blotter.cancel_selected_action.shortcut().toString() == "Del"
    assert blotter.cancel_all_action.shortcut().toString() == "Ctrl+Shift+X"
    assert blotter.halt_action.shortcut().toString() == "Ctrl+H"


def test_filters_working_run_and_text(blotter):
    blotter.set_status_filter(StatusFilter.WORKING)
    assert visible_ids(blotter) == [3, 1]
    blotter.set_run_filter(2)
    assert visible_ids(blotter) == [3]
    blotter.set_status_filter(StatusFilter.ALL)
    assert visible_ids(blotter) == [4, 3]
    blotter.set_run_filter(None)
    blotter.set_search_text("ibm")
    assert visible_ids(blotter) == [3]
    assert blotter.count_label.text() == "1 / 4"
    assert blotter.run_combo.count() == 3  # All runs, Run 1, Run 2


def test_an_order_leaves_the_working_filter_when_it_fills(blotter):
    blotter.set_status_filter(StatusFilter.WORKING)
    blotter.model.upsert([replace(blotter.model.get(1), status=OrderState.FILLED, filled_quantity=Decimal(100))])
    blotter.model.flush()
    assert visible_ids(blotter) == [3]
    blotter.model.upsert([order(5, status=OrderState.SUBMITTED)])
    blotter.model.flush()
    assert visible_ids(blotter) == [5, 3]


def test_sorting_by_other_columns(blotter):
    blotter.table.sortByColumn(OrderBlotterModel.STATUS, Qt.SortOrder.AscendingOrder)
    assert [o.status.value for o in blotter.proxy.visible_records()] == ["ACCEPTED", "CANCELED", "FILLED", "PARTIALLY_FILLED"]
    blotter.table.sortByColumn(OrderBlotterModel.FILLED, Qt.SortOrder.DescendingOrder)
    assert [o.filled_quantity for o in blotter.proxy.visible_records()][:2] == [Decimal(100), Decimal(30)]
    # A status change re-sorts under a mutable sort column.
    blotter.table.sortByColumn(OrderBlotterModel.STATUS, Qt.SortOrder.AscendingOrder)
    blotter.model.upsert([replace(blotter.model.get(1), status=OrderState.REJECTED)])
    blotter.model.flush()
    assert [o.id for o in blotter.proxy.visible_records()] == [4, 2, 3, 1]


def test_export_writes_the_visible_rows_exactly(blotter, tmp_path):
    blotter.set_status_filter(StatusFilter.WORKING)
    path = tmp_path / "orders.csv"
    assert blotter.export_csv(str(path)) == 2
    rows = list(csv.reader(path.open()))
    assert rows[0][:4] == ["Time", "Client order id", "Symbol", "Side"]
    assert [r[1] for r in rows[1:]] == [blotter.model.get(3).client_order_id, blotter.model.get(1).client_order_id]
    assert rows[1][7] == "PARTIALLY_FILLED" and rows[1][5] == "30" and rows[1][9] == "100.25"
    assert rows[1][0] == "2026-11-20T14:30:00.003000+00:00"


def test_qtmodeltester_on_the_proxy(blotter, qtmodeltester):
    qtmodeltester.check(blotter.proxy, force_py=True)
    blotter.set_status_filter(StatusFilter.WORKING)
    blotter.model.upsert([order(i, status=OrderState.SUBMITTED) for i in range(5, 30)])
    blotter.model.upsert([replace(blotter.model.get(1), status=OrderState.FILLED)])
    blotter.model.flush()
    blotter.set_search_text("aapl")
    qtmodeltester.check(blotter.proxy, force_py=True)


def test_proxy_matches_a_plain_filter_and_sort_after_a_random_stream(qtbot):
    import random

    rng = random.Random(7)
    model = OrderBlotterModel()
    proxy = BlotterFilterProxyModel(model)
    proxy.sort_newest_first()
    proxy.set_status_filter(StatusFilter.WORKING)
    states = list(OrderState)
    latest = {}
    for step in range(3000):
        if step % 3 == 0 or not latest:
            i = len(latest) + 1
            latest[i] = order(i, status=OrderState.SUBMITTED, run_id=rng.randint(1, 3))
        else:
            i = rng.randint(1, len(latest))
            latest[i] = replace(latest[i], status=rng.choice(states))
        model.upsert([latest[i]])
        if step % 97 == 0:
            model.flush()
            if step == 1455:
                proxy.set_run_filter(2)
    model.flush()
    expected = sorted((o for o in latest.values() if o.status.is_working and o.run_id == 2),
                      key=lambda o: o.created_at, reverse=True)
    assert proxy.visible_records() == expected
    assert len(expected) > 20


def test_replace_validation_is_the_order_actions_rule():
    """The dialog reads its fields, then asks services.core.replace_rules, the rule the order
    actions refuse by: a quantity at the filled is refused in both (the dialog once let it by)."""
    from services.core.replace_rules import replace_problem
    from widgets.dialogs.replace import validate_replace

    lmt = order(1, status=OrderState.PARTIALLY_FILLED, quantity="100", filled="40", limit="10")
    assert validate_replace(lmt, "80", "10.5") == (Decimal(80), Decimal("10.5"), "")
    assert validate_replace(lmt, "41", "10")[:2] == (Decimal(41), Decimal(10))
    assert validate_replace(lmt, "40", "10")[2] == "The new quantity 40 is not above the filled 40."
    assert replace_problem(lmt, Decimal(40), None) == "the new quantity 40 is not above the filled 40"
    assert validate_replace(lmt, "39", "10")[2] == "The new quantity 39 is not above the filled 40."
    assert validate_replace(lmt, "0", "10")[2] == "Quantity: must be a number > 0: '0'."
    assert validate_replace(lmt, "-5", "10")[2] == "Quantity: must be a number > 0: '-5'."
    assert validate_replace(lmt, "abc", "10")[2] == "Quantity: not a number: 'abc'."
    assert validate_replace(lmt, "", "10")[2] == "A replace needs a quantity."
    assert validate_replace(lmt, "80", "")[2] == "A limit order needs a limit price."
    assert validate_replace(lmt, "80", "x")[2] == "Limit: not a number: 'x'."
    assert validate_replace(lmt, "80", "-1")[2] == "Limit price: must be a number > 0: '-1'."
    assert validate_replace(lmt, "100", "10")[2] == "Nothing changed."
    mkt = order(2, order_type=OrderType.MKT, limit=None)
    assert validate_replace(mkt, "50", "") == (Decimal(50), None, "")
    assert validate_replace(mkt, "50", "12")[2] == "A market order has no limit price; cancel it and enter a LMT order."
    done = order(3, status=OrderState.FILLED, quantity="10", filled="10", limit="10")
    assert validate_replace(done, "20", "10")[2] == "The order is FILLED: nothing to replace."


def test_the_replace_dialog_says_a_field_that_holds_no_number_as_every_number_field_says_it(qtbot):
    """The dialog said "Quantity must be a number." and "Limit must be a number." (a decimal comma
    without its reason) where the order ticket, the preview form and the commands say "not a
    number: 'x'" after the field's name: it now shows the words of the replace rule's reading."""
    stop_limit = order(1, symbol="AAPL", order_type=OrderType.STP_LMT, quantity="10", limit="225", stop="226")
    dialog = ReplaceDialog(stop_limit)
    qtbot.addWidget(dialog)
    for edit, typed, said in ((dialog.quantity_edit, "ten", "Quantity: not a number: 'ten'."),
                              (dialog.limit_edit, "225,5",
                               "Limit: not a number: '225,5' (commas only group thousands, as in 1,000.5)."),
                              (dialog.stop_edit, "x", "Stop: not a number: 'x'.")):
        edit.setText(typed)
        assert (dialog.error_label.text(), dialog.ok_button.isEnabled(), dialog.typed()) == (said, False, None)
        edit.setText({"ten": "12", "225,5": "225.5"}.get(typed, "226.5"))
    assert dialog.error_label.text() == ""
    assert dialog.typed() == (Decimal(12), Decimal("225.5"), Decimal("226.5"))


def test_the_replace_button_stays_where_it_was_while_the_trader_types(qtbot):
    """Walked under Xvfb: typing a new limit put "Replace sends: BUY 10 AAPL LMT 226.50 in all
    (...)" under the fields on one line, the dialog grew 210 px wider and Replace moved right
    from under the pointer (a click where it had been hit nothing). The dialog is wide enough
    for that sentence from the start, and a longer one wraps: Replace stays where it was."""
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from tests.gui.showing import shown

    dialog = shown(qtbot, ReplaceDialog(order(1, symbol="AAPL", quantity="10", limit="225")))
    where, width = dialog.ok_button.mapTo(dialog, QPoint(0, 0)), dialog.width()
    for edit, text in ((dialog.limit_edit, "226.5"), (dialog.quantity_edit, "1,000,000"), (dialog.limit_edit, "abc")):
        edit.selectAll()
        QTest.keyClicks(edit, text)
        QApplication.processEvents()
        assert (dialog.ok_button.mapTo(dialog, QPoint(0, 0)).x(), dialog.width()) == (where.x(), width), text
        for label in (dialog.hint_label, dialog.error_label):  # what it says is read whole
            if label.isVisible():
                assert label.geometry().right() <= dialog.width() and label.height() >= label.heightForWidth(label.width())
    assert dialog.error_label.text() == "Limit: not a number: 'abc'."
    dialog.limit_edit.setText("226.5")
    QApplication.processEvents()
    assert dialog.hint_label.text().startswith("Replace sends: BUY 1,000,000 AAPL LMT 226.50 in all")


def test_replace_dialog_enables_ok_only_when_valid(qtbot):
    dialog = ReplaceDialog(order(1, status=OrderState.PARTIALLY_FILLED, quantity="100", filled="40"))
    qtbot.addWidget(dialog)
    assert not dialog.ok_button.isEnabled()  # nothing changed yet
    dialog.quantity_edit.setText("30")
    assert not dialog.ok_button.isEnabled()
    assert dialog.error_label.text() == "The new quantity 30 is not above the filled 40."
    dialog.quantity_edit.setText("60")
    assert not dialog.ok_button.isEnabled()  # allowed by the order's rule: Replace waits for the risk verdict
    passes(dialog)
    assert dialog.ok_button.isEnabled()
    assert dialog.values() == (Decimal(60), Decimal("100.25"), None)


def test_replace_dialog_opens_without_an_error_and_closes_with_close_not_cancel(qtbot):
    """It opened saying "Nothing changed." in red before the trader typed anything, beside a
    "Cancel" button (with a red cross) that read as "cancel the order": now a neutral hint until
    something changed, and "Close", which leaves the order as it is."""
    dialog = ReplaceDialog(order(1, status=OrderState.PARTIALLY_FILLED, quantity="100", filled="40"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.error_label.text() == "" and not dialog.error_label.isVisible()
    assert dialog.hint_label.isVisible() and "new quantity or price" in dialog.hint_label.text()
    assert not dialog.ok_button.isEnabled()
    assert dialog.close_button.text() == "Close" and dialog.close_button.icon().isNull()
    assert "Cancel" not in [b.text() for b in dialog.buttons.buttons()]
    dialog.quantity_edit.setText("30")
    assert dialog.error_label.isVisible() and not dialog.hint_label.isVisible()
    dialog.quantity_edit.setText("100")  # back to the order as it is: the hint again, not an error
    assert dialog.error_label.text() == "" and dialog.hint_label.isVisible()
    dialog.close_button.click()
    assert dialog.result() == ReplaceDialog.DialogCode.Rejected


def test_keys_work_inside_a_main_window_menu_without_ambiguity(qtbot, monkeypatch):
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QMainWindow

    asked = answer(monkeypatch, QMessageBox.StandardButton.Yes)
    window = QMainWindow()
    qtbot.addWidget(window)
    blotter = BlotterView(OrderBlotterModel(), window)
    blotter.model.upsert([order(1), order(2, status=OrderState.FILLED)])
    blotter.model.flush()
    window.setCentralWidget(blotter)
    menu_hits = []
    menu_action = QAction("Cancel all", window)
    menu_action.setShortcut(QKeySequence("Ctrl+Shift+X"))
    menu_action.triggered.connect(lambda: menu_hits.append(True))
    window.menuBar().addMenu("Trading").addAction(menu_action)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    blotter.table.setFocus()
    qtbot.keyClick(blotter.table, Qt.Key.Key_X, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert menu_hits == [True]
    # Del is the panel's own key: cancel the selected working orders, after a confirmation.
    received = []
    blotter.cancel_requested.connect(received.append)
    blotter.table.selectRow(blotter.proxy.visible_records().index(blotter.model.get(1)))
    qtbot.keyClick(blotter.table, Qt.Key.Key_Delete)
    assert (len(asked), received) == (1, [1])


def test_replace_is_off_while_trading_is_halted_and_says_why(blotter):
    """Walked under Xvfb: while HALTED the right-click menu still offered Replace…; the trader
    typed a new quantity and only then read "trading is HALTED: new orders and modifications
    are blocked". Cancel stays on: a halt lets cancels go out."""
    blotter.set_trading_state(TradingState.HALTED)
    menu = blotter.context_menu_for(blotter.model.get(1))
    replace_item = next(a for a in menu.actions() if shown_text(a.text()).startswith("Replace"))
    assert not replace_item.isEnabled()
    assert shown_text(replace_item.text()) == "Replace… (trading is HALTED)"
    assert menu_action(menu, "Cancel").isEnabled()
    blotter.set_trading_state(TradingState.ACTIVE)
    assert menu_action(blotter.context_menu_for(blotter.model.get(1)), "Replace…").isEnabled()


def test_the_replace_dialog_says_what_replace_sends_once_something_changed(qtbot):
    """Walked under Xvfb: after typing a new quantity and limit the dialog's line went blank;
    what Replace would send (and that the quantity is the new total, filled shares included)
    was nowhere. It is said from the fields as Replace reads them."""
    dialog = ReplaceDialog(order(1, status=OrderState.PARTIALLY_FILLED, quantity="100", filled="40", symbol="AAPL"))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.quantity_edit.setText("1,000")
    dialog.limit_edit.setText("99.5")
    passes(dialog)
    assert dialog.ok_button.isEnabled() and dialog.hint_label.isVisible()
    assert dialog.hint_label.text() == ("Replace sends: BUY 1,000 AAPL LMT 99.50 in all (40 filled, 960 left to fill), "
                                        "after the risk check.")
    dialog.quantity_edit.setText("30")  # not allowed: the error, no sentence of a replace that cannot go
    assert not dialog.hint_label.isVisible() and dialog.error_label.isVisible()


def _menus_opened(blotter, monkeypatch) -> list[int]:
    """The ids of the orders whose menu the blotter opens from here on, each menu opened without
    its modal loop."""
    built: list[int] = []

    class Shown:  # the menu as opened, without its modal loop
        def exec(self, *_args) -> None: ...
        def deleteLater(self) -> None: ...

    monkeypatch.setattr(blotter, "context_menu_for", lambda o: built.append(o.id) or Shown())
    return built


def test_the_menu_key_opens_the_menu_of_the_selected_order_not_the_one_below(blotter, monkeypatch):
    """Walked under Xvfb with the keyboard: the menu key on the selected working order opened the
    menu of the order below it (its Cancel and Replace off: a canceled one); below a working one,
    its Cancel would have canceled that other order. The key's event is sent as Qt sends it: to
    the table, at the current row as the table reports it for the keyboard."""
    from PySide6.QtCore import Qt as QtNS
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QApplication

    built = _menus_opened(blotter, monkeypatch)
    table = blotter.table
    for row in range(blotter.proxy.rowCount()):
        table.setCurrentIndex(blotter.proxy.index(row, 0))
        pos = table.inputMethodQuery(QtNS.InputMethodQuery.ImCursorRectangle).center()
        QApplication.sendEvent(table, QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, pos, table.mapToGlobal(pos)))
    assert built == visible_ids(blotter)  # each row's own menu, in the order the rows show


def test_shift_f10_opens_the_menu_of_the_selected_order_as_the_menu_key_does(blotter, monkeypatch):
    """A trader's walk under Xvfb: Shift+F10 on a selected order did nothing (Windows maps it to
    the menu key; X11 does not), while the menu key opened the order's menu."""
    from PySide6.QtCore import Qt as QtNS
    from PySide6.QtTest import QTest

    built = _menus_opened(blotter, monkeypatch)
    table = blotter.table
    table.setCurrentIndex(blotter.proxy.index(1, 0))
    QTest.keyClick(table, QtNS.Key.Key_F10, QtNS.KeyboardModifier.ShiftModifier)
    assert built == [visible_ids(blotter)[1]]
    QTest.keyClick(table, QtNS.Key.Key_F10)  # F10 alone is not the menu
    assert built == [visible_ids(blotter)[1]]


def test_the_fills_export_dialog_opens_where_the_blotters_export_went(blotter, qtbot, tmp_path, monkeypatch):
    """Walked under Xvfb: the blotter exported to /tmp/h11/orders.csv, and the fills' Export CSV…
    opened its dialog in the process's working directory again (the repository the console was
    started from). Each dialog after the first opens in the folder of the session's last export."""
    from PySide6.QtWidgets import QFileDialog

    from widgets import common
    from widgets.models.fills import FillsModel
    from widgets.views.fills import FillsView

    monkeypatch.setattr(common, "_last_export_folder", None, raising=False)  # none yet this session
    folder = tmp_path / "exports"
    folder.mkdir()
    answers = iter([str(folder / "orders.csv"), str(folder / "fills.csv")])
    suggested: list[str] = []

    def save_name(_parent, _title, name, kinds):
        suggested.append(name)
        return next(answers), kinds

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_name)
    fills = FillsView(FillsModel())
    qtbot.addWidget(fills)
    blotter.choose_export_file()
    fills.choose_export_file()
    assert suggested == ["orders.csv", str(folder / "fills.csv")]
    assert (folder / "orders.csv").is_file() and (folder / "fills.csv").is_file()


def test_halt_and_cancel_all_questions_say_when_the_database_did_not_answer(blotter, monkeypatch):
    """The service's None count (services.execution.cancel_all.CancelAll.question_counts): the
    questions still come, saying the count is unknown and that the cancels go to the broker
    without the database; the console's Cancel All stays on (it cancels what the broker holds
    open), "Keep the orders" stays the default."""
    asked = answer(monkeypatch, QMessageBox.StandardButton.No)
    blotter.confirm_halt(None)
    [halt] = asked
    assert "The database did not answer: how many of this console's orders are working at the broker is not known" in halt
    assert "Cancel All goes to the broker without the database" in halt
    shown = []

    def keep(box):
        shown.append((box.text() + "\n" + box.informativeText(), {b.text(): b.isEnabled() for b in box.buttons()},
                      box.defaultButton().text()))
        next(b for b in box.buttons() if b.text() == "Keep the orders").click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", keep)
    blotter.choose_cancel_all_scope(None)
    [(text, buttons, default)] = shown
    assert text.startswith("The database did not answer: this console's open orders could not be counted")
    assert "one cancel request for each order the broker holds open for the connected account" in text
    assert buttons["Cancel this console's orders (?)"] is True and default == "Keep the orders"


def test_a_monitors_cancel_and_replace_say_it_is_read_only(blotter):
    """Walked under Xvfb with the trading window halted: a monitor's right-click menu showed a
    greyed Cancel saying nothing and "Replace… (trading is HALTED)", as if a resume would let the
    monitor replace. Both say the monitor is read-only, halted or not."""
    blotter.read_only = True
    for state in (TradingState.HALTED, TradingState.ACTIVE):
        blotter.set_trading_state(state)
        menu = blotter.context_menu_for(blotter.model.get(1))  # a working order
        items = {shown_text(a.text()): a.isEnabled() for a in menu.actions()
                 if shown_text(a.text()).startswith(("Cancel", "Replace"))}
        assert items == {"Cancel (read-only monitor)": False, "Replace… (read-only monitor)": False}, state
