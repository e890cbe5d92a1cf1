"""A backtest and a paper run of the same snapshot on the same prices produce the same plan: the
backtest previews through the same trade service, builder and risk rules (the simulator over a
real socket for the paper run; SQLite and MariaDB)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.backtest.costs import FillAt
from services.backtest.inputs import DatedSnapshot
from services.backtest.prices import PriceBook
from services.backtest.runner import Backtester, BacktestSpec
from services.core.bars import Bar
from services.core.snapshots import SnapshotItem
from services.db.models import OrderPlan
from services.db.plan_repository import PlanRepository
from services.db.repositories import SnapshotRepository
from services.domain import TradeMode

from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(120)

PRICES = {"AAPL": Decimal("228.50"), "MSFT": Decimal("415.20"), "NVDA": Decimal("121.75")}
WEIGHTS = {"AAPL": "0.05", "MSFT": "0.035", "NVDA": "0.02"}
DAY = date(2024, 3, 1)
BUILDER = {"rounding": "nearest", "lot_size": Decimal(1), "cash_buffer": Decimal("0.02"), "liquidate_unlisted": True}


def _comparable(plan) -> tuple:
    orders = sorted((o.symbol, str(o.side), o.quantity, str(o.order_type), o.limit_price, o.reference_price,
                     o.target_quantity, o.target_weight) for o in plan.orders)
    return orders, plan.portfolio_value, dict(plan.positions), plan.verdict, plan.params


async def test_a_backtest_and_a_paper_run_build_the_same_plan(stack):
    for symbol, price in PRICES.items():
        stack.sim.set_price(symbol, price)
    _, snapshot_id = make_snapshot(stack.db, "same-plan", WEIGHTS)
    paper = await stack.service.preview_snapshot("same-plan", snapshot_id, TradeMode.PAPER, builder=dict(BUILDER),
                                                 portfolio_value=Decimal(250_000))
    bars = [Bar(d, s, p, p, p, p) for s, p in PRICES.items() for d in (date(2024, 2, 29), DAY)]
    with stack.db.session() as session:
        items = tuple(SnapshotItem(i.symbol, i.weight, n + 2) for n, i in enumerate(SnapshotRepository(session).items(snapshot_id)))
    snapshot = DatedSnapshot(DAY, "same-plan", "test.csv", "same", items, snapshot_id=snapshot_id)
    spec = BacktestSpec(Decimal(250_000), FillAt.CLOSE, Decimal(0), "none", dict(BUILDER), start=DAY, end=DAY)
    outcome = await Backtester(stack.db, PriceBook(bars), [snapshot], spec).run()
    run_id = outcome.projects["same-plan"]["rebalances"][0][1]
    with stack.db.session() as session:
        plan_id = session.scalar(select(OrderPlan.id).where(OrderPlan.run_id == run_id))
        backtest_plan = PlanRepository(session).get(plan_id)
    assert backtest_plan.mode is TradeMode.BACKTEST and paper.plan.mode is TradeMode.PAPER
    assert _comparable(backtest_plan) == _comparable(paper.plan)
    assert len(paper.plan.orders) == 3
