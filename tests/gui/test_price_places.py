"""Every panel's price columns read to one number of places, the column's
(services.core.wording.price_places: its most precise price's, two to four), as the blotter's
do: a column read 229.5 above 229.125 above 230, its decimal points not lined up."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt

from services.domain import Quote
from widgets.models.fills import FillsModel

from .factories import fill, position


class ChangedColumns:
    def __init__(self, model):
        self.changed: list[tuple[int, int, int, int]] = []
        model.dataChanged.connect(
            lambda tl, br, roles=(): self.changed.append((tl.row(), br.row(), tl.column(), br.column())))


def test_the_fills_price_column_reads_to_one_number_of_places(qtbot, qtmodeltester):
    """229.5, 229.125 and 230 read 229.500, 229.125, 230.000. A price of more places arriving
    later shows the rows above again at the new places (one dataChanged over the column); a
    new selection (the first page of a filter) starts them again."""
    model = FillsModel()
    model.upsert([fill(1, price="229.5"), fill(2, price="229.125"), fill(3, price="230")])
    model.flush()
    price = FillsModel.PRICE
    # newest first
    assert [model.display_text(row, price) for row in range(3)] == ["230.000", "229.125", "229.500"]
    assert model.data(model.index(0, price), Qt.ItemDataRole.DisplayRole) == "230.000"
    log = ChangedColumns(model)
    model.upsert([fill(4, price="229.1234")])
    model.flush()
    assert [model.display_text(row, price) for row in range(4)] == ["229.1234", "230.0000", "229.1250", "229.5000"]
    assert (0, 3, price, price) in log.changed
    qtmodeltester.check(model)
    model.reset([fill(5, price="10.5")])
    assert model.display_text(0, price) == "10.50"


def _tca_record(symbol: str, reference: str | None, fill_price: str | None, backtest: str | None) -> dict:
    return {"client_order_id": f"r1-{symbol}", "symbol": symbol, "side": "BUY", "status": "FILLED", "currency": "USD",
            "filled": "10", "quantity": "10", "reference_price": reference, "fill_price": fill_price,
            "shortfall_bps": "1.00", "shortfall": "0.50", "backtest_price": backtest,
            "backtest_shortfall_bps": None, "backtest_shortfall": None}


def test_the_tca_tables_price_columns_each_read_to_one_number_of_places(qtbot, qtmodeltester):
    """The TCA tab (a run's report set on the real view): each of Reference, Fill and Backtest
    fill to its own column's places; the money beside them stays to the cent."""
    from widgets.models.tca import TcaModel
    from widgets.views.tca import TcaView

    view = TcaView(TcaModel())
    qtbot.addWidget(view)
    view.set_report({"run_id": 1, "mode": "paper", "trade_date": "2026-12-07", "compared": True,
                     "orders": [_tca_record("A", "229.5", "229.5", "229.25"),
                                _tca_record("B", "229.125", "229.125", None),
                                _tca_record("C", "230", "230", "230")],
                     "totals": {"shortfall": "1.50", "shortfall_bps": "1.00"}}, "paper")
    model = view.model
    column = {c.title: i for i, c in enumerate(model.columns)}
    shown = [[model.data(model.index(row, column[title])) for title in ("Reference", "Fill", "Backtest fill", "Shortfall")]
             for row in range(3)]
    assert shown == [["229.500", "229.500", "229.25", "0.50"],
                     ["229.125", "229.125", "", "0.50"],
                     ["230.000", "230.000", "230.00", "0.50"]]
    qtmodeltester.check(model)
    # the next run's report: its own places
    view.set_report({"run_id": 2, "mode": "paper", "trade_date": "2026-12-08", "compared": True,
                     "orders": [_tca_record("A", "10", "10.5", None)], "totals": {"shortfall": "0", "shortfall_bps": "0"}},
                    "paper")
    assert [model.data(model.index(0, column[title])) for title in ("Reference", "Fill")] == ["10.00", "10.50"]


def _preview(symbol: str, price: str) -> SimpleNamespace:
    return SimpleNamespace(symbol=symbol, side="BUY", current_quantity=Decimal(0), target_quantity=Decimal(10),
                           quantity=Decimal(10), order_type="LMT", limit_price=Decimal(price),
                           reference_price=Decimal(price), notional=Decimal(price) * 10, target_weight=Decimal("0.1"),
                           client_order_id=None)


def _snapshot_item(symbol: str, price: str) -> SimpleNamespace:
    return SimpleNamespace(symbol=symbol, weight=Decimal("0.1"), score=Decimal(1), rank=1, price=Decimal(price),
                           sec_type="STK", exchange="SMART", currency="USD")


def _decision(symbol: str, price: str) -> dict:
    return {"sequence": 1, "symbol": symbol, "action": "buy", "target_weight": "0.1", "price": price}


def _models():
    from widgets.models.decisions import OrderDecisionsModel
    from widgets.models.positions import PositionsModel
    from widgets.models.preview import PreviewOrdersModel
    from widgets.models.quotes import QuotesModel
    from widgets.models.snapshots import SnapshotItemsModel

    return {
        "preview": (PreviewOrdersModel, _preview, ("Limit", "Ref price")),
        "quotes": (QuotesModel, lambda s, p: Quote(s, bid=Decimal(p), ask=Decimal(p), last=Decimal(p)), ("Bid", "Ask", "Last")),
        "decisions": (OrderDecisionsModel, _decision, ("Price",)),
        "snapshot": (SnapshotItemsModel, _snapshot_item, ("Price",)),
        "positions": (PositionsModel, lambda s, p: position(s, cost=p, market=p), ("Avg cost", "Market")),
    }


@pytest.mark.parametrize("name", ["preview", "quotes", "decisions", "snapshot", "positions"])
def test_every_panels_price_columns_read_to_one_number_of_places(qtbot, qtmodeltester, name):
    """The preview's, the watchlist's, the Decisions', a snapshot's and the positions' price
    columns as the blotter's: 229.5, 229.125 and 230 read 229.500, 229.125, 230.000, and a tick
    of more places shows the rows before it again at the new places."""
    model_class, record, titles = _models()[name]
    model = model_class()
    model.reset([record("A", "229.5"), record("B", "229.125"), record("C", "230")])
    model.flush()
    columns = [next(i for i, c in enumerate(model.columns) if c.title == title) for title in titles]
    for column in columns:  # rows in arrival order
        assert [model.data(model.index(row, column)) for row in range(3)] == ["229.500", "229.125", "230.000"]
    log = ChangedColumns(model)
    model.upsert([record("D", "1.2345")])
    model.flush()
    for column in columns:
        assert model.data(model.index(0, column)) == "229.5000"
        assert (0, 3, column, column) in log.changed
    qtmodeltester.check(model)


def _tree_lines(view, column: int) -> dict[str, list[str]]:
    """Each group's lines' texts in ``column``, by the group's title."""
    tree = view.tree
    return {tree.topLevelItem(g).text(0): [tree.topLevelItem(g).child(c).text(column)
                                           for c in range(tree.topLevelItem(g).childCount())]
            for g in range(tree.topLevelItemCount())}


def test_the_positions_trees_market_and_avg_cost_read_to_one_number_of_places(qtbot):
    """The Positions and P&L tree builds its own rows: its Market and Avg cost columns read
    229.5 above 229.125 above 230 until they followed the models' rule (SharedPricePlaces).
    A tick of more places shows every line again at the new places; a new tree (the project
    filter) starts them again from the prices it shows."""
    from dataclasses import replace

    from widgets.models.positions import PositionsModel
    from widgets.views.positions import AVG_COST, PRICE, PositionsView

    model = PositionsModel(project_names={1: "alpha", 2: "beta"})
    view = PositionsView(model)
    qtbot.addWidget(view)
    records = [position("A", project_id=None, cost="229.5", market="229.5"),
               position("B", project_id=None, cost="229.125", market="230"),
               position("C", project_id=None, cost="230", market="229.125"),
               position("A", project_id=1, cost="229.5", market="229.5"),
               position("B", project_id=2, cost="10.5", market="230")]
    model.reset(records)
    assert _tree_lines(view, PRICE)["Account DU123"] == ["229.500", "230.000", "229.125"]
    assert _tree_lines(view, AVG_COST)["Account DU123"] == ["229.500", "229.125", "230.000"]
    assert _tree_lines(view, PRICE)["alpha"] == ["229.500"]
    assert _tree_lines(view, AVG_COST)["beta"] == ["10.500"]

    model.upsert([replace(records[0], market_price=Decimal("229.1234"))])  # a tick
    model.flush()
    assert _tree_lines(view, PRICE)["Account DU123"] == ["229.1234", "230.0000", "229.1250"]
    assert _tree_lines(view, PRICE)["beta"] == ["230.0000"]
    assert _tree_lines(view, AVG_COST)["Account DU123"] == ["229.500", "229.125", "230.000"]

    view.set_project_filter("beta")  # a new tree: its own prices' places
    assert _tree_lines(view, PRICE) == {"beta": ["230.00"]}
    assert _tree_lines(view, AVG_COST) == {"beta": ["10.50"]}


def test_the_same_orders_and_fills_prices_read_alike_in_the_window_and_the_commands(qtbot, capsys):
    """An order filled at 212 with a limit of 212.5, beside one limited at 229.3375 and filled at
    229.34000000 (a database's scale): the activity log said "@ 212", `watch` "@ 212" and "@
    229.34000000", the blotter's Limit column "212.5000" where `orders` printed "212.50" and
    `fills` "212.00" beside the fills panel's "212.000" (each price to its own places). One rule
    now (services.core.wording.price, price_places): each column to its most precise price's
    places, a price alone to its own."""
    from datetime import UTC, datetime

    from app.commands.execution import _print_fills, _print_orders
    from services.activity_log import describe_fills
    from services.change_feed import FeedBatch, batch_lines, line_text
    from services.domain import OrderState
    from services.run_progress import SymbolSlippage
    from widgets.models.orders import OrderBlotterModel

    from .factories import order

    orders = [order(1, status=OrderState.FILLED, limit="212.5", avg="212", filled="100"),
              order(2, status=OrderState.FILLED, limit="229.3375", avg="229.34000000", filled="100", stop="229.5")]
    fills = [fill(1, 1, price="212"), fill(2, 2, price="229.125")]
    blotter = OrderBlotterModel()
    blotter.upsert(orders)
    blotter.flush()
    fills_panel = FillsModel()
    fills_panel.upsert(fills)
    fills_panel.flush()
    shown = {blotter.record_at(row).id: (blotter.display_text(row, OrderBlotterModel.LIMIT),
                                         blotter.display_text(row, OrderBlotterModel.AVG_PRICE),
                                         blotter.display_text(row, OrderBlotterModel.STOP)) for row in range(2)}
    assert shown == {1: ("212.5000", "212.00", ""), 2: ("229.3375", "229.34", "229.50")}
    fill_prices = sorted(fills_panel.display_text(row, FillsModel.PRICE) for row in range(2))
    assert fill_prices == ["212.000", "229.125"]

    _print_orders(orders)
    lines = capsys.readouterr().out.splitlines()[1:]
    for line, o in zip(lines, orders, strict=True):
        limit, avg, stop = shown[o.id]
        assert f" {limit} {stop:>10} " in line and line.rstrip().endswith(f" {avg}"), line
    _print_fills(fills)
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[5] for line in lines] == ["212.000", "229.125"]

    assert describe_fills(fills[:1]) == "Fill: BUY 10 AAPL @ 212.00"
    watched = [line_text(line) for line in batch_lines(FeedBatch(datetime.now(UTC), orders=tuple(orders),
                                                                  fills=tuple(fills[:1])))]
    assert watched[0].endswith("100/100 @ 212.00") and watched[1].endswith("100/100 @ 229.34"), watched
    assert " @ 212.00 USD" in watched[2], watched[2]
    slippage = SymbolSlippage("AAPL", Decimal(10), Decimal("212"), Decimal("211.5"), Decimal("23.6"))
    assert slippage.describe() == "10 filled at 212.00 (volume-weighted), +23.6 bps vs reference 211.50"
