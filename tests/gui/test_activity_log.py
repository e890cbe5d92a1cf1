"""The activity log: one bounded list of the console's messages that the status bar and the
activity panel both show; fills and rejections noted from change sets; warnings and errors as a
transient notification that never blocks; an optional, rate-limited sound."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from services.activity_log import ActivityLog, Category, Level
from services.domain import ChangeSet, OrderState
from tests.gui.factories import fill, order, replace


def test_the_log_is_bounded_ordered_and_tells_its_listeners():
    log = ActivityLog(capacity=3, clock=lambda: datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    heard = []
    unsubscribe = log.subscribe(heard.append)
    for i in range(5):
        log.info(f"message {i}")
    assert [e.text for e in log.entries()] == ["message 2", "message 3", "message 4"]
    assert [e.seq for e in heard] == [1, 2, 3, 4, 5]
    unsubscribe()
    log.warning("not heard")
    assert len(heard) == 5
    assert log.last is not None and log.last.level is Level.WARNING
    with pytest.raises(ValueError, match="capacity"):
        ActivityLog(capacity=0)


def test_fills_and_rejections_are_noted_once():
    log = ActivityLog()
    rejected = order(7, status=OrderState.REJECTED)
    rejected = replace(rejected, rejected_reason="price outside the band")
    entries = log.note_changes(ChangeSet(orders=(rejected, order(8)), fills=(fill(1), fill(2), fill(3, superseded=True))))
    assert [(e.category, e.level) for e in entries] == [(Category.FILL, Level.INFO), (Category.REJECT, Level.WARNING)]
    assert entries[0].text == "2 fills: BUY 10 AAPL @ 100.50, BUY 10 AAPL @ 100.50"  # as the fills panel reads it
    assert "price outside the band" in entries[1].text and rejected.client_order_id in entries[1].text
    assert not entries[0].in_status_bar and entries[1].in_status_bar
    # A later revision of the same rejected order is not a second rejection.
    assert log.note_changes(ChangeSet(orders=(rejected,))) == []
    # nor a fill's commission report a second fill (the change feed passes its new version)
    assert log.note_changes(ChangeSet(fills=(replace(fill(1), commission=Decimal("1.00")),))) == []
    # read back from the database, at its columns' scale: said as the panel reads it
    [read_back] = log.note_changes(ChangeSet(fills=(replace(fill(4), quantity=Decimal("5.000000"),
                                                            price=Decimal("228.50000000")),)))
    assert read_back.text == "Fill: BUY 5 AAPL @ 228.50"


def test_cancels_the_broker_confirmed_are_noted_once_and_unsent_closures_are_not():
    """A Cancel All (or a Cancel, or IB's own) said its request and nothing of its end: the
    orders the broker confirmed canceled are one line; an order the broker never had (no
    permanent id: canceled before it was sent, closed as never received) is no cancel there."""
    log = ActivityLog()
    at_broker = replace(order(7, status=OrderState.CANCELED, symbol="AAPL", quantity="7", limit="223"), ib_perm_id=1000011)
    partly = replace(order(8, status=OrderState.CANCELED, symbol="MSFT", quantity="10", filled="4", limit="405"), ib_perm_id=1000012)
    never_sent = order(9, status=OrderState.CANCELED)  # no permanent id
    [entry] = log.note_changes(ChangeSet(orders=(at_broker, never_sent, order(10))))
    assert entry.category is Category.CANCEL and entry.level is Level.INFO and entry.in_status_bar
    assert entry.text == f"Canceled at the broker: BUY 7 AAPL LMT 223.00 ({at_broker.client_order_id})"
    assert log.note_changes(ChangeSet(orders=(at_broker,))) == []  # a later revision: said once
    [entry] = log.note_changes(ChangeSet(orders=(partly, replace(at_broker, id=11))))
    assert entry.text.startswith(f"2 canceled at the broker: BUY 10 MSFT LMT 405.00 ({partly.client_order_id}, 4 of 10 filled), ")


def test_the_panel_filters_by_level_and_text(qtbot):
    from widgets.views.activity import ActivityView

    view = ActivityView()
    qtbot.addWidget(view)
    log = ActivityLog()
    log.subscribe(view.add)
    log.info("Run 1 sent")
    log.warning("Market not healthy: AAPL halted")
    log.error("Connect to IB: refused")
    assert [e.text for e in view.visible_entries()] == [
        "Connect to IB: refused", "Market not healthy: AAPL halted", "Run 1 sent"]  # newest first
    view.set_level_filter(1)
    assert [e.level for e in view.visible_entries()] == [Level.ERROR, Level.WARNING]
    view.set_level_filter(2)
    assert [e.text for e in view.visible_entries()] == ["Connect to IB: refused"]
    view.set_level_filter(0)
    view.set_text_filter("aapl")
    assert [e.text for e in view.visible_entries()] == ["Market not healthy: AAPL halted"]


def test_the_sound_is_off_by_default_and_one_per_burst():
    from widgets.views.activity import ActivitySound

    beeps = []
    now = [100.0]
    sound = ActivitySound(beep=lambda: beeps.append(now[0]), gap_s=0.5, clock=lambda: now[0])
    log = ActivityLog()
    log.subscribe(sound.on_entry)
    log.note_changes(ChangeSet(fills=(fill(1),)))
    assert beeps == []  # off unless switched on
    sound.enabled = True
    log.info("Settings saved")
    assert beeps == []  # only fills and rejects sound
    log.note_changes(ChangeSet(fills=(fill(2),)))
    log.note_changes(ChangeSet(fills=(fill(3),)))
    now[0] += 1
    log.note_changes(ChangeSet(orders=(order(9, status=OrderState.REJECTED),)))
    assert beeps == [100.0, 101.0]


def test_status_bar_panel_and_toast_show_the_same_log(qtbot, monkeypatch, tmp_path):
    from app.main_window import MainWindow
    from widgets.views.activity import Toast

    monkeypatch.setattr(Toast, "SHOWN_MS", 200)
    window = MainWindow(mode="demo", ui_state_file=tmp_path / "ui.ini")
    qtbot.addWidget(window)
    window.show()
    log = window.activity_log
    log.info("Run 3 sent: 12 orders")
    assert window.statusBar().currentMessage() == "Run 3 sent: 12 orders"
    assert window.activity_view.visible_entries()[0].text == "Run 3 sent: 12 orders"
    assert not window.toast.isVisible()  # info is not a notification

    log.note_changes(ChangeSet(fills=(fill(1),)))
    assert window.statusBar().currentMessage() == "Run 3 sent: 12 orders"  # fills stay in the panel
    assert window.activity_view.visible_entries()[0].category is Category.FILL

    modal_before = QApplication.activeModalWidget()  # another test's dialog may still be open
    log.warning("Market not healthy: SPY halted", timeout_ms=0)
    assert window.statusBar().currentMessage() == "Market not healthy: SPY halted"
    assert window.toast.isVisible() and "SPY halted" in window.toast.label.text()
    assert QApplication.activeModalWidget() is modal_before  # a notification, not a dialog
    assert window.toast.windowModality() == Qt.WindowModality.NonModal
    assert window.geometry().contains(window.toast.geometry())  # in the window's corner
    assert not window.toast.isActiveWindow()
    qtbot.waitUntil(lambda: not window.toast.isVisible(), timeout=5000)  # it goes away by itself
    assert [e.text for e in window.activity_view.visible_entries()] == [e.text for e in reversed(log.entries())]


def test_the_sound_setting_is_remembered(qtbot, tmp_path):
    from app.main_window import MainWindow

    state = tmp_path / "ui.ini"
    first = MainWindow(mode="demo", ui_state_file=state)
    qtbot.addWidget(first)
    assert not first.activity_sound.enabled and not first.sound_action.isChecked()
    first.sound_action.trigger()
    assert first.activity_sound.enabled
    second = MainWindow(mode="demo", ui_state_file=state)
    qtbot.addWidget(second)
    assert second.activity_sound.enabled and second.sound_action.isChecked()


def test_a_message_with_no_room_left_is_kept_not_cleared(qtbot, monkeypatch):
    """A permanent label grown wider (a monitor's "account DU1" for "no account") left the
    message less room than "…": Qt elided it to nothing, which its message signal reads as a
    cleared message, and the message was gone (currentMessage() "", a flaky monitor test), not
    only narrowed. It is kept, drawn as "…" until there is room, its words in the tooltip."""
    from tests.gui.test_names_shown_as_typed import tooltip_shown
    from widgets.views.status import ElidingStatusBar

    bar = ElidingStatusBar()
    qtbot.addWidget(bar)
    bar.resize(400, 30)
    bar.show()
    said = "Monitor (read-only): reconcile is done at the trading workstation"
    monkeypatch.setattr(bar, "message_room", lambda: 2)  # less than "…" takes
    bar.showMessage(said, 10_000)
    assert bar.currentMessage() == said
    assert tooltip_shown(bar.toolTip()) == said
    monkeypatch.setattr(bar, "message_room", lambda: 1000)  # room again: the words come back
    bar._refit()
    assert bar.currentMessage() == said and bar.toolTip() == ""
