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
    assert dialog.error_label.text() == "The capital of project beta must be a positive amount, or off."
    table.item(1, 1).setText("20000.50")
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert sig.args[0]["project_capital"] == {"alpha": 50000, "beta": Decimal("20000.50")}


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
