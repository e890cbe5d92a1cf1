"""Positions totals: the account-level rows are the total; project rows are its breakdown."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.domain import PositionRecord
from widgets.models.positions import PositionsModel
from widgets.views.positions import PositionsView

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def _position(project_id, symbol, qty, cost, mark, realized="0"):
    return PositionRecord(project_id, "DU1", symbol, Decimal(qty), Decimal(cost), Decimal(realized), NOW,
                          market_price=Decimal(mark))


def test_totals_do_not_count_a_project_breakdown_twice(qtbot):
    model = PositionsModel(project_names={1: "alpha", 2: "beta"})
    view = PositionsView(model)
    qtbot.addWidget(view)
    model.reset([
        _position(None, "AAPL", 30, 100, 110, realized="7"),  # the account: alpha 10 + beta 20
        _position(1, "AAPL", 10, 100, 110, realized="2"),
        _position(2, "AAPL", 20, 100, 110, realized="5"),
    ])
    view._update_totals()
    assert view.totals_label.text() == "1 positions · unrealized 300.00 · realized 7.00"  # one holding, not three

    view.set_project_filter("beta")
    assert view.totals_label.text().startswith("1 positions · ")
    assert "unrealized 200.00" in view.totals_label.text()
    assert "realized 5.00" in view.totals_label.text()
