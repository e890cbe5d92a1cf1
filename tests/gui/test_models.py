"""The coalescing table models: contract, totals, and qtmodeltester on each."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt

from services.console_books import CurrencyPnl, book_totals
from services.domain import ChangeSet, OrderState, Side
from widgets.models.audit import AuditModel
from widgets.models.base import RecordRole, SortKeyRole
from widgets.models.fills import FillsModel
from widgets.models.orders import OrderBlotterModel
from widgets.models.positions import PositionsModel

from .factories import T0, audit, fill, order, position


class SignalLog:
    def __init__(self, model):
        self.changed: list[tuple[int, int, int, int]] = []
        self.inserted: list[tuple[int, int]] = []
        model.dataChanged.connect(
            lambda tl, br, roles=(): self.changed.append((tl.row(), br.row(), tl.column(), br.column()))
        )
        model.rowsInserted.connect(lambda parent, first, last: self.inserted.append((first, last)))


def test_upsert_buffers_until_flush(qtbot):
    model = OrderBlotterModel()
    log = SignalLog(model)
    model.upsert([order(1), order(2)])
    assert model.rowCount() == 0
    assert model.pending_count == 2
    assert log.inserted == []
    assert model.flush() == (0, 2)
    assert model.rowCount() == 2
    assert log.inserted == [(0, 1)]


def test_the_timer_flushes_after_about_100_ms(qtbot):
    model = OrderBlotterModel()
    model.upsert([order(1)])
    with qtbot.waitSignal(model.flushed, timeout=2000) as blocker:
        pass
    assert blocker.args == [0, 1]
    assert model.rowCount() == 1


def test_n_updates_between_flushes_give_one_data_changed_per_contiguous_range(qtbot):
    model = OrderBlotterModel()
    model.upsert(order(i) for i in range(1, 21))
    model.flush()
    log = SignalLog(model)
    # Newest first: order i is on row 20 - i. Orders 1-5 (rows 15-19) and 11-13 (rows 7-9)
    # change, several times each; one new order arrives twice.
    for status in (OrderState.PARTIALLY_FILLED, OrderState.FILLED):
        model.upsert(replace(order(i), status=status, filled_quantity=Decimal(50 if status is OrderState.PARTIALLY_FILLED else 100))
                     for i in [12, 1, 2, 3, 4, 5, 11, 13])
        model.upsert([order(21), replace(order(21), status=OrderState.PARTIALLY_FILLED)])
    assert model.flush() == (8, 1)
    first_mutable, last_mutable = OrderBlotterModel.QUANTITY, OrderBlotterModel.STOP  # (Stop came last)
    assert log.changed == [(7, 9, first_mutable, last_mutable), (15, 19, first_mutable, last_mutable)]
    assert log.inserted == [(0, 0)]
    assert model.get(3).status is OrderState.FILLED
    assert model.get(21).status is OrderState.PARTIALLY_FILLED
    assert model.row_of(21) == 0
    assert model.row_of(1) == 20
    assert model.record_at(17).id == 4


def test_rows_are_kept_newest_first_even_out_of_order(qtbot, qtmodeltester):
    model = OrderBlotterModel()
    qtmodeltester.check(model, force_py=True)
    log = SignalLog(model)
    model.upsert([order(5), order(2), order(9)])
    model.flush()
    assert [o.id for o in model.records()] == [9, 5, 2]
    assert log.inserted == [(0, 2)]
    # Newer ones (one batch at the top) and two late arrivals older than the newest shown.
    model.upsert([order(12), order(7), order(1), order(10)])
    model.flush()
    assert [o.id for o in model.records()] == [12, 10, 9, 7, 5, 2, 1]
    assert log.inserted[1:] == [(3, 3), (1, 1), (0, 1)]  # 1 under 2, 7 under 9, then 12 and 10 on top
    assert [model.row_of(i) for i in (12, 10, 9, 7, 5, 2, 1)] == list(range(7))
    model.upsert([replace(order(7), status=OrderState.FILLED)])
    model.flush()
    assert model.record_at(3).status is OrderState.FILLED
    model.reset([order(3), order(8), order(3), order(4)])
    assert [o.id for o in model.records()] == [8, 4, 3]


def test_an_identical_record_is_not_reported_as_changed(qtbot):
    model = OrderBlotterModel()
    model.upsert([order(1)])
    model.flush()
    log = SignalLog(model)
    model.upsert([order(1)])
    assert model.flush() == (0, 0)
    assert log.changed == []


def test_apply_takes_its_part_of_a_change_set(qtbot):
    orders, fills, positions = OrderBlotterModel(), FillsModel(), PositionsModel()
    change = ChangeSet(orders=(order(1),), fills=(fill(1), fill(2)), positions=(position("AAPL"),))
    for model in (orders, fills, positions):
        model.apply(change)
        model.flush()
    assert (orders.rowCount(), fills.rowCount(), positions.rowCount()) == (1, 2, 1)


def test_partial_fill_shows_filled_over_quantity_and_status_colour(qtbot):
    model = OrderBlotterModel()
    model.upsert([order(1, status=OrderState.PARTIALLY_FILLED, quantity="100", filled="40", avg="100.125")])
    model.flush()
    index = model.index(0, OrderBlotterModel.STATUS)
    assert model.data(index) == "PARTIALLY_FILLED 40/100"
    assert model.data(index, Qt.ItemDataRole.ForegroundRole).name() == "#d08a1c"
    assert model.data(model.index(0, OrderBlotterModel.FILLED)) == "40"
    assert model.data(model.index(0, OrderBlotterModel.AVG_PRICE)) == "100.125"
    # to the second without the year, the whole time in its tooltip
    assert model.data(model.index(0, OrderBlotterModel.TIME)) == "11-20 14:30:00"
    assert model.data(model.index(0, OrderBlotterModel.TIME), Qt.ItemDataRole.ToolTipRole) == "2026-11-20 14:30:00.001"
    assert model.data(index, SortKeyRole) == "PARTIALLY_FILLED"
    assert model.data(model.index(0, OrderBlotterModel.TIME), SortKeyRole) == T0.timestamp() + 0.001
    assert model.data(index, RecordRole) == model.get(1)
    assert model.csv_row(0)[OrderBlotterModel.STATUS] == "PARTIALLY_FILLED"


def test_fill_totals_follow_updates_and_corrections(qtbot):
    model = FillsModel()
    model.upsert([fill(1, quantity="10", price="100", commission="1.00"),
                  fill(2, side=Side.SELL, quantity="5", price="50", commission="1.25")])
    model.flush()
    (totals,) = model.totals()
    assert (totals.count, totals.bought_quantity, totals.bought_notional) == (2, Decimal(10), Decimal(1000))
    assert (totals.sold_quantity, totals.sold_notional, totals.commission) == (Decimal(5), Decimal(250), Decimal("2.25"))
    # An execution correction supersedes fill 1: it stops counting.
    model.upsert([fill(1, quantity="10", price="100", commission="1.00", superseded=True)])
    model.flush()
    (totals,) = model.totals()
    assert (totals.count, totals.bought_quantity, totals.commission) == (1, Decimal(0), Decimal("1.25"))
    assert totals.net_cash == Decimal("248.75")


def test_a_fills_time_reads_to_the_second_as_ib_gives_it(qtbot):
    """An execution's time from IB has no fraction of a second: the fills read "14:30:02.000"
    (seen under Xvfb, every fill ".000"), a precision it does not have."""
    model = FillsModel()
    model.upsert([fill(2)])
    model.flush()
    at = (T0 + timedelta(seconds=2)).astimezone(UTC)
    assert model.data(model.index(0, 0)) == at.strftime("%m-%d %H:%M:%S")  # the year in its tooltip, as the blotter's
    assert model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole) == at.strftime("%Y-%m-%d %H:%M:%S")


def test_fills_of_one_second_read_in_one_order_streamed_or_loaded(qtbot):
    """IB's execution times are to the second, so a run's partial fills share one: streamed in,
    the later ones stood on top; loaded after a restart (newest first, then by id), the same
    second read oldest first (seen under Xvfb: the first partials, with the order's 1.00
    commission, moved from the bottom to the top). Within a second, the later fill is on top."""
    same_second = [replace(fill(i), fill_time=T0) for i in (1, 2, 3)]
    streamed = FillsModel()
    for record in same_second:
        streamed.upsert([record])
        streamed.flush()
    loaded = FillsModel()
    loaded.reset(sorted(same_second, key=lambda f: f.id, reverse=True))  # as the fills panel's query reads them
    shown = [[m.record_at(row).id for row in range(m.rowCount())] for m in (streamed, loaded)]
    assert shown == [[3, 2, 1], [3, 2, 1]], shown


def test_positions_are_keyed_by_project_account_symbol(qtbot):
    model = PositionsModel(project_names={1: "momentum"})
    model.upsert([position("AAPL"), position("AAPL", account="DU999"), position("AAPL", quantity="20")])
    model.flush()
    assert model.rowCount() == 2
    assert model.data(model.index(0, PositionsModel.QUANTITY)) == "20"
    assert model.data(model.index(0, PositionsModel.PROJECT)) == "momentum"
    assert model.data(model.index(0, PositionsModel.UNREALIZED)) == "200.00"
    totals = book_totals(model.records())  # two projects' rows: no account row, each counts
    assert (totals.count, totals.pnl) == (2, (CurrencyPnl("USD", Decimal(300), Decimal(0)),))


@pytest.mark.parametrize("factory", [
    lambda: (OrderBlotterModel(), [order(i, status=s) for i, s in enumerate(OrderState, start=1)]),
    lambda: (FillsModel(), [fill(i) for i in range(1, 6)] + [fill(6, commission=None, superseded=True)]),
    lambda: (PositionsModel(), [position("AAPL"), position("MSFT", market=None, project_id=None)]),
    lambda: (AuditModel(), [audit(i) for i in range(1, 5)]),
], ids=["orders", "fills", "positions", "audit"])
def test_qtmodeltester(qtmodeltester, factory):
    model, records = factory()
    qtmodeltester.check(model, force_py=True)  # keeps watching the signals below
    model.upsert(records)
    model.flush()
    model.upsert(records[:2])
    model.upsert([records[-1]])
    model.flush()
    model.reset(records[:2])
    qtmodeltester.check(model, force_py=True)


def test_a_timer_flush_applies_a_large_buffer_in_slices(qtbot):
    model = OrderBlotterModel(flush_interval_ms=10, max_batch=3)
    slices = []
    model.flushed.connect(lambda changed, inserted: slices.append((changed, inserted)))
    model.upsert(order(i) for i in range(1, 9))
    qtbot.waitUntil(lambda: model.rowCount() == 8, timeout=2000)
    assert slices == [(0, 3), (0, 3), (0, 2)]
    assert [o.id for o in model.records()] == [8, 7, 6, 5, 4, 3, 2, 1]
    assert model.flush() == (0, 0)
    # An explicit flush applies everything at once.
    model.upsert(order(i) for i in range(9, 20))
    assert model.flush() == (0, 11)


def test_rows_flushed_names_the_rows_a_flush_changed_or_inserted_where_they_end_up(qtbot):
    """A view measures these rows' texts (the blotter's growing columns), so they must be where the
    flush left its records: an order older than the rows shown goes in among them and moves the
    rows below it, the changed one included."""
    model = OrderBlotterModel()
    model.upsert(order(i) for i in range(1, 6))
    model.flush()
    named = []
    model.rows_flushed.connect(named.append)
    changed = replace(model.get(2), status=OrderState.PARTIALLY_FILLED, filled_quantity=Decimal(40))
    older = replace(order(0), created_at=T0 - timedelta(seconds=1))  # before every row: the bottom
    model.upsert([changed, order(6), older])
    assert model.flush() == (1, 2)
    assert len(named) == 1
    assert sorted((model.record_at(row) for row in named[0]), key=lambda o: o.id) == [older, changed, model.get(6)]
    model.upsert([replace(changed, filled_quantity=Decimal(50))])
    model.flush()
    assert [model.record_at(row).id for row in named[1]] == [2]


def test_remembered_formatters_give_the_texts_of_the_values():
    from datetime import datetime, timedelta, timezone

    from widgets.models.base import fmt_money, fmt_price, fmt_quantity, fmt_time

    assert fmt_price(Decimal("1234.5")) == fmt_price(Decimal("1234.50")) == "1,234.50"
    assert fmt_price(Decimal("0.12345")) == "0.1234" and fmt_quantity(Decimal("1E+3")) == "1,000"
    assert fmt_money(Decimal("2")) == "2.00" and fmt_price(None) == ""
    paris = timezone(timedelta(hours=1))
    assert fmt_time(datetime(2026, 1, 2, 4, 4, 5, 999_999, tzinfo=paris)) == "2026-01-02 03:04:05.999"
    assert fmt_time(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02 03:04:05.000"


def test_a_timer_slice_fits_the_time_budget_and_waits_for_another_models_slice(qtbot):
    from widgets.models import base

    model = OrderBlotterModel()
    model._seconds_per_record = base.FLUSH_SLICE_BUDGET_S / 800  # as if measured
    assert model.slice_size() == 800
    model._seconds_per_record = 1.0  # a very slow table: still at least the minimum slice
    assert model.slice_size() == base.MIN_SLICE
    model.upsert(order(i) for i in range(1, 4))
    other_slice_ended = base.CoalescingTableModel._last_slice_end
    try:
        base.CoalescingTableModel._last_slice_end = 1e12  # another model's slice "just now"
        model._on_flush_timer()
        assert model.rowCount() == 0 and model.pending_count == 3  # it waits for a later frame
    finally:
        base.CoalescingTableModel._last_slice_end = other_slice_ended
    qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=2000)


def test_the_preview_totals_are_the_plans_own(qtbot):
    """The preview panel's totals line and a plan's gross notional (the confirmation's figure)
    come of one rule: services.core.plans.order_totals."""
    from datetime import UTC, datetime

    from services.core.builder import OrderDraft
    from services.core.plans import Plan, order_totals
    from services.domain import OrderType, TradeMode
    from widgets.models.preview import PreviewOrdersModel

    def draft(seq, symbol, side, qty, price, weight):
        notional = None if price is None else Decimal(qty) * Decimal(price)
        return OrderDraft(seq, symbol, side, Decimal(qty), OrderType.MKT, None, None if price is None else Decimal(price),
                          notional, Decimal(0), Decimal(qty), weight, f"C-{seq}")

    orders = (draft(1, "A", Side.BUY, 10, "50", Decimal("0.25")), draft(2, "B", Side.SELL, 4, "25.5", None),
              draft(3, "C", Side.BUY, 3, None, Decimal("0.1")))
    model = PreviewOrdersModel()
    model.reset(orders)
    totals = model.totals()
    assert totals == order_totals(orders)
    assert (totals.count, totals.buy_notional, totals.sell_notional) == (
        3, Decimal(500), Decimal(102))  # an order without a price adds no notional
    plan = Plan(1, 1, 1, None, TradeMode.PAPER, "DU1", datetime(2026, 12, 3, tzinfo=UTC), Decimal(10000), "ok", "h", orders)
    assert plan.gross_notional == totals.gross_notional == Decimal(602)


def test_the_tca_table_shows_a_fill_as_the_blotter_does_sorts_numbers_as_numbers_and_exports_them_exactly(qtbot):
    """One fill reads the same in the TCA tab and the blotter (fmt_price), the shortfalls sort by
    value (not by their text: "-3" before "12" before "250"), and the CSV keeps the record's exact
    decimals."""
    from PySide6.QtCore import QSortFilterProxyModel

    from widgets.models.base import SortKeyRole
    from widgets.models.tca import TcaModel

    def record(symbol, fill, bps, shortfall):
        return {"client_order_id": f"r1-{symbol}", "symbol": symbol, "side": "BUY", "filled": "3.000000",
                "quantity": "3.000000", "reference_price": "228.50000000", "fill_price": fill, "shortfall_bps": bps,
                "shortfall": shortfall, "backtest_price": None, "backtest_shortfall_bps": None, "backtest_shortfall": None}

    model = TcaModel()
    model.reset([record("A", "228.523333333", "12.00", "1234.567"), record("B", "228.4", "-3.00", "-0.3"),
                 record("C", "229.0", "250.00", "1.5")])
    model.flush()
    column = {c.title: i for i, c in enumerate(model.columns)}
    shown = {model.data(model.index(r, column["Symbol"])): [model.data(model.index(r, column[t]))
                                                            for t in ("Reference", "Fill", "Shortfall bps", "Shortfall",
                                                                      "Backtest fill")]
             for r in range(model.rowCount())}
    blotter = OrderBlotterModel()
    blotter.reset([order(1, avg="228.523333333")])
    blotter.flush()
    avg_column = next(i for i, c in enumerate(blotter.columns) if c.title == "Avg price")
    assert shown["A"][1] == blotter.data(blotter.index(0, avg_column)) == "228.5233"
    assert shown["A"] == ["228.50", "228.5233", "12.00", "1,234.57", ""]
    assert shown["B"][1:4] == ["228.4000", "-3.00", "-0.30"]  # the Fill column to its 228.5233's places

    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SortKeyRole)
    proxy.sort(column["Shortfall bps"])
    assert [proxy.data(proxy.index(r, column["Symbol"])) for r in range(3)] == ["B", "A", "C"]

    row = next(r for r in range(3) if model.data(model.index(r, column["Symbol"])) == "A")
    exported = dict(zip(model.csv_header(), model.csv_row(row), strict=True))
    assert (exported["Fill"], exported["Shortfall"], exported["Backtest fill"]) == ("228.523333333", "1234.567", "")


def test_the_tca_tables_backtest_fill_of_an_order_the_backtest_would_not_have_filled_is_blank_and_says_why(qtbot):
    from PySide6.QtCore import Qt

    from widgets.models.tca import TcaModel

    why = "the backtest would not have filled it: the close 101.20 is above its limit 100.10"
    model = TcaModel()
    model.reset([{"client_order_id": "r1-A", "symbol": "A", "side": "BUY", "filled": "10", "quantity": "10",
                  "reference_price": "100", "fill_price": "100.05", "shortfall_bps": "5.00", "shortfall": "0.50",
                  "backtest_price": None, "backtest_shortfall_bps": None, "backtest_shortfall": None,
                  "backtest_not_filled": why}])
    model.flush()
    column = next(i for i, c in enumerate(model.columns) if c.title == "Backtest fill")

    assert model.data(model.index(0, column)) == ""
    assert model.data(model.index(0, column), Qt.ItemDataRole.ToolTipRole) == why


def test_the_tca_tab_lists_a_run_in_its_plan_order_with_whole_order_ids(qtbot):
    """The TCA tab opens in the plan's order, its tenth order after its second (the ids' numbers
    compared as numbers, not as text), and its Order column fits a whole client order id."""
    from PySide6.QtGui import QFontMetrics

    from widgets.models.tca import TcaModel
    from widgets.views.tca import TcaView

    def record(sequence, symbol):
        return {"client_order_id": f"TC6ETVQ4.1-{sequence}-B-{symbol}-9EAF5C", "symbol": symbol, "side": "BUY",
                "filled": "1", "quantity": "1", "reference_price": "10", "fill_price": "10", "shortfall_bps": "0",
                "shortfall": "0", "backtest_price": None, "backtest_shortfall_bps": None, "backtest_shortfall": "12345.5"}

    view = TcaView(TcaModel())
    qtbot.addWidget(view)
    view.model.reset([record(n, s) for n, s in ((10, "JPM"), (2, "AMZN"), (1, "AAPL"), (12, "GOOGL"), (3, "IBM"))])
    view.model.flush()
    proxy = view.proxy
    assert [proxy.data(proxy.index(r, 1)) for r in range(proxy.rowCount())] == ["AAPL", "AMZN", "IBM", "JPM", "GOOGL"]
    longest = max(view.model.data(view.model.index(r, 0)) for r in range(view.model.rowCount()))
    assert view.table.columnWidth(0) >= QFontMetrics(view.table.font()).horizontalAdvance(longest) + 8
    column = {c.title: i for i, c in enumerate(view.model.columns)}
    assert view.model.data(view.model.index(0, column["Backtest shortfall"])) == "12,345.50"


def test_the_tca_totals_are_read_whole_in_a_docked_panels_width(qtbot):
    """The totals shared one line with the run's title and the fill chooser: the backtest's
    note ran under the chooser, cut after "(" (seen under Xvfb in the 866 px Decisions dock).
    They have a line of their own, wrapped, never under another control."""
    from widgets.models.tca import TcaModel
    from widgets.views.tca import TcaView

    view = TcaView(TcaModel())
    qtbot.addWidget(view)
    view.resize(700, 260)
    view.show()
    qtbot.waitExposed(view)
    view.set_report({"run_id": 1, "mode": "paper", "trade_date": "2026-12-07", "compared": True, "orders": [],
                     "totals": {"shortfall": "0.20", "shortfall_bps": "0.88"}}, "paper")
    view.layout().activate()
    label = view.totals_label
    assert label.text().endswith("(bars download, after the close)")
    # the text does not make the panel wider than the dock gives it (the dock squeezed it and cut it)
    assert view.width() == 700 and view.minimumSizeHint().width() <= 700
    assert label.height() >= label.heightForWidth(label.width())  # every wrapped line shown
    assert label.geometry().right() <= view.width()
    combo = view.fill_combo.geometry()
    assert not label.geometry().intersects(combo) and not label.geometry().intersects(view.title_label.geometry())


def test_the_tca_tab_heads_a_demo_run_demo_as_the_badge_says_not_paper(qtbot):
    """Beside the DEMO badge the TCA tab headed the run "(paper)", read as IB's paper account: a
    demo run went to the built-in simulator, whose fills its shortfall measures. The tab heads it
    with the badge's word and says so in a line under its title (it was in the title's tooltip,
    where no one read it; the `tca` command prints it under its title); a paper or live window's
    runs read as stored, with no such note."""
    from services.backtest.tca_text import SIMULATED_FILLS
    from widgets.models.tca import TcaModel
    from widgets.views.tca import TcaView

    view = TcaView(TcaModel())
    qtbot.addWidget(view)
    report = {"run_id": 1, "mode": "paper", "trade_date": "2026-12-07", "compared": True, "orders": [],
              "totals": {"shortfall": "0.20", "shortfall_bps": "0.88"}}
    view.resize(700, 260)
    view.show()
    qtbot.waitExposed(view)

    def note() -> str | None:
        return view.note_label.text() if view.note_label.isVisible() else None

    view.set_report(report, "demo")
    assert (view.title_label.text(), note()) == ("Run 1 (demo) of 2026-12-07", SIMULATED_FILLS)
    view.layout().activate()
    label = view.note_label  # whole in the dock's width, above the totals, under the title
    assert label.height() >= label.heightForWidth(label.width()) and label.geometry().right() <= view.width()
    assert label.geometry().top() >= view.title_label.geometry().bottom()
    assert label.geometry().bottom() <= view.totals_label.geometry().top()
    view.set_report(report, "paper")
    assert (view.title_label.text(), note()) == ("Run 1 (paper) of 2026-12-07", None)
    view.set_report({**report, "mode": "live"}, "live")
    assert (view.title_label.text(), note()) == ("Run 1 (live) of 2026-12-07", None)
    # a backtest run in the demo: what the demo's runs are, not "paper and live runs" it cannot make
    view.set_report({**report, "run_id": 2, "mode": "backtest", "compared": False}, "demo")
    assert view.title_label.text() == "Run 2 (backtest) of 2026-12-07: not measured, TCA compares demo runs with the backtest"
    view.set_report({**report, "run_id": 2, "mode": "backtest", "compared": False}, "paper")
    assert view.title_label.text() == "Run 2 (backtest) of 2026-12-07: not measured, TCA compares paper and live runs with the backtest"
    view.set_report(report, "demo")
    view.clear()
    assert (view.title_label.text(), note()) == ("No run selected", None)


def test_the_tca_table_says_every_orders_state_its_currency_and_its_commission(qtbot):
    """A canceled order showed a blank fill and nothing else (read as a zero cost beside the
    others), no line said its currency (a EUR shortfall read as dollars) and IB's commissions
    were nowhere."""
    from widgets.models.tca import TcaModel

    def record(symbol, status, filled, commission, currency="USD"):
        return {"client_order_id": f"r1-{symbol}", "symbol": symbol, "side": "BUY", "status": status, "currency": currency,
                "filled": filled, "quantity": "30.000000", "reference_price": "50", "fill_price": None if filled == "0" else "50.1",
                "shortfall_bps": None, "shortfall": None, "backtest_price": "50.5", "backtest_shortfall_bps": "100.00",
                "backtest_shortfall": None, "commission": commission}

    model = TcaModel()
    model.reset([record("A", "CANCELED", "0", None), record("B", "FILLED", "30.000000", "0.51", "EUR"),
                 record("C", "PARTIALLY_FILLED", "10", "0.2"), {**record("D", "CANCELED", "10", "0.2"), "replaced_by": "r1-E"}])
    model.flush()
    column = {c.title: i for i, c in enumerate(model.columns)}
    shown = {model.data(model.index(r, column["Symbol"])): [model.data(model.index(r, column[t]))
                                                            for t in ("State", "Currency", "Commission", "Backtest shortfall")]
             for r in range(model.rowCount())}
    # a filled order says so too: its blank State read as a state not known (walked under Xvfb)
    assert shown == {"A": ["canceled", "USD", "", ""], "B": ["filled", "EUR", "0.51", ""], "C": ["partially filled", "USD", "0.20", ""],
                     "D": ["canceled, replaced by r1-E", "USD", "0.20", ""]}


def test_the_tca_tables_commission_says_what_it_does_not_count(qtbot):
    """A commission IB reported in a currency the run has no rate for is in no sum: its cell is
    blank as a commission not reported yet, and its tooltip says it was reported, in what, and
    why it is not counted."""
    from widgets.models.tca import TcaModel

    model = TcaModel()
    model.reset([{"client_order_id": "r1-A", "symbol": "A", "side": "BUY", "status": "FILLED", "currency": "USD",
                  "filled": "10", "quantity": "10", "reference_price": "100", "fill_price": "101", "shortfall_bps": "100.00",
                  "shortfall": "10", "backtest_price": None, "backtest_shortfall_bps": None, "backtest_shortfall": None,
                  "commission": "0.35", "commissions_unreported": 1, "commissions_not_counted": {"CHF": "1.20000000"}}])
    model.flush()
    cell = model.index(0, next(i for i, c in enumerate(model.columns) if c.title == "Commission"))
    assert model.data(cell) == "0.35"
    assert model.data(cell, Qt.ItemDataRole.ToolTipRole) == (
        "IB's commissions of the order's fills, not in the shortfall (1 fill's not reported yet; "
        "1.20 CHF not counted: no CHF rate in the run)")


def test_the_tca_tables_quantities_are_grouped_as_the_blotters(qtbot):
    """The TCA tab showed "1500 / 2500" where the blotter and ``tca`` say 1,500 and 2,500."""
    from widgets.models.tca import TcaModel

    model = TcaModel()
    model.reset([{"client_order_id": "r1-A", "symbol": "A", "side": "BUY", "status": "CANCELED", "filled": "1500.000000",
                  "quantity": "2500.000000", "reference_price": "50", "fill_price": "50.1", "shortfall_bps": "20.00",
                  "shortfall": "150", "backtest_price": None, "backtest_shortfall_bps": None, "backtest_shortfall": None}])
    model.flush()
    column = {c.title: i for i, c in enumerate(model.columns)}
    assert model.data(model.index(0, column["Filled"])) == "1,500 / 2,500"


def test_the_blotters_price_columns_each_read_to_one_number_of_places(qtbot, qtmodeltester):
    """services.core.wording.price_places: a column of prices to its most precise price's places,
    two to four. Each price to its own, the Avg price column read 229.34 above 165.2431. A price
    of more places arriving later shows the rows above again at the new places (one dataChanged
    over the column); texts a worker formatted before (a history page) are formatted anew."""
    from services.history_queries import Page

    model = OrderBlotterModel()
    model.upsert([order(1, status=OrderState.FILLED, filled="100", avg="229.34", limit="229.5")])
    model.flush()
    avg, limit = OrderBlotterModel.AVG_PRICE, OrderBlotterModel.LIMIT
    assert (model.display_text(0, avg), model.display_text(0, limit)) == ("229.34", "229.50")
    log = SignalLog(model)
    model.upsert([order(2, status=OrderState.FILLED, filled="98", avg="165.24306122", limit="165.3")])
    model.flush()
    assert [model.display_text(row, avg) for row in range(2)] == ["165.2431", "229.3400"]
    assert [model.display_text(row, limit) for row in range(2)] == ["165.30", "229.50"]
    assert (0, 1, avg, avg) in log.changed
    qtmodeltester.check(model)

    # a page formatted off the GUI thread at two places, shown where a price needs four
    loaded = (order(3, avg="12.5"), order(4, avg="0.1234"))
    fresh = OrderBlotterModel()
    stale = [fresh.format_row(r) for r in loaded]
    assert stale[0][avg] == "12.50"  # before the page, the column was of two places
    fresh.show_first_page(Page(loaded, None, True), stale)
    assert [fresh.display_text(row, avg) for row in range(2)] == ["0.1234", "12.5000"]
    assert [fresh.take_texts(r)[avg] for r in loaded] == ["12.5000", "0.1234"]
    # a new selection starts the places again
    fresh.reset([order(5, avg="10.1")])
    assert fresh.display_text(0, avg) == "10.10"
