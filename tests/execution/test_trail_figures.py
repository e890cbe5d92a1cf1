"""The Decisions panel reads a number as the preview shows it (offscreen Qt, the real views built
from their models, a real preview against the simulator on SQLite and MariaDB): a 0.1 weight is
"10.00%" in both, as is a position's share of the portfolio and its limit; the exact stored value
stays on the cell's tooltip and in the trail's JSON."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from services.domain import TradeMode
from services.trail_queries import decision_trail

pytestmark = pytest.mark.timeout(90)


def weighted_snapshot(db, project: str, weights: dict[str, str]) -> int:
    from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository

    rows = [SnapshotItemInput(symbol, Decimal(weight)) for symbol, weight in weights.items()]
    with db.unit_of_work() as session:
        project_id = ProjectRepository(session).get_or_create(project).id
        digest = hashlib.sha256(project.encode()).hexdigest()
        return SnapshotRepository(session).create_with_items(project_id, "weights.csv", digest, rows).id


def cells(table, row: int, role: int) -> dict[str, str | None]:
    """A table's row as its view shows it: column title -> the text (or tooltip) of ``role``."""
    model = table.model()
    source = getattr(model, "sourceModel", lambda: model)()
    return {column.title: model.data(model.index(row, i), role) for i, column in enumerate(source.columns)}


async def test_the_decisions_panel_shows_a_weight_and_a_ratio_as_the_preview_does(stack, qtbot):
    from widgets.models.base import DISPLAY, TOOLTIP
    from widgets.models.decisions import OrderDecisionsModel, RuleVerdictsModel
    from widgets.models.preview import PreviewOrdersModel
    from widgets.views.decisions import DecisionsView
    from widgets.views.preview import PreviewView

    snapshot_id = weighted_snapshot(stack.db, "alpha", {"AAPL": "0.1"})
    run = await stack.service.prepare_run("alpha", snapshot_id, TradeMode.PAPER)
    preview = await stack.service.preview(run.id, Decimal("100000"))
    trail = decision_trail(stack.db, run_id=run.id)

    preview_view = PreviewView(PreviewOrdersModel())
    decisions = DecisionsView(OrderDecisionsModel(), RuleVerdictsModel())
    qtbot.addWidget(preview_view)
    qtbot.addWidget(decisions)
    preview_view.model.reset(preview.drafts)
    decisions.set_trail(trail)

    # the weight: the preview's text in both panels, the exact decimal on the panel's tooltip
    assert cells(preview_view.table, 0, DISPLAY)["Weight"] == "10.00%"
    decided = cells(decisions.orders_table, decisions.orders_model.row_of("AAPL"), DISPLAY)
    assert decided["Weight"] == "10.00%"
    assert cells(decisions.orders_table, decisions.orders_model.row_of("AAPL"), TOOLTIP)["Weight"] == "weight 0.1 exactly"
    # 1,000 shares would read as the preview's quantities do; the price as its reference price
    draft = preview.drafts[0]
    assert (decided["Target"], decided["Price"]) == (cells(preview_view.table, 0, DISPLAY)["Target"],
                                                     cells(preview_view.table, 0, DISPLAY)["Ref price"])

    # a ratio rule's measured share of the portfolio and its limit read as percents too: 44 shares
    # at 228.50 are 10,054 of 100,000, limit 0.2; the stored 8-place value on the tooltip
    assert (draft.symbol, draft.quantity, draft.reference_price) == ("AAPL", Decimal(44), Decimal("228.5"))
    rules = decisions.rules_table
    verdicts = {cells(rules, r, DISPLAY)["Rule"]: r for r in range(rules.model().rowCount())}
    ratio = verdicts["max_position_ratio"]
    assert (cells(rules, ratio, DISPLAY)["Measured"], cells(rules, ratio, DISPLAY)["Limit"]) == ("10.05%", "20.00%")
    assert (cells(rules, ratio, TOOLTIP)["Measured"], cells(rules, ratio, TOOLTIP)["Limit"]) == (
        "measured 0.10054 exactly", "limit 0.2 exactly")
    # the order's value as the preview's Notional, its limit as the risk panel's (25,000.00)
    notional = verdicts["max_order_notional"]
    assert (cells(rules, notional, DISPLAY)["Measured"], cells(rules, notional, DISPLAY)["Limit"]) == (
        cells(preview_view.table, 0, DISPLAY)["Notional"], "25,000.00") == ("10,054.00", "25,000.00")

    # the record itself (and so `trail --json`) keeps the exact decimals
    exact = trail.to_dict()
    assert [d["target_weight"] for d in exact["order_decisions"] if d["symbol"] == "AAPL"] == ["0.1"]
    assert [(r["measured"], r["limit_value"]) for r in exact["risk_decisions"] if r["rule"] == "max_position_ratio"] == [
        ("0.10054", "0.2")]
    # the short-sale rule measures the position after the order (shares, grouped as the preview's
    # quantities) against a floor of none, not a "limit 0"; the price rule's age limit in seconds
    short = verdicts["short_sale"]
    assert (cells(rules, short, DISPLAY)["Measured"], cells(rules, short, DISPLAY)["Limit"]) == ("44", "≥ 0")
    assert cells(rules, short, TOOLTIP)["Limit"] == "limit 0 exactly"
    price = verdicts["price"]
    assert cells(rules, price, DISPLAY)["Limit"] == "300 s"
    # and the price's age it measured, worded as its limit is (it read as a bare number)
    [age] = [r["measured"] for r in exact["risk_decisions"] if r["rule"] == "price"]
    assert cells(rules, price, DISPLAY)["Measured"] == f"{Decimal(age).quantize(Decimal('0.1'), rounding='ROUND_DOWN'):,f} s"
    assert [(r["measured"], r["limit_value"]) for r in exact["risk_decisions"] if r["rule"] == "short_sale"] == [("44", "0")]

