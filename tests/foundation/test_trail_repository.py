"""The trail's records on SQLite and MariaDB: each row's hash is taken over what the database gives
back (decimals at their column's scale), so an untouched trail always checks; an altered row is
named; a row removed, added or re-hashed breaks the plan's trail hash."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import select, text

from services.core.risk_measures import RiskDecision
from services.core.trail import OrderDecision, SignalRecord
from services.db.models import Position, Project, TradeRun, TrailPortfolioSnapshot
from services.db.plan_repository import PlanRepository
from services.db.repositories import EquityRepository, ProjectRepository, RunRepository
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
        {"symbol": "MSFT", "currency": "USD", "quantity": "10", "average_cost": "400.5", "market_price": "410",
         "realized_pnl": "12.25"},
        {"symbol": "NVDA", "currency": "USD", "quantity": "-2", "average_cost": "120", "market_price": None,
         "realized_pnl": "0"}]
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
    from services.execution.writer import EventWriter, PositionTruth

    with database.unit_of_work() as session:
        project = Project(name="alpha", capital=D(10000))
        session.add(project)
        session.flush()
        run = RunRepository(session).create(project.id, mode=TradeMode.PAPER, trade_date=date(2026, 11, 20), params={})
        OrderRepository(session).create("R-1", "AAPL", Side.BUY, D(10), status=OrderState.ACCEPTED, account="DU1",
                                        project_id=project.id, run_id=run.id)
    with database.unit_of_work() as session:  # a dollar account: its base currency as the console stored it
        EquityRepository(session).store_rates("DU1", "USD", {})
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
    [book] = [b for b in project_books(database) if b.project == "alpha"]  # at the rates stored, as the command
    with database.session() as session:
        snap = session.scalars(select(TrailPortfolioSnapshot).order_by(TrailPortfolioSnapshot.id.desc())).first()
    assert snap.cash.quantize(D("0.01")) == D("4399.00")
    assert snap.cash == book.cash.quantize(D("0.00000001"))  # the same rule, to the column's scale
    assert snap.equity == snap.cash + snap.market_value


RATED_AT = datetime(2026, 12, 4, 21, tzinfo=UTC)


def _book_in_two_currencies(database, rates_of: dict[str, tuple[str, dict[str, D]]]) -> int:
    """Project alpha (capital 100,000) on DU1: 10 AAPL (USD) bought at 150, marked 160, 5 realized;
    20 SAP on Xetra (EUR) bought at 100, marked 110, 2 lost; BMW (EUR) closed with 10 realized. The
    rates stored per account (base, rates); the run's snapshot is written; returns the run's id."""
    with database.unit_of_work() as session:
        project = Project(name="alpha", capital=D(100000))
        session.add(project)
        session.flush()
        run_id = RunRepository(session).create(project.id, mode=TradeMode.PAPER, trade_date=date(2026, 12, 4), params={}).id
        for symbol, currency, quantity, cost, mark, realized in (
                ("AAPL", "USD", D(10), D(150), D(160), D(5)), ("SAP@IBIS:EUR", "EUR", D(20), D(100), D(110), D(-2)),
                ("BMW@IBIS:EUR", "EUR", D(0), D(0), None, D(10))):
            for project_id in (project.id, None):  # the project's row and the account's own
                session.add(Position(project_id=project_id, project_key=project_id or 0, account="DU1", symbol=symbol,
                                     currency=currency, quantity=quantity, average_cost=cost, market_price=mark,
                                     realized_pnl=realized))
        for account, (base, rates) in rates_of.items():
            EquityRepository(session).store_rates(account, base, rates, RATED_AT)
        session.flush()
        record_portfolio_snapshots(session, [(run_id, project.id, "DU1")], set())
    return run_id


def _snapshot(database, run_id: int) -> TrailPortfolioSnapshot:
    with database.session() as session:
        return session.scalars(select(TrailPortfolioSnapshot).where(TrailPortfolioSnapshot.run_id == run_id)).one()


def test_a_snapshot_of_a_book_in_dollars_and_euros_is_in_the_base_currency_at_the_stored_rates(database):
    """Each currency at the rate the console stored for the account, as the window and the
    `positions` command sum the same book (before: 3,800 of market value, dollars and euros one
    for one, and a cash of capital less 3,500 of cost)."""
    from services.books import project_books, stored_rates_by_account
    from services.trail_queries import decision_trail

    run_id = _book_in_two_currencies(database, {"DU1": ("USD", {"EUR": D("1.1"), "GBP": D("1.27")})})
    snap = _snapshot(database, run_id)
    # 10 x 160 + 20 x 110 x 1.1; 100,000 - (1,500 + 2,000 x 1.1) + (5 + (10 - 2) x 1.1)
    assert (snap.market_value, snap.cash, snap.equity, snap.realized_pnl) == (
        D(4020), D("96313.8"), D("100333.8"), D("13.8"))
    assert snap.rates == {"currency": "USD", "base": "USD", "rates": {"EUR": "1.1"},
                          "as_of": "2026-12-04T21:00:00+00:00", "missing": []}
    assert [(p["symbol"], p["currency"]) for p in snap.positions] == [("AAPL", "USD"), ("SAP@IBIS:EUR", "EUR")]
    # the window's figures for the same book, at the same stored rates (services.console_books)
    stored = stored_rates_by_account(database).get("DU1")
    assert stored is not None and stored.account == "DU1"
    [book] = project_books(database, stored.fx)
    assert (book.figures.currency, book.figures.market_value, book.cash) == ("USD", snap.market_value, snap.cash)
    assert snap.equity == book.cash + book.figures.market_value
    # the trail says what the money is in
    [row] = decision_trail(database, run_id=run_id).portfolio_snapshots
    assert (row["market_value"], row["money_in"]) == ("4020", "USD at the rates stored 2026-12-04 21:00 UTC (1 EUR = 1.1 USD)")


@pytest.mark.parametrize("rates_of, missing, why", [
    # the account's rates lack the euro: another account's euro rate is not this one's
    ({"DU1": ("USD", {"GBP": D("1.27")}), "DU2": ("USD", {"EUR": D("1.1")})}, ["EUR"],
     "not converted: no EUR rate stored for account DU1 (base USD)"),
    # no rates stored for the account: its base currency is not known
    ({"DU2": ("USD", {"EUR": D("1.1")})}, ["EUR", "USD"], "not converted: no rates stored for account DU1 (amounts in EUR/USD)"),
])
def test_a_snapshot_with_a_rate_missing_has_no_money_figures_and_names_the_currency(database, rates_of, missing, why):
    """Never a face-value sum (3,800 of market value): the money columns are NULL, ``rates`` names
    what was missing, and the trail's readers say so."""
    import re

    from app.commands.trail import render
    from services.trail_queries import decision_trail

    run_id = _book_in_two_currencies(database, rates_of)
    snap = _snapshot(database, run_id)
    assert (snap.market_value, snap.cash, snap.equity, snap.realized_pnl) == (None, None, None, None)
    assert (snap.rates["currency"], snap.rates["missing"]) == (None, missing)
    assert [p["symbol"] for p in snap.positions] == ["AAPL", "SAP@IBIS:EUR"]  # what was held is kept
    trail = decision_trail(database, run_id=run_id)
    [row] = trail.portfolio_snapshots
    assert row["money_in"] == why
    assert trail.snapshots_without_money == (row,)
    [line] = [line for line in render(trail).splitlines() if line.startswith("20")]  # the snapshot's row
    assert re.split(r"\s{2,}", line)[-4:] == ["no rate", "no rate", "no rate", why]


def test_a_snapshot_of_one_currency_without_rates_stored_keeps_its_figures_in_that_currency(database):
    """A book of dollars alone and no capital needs no rate: its figures as before, in dollars;
    with a capital (in the base currency, not known without rates) its cash is not guessed."""
    with database.unit_of_work() as session:
        project = Project(name="beta")
        session.add(project)
        session.flush()
        run_id = RunRepository(session).create(project.id, mode=TradeMode.PAPER, trade_date=date(2026, 12, 4), params={}).id
        session.add(Position(project_id=project.id, project_key=project.id, account="DU1", symbol="AAPL", currency="USD",
                             quantity=D(10), average_cost=D(150), market_price=D(160), realized_pnl=D(5)))
        session.flush()
        record_portfolio_snapshots(session, [(run_id, project.id, "DU1")], set())
        project.capital = D(10000)
        session.flush()
        record_portfolio_snapshots(session, [(run_id, project.id, "DU1")], {run_id})
    with database.session() as session:
        first, second = session.scalars(select(TrailPortfolioSnapshot).where(TrailPortfolioSnapshot.run_id == run_id)
                                        .order_by(TrailPortfolioSnapshot.id))
    assert (first.market_value, first.cash, first.equity, first.realized_pnl) == (D(1600), D(-1495), D(105), D(5))
    assert first.rates == {"currency": "USD", "base": None, "rates": {}, "as_of": None, "missing": []}
    assert (second.market_value, second.cash, second.rates["missing"]) == (None, None, ["USD"])
