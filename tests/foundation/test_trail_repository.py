"""The trail's records on SQLite and MariaDB: each row's hash is taken over what the database gives
back (decimals at their column's scale), so an untouched trail always checks; an altered row is
named; a row removed, added or re-hashed breaks the plan's trail hash."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from sqlalchemy import select, text

from services.core.risk_measures import RiskDecision
from services.core.trail import OrderDecision, SignalRecord
from services.db.models import Position, TradeRun, TrailPortfolioSnapshot
from services.db.plan_repository import PlanRepository
from services.db.repositories import ProjectRepository, RunRepository
from services.db.repositories.portfolio_snapshots import record_portfolio_snapshots
from services.db.repositories.trail import TrailRepository
from services.domain import TradeMode


def _plan(session) -> tuple[int, int]:
    project = ProjectRepository(session).get_or_create("trail")
    run = RunRepository(session).create(project.id, mode=TradeMode.PAPER, trade_date=date(2026, 11, 23), params={})
    plan = PlanRepository(session).add(run_id=run.id, project_id=project.id, snapshot_id=None, mode=TradeMode.PAPER,
                                       account="DU1", portfolio_value=D(100000), verdict="ready", orders=[], prices={},
                                       positions={}, params={}, skipped=[], risk={})
    return plan.id, run.id


def _record(database) -> tuple[int, str]:
    with database.unit_of_work() as session:
        plan_id, run_id = _plan(session)
        digest = TrailRepository(session).record_preview(
            plan_id=plan_id, run_id=run_id,
            # more places than the columns keep: rounded on the way in, hashed as read back
            signals=[SignalRecord("AAPL", D("0.012345678901234"), D("0.123456789"), 1, None, D("228.5"))],
            order_decisions=[OrderDecision("AAPL", "buy", "order", "BUY 4", D("0.01"), D("4.3763676"), D(4), D(0), D(4),
                                           D("-0.3763676"), "nearest", D("228.5"), D(1), 1, "TC7-1-B-AAPL")],
            risk_decisions=[RiskDecision("order", "max_order_notional", "pass", "914", "25000", sequence=1, symbol="AAPL"),
                            RiskDecision("account", "max_gross_exposure", "pass", "0.009140", "1")])
        return plan_id, digest


def test_an_untouched_trail_checks_and_its_hash_is_stable(database):
    plan_id, digest = _record(database)
    with database.session() as session:
        trail = TrailRepository(session)
        assert trail.trail_hash(plan_id) == digest
        assert trail.check(plan_id, digest) is None


def test_an_altered_record_is_named(database):
    plan_id, digest = _record(database)
    with database.engine.begin() as connection:
        row_id = connection.execute(text("SELECT id FROM trail_risk_decisions WHERE rule = 'max_order_notional'")).scalar_one()
        connection.execute(text("UPDATE trail_risk_decisions SET limit_value = '250000' WHERE id = :id"), {"id": row_id})
    with database.session() as session:
        problem = TrailRepository(session).check(plan_id, digest)
    assert problem is not None and (problem.table, problem.record_id) == ("trail_risk_decisions", row_id)
    assert problem.describe() == (f"decision trail of plan {plan_id}: trail_risk_decisions record {row_id} was altered "
                                  "(its content no longer matches its hash)")


def test_a_removed_or_rehashed_record_breaks_the_trail_hash(database):
    plan_id, digest = _record(database)
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM trail_signals WHERE plan_id = :p"), {"p": plan_id})
    with database.session() as session:
        problem = TrailRepository(session).check(plan_id, digest)
    assert problem is not None and problem.table is None and "added, removed or re-hashed" in problem.reason


def test_the_returned_hash_covers_every_record_of_the_plan(database):
    """The writer hashes the rows it just wrote without reading them back when they are the
    plan's only ones, numbered in a run; a plan with records written before (or a table left
    empty) gets the hash over all of its stored records all the same."""
    with database.unit_of_work() as session:
        plan_id, run_id = _plan(session)
        trail = TrailRepository(session)
        first = trail.record_preview(plan_id=plan_id, run_id=run_id, signals=[SignalRecord("AAPL", D("0.5"))],
                                     order_decisions=[], risk_decisions=[])
        assert first == trail.trail_hash(plan_id)
        second = trail.record_preview(plan_id=plan_id, run_id=run_id,
                                      signals=[SignalRecord("MSFT", D("0.25")), SignalRecord("NVDA", D("0.25"))],
                                      order_decisions=[OrderDecision("MSFT", "hold", "at_target")],
                                      risk_decisions=[RiskDecision("account", "max_gross_exposure", "pass", "0.5", "1")])
        assert second == trail.trail_hash(plan_id) != first
        assert trail.check(plan_id, second) is None


def test_a_portfolio_snapshot_holds_the_rows_held_and_the_realized_pnl_of_all(database):
    """A closed row (quantity 0) is not listed but keeps its realized P&L in the book's total,
    also in a book that holds nothing."""
    with database.unit_of_work() as session:
        _, run_id = _plan(session)
        project_id = session.get(TradeRun, run_id).project_id
        for account, symbol, quantity, cost, mark, realized in (
                ("DU1", "MSFT", D(10), D("400.5"), D(410), D("12.25")), ("DU1", "AAPL", D(0), D(0), None, D("-3.5")),
                ("DU1", "NVDA", D(-2), D(120), None, D(0)), ("DU2", "AAPL", D(0), D(0), D(200), D(7))):
            session.add(Position(project_id=project_id, project_key=project_id, account=account, symbol=symbol, quantity=quantity,
                                 average_cost=cost, market_price=mark, realized_pnl=realized))
        session.flush()
        assert record_portfolio_snapshots(session, [(run_id, project_id, "DU1"), (run_id, project_id, "DU2")], {run_id}) == 2
    with database.session() as session:
        snaps = {s.account: s for s in session.scalars(select(TrailPortfolioSnapshot).where(TrailPortfolioSnapshot.run_id == run_id))}
    held = snaps["DU1"]
    assert held.positions == [
        {"symbol": "MSFT", "quantity": "10", "average_cost": "400.5", "market_price": "410", "realized_pnl": "12.25"},
        {"symbol": "NVDA", "quantity": "-2", "average_cost": "120", "market_price": None, "realized_pnl": "0"}]
    assert (held.market_value, held.realized_pnl, held.reason) == (D(4100 - 240), D("8.75"), "run_end")
    assert (snaps["DU2"].positions, snaps["DU2"].market_value, snaps["DU2"].realized_pnl) == ([], D(0), D(7))


async def test_a_portfolio_snapshots_cash_is_the_books_cash_with_its_assignments(database):
    # capital 10,000; 100 AAPL the account held assigned to the project at 50; its run buys 10 at
    # 60, commission 1: the trail's cash is the window's (project_cash: 10,000 - 5,000 - 601),
    # not capital + the fills' cash alone (9,399, the equity 5,000 too high)
    from datetime import UTC, datetime

    from services.books import BooksService, project_books
    from services.db.models import Project
    from services.db.repositories import OrderRepository
    from services.domain import OrderState, Side
    from services.execution.events import CommissionEvent, ExecutionEvent
    from services.execution.ib_contracts import FxRates
    from services.execution.writer import EventWriter, PositionTruth

    with database.unit_of_work() as session:
        project = Project(name="alpha", capital=D(10000))
        session.add(project)
        session.flush()
        run = RunRepository(session).create(project.id, mode=TradeMode.PAPER, trade_date=date(2026, 11, 20), params={})
        OrderRepository(session).create("R-1", "AAPL", Side.BUY, D(10), status=OrderState.ACCEPTED, account="DU1",
                                        project_id=project.id, run_id=run.id)
    writer = EventWriter(database)
    writer.start()
    writer.submit(PositionTruth("DU1", "AAPL", D(100), D(50)))
    await writer.flush()
    BooksService(database, "tester").assign("AAPL", D(100), "alpha", D(50), "DU1")
    writer.submit(ExecutionEvent(exec_id="0001.aa.01.01", ib_order_id=7, perm_id=1, client_id=1, order_ref="R-1", account="DU1",
                                 symbol="AAPL", side="BUY", shares=D(10), price=D(60), time=datetime(2026, 11, 20, 15, tzinfo=UTC), raw={}))
    writer.submit(CommissionEvent("0001.aa.01.01", D(1)))
    await writer.flush()
    await writer.stop()
    # a dollar account (no rates stored: its base currency is said here)
    [book] = [b for b in project_books(database, FxRates()) if b.project == "alpha"]
    with database.session() as session:
        snap = session.scalars(select(TrailPortfolioSnapshot).order_by(TrailPortfolioSnapshot.id.desc())).first()
    assert snap.cash.quantize(D("0.01")) == D("4399.00")
    assert snap.cash == book.cash.quantize(D("0.00000001"))  # the same rule, to the column's scale
    assert snap.equity == snap.cash + snap.market_value
