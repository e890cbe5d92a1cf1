"""A trade setting typed in the Settings dialog means what the same text means to
``trade-settings set``: one reading per setting (services.trade_settings_keys.read_setting)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.settings import Settings
from services import console_settings
from services.trade_settings import TradeSettingsError, TradeSettingsService
from widgets.dialogs.settings import SettingsDialog

pytestmark = pytest.mark.timeout(120)

FLAGS = ("on", "off", "yes", "no", "true", "false", "maybe")
CASES = [
    *(("auto_recovery.allow_replace_outside_rth", typed) for typed in FLAGS),
    *(("risk.allow_short", typed) for typed in FLAGS),
    ("risk.max_order_notional", "off"), ("risk.max_order_notional", "25,000"), ("risk.max_order_notional", "abc"),
    ("auto_recovery.new_timeout_seconds", "off"), ("auto_recovery.new_timeout_seconds", "30"),
    # a whole-number limit: the dialog let 2.5 through and the service refused it once it had closed
    ("risk.max_orders_per_run", "2.5"),
]
EXPECTED = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


def _command(service: TradeSettingsService, key: str, typed: str) -> tuple[str, object]:
    """What ``trade-settings set KEY=TYPED`` stores, or the message it refuses it with."""
    section, name = key.split(".")
    try:
        return "stored", service.set([f"{key}={typed}"])[section][name]
    except TradeSettingsError as exc:
        return "refused", str(exc)


def _dialog(qtbot, service: TradeSettingsService, key: str, typed: str) -> tuple[str, object]:
    """What the Settings dialog stores when TYPED is put in KEY's cell and OK pressed (the
    console's save: change_from_dialog, then the service), or the message its error line shows."""
    section, name = key.split(".")
    dialog = SettingsDialog(console_settings.dialog_values(Settings(), service.read()))
    qtbot.addWidget(dialog)
    table = dialog.recovery_table if section == "auto_recovery" else dialog.risk_table
    row = dialog.row_of(table, name)
    table.item(row, 1).setText(typed)
    submitted = []
    dialog.settings_submitted.connect(submitted.append)
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    if not submitted:
        return "refused", (table.item(row, 0).text(), dialog.error_label.text())
    # a value the dialog let through must not be refused after it closed
    change = console_settings.change_from_dialog(Settings(), submitted[0])
    return "stored", service.update(change.trade_changes)[section][name]


@pytest.mark.parametrize(("key", "typed"), CASES)
def test_a_typed_setting_is_stored_or_refused_alike_by_the_command_and_the_dialog(qtbot, database, key, typed):
    """"off" for a true/false setting: the command stored False, the dialog refused it ("None is
    not true or false") or, for allow_short, closed and then the service refused it; "off"
    switches a risk limit off (None) in both, as ``--risk NAME=off`` does."""
    service = TradeSettingsService(database, "tester")
    command = _command(service, key, typed)
    window = _dialog(qtbot, service, key, typed)
    assert command[0] == window[0], (command, window)
    if command[0] == "stored":
        assert command[1] == window[1], (command, window)
        name = key.split(".")[1]
        if typed in EXPECTED and name.startswith("allow_"):
            assert command[1] is EXPECTED[typed]
        elif name == "max_order_notional":
            assert command[1] == {"off": None, "25,000": 25000}[typed]
        else:
            assert command[1] == 30
    else:
        # the same message: the dialog names the row by its label where the command names the key
        # typed, each once ("risk: max_order_notional: ...", the row "Max order notional:
        # max_order_notional: ...", the flag "Allow short: allow_short must be true or false")
        label, shown = window[1]
        assert command[1].startswith(f"{key}: "), command
        reason = command[1].removeprefix(f"{key}: ")
        assert shown == f"{label}: {reason}.", (command, window)
        assert key.split(".")[1] not in reason, reason
        assert repr(typed) in reason, reason  # names the value as typed ("'off' is not a number")


def test_a_value_stored_beyond_the_bound_is_shown_and_stops_no_other_change(qtbot, database):
    """A risk limit and a timeout stored above 1e12 before the bound existed: the dialog refused
    OK whatever was changed (its own check, then the service's, read every row again), so no
    setting could be saved; now it says which value is refused and why, saves the others, and
    the refused value itself can be changed."""
    from services.db.repositories.settings import SettingsRepository

    with database.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({"max_order_notional": 10**13})
        SettingsRepository(session).set_auto_recovery({"new_timeout_seconds": 10**13})
    service = TradeSettingsService(database, "tester")
    dialog = SettingsDialog(console_settings.dialog_values(Settings(), service.read()))
    qtbot.addWidget(dialog)
    notional = dialog.row_of(dialog.risk_table, "max_order_notional")
    label = dialog.risk_table.item(notional, 0).text()
    assert dialog.risk_table.item(notional, 1).text() == "10000000000000"
    shown = dialog.error_label.text()
    assert f"{label}: 10000000000000 is refused since it was stored" in shown and "from 0 to 1e12" in shown, shown
    assert "change it or switch it off" in shown and "Stuck after" in shown, shown

    dialog.risk_table.item(dialog.row_of(dialog.risk_table, "max_order_quantity"), 1).setText("5")
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    stored = service.update(console_settings.change_from_dialog(Settings(), sig.args[0]).trade_changes)
    assert stored["risk"]["max_order_quantity"] == 5
    assert stored["risk"]["max_order_notional"] == 10**13 and stored["auto_recovery"]["new_timeout_seconds"] == 10**13

    again = SettingsDialog(console_settings.dialog_values(Settings(), stored))
    qtbot.addWidget(again)
    again.risk_table.item(notional, 1).setText("2e13")  # typed anew, the bound holds
    again.accept()
    assert again.error_label.text() == f"{label}: must be a number from 0 to 1e12: '2e13'."
    again.risk_table.item(notional, 1).setText("50,000")
    with qtbot.waitSignal(again.settings_submitted) as sig:
        again.buttons.button(again.buttons.StandardButton.Ok).click()
    stored = service.update(console_settings.change_from_dialog(Settings(), sig.args[0]).trade_changes)
    assert stored["risk"]["max_order_notional"] == 50000 and list(stored["stored_problems"]) == [
        "auto_recovery.new_timeout_seconds"]


def test_a_risk_limit_of_another_version_is_removed_with_its_rows_remove(qtbot, database):
    """A limit another version stored refuses every preview (tests/execution/
    test_unknown_risk_setting.py); the dialog showed it with "a setting of another version, which
    this one cannot change", and typing in its row only drew "unknown setting". Now its row shows
    the value read-only beside Remove; OK removes it (as `trade-settings unset` does), audited,
    the other limits as they were."""
    from services.audit import AuditLog
    from services.db.repositories.settings import SettingsRepository

    with database.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({"max_order_notional": "25000", "some_future_rule": "3"})
    service = TradeSettingsService(database, "tester")
    dialog = SettingsDialog(console_settings.dialog_values(Settings(), service.read()))
    qtbot.addWidget(dialog)
    shown = dialog.error_label.text()
    assert "Some future rule: 3 is refused since it was stored" in shown, shown
    assert "`trading-console trade-settings unset risk.some_future_rule` removes it" in shown, shown
    row = dialog.row_of(dialog.risk_table, "some_future_rule")
    assert not dialog.risk_table.item(row, 1).flags() & Qt.ItemFlag.ItemIsEditable  # removed, never changed here

    dialog.remove_buttons["risk.some_future_rule"].click()
    assert dialog.risk_table.isRowHidden(row)
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    stored = service.update(console_settings.change_from_dialog(Settings(), sig.args[0]).trade_changes)
    assert "some_future_rule" not in stored["risk"] and stored["stored_problems"] == {}
    assert str(stored["risk"]["max_order_notional"]) == "25000"  # as it was (a saved dialog stores it read: 25000)
    entries = AuditLog(database).list(action="settings.trade")
    assert [e.payload.get("unset") for e in entries] == [{"risk.some_future_rule": "3"}]


@pytest.mark.parametrize("stored", [True, False, None], ids=["true", "false", "off"])
def test_a_flag_of_another_version_kept_stops_no_other_change(qtbot, database, stored):
    """A setting another version stored is shown read-only (Remove beside it) and OK without Remove
    keeps it and saves the rest. Its value shows as the dialog's word ("true", "false", "off"): a
    flag or a limit switched off was not taken for the value stored, so OK drew "unknown setting"
    for a row nobody can type in and the trader could change nothing else until they removed it."""
    from services.db.repositories.settings import SettingsRepository

    with database.unit_of_work() as session:
        SettingsRepository(session).set_risk_defaults({"max_order_notional": "25000", "some_future_flag": stored})
    service = TradeSettingsService(database, "tester")
    dialog = SettingsDialog(console_settings.dialog_values(Settings(), service.read()))
    qtbot.addWidget(dialog)
    dialog.risk_table.item(dialog.row_of(dialog.risk_table, "max_order_notional"), 1).setText("30000")
    submitted = []
    dialog.settings_submitted.connect(submitted.append)
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert submitted, dialog.error_label.text()  # was: "Some future flag: unknown setting 'risk.some_future_flag'."
    values = service.update(console_settings.change_from_dialog(Settings(), submitted[0]).trade_changes)
    assert str(values["risk"]["max_order_notional"]) == "30000"
    assert values["risk"]["some_future_flag"] is stored  # kept as it was, never changed here
