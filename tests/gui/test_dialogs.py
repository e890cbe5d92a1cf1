"""Dialogs and small widgets: LIVE confirmation, order details, settings, errors, status bar,
mode badge, charts, themes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from services.domain import OrderDetails, OrderEventInfo, OrderState, is_live_token
from widgets.dialogs import LiveConfirmDialog, OrderDetailsDialog, SettingsDialog, error_box
from widgets.theme import apply_theme, stylesheet
from widgets.views.charts import ChartsView
from widgets.views.status import ConnectionStatusBar, ModeBadge

from .factories import T0, fill, order


@pytest.mark.parametrize("typed, enabled", [
    ("", False), ("LIV", False), ("LIVEX", False), ("L I V E", False), ("paper", False), ("yes", False),
    ("LIVE", True), ("live", True), ("  Live  ", True), ("\tLIVE\n", True),
])
def test_live_dialog_enables_ok_only_for_live(qtbot, typed, enabled):
    dialog = LiveConfirmDialog("U1234567", 12, Decimal("98765.4321"))
    qtbot.addWidget(dialog)
    assert not dialog.ok_button.isEnabled()
    dialog.token_edit.setText(typed)
    assert dialog.ok_button.isEnabled() is enabled is is_live_token(typed)
    dialog.accept()  # even a forced accept refuses a wrong token
    assert dialog.result() == (LiveConfirmDialog.DialogCode.Accepted if enabled else LiveConfirmDialog.DialogCode.Rejected)
    assert dialog.token() == typed


def test_live_dialog_shows_account_count_and_gross_notional(qtbot):
    dialog = LiveConfirmDialog("U1234567", 12, Decimal("98765.4321"))
    qtbot.addWidget(dialog)
    assert dialog.isModal()
    assert (dialog.account_label.text(), dialog.count_label.text(), dialog.notional_label.text()) == (
        "U1234567", "12", "98,765.43 USD")
    assert not dialog.ok_button.isDefault()


def test_live_dialog_names_whose_orders_they_are_and_their_currency(qtbot):
    """Several projects trade one account: the word is typed for one project's snapshot, named."""
    dialog = LiveConfirmDialog("U1234567", 12, Decimal("98765.4321"), currency="EUR",
                               about=[("Project", "Momentum"), ("Snapshot", "momentum_2026-11-21.json")])
    qtbot.addWidget(dialog)
    assert [label.text() for label in dialog.about_labels] == ["Momentum", "momentum_2026-11-21.json"]
    assert dialog.notional_label.text() == "98,765.43 EUR"
    assert dialog.subject_text() == "Momentum · momentum_2026-11-21.json · 12 orders, gross 98,765.43 EUR"
    # a currency the account did not report is not guessed
    unknown = LiveConfirmDialog("U1234567", 1, Decimal("10"), currency=None)
    qtbot.addWidget(unknown)
    assert unknown.notional_label.text() == "10.00"


def test_order_details_show_fills_and_history(qtbot):
    """The dialog takes the order's details as services read them (OrderDetails, its events the
    frozen OrderEventInfo values): the blotter's and the monitor's controllers each turned the
    events into dicts for it."""
    o = order(7, status=OrderState.PARTIALLY_FILLED, filled="30", avg="100.1")
    events = (
        OrderEventInfo(T0, "user", "submitted", "NEW", "SUBMITTED", False, None, None),
        OrderEventInfo(T0 + timedelta(seconds=1), "broker", "status", "SUBMITTED", "ACCEPTED", False, "Submitted", None),
        # no message: its payload says what came
        OrderEventInfo(T0 + timedelta(seconds=2), "broker", "fill", "ACCEPTED", "PARTIALLY_FILLED", False, None,
                       {"qty": "30", "price": "100.1"}),
        OrderEventInfo(T0 + timedelta(seconds=3), "broker", "late_fill", "CANCELED", "CANCELED", True, "fill after cancel",
                       {"qty": "5"}),
    )
    dialog = OrderDetailsDialog(OrderDetails(o, (fill(1, 7, quantity="30", price="100.1"),), events))
    qtbot.addWidget(dialog)
    table = dialog.events_table
    rows = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    assert rows == [
        ["2026-11-20 14:30:00.000", "submitted", "NEW", "SUBMITTED", "user", ""],
        ["2026-11-20 14:30:01.000", "status", "SUBMITTED", "ACCEPTED", "broker", "Submitted"],
        ["2026-11-20 14:30:02.000", "fill", "ACCEPTED", "PARTIALLY_FILLED", "broker", "qty=30, price=100.1"],
        ["2026-11-20 14:30:03.000", "late_fill (flagged)", "CANCELED", "CANCELED", "broker", "fill after cancel"],
    ]
    assert dialog.fills_model.rowCount() == 1
    fills = dialog.fills_table
    time_text = dialog.fills_model.display_text(0, 0)
    assert fills.columnWidth(0) >= fills.fontMetrics().horizontalAdvance(time_text), time_text  # the time whole
    assert dialog.windowTitle() == f"Order {o.client_order_id}"



def test_order_details_history_says_what_a_replace_asked_for_whole(qtbot):
    """A replace's row read "replace requested" and no more; said with what it asked (the payload
    the replace stores: services.execution.replace_order), its detail is read whole in the shown
    dialog, at 1366x768 (the dialog's 820 px cut it)."""
    o = order(7, quantity="15", limit="226.5")
    asked = {"client_order_id": o.client_order_id, "quantity": "15", "limit_price": "226.50"}
    events = (
        OrderEventInfo(T0, "system", "claimed", "NEW", "SENDING", False, "claimed for sending", None),
        OrderEventInfo(T0 + timedelta(seconds=1), "user", "replace_requested", "ACCEPTED", "REPLACE_REQUESTED", False,
                       "replace requested", asked),
        OrderEventInfo(T0 + timedelta(seconds=2), "broker", "replace_confirmed", "REPLACE_REQUESTED", "ACCEPTED", False,
                       "replace confirmed", {"status": "Submitted"}),
    )
    dialog = OrderDetailsDialog(OrderDetails(o, (), events))
    qtbot.addWidget(dialog)
    dialog.fit_history(1366 - 40)  # a laptop's screen (offscreen's is 800 px wide), as under Xvfb
    dialog.show()
    qtbot.waitExposed(dialog)
    table = dialog.events_table
    detail = table.item(1, 5).text()
    assert detail == "replace requested to 15 @ 226.50"
    assert table.columnViewportPosition(5) + table.fontMetrics().horizontalAdvance(detail) + 8 <= table.viewport().width(), (
        table.columnViewportPosition(5), table.viewport().width())
    assert dialog.frameGeometry().width() <= 1366

def test_order_details_name_a_stop_orders_stop_and_limit_as_the_blotter_does(qtbot):
    """A SELL 3 AAPL STP LMT stop 220.00 limit 219.50 read "SELL 3 AAPL STP LMT 219.50" in its
    details (the dialog wrote the limit after the type): its limit alone, as if it were the
    stop; a STP read "STP" bare. Its prices as the cancel question and the Replace dialog say
    them (services.core.wording.order_prices)."""
    from services.domain import OrderType, Side

    stop_limit = order(8, side=Side.SELL, quantity="3", order_type=OrderType.STP_LMT, limit="219.5", stop="220")
    stop = order(9, side=Side.SELL, quantity="5", order_type=OrderType.STP, limit=None, stop="166")
    limit = order(10, limit="100.25")
    shown = []
    for o in (stop_limit, stop, limit):
        dialog = OrderDetailsDialog(OrderDetails(o, (), ()))
        qtbot.addWidget(dialog)
        shown.append(dialog.order_label.text())
    assert shown == [f"SELL 3 {stop_limit.symbol} STP LMT stop 220.00 limit 219.50", f"SELL 5 {stop.symbol} STP 166.00",
                     f"BUY 100 {limit.symbol} LMT 100.25"]


SETTINGS = {
    "ib": {"host": "127.0.0.1", "port": 4002, "client_id": 7, "account": "DU111", "market_data_type": "delayed",
           "market_data_lines": 100},
    "risk_defaults": {"max_order_notional": 25000, "max_position_ratio": Decimal("0.2"), "allow_short": False,
                      "price_collar_pct": None},
    "recovery": {"new_timeout_seconds": 45, "max_auto_retries": 1, "max_price_deviation_pct": Decimal("1.5"),
                 "allow_replace_outside_rth": False},
    "database_url": "mysql+pymysql://trader:s3cret@db.example/console",
    "theme": "dark",
}


def test_settings_dialog_masks_the_password_and_emits_the_typed_text(qtbot):
    """The tables' cells go out as typed: the services read them per setting (tests/gui/
    test_settings_typed_words.py), "off" included."""
    dialog = SettingsDialog(SETTINGS)
    qtbot.addWidget(dialog)
    assert dialog.database_edit.text() == "mysql+pymysql://trader:***@db.example/console"
    dialog.port_edit.setText("4001")
    dialog.market_data_lines_edit.setText("300")
    dialog.risk_table.item(0, 1).setText("30000")
    dialog.recovery_table.item(3, 1).setText("true")
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    values = sig.args[0]
    assert values["ib"] == {**SETTINGS["ib"], "port": 4001, "market_data_lines": 300}
    assert dialog.risk_table.item(3, 1).text() == "off"
    assert values["risk_defaults"] == {"max_order_notional": "30000", "max_position_ratio": "0.2",
                                       "allow_short": "false", "price_collar_pct": "off"}
    assert values["recovery"]["allow_replace_outside_rth"] == "true"
    assert values["recovery"]["max_price_deviation_pct"] == "1.5"
    assert "database_url" not in values  # unchanged: the stored URL (and its password) stays


def test_settings_dialog_takes_any_port_typed_and_says_a_bad_one(qtbot):
    """The port was a spin box that took no key going beyond 65535 and said nothing: a 0 typed
    after 7497 left 7497, 70000 typed became 7000. Every key is kept now; a port outside 1-65535
    (or no whole number) is said at OK in the services' words, as the other fields' problems."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    dialog = SettingsDialog(SETTINGS)
    qtbot.addWidget(dialog)
    port = dialog.port_edit
    port.setText("7497")
    port.setFocus()
    port.end(False)
    QTest.keyClick(port, Qt.Key.Key_0)  # a fifth digit after 7497
    assert port.text() == "74970"
    with qtbot.assertNotEmitted(dialog.settings_submitted):
        dialog.accept()
    assert dialog.error_label.text() == "Port: must be a port from 1 to 65535: '74970'."
    for typed, said in (("70000", "Port: must be a port from 1 to 65535: '70000'."), ("0", "Port: must be a port from 1 to 65535: '0'."),
                        ("74a", "Port: not a number: '74a'."), ("4001.5", "Port: must be a whole number: '4001.5'."),
                        # read as 1000 and saved, where the order ticket refuses an exponent (seen under Xvfb)
                        ("1e3", "Port: must be a number in digits, without an exponent: '1e3'.")):
        port.selectAll()
        QTest.keyClicks(port, typed)
        assert port.text() == typed
        with qtbot.assertNotEmitted(dialog.settings_submitted):
            dialog.accept()
        assert dialog.error_label.text() == said
    for typed, value in (("40012", 40012), ("65535", 65535)):
        port.selectAll()
        QTest.keyClicks(port, typed)
        with qtbot.waitSignal(dialog.settings_submitted) as sig:
            dialog.accept()
        assert sig.args[0]["ib"]["port"] == value and dialog.error_label.text() == ""
        dialog.show()
    port.setText("7497")
    port.home(False)
    QTest.keyClick(port, Qt.Key.Key_1)  # 7497 made 17497 by its first digit
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.accept()
    assert sig.args[0]["ib"]["port"] == 17497


def test_settings_dialog_keeps_every_key_of_the_client_id_and_the_lines_and_says_a_bad_one(qtbot):
    """The client id and the market data lines were spin boxes that took no key going past their
    limits and said nothing: 150000 lines typed became 15000, a client id 3000000000 became
    300000000. Every key is kept now; a value outside the services' bounds (the settings file's:
    services.core.typed_numbers.client_id_problem, lines_problem) is said at OK, as the port's."""
    from PySide6.QtTest import QTest

    dialog = SettingsDialog(SETTINGS)
    qtbot.addWidget(dialog)
    for edit, typed, said in (
            (dialog.market_data_lines_edit, "0", "Market data lines: must be at least 1 (IB gives every account 100 market data lines): '0'."),
            (dialog.market_data_lines_edit, "1.5", "Market data lines: must be a whole number: '1.5'."),
            (dialog.client_id_edit, "3000000000", "Client id: must be a client id from 0 to 2147483647: '3000000000'."),
            (dialog.client_id_edit, "-1", "Client id: must be a client id from 0 to 2147483647: '-1'."),
            (dialog.client_id_edit, "7a", "Client id: not a number: '7a'."),
            (dialog.client_id_edit, "1e3", "Client id: must be a number in digits, without an exponent: '1e3'."),
            (dialog.market_data_lines_edit, "1E2",
             "Market data lines: must be a number in digits, without an exponent: '1E2'.")):
        before = edit.text()
        edit.selectAll()
        QTest.keyClicks(edit, typed)
        assert edit.text() == typed
        with qtbot.assertNotEmitted(dialog.settings_submitted):
            dialog.accept()
        assert dialog.error_label.text() == said
        edit.setText(before)
    dialog.market_data_lines_edit.selectAll()
    QTest.keyClicks(dialog.market_data_lines_edit, "150000")  # a booster-packed account: every key kept
    dialog.client_id_edit.selectAll()
    QTest.keyClicks(dialog.client_id_edit, "2147483647")
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.accept()
    assert dialog.error_label.text() == ""
    assert (sig.args[0]["ib"]["market_data_lines"], sig.args[0]["ib"]["client_id"]) == (150000, 2147483647)


def test_settings_dialog_refuses_a_masked_url_and_an_empty_host(qtbot):
    dialog = SettingsDialog(SETTINGS)
    qtbot.addWidget(dialog)
    dialog.database_edit.setText("mysql+pymysql://trader:***@other/console")
    with qtbot.assertNotEmitted(dialog.settings_submitted):
        dialog.accept()
    assert "full database URL" in dialog.error_label.text()
    dialog.database_edit.setText("sqlite:///x.db")
    dialog.host_edit.setText(" ")
    with qtbot.assertNotEmitted(dialog.settings_submitted):
        dialog.accept()
    assert dialog.error_label.text() == "The host cannot be empty."
    dialog.host_edit.setText("gw")
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.accept()
    assert sig.args[0]["database_url"] == "sqlite:///x.db"


def test_settings_dialog_names_an_unknown_data_source_and_refuses_it_until_one_is_chosen(qtbot):
    dialog = SettingsDialog({**SETTINGS, "execution_data_source": "bloomberg", "data_sources": ["ib", "simulator"]})
    qtbot.addWidget(dialog)
    assert dialog.error_label.text() == "Execution data source 'bloomberg' is not one of ib, simulator: choose one."
    with qtbot.assertNotEmitted(dialog.settings_submitted):
        dialog.accept()
    assert "'bloomberg'" in dialog.error_label.text()
    dialog.data_source_combo.setCurrentText("simulator")
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.accept()
    assert sig.args[0]["execution_data_source"] == "simulator"


def test_settings_dialog_shows_and_returns_a_known_data_source(qtbot):
    dialog = SettingsDialog({**SETTINGS, "execution_data_source": "ib", "data_sources": ["ib", "simulator"]})
    qtbot.addWidget(dialog)
    assert (dialog.data_source_combo.currentText(), dialog.error_label.text()) == ("ib", "")
    assert [dialog.data_source_combo.itemText(i) for i in range(dialog.data_source_combo.count())] == ["ib", "simulator"]
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.accept()
    assert sig.args[0]["execution_data_source"] == "ib"


def test_error_box_redacts_passwords(qtbot):
    box = error_box(None, "Database", "cannot connect to mysql://u:pw@h/db", details="url mysql://u:pw@h/db")
    qtbot.addWidget(box)
    assert box.text() == "cannot connect to mysql://u:***@h/db"
    assert box.detailedText() == "url mysql://u:***@h/db"
    assert box.icon() == QMessageBox.Icon.Critical


def test_mode_badge(qtbot):
    badge = ModeBadge("demo")
    qtbot.addWidget(badge)
    assert badge.text() == "DEMO"
    badge.set_mode("live")
    assert (badge.text(), badge.colour()) == ("LIVE", "#d62828")
    assert "#d62828" in badge.styleSheet()
    badge.set_mode("PAPER")
    assert badge.text() == "PAPER"
    with pytest.raises(ValueError):
        badge.set_mode("real")


def test_connection_status_bar_counts_down(qtbot):
    now = [100.0]
    bar = ConnectionStatusBar(clock=lambda: now[0], now=lambda: T0 + timedelta(hours=1))  # the event's day
    qtbot.addWidget(bar)
    bar.set_connection_state("reconnecting", reconnect_in=5)
    assert bar.state_label.text() == "● reconnecting — retry in 5 s"
    now[0] = 102.2
    qtbot.waitUntil(lambda: bar.state_label.text() == "● reconnecting — retry in 3 s", timeout=2000)
    bar.set_connection_state("connected")
    assert bar.state_label.text() == "● connected"
    bar.set_endpoint("127.0.0.1", 4002)
    bar.set_account("DU111")
    bar.set_database("mysql+pymysql://u:pw@h/db")
    bar.set_last_event_time(T0)
    assert [bar.endpoint_label.text(), bar.account_label.text(), bar.database_label.text(),
            bar.last_event_label.text()] == ["127.0.0.1:4002", "account DU111", "db on h", "last event 14:30:00 UTC"]
    assert bar.database_label.toolTip() == "database: mysql+pymysql://u:***@h/db"  # the whole URL, never its password
    bar.set_database("sqlite:////home/trader/.local/share/ib-trading-console/demo.sqlite3")
    assert bar.database_label.text() == "demo.sqlite3"


def test_charts_take_plain_data(qtbot):
    charts = ChartsView()
    qtbot.addWidget(charts)
    points = [(T0 + timedelta(seconds=i), Decimal(1000 * i)) for i in range(5)]
    charts.set_run_progress(points, Decimal(10000))
    _xs, ys = charts.filled_curve.getData()
    assert list(ys) == [0.0, 1000.0, 2000.0, 3000.0, 4000.0]
    assert charts.target_line.value() == 10000.0
    line = "20 filled at 100.2000 (volume-weighted), +20.0 bps vs reference 100"  # services.run_progress's, shown as given
    charts.set_fill_prices({"AAPL": [(T0, Decimal("100.10")), (T0, Decimal("100.30"))], "MSFT": [(T0, Decimal("400"))]},
                           {"AAPL": Decimal("100")}, {"AAPL": line})
    assert charts.symbol_combo.currentText() == "AAPL"
    assert charts.slippage_label.text() == line
    charts.symbol_combo.setCurrentText("MSFT")  # nothing computed of its own: the count of fills
    assert charts.slippage_label.text() == "1 fill"
    charts.set_equity([(T0, Decimal(100000), Decimal(0)), (T0 + timedelta(days=1), Decimal(100500), Decimal(500))])
    assert list(charts.pnl_curve.getData()[1]) == [0.0, 500.0]


def test_a_run_chart_is_drawn_whole_progress_and_fill_prices(qtbot):
    """The trading window and the monitor draw a run's chart one way (ChartsView.show_run_chart)."""
    from services.console_charts import RunChart

    charts = ChartsView()
    qtbot.addWidget(charts)
    charts.show_run_chart(RunChart(((T0, Decimal(0)), (T0 + timedelta(seconds=1), Decimal(600))), Decimal(600),
                                   {"AAPL": ((T0, Decimal("100.10")),)}, {"AAPL": Decimal("100")}, {"AAPL": "6 filled"}))
    assert list(charts.filled_curve.getData()[1]) == [0.0, 600.0] and charts.target_line.value() == 600.0
    assert charts.symbol_combo.currentText() == "AAPL" and charts.slippage_label.text() == "6 filled"


def test_the_run_caption_shows_a_project_name_as_written(qtbot):
    """A project's name is free text (the order ticket's project is typed): its "&" is shown, not
    taken for the tab's mnemonic ("R&D" read "RD" with the D underlined, Alt+D its shortcut)."""
    charts = ChartsView()
    qtbot.addWidget(charts)
    index = charts.tabs.indexOf(charts.progress_plot)
    charts.set_run_caption("R&D, run 3")
    assert charts.tabs.tabText(index) == "Run progress · R&&D, run 3"  # Qt's literal "&"
    assert charts.tabs.tabToolTip(index) == "the run-progress chart shows R&D, run 3"  # a tooltip has no mnemonic
    charts.set_run_caption(None)
    assert (charts.tabs.tabText(index), charts.tabs.tabToolTip(index)) == ("Run progress", "")


@pytest.mark.parametrize("name, background", [("dark", "#1a1d22"), ("light", "#ffffff")])
def test_themes_apply(qtbot, name, background):
    # the product's theme is put back after the test (tests/fixtures/theme.py): restoring only
    # the stylesheet and clearing the theme's name left the next test of the worker dark but
    # unnamed, and after "light" with light colours (test_theme_baseline failed after it)
    app = QApplication.instance()
    charts = ChartsView()
    qtbot.addWidget(charts)
    apply_theme(app, name)
    assert charts.progress_plot.backgroundBrush().color().name() == background
    assert app.styleSheet() == stylesheet(name)
    assert "QLabel#verdictLabel[verdict=\"blocked\"]" in app.styleSheet()
    assert app.property("tc_theme") == name
    with pytest.raises(ValueError):
        stylesheet("neon")


@pytest.mark.slow  # one of the longest of the quick subset (3-10 s): left out of --quick
def test_a_theme_change_recolours_the_living_charts_and_skips_a_deleted_one(qtbot):
    """The theme reaches the charts that asked for it (``widgets.theme.follow_theme``), not a
    walk over every widget of the process (``app.allWidgets()`` crashed in the suite when a
    widget of an earlier test was half torn down); a chart whose C++ widget is gone is skipped."""
    import shiboken6

    app = QApplication.instance()  # its theme put back after the test (tests/fixtures/theme.py)
    gone, kept = ChartsView(), ChartsView()
    qtbot.addWidget(kept)
    shiboken6.delete(gone)
    apply_theme(app, "light")
    assert kept.progress_plot.backgroundBrush().color().name() == "#ffffff"
    apply_theme(app, "dark")
    assert kept.progress_plot.backgroundBrush().color().name() == "#1a1d22"


def test_settings_rows_say_what_may_be_typed_in_them(qtbot):
    """Every row said '"off" or empty switches a limit off', true/false and recovery rows too."""
    dialog = SettingsDialog(SETTINGS)
    qtbot.addWidget(dialog)

    def tip(table, row):
        return table.item(row, 0).toolTip()

    assert tip(dialog.risk_table, 0) == 'max_order_notional: a number; "off" or empty switches the limit off'
    assert tip(dialog.risk_table, 2) == "allow_short: true or false (yes / no, on / off)"
    assert tip(dialog.recovery_table, 0) == "new_timeout_seconds: a number"
    assert tip(dialog.recovery_table, 3) == "allow_replace_outside_rth: true or false (yes / no, on / off)"


def test_a_demo_session_names_the_simulator_and_offers_no_data_source(qtbot):
    """Demo mode runs the built-in simulator whatever is stored: the dialog says so, hides the
    data source the demo ignores (even an unknown one stops no OK) and leaves it as stored."""
    session = {"text": "built-in simulator (demo), 127.0.0.1:35065", "demo": True}
    dialog = SettingsDialog({**SETTINGS, "execution_data_source": "bloomberg", "data_sources": ["ib", "simulator"],
                             "session": session})
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.session_label.isVisible() and dialog.session_label.text() == session["text"]
    assert not dialog.data_source_combo.isVisible()
    note = dialog.findChild(QLabel, "demoConnectionNote")
    assert note is not None and note.isVisible() and "paper and live" in note.text()
    assert dialog.error_label.text() == ""
    with qtbot.waitSignal(dialog.settings_submitted) as sig:
        dialog.accept()
    assert "execution_data_source" not in sig.args[0]  # the demo's stored source: unchanged


def test_a_paper_session_names_its_gateway_and_keeps_the_data_source(qtbot):
    dialog = SettingsDialog({**SETTINGS, "execution_data_source": "ib", "data_sources": ["ib", "simulator"],
                             "session": {"text": "TWS / IB Gateway, 127.0.0.1:7497", "demo": False}})
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.session_label.isVisible() and dialog.data_source_combo.isVisible()
    assert dialog.findChild(QLabel, "demoConnectionNote") is None
