"""A price rule's record written before 2026-12-05 (commit 3691942) for a price with no time (a
backtest's bar) holds the order's reference price as its measured value beside the age limit:
the trail command and the Decisions panel read it as an age ("228.5 s" against "300 s"). No
migration changed the age's unit (seconds since the trail's first table, 0010): the old record
is told apart by its measured value being its order's reference price, which a record written
since never holds beside an age limit, and is shown as stored. A record of an age still reads in
seconds (SQLite and MariaDB)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from services.core.risk_measures import RiskDecision
from services.core.trail import OrderDecision
from services.db.plan_repository import PlanRepository
from services.db.repositories import ProjectRepository, RunRepository
from services.db.repositories.trail import TrailRepository
from services.domain import TradeMode
from services.trail_queries import decision_trail


def _decision(symbol: str, price: str, sequence: int) -> OrderDecision:
    return OrderDecision(symbol, "buy", "order", f"BUY 4 {symbol}", D("0.01"), D(4), D(4), D(0), D(4), D(0), "nearest",
                         D(price), D(1), sequence, f"TC7-{sequence}-B-{symbol}")


def _plan_with_price_records(database) -> int:
    with database.unit_of_work() as session:
        project = ProjectRepository(session).get_or_create("old-trail")
        run = RunRepository(session).create(project.id, mode=TradeMode.BACKTEST, trade_date=date(2026, 11, 23), params={})
        plan = PlanRepository(session).add(run_id=run.id, project_id=project.id, snapshot_id=None, mode=TradeMode.BACKTEST,
                                           account="BACKTEST-1", portfolio_value=D(100000), verdict="ready", orders=[],
                                           prices={}, positions={}, params={}, skipped=[], risk={})
        TrailRepository(session).record_preview(
            plan_id=plan.id, run_id=run.id, signals=[],
            order_decisions=[_decision("AAPL", "228.5", 1), _decision("MSFT", "415.2", 2)],
            risk_decisions=[
                # as the price rule recorded an undated price before 3691942: the price itself
                RiskDecision("order", "price", "pass", "228.5", "300", sequence=1, client_order_id="TC7-1-B-AAPL", symbol="AAPL"),
                # and a price's age, as it records one now
                RiskDecision("order", "price", "pass", "120.5", "300", sequence=2, client_order_id="TC7-2-B-MSFT", symbol="MSFT"),
            ])
        return plan.id


def test_an_old_price_record_reads_as_the_price_it_holds_and_an_age_in_seconds(database):
    from app.commands.trail import SECTIONS, table

    trail = decision_trail(database, plan_id=_plan_with_price_records(database))

    columns = next(columns for name, _title, columns in SECTIONS if name == "risk_decisions")
    printed = table(trail.risk_decisions, columns).splitlines()[1:]
    assert [line.split()[2:7] for line in printed] == [["AAPL", "price", "228.5", "300", "s"],
                                                      ["MSFT", "price", "120.5", "s", "300"]]
    assert [r["measured"] for r in trail.risk_decisions] == ["228.5", "120.5"]  # the records as stored


def test_the_decisions_panel_reads_them_alike(database, qapp):
    from widgets.models.decisions import RuleVerdictsModel

    trail = decision_trail(database, plan_id=_plan_with_price_records(database))

    measured = RuleVerdictsModel.columns[RuleVerdictsModel.MEASURED]
    assert [measured.value(row) for row in trail.risk_decisions] == ["228.5", "120.5 s"]
