"""Panels other than the blotter, built from the trading core's real values."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog

from services.console_settings import risk_limit_rows
from services.core.builder import BuildParams, Rounding, build_orders
from services.core.risk import RiskContext, evaluate_risk, risk_limits, rules_from_params
from services.core.snapshots import parse_snapshot_text
from services.domain import OrderType, Side
from widgets.models.audit import AuditModel
from widgets.models.fills import FillsModel
from widgets.models.positions import PositionsModel
from widgets.models.preview import PreviewOrdersModel
from widgets.models.risk import RiskResultsModel
from widgets.models.snapshots import SnapshotItemsModel
from widgets.views.audit import AuditView
from widgets.views.fills import FillsView
from widgets.views.positions import PositionsView
from widgets.views.preview import PreviewView
from widgets.views.risk import RiskView
from widgets.views.snapshots import SnapshotsView

from .factories import T0, audit, fill, position
from .showing import shown

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CSV = "symbol,weight,price\nAAPL,0.30,190.50\nMSFT,0.25,410.00\nSPY,0.20,580.25\n"


def drafts(order_type=OrderType.MKT, positions=None):
    items = parse_snapshot_text(CSV, "csv", source_name="s.csv").items
    params = BuildParams(portfolio_value=Decimal(100000), cash_buffer=Decimal("0.02"), order_type=order_type,
                         limit_offset_bps=Decimal(10), rounding=Rounding.NEAREST)
    return build_orders(items, params, positions=positions or {"IBM": Decimal(0)}).orders


def report(orders, **limits):
    limits.setdefault("max_position_ratio", 0.5)
    ctx = RiskContext(portfolio_value=Decimal(100000), now=NOW,
                      price_times={o.symbol: NOW for o in orders})
    return evaluate_risk(orders, ctx, rules_from_params(limits))


def test_preview_model_and_view_show_the_core_drafts_with_totals(qtbot, qtmodeltester):
    model = PreviewOrdersModel()
    qtmodeltester.check(model, force_py=True)
    view = PreviewView(model)
    qtbot.addWidget(view)
    orders = drafts()
    model.reset(orders)
    assert [model.data(model.index(r, 0)) for r in range(model.rowCount())] == ["AAPL", "MSFT", "SPY"]
    aapl = model.index(0, PreviewOrdersModel.QUANTITY)
    assert model.data(aapl) == str(orders[0].quantity)
    assert model.data(model.index(0, PreviewOrdersModel.WEIGHT)) == "30.00%"
    totals = model.totals()
    assert totals.buy_notional == sum(o.notional for o in orders)
    assert totals.sell_notional == 0
    assert view.totals_label.text().startswith("3 orders · buy ")
    qtmodeltester.check(model, force_py=True)


def test_the_preview_totals_line_says_what_the_plan_targets_not_the_traded_rows_weights(qtbot):
    """The line summed the target weights of the rows with orders ("target weight 30.00%" when
    one 30 % name of a 97 % snapshot trades); it ends with the preview's own words of the plan's
    target (PreviewResult.targeted), and with nothing of weights while no preview is shown."""
    model = PreviewOrdersModel()
    view = PreviewView(model)
    qtbot.addWidget(view)
    model.reset(drafts()[:1])
    view.set_targeted("target weight 97.00%, 95.06% after the 2.00% cash buffer")
    text = view.totals_label.text()
    assert text.startswith("1 order · buy ")
    assert text.endswith(" · target weight 97.00%, 95.06% after the 2.00% cash buffer")
    assert "30.00%" not in text
    model.clear()
    view.set_targeted()
    assert view.totals_label.text() == "0 orders · buy 0.00 · sell 0.00 · gross 0.00"


def test_preview_view_emits_typed_params_and_validates(qtbot):
    view = PreviewView(PreviewOrdersModel())
    qtbot.addWidget(view)
    view.portfolio_edit.setText("250000")
    view.cash_buffer_edit.setText("5")
    view.lot_size_edit.setText("10")
    view.rounding_combo.setCurrentText("floor")
    view.order_type_combo.setCurrentText("LMT")
    view.bps_edit.setText("15")
    with qtbot.waitSignal(view.preview_requested) as sig:
        view.preview_button.click()
    assert sig.args[0] == {
        "portfolio_value": Decimal(250000), "cash_buffer": Decimal("0.05"), "lot_size": Decimal(10),
        "rounding": "floor", "order_type": OrderType.LMT, "limit_offset_bps": Decimal(15),
        "min_order_value": Decimal(0), "liquidate_unlisted": False,
    }
    view.portfolio_edit.setText("0")
    with qtbot.assertNotEmitted(view.preview_requested):
        view.preview_action.trigger()
    assert view.error_label.text() == "Portfolio value: must be a number > 0: '0'."
    # what the builder refuses (services.core.builder: the command line and the backtest say the same)
    view.portfolio_edit.setText("250000")
    for field, text, said in ((view.lot_size_edit, "2.5", "Lot size: must be a whole number: '2.5'."),
                              (view.bps_edit, "10000", "Limit offset (bps): must be a number from 0 to below 10000: '10000'.")):
        field.setText(text)
        with qtbot.assertNotEmitted(view.preview_requested):
            view.preview_action.trigger()
        assert view.error_label.text() == said
        field.setText("10")
    assert view.preview_action.shortcut().toString() == "Ctrl+P"
    assert view.execute_action.shortcut().toString() == "Ctrl+E"


def test_the_limit_offset_typed_for_lmt_is_not_sent_with_mkt(qtbot):
    """The field is disabled for MKT but keeps what was typed while LMT was chosen: sent with MKT,
    the builder refuses the pair (a market order would ignore the offset); MKT sends none."""
    view = PreviewView(PreviewOrdersModel())
    qtbot.addWidget(view)
    view.order_type_combo.setCurrentText("LMT")
    view.bps_edit.setText("20")
    view.order_type_combo.setCurrentText("MKT")
    assert not view.bps_edit.isEnabled() and view.bps_edit.text() == "20"
    with qtbot.waitSignal(view.preview_requested) as sig:
        view.preview_button.click()
    assert view.error_label.text() == ""
    assert sig.args[0]["order_type"] == OrderType.MKT and sig.args[0]["limit_offset_bps"] == Decimal(0)
    view.order_type_combo.setCurrentText("LMT")  # chosen again: the offset typed is the trader's word
    with qtbot.waitSignal(view.preview_requested) as sig:
        view.preview_button.click()
    assert sig.args[0]["order_type"] == OrderType.LMT and sig.args[0]["limit_offset_bps"] == Decimal(20)


def test_a_decimal_comma_typed_in_the_preview_is_refused_with_its_reason_not_read_as_a_bigger_number(qtbot):
    """Keys, not setText: the fields' validator used to swallow a comma as it was typed, so a
    cash buffer typed 1,5 became 15 % with no word (services.core.typed_numbers refuses 1,5)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    view = PreviewView(PreviewOrdersModel())
    qtbot.addWidget(view)
    view.cash_buffer_edit.clear()
    QTest.keyClicks(view.cash_buffer_edit, "1,5")
    assert view.cash_buffer_edit.text() == "1,5"
    with qtbot.assertNotEmitted(view.preview_requested):
        view.preview_action.trigger()
    assert view.error_label.text() == "Cash buffer: not a number: '1,5' (commas only group thousands, as in 1,000.5)."
    view.cash_buffer_edit.clear()
    QTest.keyClicks(view.cash_buffer_edit, "1.5")
    view.portfolio_edit.clear()
    QTest.keyClicks(view.portfolio_edit, "1,000,000")  # grouped as the window shows amounts
    QTest.keyClicks(view.portfolio_edit, "x")  # not a number's key: not taken
    QTest.keyClick(view.portfolio_edit, Qt.Key.Key_Return)
    assert view.portfolio_edit.text() == "1,000,000"
    with qtbot.waitSignal(view.preview_requested) as sig:
        view.preview_action.trigger()
    assert sig.args[0]["portfolio_value"] == Decimal(1_000_000) and sig.args[0]["cash_buffer"] == Decimal("0.015")


def test_a_minus_typed_in_the_preview_is_refused_with_its_reason_not_dropped(qtbot):
    """Keys, not setText: the fields' validator swallowed a typed minus, so a limit offset typed
    -100 (limits under the market, the trader thought) became 100, limits 1 % through it, with
    no word; a cash buffer typed -5 became 5 %. The field keeps the minus and the preview's rule
    (services.core.preview_form) refuses it, naming the field and what was typed."""
    from PySide6.QtTest import QTest

    view = PreviewView(PreviewOrdersModel())
    qtbot.addWidget(view)
    view.order_type_combo.setCurrentText("LMT")
    view.bps_edit.clear()
    QTest.keyClicks(view.bps_edit, "-100")
    assert view.bps_edit.text() == "-100"
    with qtbot.assertNotEmitted(view.preview_requested):
        view.preview_action.trigger()
    assert view.error_label.text() == "Limit offset: must be a number >= 0: '-100'."
    view.bps_edit.clear()
    QTest.keyClicks(view.bps_edit, "100")
    view.cash_buffer_edit.clear()
    QTest.keyClicks(view.cash_buffer_edit, "-5")
    assert view.cash_buffer_edit.text() == "-5"
    with qtbot.assertNotEmitted(view.preview_requested):
        view.preview_action.trigger()
    assert view.error_label.text() == "Cash buffer: must be a percent from 0 to below 100: '-5'."
    view.cash_buffer_edit.clear()
    QTest.keyClicks(view.cash_buffer_edit, "5-")  # a minus only leads a number: not taken elsewhere
    assert view.cash_buffer_edit.text() == "5"


def test_execute_is_gated_by_the_controller_and_busy_state(qtbot):
    view = PreviewView(PreviewOrdersModel())
    qtbot.addWidget(view)
    received = []
    view.execute_requested.connect(lambda: received.append(True))
    view.execute_action.trigger()
    assert received == [] and not view.execute_button.isEnabled()
    view.set_execute_enabled(True)
    view.execute_button.click()
    assert received == [True]
    view.set_busy("execute", True)
    view.execute_action.trigger()
    assert received == [True]
    view.set_busy("execute", False)
    assert view.execute_button.isEnabled()
    view.set_execute_enabled(False, "Trading is halted")
    assert view.execute_button.toolTip() == "Trading is halted"
    view.set_progress(Decimal(2500), Decimal(10000))
    assert (view.progress.value(), view.progress.format()) == (250, "2,500.00 of 10,000.00 (25.00%)")


def test_the_preview_says_which_working_orders_it_counted_as_filled_above_the_skipped_symbols(qtbot):
    from services.core.builder import SkippedSymbol

    view = PreviewView(PreviewOrdersModel())
    qtbot.addWidget(view)
    view.set_skipped([SkippedSymbol("MSFT", "missing_price", "MSFT: no price")],
                     "counted as filled: 1 working order of this project: AAPL +44")
    assert view.skipped_label.text() == ("Counted as filled: 1 working order of this project: AAPL +44\n"
                                         "Skipped: MSFT: no price")  # the symbol once (was "MSFT (MSFT: no price)")
    view.set_skipped([])
    assert view.skipped_label.text() == ""


def test_the_lines_under_the_preview_take_room_only_while_they_say_something(qtbot):
    """Seen under Xvfb at 1366x768: the empty error and skipped lines under the preview's table
    kept some 40 px of it (five order rows in view instead of seven)."""
    from PySide6.QtTest import QTest

    from services.core.builder import SkippedSymbol

    view = shown(qtbot, PreviewView(PreviewOrdersModel()), (1000, 260))
    quiet = view.table.height()
    assert view.error_label.isHidden() and view.skipped_label.isHidden()
    view.set_skipped([SkippedSymbol("MSFT", "missing_price", "MSFT: no price")])
    view.cash_buffer_edit.clear()
    QTest.keyClicks(view.cash_buffer_edit, "1,5")
    view.preview_action.trigger()
    qtbot.waitUntil(lambda: view.table.height() < quiet, timeout=2000)  # the layout settles on the next pass
    assert view.error_label.isVisible() and view.skipped_label.isVisible()
    assert view.error_label.text().startswith("Cash buffer: not a number")
    view.set_skipped([])
    view.cash_buffer_edit.clear()
    QTest.keyClicks(view.cash_buffer_edit, "1.5")
    with qtbot.waitSignal(view.preview_requested):
        view.preview_action.trigger()
    assert view.error_label.isHidden() and view.skipped_label.isHidden()
    qtbot.waitUntil(lambda: view.table.height() == quiet, timeout=2000)


def test_the_previews_current_column_says_on_its_header_that_working_orders_count_as_filled():
    """Current is the project's holding with its working and unsent orders counted as filled (the
    builder's rule): a trader reading 20 where the positions show 0 finds why on the header."""
    from PySide6.QtCore import Qt

    model = PreviewOrdersModel()
    tip = model.headerData(PreviewOrdersModel.CURRENT, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "working" in tip and "as if they filled" in tip
    assert model.headerData(PreviewOrdersModel.SYMBOL, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) is None


def test_risk_view_shows_verdict_results_reasons_and_params(qtbot, qtmodeltester):
    model = RiskResultsModel()
    qtmodeltester.check(model, force_py=True)
    view = RiskView(model)
    qtbot.addWidget(view)
    orders = drafts()
    blocked = report(orders, max_order_notional=25000)
    assert view.set_report(blocked, risk_limit_rows(risk_limits({"max_order_notional": 25000, "max_daily_orders": None}))) is True
    assert view.verdict_label.property("verdict") == "blocked"
    assert view.verdict_label.text().startswith("BLOCKED — 1 order blocked")
    results = [model.data(model.index(r, RiskResultsModel.RESULT)) for r in range(model.rowCount())]
    assert results == ["BLOCK", "PASS", "PASS"]  # AAPL 30 % of 98k > 25k
    reason = model.index(0, RiskResultsModel.REASONS)
    code = blocked.orders[0].blocks[0].code
    message = blocked.orders[0].blocks[0].message
    assert model.data(reason) == f"{message} ({code})"  # the rule's words, not its code alone
    assert message.startswith("AAPL: ")
    # the tooltip in the same words, one block a line (it said "code: message", a second wording)
    assert model.data(reason, Qt.ItemDataRole.ToolTipRole) == f"{message} ({code})"
    assert model.data(model.index(1, RiskResultsModel.REASONS), Qt.ItemDataRole.ToolTipRole) is None
    assert model.data(model.index(0, RiskResultsModel.RESULT), Qt.ItemDataRole.ForegroundRole).name() == "#d64545"
    params = {view.params_table.item(r, 0).text(): view.params_table.item(r, 1).text()
              for r in range(view.params_table.rowCount())}
    # readable names with units, never the stored snake_case keys (those are in the tooltip)
    assert params["Max order notional"] == "25,000.00"
    # a ratio as the preview shows a weight and the Decisions panel the same limit (wording.percent)
    assert params["Max gross exposure"] == "1.0 (100.00%)" and params["Max position"] == "0.2 (20.00%)"
    assert params["Max orders per trading day"] == "off" and params["Allow short positions"] == "no"
    assert params["Price collar around the reference"] == "3.00%" and params["Max price age"] == "300 s"
    assert params["Max order quantity"] == "10,000 shares"
    assert not any("_" in name for name in params)
    tips = {view.params_table.item(r, 0).text(): view.params_table.item(r, 0).toolTip() for r in range(view.params_table.rowCount())}
    assert tips["Max order notional"] == "Max order notional (base currency)\nstored as max_order_notional"
    assert view.set_report(report(orders, max_order_notional=50000)) is False
    assert view.verdict_label.text() == "READY — 3 orders pass every rule"
    assert view.verdict_label.property("verdict") == "ready"
    # a halt after the preview: never READY while nothing would be sent
    view.set_trading_halted(True)
    assert view.verdict_label.text().startswith("HALTED — 3 orders passed every rule at preview")
    assert view.verdict_label.property("verdict") == "blocked"
    view.set_trading_halted(False)
    assert view.verdict_label.text() == "READY — 3 orders pass every rule"
    assert view.verdict_label.property("verdict") == "ready"
    # a preview with no order (the book already holds the targets): neither READY nor green
    assert view.set_report(report([], max_order_notional=50000)) is False
    assert view.verdict_label.text().startswith("NOTHING TO TRADE")
    assert view.verdict_label.property("verdict") == ""
    qtmodeltester.check(model, force_py=True)


def test_risk_view_says_a_limit_stored_beyond_the_bound(qtbot):
    """A limit an older version stored as the text "1E+400" (the risk engine reads it as that
    limit): the panel wrote it out in 537 characters of digits and said nothing of it; now it
    shows it as stored, refused, with why in the tooltip (the trade-settings command and the
    Settings dialog say the same: services.trade_settings_keys.stored_problems)."""
    view = RiskView(RiskResultsModel())
    qtbot.addWidget(view)
    view.set_report(report(drafts(), max_order_notional=25000),
                    risk_limit_rows(risk_limits({"max_order_notional": "1E+400", "max_order_quantity": 10**13})))
    cells = {view.params_table.item(r, 0).text(): view.params_table.item(r, 1) for r in range(view.params_table.rowCount())}
    assert cells["Max order notional"].text() == "1E+400 (refused since it was stored)"
    assert cells["Max order quantity"].text() == "10000000000000 shares (refused since it was stored)"
    tip = cells["Max order notional"].toolTip()
    # the limit named once, by the line above ("stored as max_order_notional: must be ..." named it twice)
    said = "refused since it was stored: must be a number from 0 to 1e12: '1E+400'; change it or switch it off"
    assert f"stored as max_order_notional\n{said}" in tip, tip


def test_another_snapshots_items_are_shown_from_their_first(qtbot):
    """A trader's walk under Xvfb: scrolled down one snapshot's items, the next snapshot shown
    kept that scroll, its rank 1 out of view."""
    from services.core.snapshots import SnapshotItem

    model = SnapshotItemsModel()
    view = shown(qtbot, SnapshotsView(model), (900, 300))
    many = [SnapshotItem(f"S{i:03d}", Decimal("0.01"), i + 2) for i in range(60)]
    model.reset(many)
    view.items_table.scrollToBottom()
    bar = view.items_table.verticalScrollBar()
    assert bar.value() > 0
    model.reset(list(reversed(many)))  # another snapshot shown
    assert bar.value() == 0
    assert view.items_table.rowAt(0) == 0


def test_snapshots_view_import_errors_and_selection(qtbot, monkeypatch, qtmodeltester):
    model = SnapshotItemsModel()
    qtmodeltester.check(model, force_py=True)
    view = SnapshotsView(model)
    qtbot.addWidget(view)

    class P:
        def __init__(self, id, name):
            self.id, self.name = id, name

    class S:
        def __init__(self, id, project_id, source_name, item_count, created_at):
            self.id, self.project_id, self.source_name = id, project_id, source_name
            self.item_count, self.created_at = item_count, created_at

    # listed as the services list them, newest first (console_queries.snapshot_recency), not re-sorted
    view.set_projects([P(1, "momentum")], [S(11, 1, "b.json", 4, T0 + timedelta(days=1)), S(10, 1, "a.csv", 3, T0)])
    project = view.tree.topLevelItem(0)
    assert [project.child(i).text(0) for i in range(project.childCount())] == ["b.json", "a.csv"]
    with qtbot.waitSignal(view.snapshot_selected) as sig:
        assert view.select_snapshot(10)
    assert sig.args == [10] and view.current_project_id() == 1

    parsed = parse_snapshot_text(CSV, "csv")
    model.reset(parsed.items)
    assert model.rowCount() == 3
    assert model.data(model.index(0, SnapshotItemsModel.WEIGHT)) == "30.00%"
    qtmodeltester.check(model, force_py=True)

    bad = parse_snapshot_text("symbol,weight\nAAPL,abc\n,0.1\n", "csv", source_name="bad.csv")
    assert bad.errors
    view.show_import_errors("bad.csv", bad.errors)
    texts = [view.errors_list.item(i).text() for i in range(view.errors_list.count())]
    assert texts == [f"line {e.line}, column {e.column}: {e.message}" if e.column else f"line {e.line}: {e.message}"
                     for e in bad.errors]  # as `snapshot import` prints them
    assert texts[0].startswith("line 2")
    assert view.errors_label.text() == f"bad.csv: {len(bad.errors)} problems; nothing was stored"
    view.clear_import_errors()
    assert view.errors_list.count() == 0

    # Import: a file, then the project it goes into (an existing one or a new name typed in)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: ("/tmp/x.csv", "")))
    asked = []

    def choose_project(parent, title, label, choices, current, editable):
        asked.append((choices, current, editable))
        return "  Momentum  ", True

    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(choose_project))
    with qtbot.waitSignal(view.import_requested) as sig:
        view.import_button.click()
    assert sig.args == ["/tmp/x.csv", "Momentum"]
    assert asked and asked[0][2] is True  # a new name may be typed
    assert view.import_action.shortcut().toString() == "Ctrl+I"
    # cancelling either question imports nothing
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: ("Momentum", False)))
    with qtbot.assertNotEmitted(view.import_requested):
        view.import_button.click()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: ("", "")))
    with qtbot.assertNotEmitted(view.import_requested):
        view.import_button.click()


def test_fills_view_totals_sort_and_export(qtbot, tmp_path, qtmodeltester):
    model = FillsModel()
    view = FillsView(model)
    qtbot.addWidget(view)
    proxy = view.proxy
    proxy.setParent(None)  # the tester outlives the view (pytest-qt deletes widgets first)
    qtmodeltester.check(proxy, force_py=True)
    model.upsert([fill(1, quantity="10", price="100", commission="1"),
                  fill(2, side=Side.SELL, quantity="4", price="50.25", commission="1.5", symbol="MSFT"),
                  fill(3, quantity="5", price="101", commission=None)])
    model.flush()
    assert view.totals_label.text() == ("3 fills · bought 15 for 1,505.00 · sold 4 for 201.00 · commission 2.50")
    first = [view.proxy.data(view.proxy.index(r, FillsModel.EXEC_ID)) for r in range(3)]
    assert first == ["0000e000003.01", "0000e000002.01", "0000e000001.01"]
    view.table.sortByColumn(FillsModel.PRICE, Qt.SortOrder.AscendingOrder)
    assert [view.proxy.data(view.proxy.index(r, FillsModel.PRICE)) for r in range(3)] == ["50.25", "100.00", "101.00"]
    view.table.sortByColumn(FillsModel.TIME, Qt.SortOrder.DescendingOrder)
    assert view.proxy.is_native_order()
    view.search_edit.setText("msft")
    path = tmp_path / "fills.csv"
    assert view.export_csv(str(path)) == 1
    rows = list(csv.reader(path.open()))
    assert rows == [["Time", "Symbol", "Side", "Quantity", "Price", "Commission", "Exec id", "Client order id", "Superseded"],
                    ["2026-11-20T14:30:02+00:00", "MSFT", "SELL", "4", "50.25", "1.5", "0000e000002.01", "", ""]]


def test_the_fills_totals_line_sums_each_currency_apart(qtbot):
    """A US and a Xetra fill: the line gives each currency its own sums (it added 1,000 USD and
    2,000 EUR into "bought 20 for 3,000.00")."""
    from dataclasses import replace

    model = FillsModel()
    view = FillsView(model)
    qtbot.addWidget(view)
    model.upsert([fill(1, quantity="10", price="100", commission="1"),
                  replace(fill(2, quantity="10", price="200", commission="2", symbol="SAP@IBIS:EUR"), currency="EUR")])
    model.flush()
    assert view.totals_label.text().splitlines() == [
        "2 fills · EUR: bought 10 for 2,000.00 · sold 0 for 0.00 · commission 2.00",
        "USD: bought 10 for 1,000.00 · sold 0 for 0.00 · commission 1.00"]
    # each currency on a line of its own, and the label as tall as its lines: on one line the USD
    # sums went past the docked panel's right edge (seen under Xvfb at 1366x768), out of sight
    label = view.totals_label
    assert label.sizeHint().height() >= 2 * label.fontMetrics().lineSpacing()
    assert label.toolTip() == label.text()


def test_the_fills_export_marks_a_revision_an_execution_correction_replaced(qtbot, tmp_path):
    """An execution and its correction: the table greys the old revision and the totals count
    the execution once; the CSV had nothing to tell the two rows apart (a sum over it doubled
    the shares, the notional and the commission). It says which revision is superseded."""
    from dataclasses import replace

    model = FillsModel()
    view = FillsView(model)
    qtbot.addWidget(view)
    old = replace(fill(1, quantity="100", price="150", commission="1"), superseded=True)
    model.upsert([old, replace(fill(2, quantity="100", price="149.50", commission="1"), exec_id=old.exec_id[:-2] + "02")])
    model.flush()
    assert view.totals_label.text().startswith("1 fill · bought 100 for 14,950.00")
    path = tmp_path / "fills.csv"
    view.export_csv(str(path))
    rows = list(csv.DictReader(path.open()))
    counted = [r for r in rows if r["Superseded"] != "yes"]
    assert len(rows) == 2 and [r["Price"] for r in counted] == ["149.5"]
    assert sum(Decimal(r["Quantity"]) for r in counted) == 100 and sum(Decimal(r["Commission"]) for r in counted) == 1


def test_the_fills_export_writes_amounts_as_the_commands_do(qtbot, tmp_path):
    """A zero commission read from the database is Decimal 0E-8: the export wrote str() of it,
    "0E-8", and "0.00000500" for a price read back at Price's scale, where `fills --json` writes
    "0" and "0.000005". Now the same text: services.core.typed_numbers.plain."""
    from dataclasses import replace

    model = FillsModel()
    view = FillsView(model)
    qtbot.addWidget(view)
    model.upsert([replace(fill(1, quantity="1.000000", price="100", commission="1"), price=Decimal(500).scaleb(-8),
                          commission=Decimal(0).scaleb(-8))])
    model.flush()
    path = tmp_path / "fills.csv"
    view.export_csv(str(path))
    row = next(csv.DictReader(path.open()))
    assert (row["Quantity"], row["Price"], row["Commission"]) == ("1", "0.000005", "0")


def test_fills_totals_growing_with_the_stream_do_not_widen_the_panel(qtbot):
    # a label's minimum width is its whole text: longer totals widened the panel and then the
    # window, which resized its backing store and repainted every table (issue 15)
    model = FillsModel()
    view = shown(qtbot, FillsView(model), (500, 300))
    model.upsert([fill(1)])
    model.flush()
    model.upsert([fill(2, quantity="123456789", price="98765.4321", commission="12345.67")])
    model.flush()
    assert len(view.totals_label.text()) > 80
    assert view.totals_label.toolTip() == view.totals_label.text()  # the whole text, however narrow
    view.layout().activate()  # what the layout request posted by the new text does
    assert view.width() == 500


def test_positions_view_totals(qtbot, qtmodeltester):
    model = PositionsModel(project_names={1: "momentum"})
    qtmodeltester.check(model, force_py=True)
    view = PositionsView(model)
    qtbot.addWidget(view)
    model.upsert([position("AAPL", quantity="10", cost="100", market="110", realized="5"),
                  position("MSFT", quantity="-5", cost="200", market="190", realized="-2.5")])
    model.flush()
    assert view.totals_label.text() == "2 positions · unrealized 150.00 · realized 2.50"
    assert model.data(model.index(1, PositionsModel.UNREALIZED)) == "50.00"
    model.upsert([position("IBM", project_id=2, quantity="1", cost="100", market="90", realized="1")])
    model.set_project_names({1: "momentum", 2: "value"})
    model.flush()
    assert view.totals_label.text() == "3 positions · unrealized 140.00 · realized 3.50"
    view.set_project_filter("value")
    assert view.totals_label.text() == "1 position · unrealized -10.00 · realized 1.00"
    view.set_project_filter(None)
    assert view.proxy.rowCount() == 3


def test_audit_view_filters_by_action_and_shows_chain_state(qtbot, qtmodeltester):
    model = AuditModel()
    view = AuditView(model)
    qtbot.addWidget(view)
    model.upsert([audit(1, "run.created"), audit(2, "order.submitted"), audit(3, "order.submitted"),
                  audit(4, "trading.halted")])
    model.flush()
    assert [view.action_combo.itemText(i) for i in range(view.action_combo.count())] == [
        "All actions", "order.submitted", "run.created", "trading.halted"]
    view.set_action_filter("order.submitted")
    ids = [view.proxy.data(view.proxy.index(r, AuditModel.ID)) for r in range(view.proxy.rowCount())]
    assert ids == ["3", "2"]
    view.set_action_filter(None)
    assert view.proxy.rowCount() == 4
    view.set_chain_state(True, "Chain verified (4 entries)")
    assert view.chain_label.text() == "Chain verified (4 entries)"
    view.set_chain_state(False, "Chain broken at entry 3", "the entry was altered")
    assert view.chain_label.text() == "Chain broken at entry 3"
    assert view.chain_label.toolTip() == "the entry was altered"
    assert view.chain_label.property("state") == "broken"
    proxy = view.proxy
    proxy.setParent(None)  # the tester outlives the view (pytest-qt deletes widgets first)
    qtmodeltester.check(proxy, force_py=True)
    view.set_action_filter("run.created")
    assert proxy.rowCount() == 1


def test_the_fills_totals_have_the_panels_whole_width(qtbot):
    """At a docked panel's width the totals beside the filter and the button were cut off after
    "bought"; on a line of their own the whole text fits."""
    model = FillsModel()
    view = shown(qtbot, FillsView(model), (440, 300))
    model.upsert([fill(1, quantity="10", price="100", commission="1"),
                  fill(2, side=Side.SELL, quantity="4", price="50.25", commission="1.5", symbol="MSFT")])
    model.flush()
    label = view.totals_label
    assert label.width() >= view.width() - 12  # the panel's width, less its margins
    assert label.fontMetrics().horizontalAdvance(label.text()) <= label.width(), label.text()


def test_the_account_panel_scrolls_its_figures_in_a_short_panel_instead_of_squeezing_them(qtbot):
    """Eleven figures share the right column with the fills on a laptop (120-170 px): each keeps
    its own height, one under the other, and the panel scrolls to the rest."""
    from decimal import Decimal
    from itertools import pairwise

    from widgets.views.account import AccountView

    view = AccountView()
    qtbot.addWidget(view)
    labels = ("Net liquidation", "Cash", "Buying power", "Available funds", "Initial margin", "Maintenance margin",
              "Gross position value", "Daily P&L", "Unrealized P&L", "Realized P&L", "Excess liquidity")
    view.show_summary("DU1", "USD", [(label, Decimal(1000)) for label in labels], "12:00:00 UTC")
    view.setMinimumSize(80, 60)  # as its dock sets it (app.window_layout.freeze_minimum): the dock may be this short
    view.resize(440, 120)
    view.show()
    qtbot.waitExposed(view)
    values = [view.values[label] for label in labels]
    assert all(v.height() >= v.sizeHint().height() for v in values)
    assert all(a.geometry().bottom() < b.geometry().top() for a, b in pairwise(values))
    assert view.scroll_area.verticalScrollBar().maximum() > 0


def test_import_problems_leave_the_project_tree_its_height_and_read_whole_beside_it(qtbot):
    """Walked under Xvfb at 1366x768 (the Snapshots tab about 1360 x 235): the problems of a bad
    file were listed under the project tree, in its column, and squeezed it to two rows while
    each problem wrapped over two lines of a 300 px list. They are listed over the items, the
    panel's wide part, one line each, and the trader can put them away."""
    from PySide6.QtWidgets import QApplication

    view = shown(qtbot, SnapshotsView(SnapshotItemsModel()), (1360, 235))
    projects = [SimpleNamespace(id=1, name="Demo momentum")]
    snapshots = [SimpleNamespace(id=n, project_id=1, source_name=f"momentum_2026-11-2{n}.csv", item_count=10,
                                 created_at=T0 + timedelta(days=n)) for n in (0, 1)]
    view.set_projects(projects, snapshots)
    QApplication.processEvents()
    tree_height, items_height = view.tree.height(), view.items_table.height()
    sample = Path(__file__).resolve().parents[2] / "resources" / "samples" / "malformed_example.csv"
    bad = parse_snapshot_text(sample.read_text(), "csv", source_name="bad.csv")
    assert len(bad.errors) == 6
    view.show_import_errors("bad.csv", bad.errors)
    QApplication.processEvents()
    assert view.tree.height() == tree_height  # the projects and their snapshots keep their rows
    listed = view.errors_list
    assert listed.isVisible() and view.errors_label.isVisible()
    line = listed.fontMetrics().lineSpacing()
    for row in range(listed.count()):  # each problem whole, on one line
        rect = listed.visualItemRect(listed.item(row))
        assert rect.right() <= listed.viewport().width() and rect.height() < 2 * line, listed.item(row).text()
    assert listed.viewport().height() >= 3 * line  # several problems in view at once, the rest a scroll away
    assert view.items_table.isVisible() and view.items_table.height() >= 3 * line  # the items still in view
    view.dismiss_errors_button.click()
    QApplication.processEvents()
    assert not listed.isVisible() and not view.errors_label.isVisible() and listed.count() == 0
    assert (view.tree.height(), view.items_table.height()) == (tree_height, items_height)


def test_a_snapshots_scores_are_shown_to_the_same_places(qtbot):
    """Walked under Xvfb: the demo snapshot's Score column read 2.28, 2.01, 1.93, 1.8, ..., 1.3:
    each score to its own digits, a ragged column. Every score of a snapshot is shown to the
    places of its most precise one; another snapshot, to its own."""
    model = SnapshotItemsModel()

    def items(*scores):
        return [SimpleNamespace(symbol=f"S{n}", weight=Decimal("0.1"), rank=n, score=None if v is None else Decimal(v),
                                price=None, sec_type="STK", exchange="SMART", currency="USD")
                for n, v in enumerate(scores, start=1)]

    def texts():
        return [model.data(model.index(row, SnapshotItemsModel.SCORE)) for row in range(model.rowCount())]

    model.reset(items("2.28", "1.8", "1.3", None, "12"))
    assert texts() == ["2.28", "1.80", "1.30", "", "12.00"]
    model.reset(items("0.5", "1"))
    assert texts() == ["0.5", "1.0"]
    assert model.format_row(model.record_at(1))[SnapshotItemsModel.SCORE] == "1.0"  # what the table paints


def test_the_snapshots_panel_stacks_its_list_over_the_items_when_narrow(qtbot):
    """A large screen's default layout gives the panel a narrow left column (about 240 px): the
    snapshots above their items, each as wide as the panel; a laptop's tab (full width): side by side."""
    from PySide6.QtWidgets import QApplication

    from widgets.models.snapshots import SnapshotItemsModel
    from widgets.views.snapshots import SnapshotsView

    view = SnapshotsView(SnapshotItemsModel())
    qtbot.addWidget(view)
    view.resize(240, 320)
    view.show()
    qtbot.waitExposed(view)
    assert view.splitter.orientation() == Qt.Orientation.Vertical
    assert view.items_table.width() >= 200 and min(view.splitter.sizes()) > 60
    view.resize(1200, 320)
    QApplication.processEvents()
    assert view.splitter.orientation() == Qt.Orientation.Horizontal
    assert min(view.splitter.sizes()) > 60


def _command_defaults(name: str) -> dict:
    import argparse

    from app.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return {a.dest: a.default for a in sub._actions}


def test_the_preview_and_backtest_panels_start_where_the_commands_do(qtbot):
    """Left as they open, the window's preview fields and Backtest panel ask for what `preview`
    and `backtest` given no option do (one table each: the builder's own defaults, the
    backtest's BACKTEST_DEFAULTS); before, the window kept 2 % cash and the backtest panel IB's
    commissions while the commands kept none of either."""
    from widgets.models.preview import PreviewOrdersModel
    from widgets.views.backtest import BacktestView
    from widgets.views.preview import PreviewView

    preview = PreviewView(PreviewOrdersModel())
    qtbot.addWidget(preview)
    given = preview.params()
    # what `preview` given no builder option asks for (its parser leaves them unset, so that a
    # resumed run can tell typed options from defaults; builder_values fills the defaults in)
    from app.cli import build_parser
    from app.commands.preview import builder_values

    command = builder_values(build_parser().parse_args(["preview", "--snapshot", "1"]))
    assert (given["cash_buffer"], given["lot_size"], given["rounding"], str(given["order_type"]), given["limit_offset_bps"],
            given["min_order_value"], given["liquidate_unlisted"]) == (
        command["cash_buffer"], command["lot_size"], command["rounding"], command["order_type"], command["limit_offset_bps"],
        command["min_order_value"], command["liquidate_unlisted"])

    backtest = BacktestView()
    qtbot.addWidget(backtest)
    command = _command_defaults("backtest")
    shown = (backtest.cash_edit.text(), backtest.fill_combo.currentText(), backtest.slippage_edit.text(),
             backtest.commission_combo.currentText(), backtest.rounding_combo.currentText(), backtest.lot_edit.text(),
             backtest.buffer_edit.text())
    assert shown == (command["initial_cash"], command["fill"], command["slippage_bps"], command["commission"],
                     command["rounding"], command["lot_size"], command["cash_buffer"])
    assert command["commission"] == "ib-fixed"
    assert (preview.progress.text(), backtest.progress.text()) == ("no run", "")  # the backtest's read "0%"


def test_the_audit_panel_words_a_verification_as_audit_verify_does(qtbot):
    """One AuditVerification, one diagnosis (AuditVerification.describe): a decision record
    changed behind an intact chain was "Chain broken at entry 3" in the window while
    `audit verify` said the entry no longer vouches for its decision records."""
    from app.controllers.audit import show_verification
    from services.audit import AuditVerification

    view = AuditView(AuditModel())
    qtbot.addWidget(view)
    reason = "decision trail of plan 1: trail_risk_decisions record 1 was altered (its content no longer matches its hash)"
    altered = AuditVerification(False, 3, 3, reason, 3, None, "trail_risk_decisions 1", records_altered=True)
    show_verification(view, altered)
    assert view.chain_label.text() == "Decision records altered at entry 3"
    assert view.chain_label.toolTip() == altered.describe() == (
        f"audit entry 3 no longer vouches for its decision records (record trail_risk_decisions 1): {reason}")
    assert view.chain_label.property("state") == "broken"
    broken = AuditVerification(False, 3, 4, "hash does not match the entry's content (the entry was altered)", 4)
    show_verification(view, broken)
    assert view.chain_label.text() == "Chain broken at entry 4"
    assert view.chain_label.toolTip() == broken.describe() == (
        "audit chain BROKEN at entry 4: hash does not match the entry's content (the entry was altered) "
        "(3 earlier entries verified)")
    since = AuditVerification(True, 6, walked=1, since_id=5)
    show_verification(view, since)
    assert view.chain_label.text() == "Chain verified (6 entries)"
    assert view.chain_label.toolTip() == since.describe()
    assert view.chain_label.property("state") == "ok"
    show_verification(view, AuditVerification(True, 6, walked=6))
    assert view.chain_label.text() == "Chain verified in full (6 entries)"


def test_a_later_snapshots_long_symbol_is_shown_whole(qtbot):
    """The items' columns were sized to the first snapshot shown and never again: a later
    snapshot's ZZZZNOPE read "ZZZZNO…" (seen under Xvfb). Each snapshot shown widens them,
    never narrows them."""
    from PySide6.QtWidgets import QApplication

    from widgets.models.snapshots import SnapshotItemsModel
    from widgets.views.snapshots import SnapshotsView

    model = SnapshotItemsModel()
    view = SnapshotsView(model)
    qtbot.addWidget(view)
    view.resize(1000, 320)
    view.show()
    qtbot.waitExposed(view)

    def item(symbol: str, rank: int) -> SimpleNamespace:  # as the snapshot service's frozen items read
        return SimpleNamespace(id=rank, symbol=symbol, weight=Decimal("0.1"), rank=rank, score=None, price=None,
                               sec_type="STK", exchange="SMART", currency="USD")

    column, table = SnapshotItemsModel.SYMBOL, view.items_table
    needed = table.fontMetrics().horizontalAdvance("SAP@IBIS:EUR")

    def shown(*symbols: str) -> int:
        model.reset([item(symbol, rank) for rank, symbol in enumerate(symbols, start=1)])
        QApplication.processEvents()  # the sizing is deferred to after the reset (a zero timer)
        return table.columnWidth(column)

    first = shown("AAPL", "KO")
    assert first < needed  # sized for the first snapshot
    widened = shown("SAP@IBIS:EUR")
    # the room the paint gives the text holds it as the paint lays it out: nothing elided
    room = widened - (1 if table.showGrid() else 0) - 2 * table._margin
    assert table._prepare("SAP@IBIS:EUR", table.font())[1] <= room and widened > needed, (first, widened, needed)
    assert shown("KO") == widened  # a short one again: the column keeps its width (no jumping)


def test_a_later_previews_limit_prices_are_shown_whole(qtbot):
    """The preview's columns were sized to its first set of orders and never again: after a
    preview of MKT orders (no limits: the Limit column at its header's width), a preview of
    LMT orders read "231.…" for a limit of 231.49 (seen under Xvfb). Each set shown widens the
    columns its values no longer fit; a set of MKT orders again leaves them as they are."""
    from PySide6.QtWidgets import QApplication

    model = PreviewOrdersModel()
    view = PreviewView(model)
    qtbot.addWidget(view)
    view.resize(1200, 320)
    view.show()
    qtbot.waitExposed(view)
    table, column = view.table, PreviewOrdersModel.LIMIT

    def shown(orders) -> int:
        model.reset(orders)
        QApplication.processEvents()  # the sizing is deferred to after the reset (a zero timer)
        return table.columnWidth(column)

    shown(drafts(OrderType.MKT))
    limited = drafts(OrderType.LMT)
    widened = shown(limited)
    texts = [model.data(model.index(row, column)) for row in range(model.rowCount())]
    widest = max(texts, key=lambda text: table._prepare(text, table.font())[1])
    room = widened - (1 if table.showGrid() else 0) - 2 * table._margin
    assert all(texts) and table._prepare(widest, table.font())[1] <= room, (texts, widened)
    assert shown(drafts(OrderType.MKT)) == widened  # no jumping back


def test_a_run_line_longer_than_the_bar_reads_from_its_start(qtbot):
    """QProgressBar centres its text and clips both ends: "plan 3 (run 1) previewed, not sent:
    ... · last sent: ..." read "3 (run 1) previewed, not sent: ... at the fill pr" (seen under
    Xvfb). The bar cuts a long line at its end, with an ellipsis, and its tooltip is the line."""
    model = PreviewOrdersModel()
    view = PreviewView(model)
    qtbot.addWidget(view)
    view.resize(700, 320)
    view.show()
    qtbot.waitExposed(view)
    line = ("plan 3 (run 1) previewed, not sent: the run executed plan 2; Ctrl+Shift+P previews in a new run · "
            "last sent: run 1, plan 2 (done): "
            "96,815 of 96,815 filled at the plan's prices · slippage -8.0 bps (96,737 at the fill prices)")
    bar = view.progress
    view.set_progress(Decimal(1), Decimal(1), line)
    painted = bar.painted_text()
    assert bar.text() == line and painted.startswith("plan 3 (run 1) previewed") and painted.endswith("…"), painted
    assert bar.fontMetrics().horizontalAdvance(painted) <= bar.contentsRect().width()
    assert bar.toolTip() == line
    view.set_progress(Decimal(1), Decimal(2), "run 1: done")  # a short line: whole
    assert bar.painted_text() == "run 1: done"
    bar.grab()  # painted with the cut line (QProgressBar's paint, its text replaced)


def test_the_backtest_charts_say_their_amounts_as_the_metrics_do(qtbot):
    """Walked under Xvfb: the Drawdown chart of a -0.42% drawdown read "% (x0.001)" with ticks 0
    to -400 (pyqtgraph's SI prefix on a percent), and the Equity chart 100000, 101000 ungrouped.
    Their axes say the amounts themselves: -0.40 (%), 101,000 (USD), as the Charts panel's."""
    from PySide6.QtWidgets import QApplication

    from widgets.views.backtest import BacktestView

    view = shown(qtbot, BacktestView(), (1360, 300))
    days = [f"2026-11-{d}" for d in range(20, 28)]
    equity = [100000, 100250, 100500, 100420, 100080, 99990, 100600, 101200]
    peak = [max(equity[: i + 1]) for i in range(len(equity))]
    summary = {"final_equity": "101200", "total_return": 0.012, "cagr": 0.37, "volatility": 0.04, "sharpe": 7.2,
               "max_drawdown": -0.0051, "turnover": 1.3, "commissions": "20", "orders": 22, "fills": 22, "risk_blocked": []}
    project = {**summary, "equity": list(zip(days, equity, strict=True)),
               "drawdown": [(d, e / p - 1) for d, e, p in zip(days, equity, peak, strict=True)], "rebalances": []}
    view.show_results({"Demo momentum": project}, None)
    view.results_tabs.setCurrentWidget(view.drawdown_plot)
    QApplication.processEvents()
    for plot, unit in ((view.drawdown_plot, "%"), (view.equity_plot, "USD")):
        label = plot.getAxis("left").labelString()  # "<span style=...>% (x0.001)</span>" before
        assert f">{unit} </span>" in label and "(x" not in label, label
    assert view.drawdown_plot.getAxis("left").tickStrings([-0.4, -0.2, 0.0], 1, 0.2) == ["-0.40", "-0.20", "0.00"]
    assert view.equity_plot.getAxis("left").tickStrings([100000.0, 101000.0], 1, 1000) == ["100,000", "101,000"]


def test_a_rebalance_that_traded_says_it_executed_in_the_backtest_as_its_trail_does(qtbot):
    """Walked under Xvfb: the Rebalances tab said "sent" of a rebalance, and its double-click
    opened a trail headed "executed in the backtest, never sent to a broker". The tab says
    what the trail says; the results keep their stored token ("sent") for scripts."""
    from services.backtest.outcomes import NEVER_SENT
    from widgets.views.backtest import BacktestView

    view = shown(qtbot, BacktestView(), (1360, 300))
    days = ["2026-11-20", "2026-11-23", "2026-11-24"]
    project = {"final_equity": "101200", "total_return": 0.012, "cagr": 0.37, "volatility": 0.04, "sharpe": 7.2,
               "max_drawdown": -0.0051, "turnover": 1.3, "commissions": "20", "orders": 22, "fills": 22,
               "risk_blocked": [], "equity": [(d, 100000) for d in days], "drawdown": [(d, 0.0) for d in days],
               "rebalances": [(days[0], 2, "sent"), (days[1], 3, "nothing to trade"), (days[2], 4, "blocked")]}
    view.show_results({"Demo momentum": project}, None)
    outcomes = [view.rebalances_table.item(r, 3).text() for r in range(view.rebalances_table.rowCount())]
    assert outcomes == ["executed in the backtest", "nothing to trade", "blocked"]
    assert NEVER_SENT.startswith(outcomes[0])  # the trail's heading, in the same words
    view.results_tabs.setCurrentWidget(view.rebalances_table)
    table = view.rebalances_table
    qtbot.waitUntil(lambda: table.isVisible())
    needed = table.fontMetrics().horizontalAdvance(outcomes[0])
    assert table.columnWidth(3) > needed, (table.columnWidth(3), needed)  # on one line, whole



def test_a_blocked_rebalance_says_its_rule_and_message_as_the_command_does(qtbot, capsys):
    """Walked in the demo: the Rebalances tab said only "blocked" of a rebalance the risk rules
    blocked, while `backtests --show` listed its rule, symbol and message. The cell (and its
    tooltip) says them in the command's words (services.backtest.outcomes.blocked_said), each
    block of that run, not another day's or another run's."""
    from app.commands.backtest import _print_table
    from services.backtest.outcomes import blocked_said
    from services.backtest.runner import BacktestOutcome
    from widgets.views.backtest import BacktestView

    view = shown(qtbot, BacktestView(), (1360, 300))
    days = ["2026-11-20", "2026-11-23"]
    block = {"day": days[1], "run_id": 4, "symbol": "AAPL", "rule": "max_order_notional", "code": "max_order_notional",
             "message": "AAPL: order value 30,000.00 above 25,000.00"}
    other = dict(block, run_id=9, symbol="MSFT", message="MSFT: order value 40,000.00 above 25,000.00")
    project = {"final_equity": "101200", "total_return": 0.012, "cagr": 0.37, "volatility": 0.04, "sharpe": 7.2,
               "max_drawdown": -0.0051, "turnover": 1.3, "commissions": "20", "orders": 22, "fills": 22,
               "risk_blocked": [block, other], "equity": [(d, 100000) for d in days],
               "drawdown": [(d, 0.0) for d in days],
               "rebalances": [(days[0], 2, "sent"), (days[1], 4, "blocked")]}
    view.show_results({"Demo momentum": project}, None)
    cell = view.rebalances_table.item(1, 3)
    said = blocked_said(block)
    assert cell.text() == f"blocked: {said}" and "MSFT" not in cell.text()
    assert said in cell.toolTip()
    _print_table(BacktestOutcome(1, "done", {"Demo momentum": project}, {**project, "risk_blocked": []}, 2))
    assert f"blocked Demo momentum {days[1]} run 4: {said}" in capsys.readouterr().out.splitlines()

def test_the_past_backtests_list_says_there_are_some_to_choose_when_none_is_chosen(qtbot):
    """Walked under Xvfb: after a restart the Backtest panel's past list held backtest 1 but,
    none chosen, said "no backtest yet"."""
    from services.backtest.listing import BacktestListing
    from widgets.views.backtest import BacktestView

    view = BacktestView()
    qtbot.addWidget(view)
    assert view.past_combo.placeholderText() == "no backtest yet"
    done = BacktestListing(id=1, started=T0, finished=T0, status="done", projects=("Demo momentum",), days=10,
                           final_equity=(("Demo momentum", Decimal("101190.80")),), message=None)
    view.set_past_backtests([done])
    assert view.past_combo.currentIndex() == -1
    assert view.past_combo.placeholderText() == "choose a past backtest (1 listed)"
    view.set_past_backtests([])
    assert view.past_combo.placeholderText() == "no backtest yet"


def test_an_import_problem_is_read_whole_in_the_narrow_snapshots_panel(qtbot):
    """Walked under Xvfb at 1600x900: the panel is about 240 px wide and a problem read
    "line 2, weight: weight '0.2o' is not a finite…", cut at the panel's edge."""
    view = shown(qtbot, SnapshotsView(SnapshotItemsModel()))
    view.resize(240, 400)
    problem = SimpleNamespace(line=2, column="weight", message="weight '0.2o' is not a finite number")
    view.show_import_errors("momentum_2026-12-01.csv", [problem])
    listed = view.errors_list
    item = listed.item(0)
    text = "line 2, column weight: weight '0.2o' is not a finite number"
    assert item.text() == item.toolTip() == text
    qtbot.waitUntil(lambda: listed.visualItemRect(item).height() >= 2 * listed.fontMetrics().lineSpacing())
    assert listed.visualItemRect(item).right() <= listed.viewport().width()
    # the line naming the file and its count wraps too: it never makes the panel wider than its dock
    label = view.errors_label
    assert view.minimumSizeHint().width() <= 240 and view.width() == 240
    assert label.geometry().right() <= view.width() and label.height() >= label.heightForWidth(label.width())


def test_the_audit_logs_action_and_entity_are_whole_at_their_columns_widths(qtbot):
    """Seen on screen at 1366x768: the Entity column cut "trade_run:3" to "trade…" and an action
    such as "order.recovery_replacement" lost its end, at Qt's default 100 px, beside a Payload
    column with a tooltip and room to spare; the id column took 100 px for a few digits."""
    from services.audit_actions import AuditAction

    view = AuditView(AuditModel())
    qtbot.addWidget(view)
    metrics = view.table.fontMetrics()
    padding = 16  # a cell's margins on both sides, theme included, with room to spare
    widths = {c: view.table.columnWidth(c) for c in range(view.table.model().columnCount())}
    longest_action = max((a.value for a in AuditAction), key=metrics.horizontalAdvance)
    assert metrics.horizontalAdvance(longest_action) + padding <= widths[AuditModel.ACTION], longest_action
    entity = "trade_order:1234567"  # the widest kind, with a seven-digit id
    assert metrics.horizontalAdvance(entity) + padding <= widths[AuditModel.ENTITY]
    assert widths[AuditModel.ID] < 100  # ids stay narrow: the room goes to the columns that need it


def test_the_account_panel_says_when_the_summary_and_when_the_p_l_are_from(qtbot):
    """Net liquidation and cash come from IB's account values (pushed after fills), the P&L rows
    from reqPnL (pushed as prices move): under one "as of" the trader could not tell that the
    figures were 28 s apart, nor which was older. The header says each group's moment, as the
    service words it, and wraps in the right column's width instead of widening the panel."""
    from services.execution.account import AccountSummary
    from widgets.views.account import AccountView

    figures = AccountSummary("DU1234567", "USD", {"NetLiquidation": Decimal(999_997), "TotalCashValue": Decimal(989_995)},
                             Decimal(97), Decimal(97), Decimal(0),
                             summary_time=datetime(2026, 12, 1, 14, 3, 12, tzinfo=UTC),
                             pnl_time=datetime(2026, 12, 1, 14, 3, 40, tzinfo=UTC))
    view = AccountView()
    # what the desk controller hands it (app/controllers/desk.py, refresh_account)
    view.show_summary(figures.account, figures.currency, figures.rows(), figures.as_of(), figures.notes())
    shown(qtbot, view, (300, 400))  # the right column's width on a laptop
    header = view.header_label
    assert header.text() == "DU1234567 · USD · summary as of 14:03:12 · P&L as of 14:03:40 UTC"
    assert view.value("Net liquidation") == "999,997.00" and view.value("Daily P&L") == "97.00"
    assert header.width() <= view.scroll_area.viewport().width()
    assert view.scroll_area.horizontalScrollBar().maximum() == 0  # wrapped, not a sideways scroll
    assert header.geometry().bottom() < view.values["Net liquidation"].geometry().top()  # the figures below it, readable


def test_the_backtest_form_stays_where_it_is_as_a_run_is_said(qtbot):
    """Walked under Xvfb at 1366x768: when a backtest ended, "backtest 1: done, 10 trading days"
    came above the form and pushed every field down (Prices from 117 to 137 px) under the
    trader's pointer, From / To and the costs out of the strip, and a form scrolled down to the
    costs went back to its top. Room for the line is kept from the start, out of the form."""
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QApplication

    from widgets.views.backtest import BacktestView

    view = shown(qtbot, BacktestView(), (1366, 250))

    def where() -> tuple[int, int]:
        QApplication.processEvents()
        return (view.prices_edit.mapTo(view, QPoint(0, 0)).y(), view.from_edit.mapTo(view, QPoint(0, 0)).y())

    before = where()
    view.set_running(True)  # "preparing…"
    assert where() == before
    view.set_progress(1, 10, "2026-11-20")
    assert where() == before
    view.show_status("backtest 1: done, 10 trading days")
    view.set_running(False)
    assert view.status_label.isVisible() and view.status_label.text() == "backtest 1: done, 10 trading days"
    assert where() == before
    view.form_scroll.verticalScrollBar().setValue(view.form_scroll.verticalScrollBar().maximum())  # down to the costs
    scrolled = where()
    assert scrolled != before
    view.set_running(True)
    view.show_status("backtest 2: done, 10 trading days")
    view.set_running(False)
    assert where() == scrolled


def test_the_backtest_status_line_says_what_to_do_before_any_run(qtbot, qapp):
    """Walked under Xvfb at 1366x768: before any run the status line kept under Run was a blank
    line between Run and the form, read as room left by a mistake. It says what to do first, on
    one line, muted as a hint (the theme's colour), and a run's words replace it in the line's
    own colour."""
    from PySide6.QtGui import QPalette

    from widgets.theme import apply_theme
    from widgets.views.backtest import BacktestView

    apply_theme(qapp, "dark")
    try:
        view = shown(qtbot, BacktestView(), (1366, 250))
        label = view.status_label

        def colour() -> str:
            return label.palette().color(QPalette.ColorRole.WindowText).name()

        assert "Run backtest" in label.text() and "project" in label.text()
        assert label.height() < 2 * label.fontMetrics().lineSpacing()  # one line: the form stays where it was
        hint_colour = colour()
        view.show_status("backtest 1: done, 10 trading days")
        assert colour() != hint_colour and colour() == view.palette().color(QPalette.ColorRole.WindowText).name()
    finally:
        apply_theme(qapp, "dark")  # as the other themed tests leave it


def test_the_backtest_charts_follow_the_theme_chosen(qtbot, qapp):
    """Seen under Xvfb: after View → Theme → Light the Backtest panel's equity and drawdown
    charts stayed dark (they kept the theme they were made in), their legend's names drawn dark
    on dark; made in the light theme and switched to dark, white plots in a dark window. They
    follow every theme chosen now, as the Charts panel's do: background, axes and grid, legend
    (its fill too, over the curves)."""
    import re

    from widgets.plots import PLOT_COLOURS
    from widgets.theme import apply_theme
    from widgets.views.backtest import BacktestView

    days = ["2026-11-20", "2026-11-23", "2026-11-24"]
    project = {"final_equity": "101199.62", "total_return": 0.012, "cagr": 0.3649, "volatility": 0.0425, "sharpe": 7.1,
               "max_drawdown": -0.0042, "turnover": 1.33, "commissions": "20.31", "orders": 22, "fills": 22,
               "risk_blocked": [], "traded_from": days[0], "equity": [(d, 100000 + i) for i, d in enumerate(days)],
               "drawdown": [(d, 0.0) for d in days], "rebalances": []}

    def assert_in(view, theme: str) -> None:
        background, foreground = PLOT_COLOURS[theme]
        for plot in (view.equity_plot, view.drawdown_plot):
            what = (plot.plotItem.titleLabel.text, theme)
            assert plot.backgroundBrush().color().name() == background, what
            for axis in ("left", "bottom"):
                assert plot.getAxis(axis).textPen().color().name() == foreground, what
                assert plot.getAxis(axis).pen().color().name() == foreground, what  # the grid's pen too
            legend = plot.plotItem.legend
            assert [label.text for _sample, label in legend.items] == ["Demo momentum", "Hedges"], what
            for _sample, label in legend.items:  # the colour its text is drawn in (its HTML's)
                drawn = re.findall(r"color:\s*#([0-9a-f]{6,8})", label.item.toHtml())
                assert drawn and drawn[-1][-6:] == foreground[1:], (what, label.text, drawn)
            fill = legend.brush().color().lightness()
            assert fill > 200 if theme == "light" else fill < 60, what

    apply_theme(qapp, "dark")
    try:
        view = shown(qtbot, BacktestView(), (1366, 250))
        view.show_results({"Demo momentum": project, "Hedges": project}, project)
        assert_in(view, "dark")
        apply_theme(qapp, "light")  # View → Theme → Light, the results drawn
        assert_in(view, "light")
        view.show_results({"Demo momentum": project, "Hedges": project}, project)  # drawn again in it
        assert_in(view, "light")
        made_light = shown(qtbot, BacktestView(), (1366, 250))  # the window started in the light theme
        made_light.show_results({"Demo momentum": project, "Hedges": project}, project)
        assert_in(made_light, "light")
        apply_theme(qapp, "dark")
        assert_in(made_light, "dark")
        assert_in(view, "dark")
    finally:
        apply_theme(qapp, "dark")  # as the other themed tests leave it


def test_the_backtest_metrics_are_read_whole_at_1366x768(qtbot, qapp):
    """Walked under Xvfb at 1366x768: each metric column at Qt's 100 px, the table read "Commi"
    at its right edge (Orders, Fills, Risk blocked and Traded from past it), and "Demo momentum"
    took two lines in the metrics and the rebalances. Then, with the window's theme (its header
    padding), the thirteen columns needed 981 px of the 852 the results get: Risk blocked and
    Traded from a sideways scroll away. Every title and figure is whole, on one line, every metric
    in view, the whole title in its header's tooltip; the empty table's titles whole already."""
    from PySide6.QtWidgets import QApplication

    from services.backtest.metrics import METRIC_COLUMNS
    from widgets.theme import apply_theme
    from widgets.views.backtest import BacktestView

    apply_theme(qapp, "dark")
    try:
        view = shown(qtbot, BacktestView(), (1366, 250))
        metrics = view.metrics_table

        def assert_whole(table) -> None:
            room = table.viewport().width()
            for column in range(table.columnCount()):
                title = table.horizontalHeaderItem(column).text()
                texts = title.split("\n") + [table.item(r, column).text() for r in range(table.rowCount())]
                needed = max(table.fontMetrics().horizontalAdvance(text) for text in texts)
                assert table.columnWidth(column) > needed, (title, table.columnWidth(column), needed)
                left = table.columnViewportPosition(column)
                assert left + table.columnWidth(column) <= room, (title, left, room)

        assert_whole(metrics)  # before any result: the titles, not Qt's 100 px each
        assert [metrics.horizontalHeaderItem(c).toolTip() for c in range(len(METRIC_COLUMNS))] == list(METRIC_COLUMNS)
        days = ["2026-11-20", "2026-11-23", "2026-11-24"]
        project = {"final_equity": "101199.62", "total_return": 0.012, "cagr": 0.3649, "volatility": 0.0425, "sharpe": 7.1,
                   "max_drawdown": -0.0042, "turnover": 1.33, "commissions": "20.31", "orders": 22, "fills": 22,
                   "risk_blocked": [], "traded_from": days[0], "equity": [(d, 100000) for d in days],
                   "drawdown": [(d, 0.0) for d in days], "rebalances": [(days[0], 1, "sent"), (days[1], 2, "sent")]}
        view.show_results({"Demo momentum": project}, None)
        for table in (metrics, view.rebalances_table):
            view.results_tabs.setCurrentWidget(table)
            QApplication.processEvents()
            assert_whole(table)
        # A 60-character project name took the metrics' room (Fills to Traded from a sideways
        # scroll away): now the name is elided, whole in its tooltip, every metric whole and in view.
        long_name = "Global multi-asset momentum with volatility targeting (EURO)"
        assert len(long_name) == 60
        view.show_results({long_name: project, "Demo momentum": project}, project)
        view.results_tabs.setCurrentWidget(metrics)
        QApplication.processEvents()
        room = metrics.viewport().width()
        assert metrics.horizontalScrollBar().maximum() == 0, "the metrics scroll sideways"
        for column in range(1, metrics.columnCount()):
            title = metrics.horizontalHeaderItem(column).text()
            texts = title.split("\n") + [metrics.item(r, column).text() for r in range(metrics.rowCount())]
            needed = max(metrics.fontMetrics().horizontalAdvance(text) for text in texts)
            assert metrics.columnWidth(column) > needed, (title, metrics.columnWidth(column), needed)
            assert metrics.columnViewportPosition(column) + metrics.columnWidth(column) <= room, (title, room)
        assert metrics.columnWidth(0) < metrics.fontMetrics().horizontalAdvance(long_name)  # elided
        assert metrics.columnWidth(0) > metrics.fontMetrics().horizontalAdvance("Project")  # its title whole
        assert metrics.item(0, 0).text() == long_name and metrics.item(0, 0).toolTip().startswith(long_name)
        # wider, the name gets the room back; narrower again, the metrics keep theirs
        view.resize(1900, 250)
        QApplication.processEvents()
        assert metrics.columnWidth(0) > metrics.fontMetrics().horizontalAdvance(long_name)
        view.resize(1366, 250)
        QApplication.processEvents()
        assert metrics.horizontalScrollBar().maximum() == 0, "the metrics scroll sideways once narrower again"
    finally:
        apply_theme(qapp, "dark")  # as the other themed tests leave it


def test_an_exponent_typed_in_the_preview_is_kept_and_refused_with_the_field_named(qtbot):
    """Keys, not setText: the fields' validator swallowed the e as it was typed, so a lot size
    typed 1e3 became 13 (and a portfolio value 1e6, 16) with no word. The field keeps it and the
    preview's rule (services.core.preview_form) refuses it, as the order ticket refuses one
    (services.core.typed_numbers.exponent_said), naming the field."""
    from PySide6.QtTest import QTest

    view = PreviewView(PreviewOrdersModel())
    qtbot.addWidget(view)
    view.order_type_combo.setCurrentText("LMT")
    for field, typed, said in (
            (view.portfolio_edit, "1e6", "Portfolio value: must be a number in digits, without an exponent: '1e6'."),
            (view.cash_buffer_edit, "1E1", "Cash buffer: must be a number in digits, without an exponent: '1E1'."),
            (view.lot_size_edit, "1e3", "Lot size: must be a number in digits, without an exponent: '1e3'."),
            (view.bps_edit, "1e2", "Limit offset: must be a number in digits, without an exponent: '1e2'."),
            (view.min_order_edit, "5e2", "Min order value: must be a number in digits, without an exponent: '5e2'.")):
        before = field.text()
        field.clear()
        QTest.keyClicks(field, typed)
        assert field.text() == typed
        with qtbot.assertNotEmitted(view.preview_requested):
            view.preview_action.trigger()
        assert view.error_label.text() == said
        field.setText(before)
    with qtbot.waitSignal(view.preview_requested):
        view.preview_action.trigger()


def test_the_watchlists_titles_read_whole(qtbot):
    """A trader's walk under Xvfb: the watchlist's Change column, declared 56 px, read "hange"
    cut at its left edge. Each column is at least as wide as its title."""
    from widgets.models.quotes import QuotesModel
    from widgets.views.watchlist import WatchlistView

    view = shown(qtbot, WatchlistView(QuotesModel()), (900, 300))
    header = view.table.horizontalHeader()
    narrow = {view.table.model().headerData(c, Qt.Orientation.Horizontal): (view.table.columnWidth(c), header.sectionSizeHint(c))
              for c in range(header.count()) if view.table.columnWidth(c) < header.sectionSizeHint(c)}
    assert narrow == {}


def test_a_long_list_of_problems_keeps_the_backtest_form_in_view(qtbot):
    """A trader's walk: a price file with hundreds of problems wrote every one of them into the
    Backtest panel's status line, which pushed the form's fields below the panel and kept that
    room after a valid run. The line shows its first lines and how many more; the list is in its
    tooltip (the first forty: a tooltip taller than the screen is cut)."""
    from widgets.views.backtest import STATUS_LINES, BacktestView

    view = shown(qtbot, BacktestView(), (1000, 260))
    form = view.form_scroll.height()
    problems = "\n".join(f"bars.csv: line {i}: 2024-12-25 is no session of XNYS" for i in range(2, 302))
    view.show_status(problems)
    shown_lines = view.status_label.text().split("\n")
    assert len(shown_lines) == STATUS_LINES and shown_lines[-1].startswith("… and 295 more lines")
    assert "line 41:" in view.status_label.toolTip() and "… and 260 more" in view.status_label.toolTip()
    qtbot.waitUntil(lambda: view.status_label.height() <= STATUS_LINES * view.status_label.fontMetrics().lineSpacing())
    assert view.form_scroll.height() >= form - STATUS_LINES * view.status_label.fontMetrics().lineSpacing()
    view.show_status("backtest 3: done, 83 trading days")
    assert view.status_label.toolTip() == ""


def test_the_focus_comes_back_to_preview_when_the_preview_ends(qtbot):
    """Walked under Xvfb: Preview pressed, the button turned off while the preview ran and Qt
    handed the focus on (the Fills table held it after); the keyboard's trader lost their place.
    It comes back to Preview when the preview ends, unless it was moved meanwhile."""
    from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget

    window = QWidget()
    qtbot.addWidget(window)
    view = PreviewView(PreviewOrdersModel())
    elsewhere = QLineEdit()
    layout = QVBoxLayout(window)
    layout.addWidget(view)
    layout.addWidget(elsewhere)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    view.preview_button.setFocus()
    assert view.preview_button.hasFocus()
    view.set_busy("preview", True)
    assert QApplication.focusWidget() is not view.preview_button  # Qt moved it on
    view.set_busy("preview", False)
    assert view.preview_button.hasFocus()
    # moved by the trader meanwhile: left where they put it
    view.set_busy("preview", True)
    moved_to = QApplication.focusWidget()
    chosen = view.portfolio_edit if moved_to is elsewhere else elsewhere
    chosen.setFocus()
    view.set_busy("preview", False)
    assert chosen.hasFocus()
