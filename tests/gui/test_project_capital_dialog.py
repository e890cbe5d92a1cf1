"""The settings dialog edits each project's capital (docs/project-books.md), offscreen."""

from __future__ import annotations

from decimal import Decimal

from services.console_settings import change_from_dialog
from widgets.dialogs.settings import SettingsDialog

from .test_dialogs import SETTINGS


def test_settings_dialog_edits_project_capital_and_refuses_a_bad_one(qtbot):
    dialog = SettingsDialog({**SETTINGS, "project_capital": {"alpha": "50000", "beta": None}})
    qtbot.addWidget(dialog)
    table = dialog.capital_table
    assert [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())] == [
        ("alpha", "50000"), ("beta", "off")]
    table.item(1, 1).setText("-5")
    dialog.accept()
    assert dialog.error_label.text() == "Project beta: capital: must be a number > 0, or off (or left empty) for no capital: '-5'."
    table.item(1, 1).setText("1e10")  # the service's bound (what a plan keeps): the dialog does not let it through
    dialog.accept()
    assert dialog.error_label.text() == "Project beta: capital: must be a number below 1e10 (a plan keeps no larger portfolio value): '1e10'."
    table.item(1, 1).setText("20000.50")
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert sig.args[0]["project_capital"] == {"alpha": "50000", "beta": "20000.50"}  # as typed: the service reads it


def test_a_dialog_without_projects_hides_the_capital_box(qtbot):
    dialog = SettingsDialog(SETTINGS)
    qtbot.addWidget(dialog)
    assert dialog.capital_table.rowCount() == 0 and not dialog.capital_table.parentWidget().isVisibleTo(dialog)
    assert dialog.values()["project_capital"] == {}


def test_the_dialogs_capital_goes_to_the_trade_settings_service():
    from app.settings import Settings as AppSettings

    change = change_from_dialog(AppSettings(), {"project_capital": {"alpha": Decimal(50000), "beta": None}})
    assert change.trade_changes["project_capital"] == {"alpha": "50000", "beta": None}
    assert "project_capital" not in change_from_dialog(AppSettings(), {}).trade_changes


def test_the_dialog_checks_auto_recovery_with_the_services_rule(qtbot):
    """A negative timeout made every unacknowledged order stuck at once; "abc" broke every
    recovery pass: the dialog refuses them with the service's own rule, naming the setting."""
    dialog = SettingsDialog({**SETTINGS, "recovery": {"new_timeout_seconds": 45, "allow_replace_outside_rth": False}})
    qtbot.addWidget(dialog)
    table = dialog.recovery_table
    row = dialog.row_of(table, "new_timeout_seconds")
    for typed, said in (("-5", "must be a number from 0 to 1e12: '-5'"), ("abc", "not a number: 'abc'"),
                        ("2.5", "must be a whole number: '2.5'"), ("off", "not a number: 'off'")):
        table.item(row, 1).setText(typed)
        dialog.accept()
        label = table.item(row, 0).text()  # the row's label, as the trader reads it
        assert dialog.error_label.text() == f"{label}: {said}.", typed
    table.item(row, 1).setText("30")
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.accept()
    assert sig.args[0]["recovery"]["new_timeout_seconds"] == "30"


def test_the_dialog_fits_the_screen_with_ok_in_view_and_its_groups_scrolling(qtbot):
    """With project capitals the groups are taller than a laptop's screen: they scroll, and the
    error line and OK / Cancel stay in view (OK was below the screen's edge at 1366x768)."""
    dialog = SettingsDialog({**SETTINGS, "project_capital": {f"project {i}": "10000" for i in range(6)}})
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    screen = dialog.screen().availableGeometry()
    assert dialog.frameGeometry().height() <= screen.height(), (dialog.frameGeometry(), screen)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert ok.isVisible() and dialog.rect().contains(ok.geometry().translated(dialog.buttons.pos()))
    assert dialog.scroll_area.verticalScrollBar().maximum() > 0  # the groups scroll instead
