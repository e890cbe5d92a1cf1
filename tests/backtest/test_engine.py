"""The backtest runs through the one engine: its rebalances are runs of mode ``backtest`` with
frozen plans, orders through the state machine, fills and positions booked by the writer; the
projects are isolated; nothing of it shows in the paper/live views or risk counts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services import console_queries
from services.audit import AuditLog
from services.audit_actions import AuditAction
from services.backtest.costs import FillAt
from services.backtest.prices import PriceBook
from services.backtest.runner import Backtester, BacktestSpec
from services.books import BooksService, project_books
from services.core.typed_numbers import plain
from services.db.models import OrderPlan, Position, TradeFill, TradeOrder, TradeRun, TrailPortfolioSnapshot
from services.db.risk_facts import load_risk_facts
from services.domain import OrderState, Side, TradeMode

from .data import generated_bars, monthly_snapshots

pytestmark = pytest.mark.timeout(300)

SYMBOLS = [f"T{i:02d}" for i in range(15)]
START, END = date(2024, 1, 1), date(2024, 4, 30)
BUILDER = {"rounding": "floor", "lot_size": Decimal(1), "liquidate_unlisted": True}


def _spec(**overrides) -> BacktestSpec:
    values = {"initial_cash": Decimal(100_000), "fill": FillAt.CLOSE, "slippage_bps": Decimal(0), "commission": "ib-fixed",
              "builder": BUILDER, "start": START, "end": END, **overrides}
    return BacktestSpec(**values)


@pytest.fixture(scope="module")
def market():
    bars = generated_bars(SYMBOLS, date(2023, 12, 20), END, seed=3)
    alpha = monthly_snapshots(SYMBOLS, START, END, "alpha", seed=5)
    beta = monthly_snapshots(SYMBOLS, START, END, "beta", names=(8, 9), seed=6)
    return PriceBook(bars), alpha, beta


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_each_project_has_the_same_results_alone_as_together_to_the_cent(database, market):
    prices, alpha, beta = market
    together = await Backtester(database, prices, alpha + beta, _spec()).run()
    alone_alpha = await Backtester(database, prices, alpha, _spec()).run()
    alone_beta = await Backtester(database, prices, beta, _spec()).run()
    for name, alone in (("alpha", alone_alpha), ("beta", alone_beta)):
        mixed, single = together.projects[name], alone.projects[name]
        assert mixed["equity"] == single["equity"]  # every day, every cent
        assert (mixed["final_equity"], mixed["commissions"], mixed["orders"], mixed["fills"]) == \
               (single["final_equity"], single["commissions"], single["orders"], single["fills"])
        assert single["orders"] > 10 and Decimal(single["commissions"]) > 0
    assert together.projects["alpha"]["equity"] != together.projects["beta"]["equity"]
    total = Decimal(together.total["final_equity"])
    assert total == Decimal(together.projects["alpha"]["final_equity"]) + Decimal(together.projects["beta"]["final_equity"])


async def test_rebalances_are_backtest_runs_with_plans_fills_and_books_kept_out_of_live_views(database, market):
    prices, alpha, _ = market
    outcome = await Backtester(database, prices, alpha, _spec()).run()
    project = outcome.projects["alpha"]
    run_ids = [run_id for _day, run_id, outcome_ in project["rebalances"] if outcome_ == "sent"]
    assert len(run_ids) == len(alpha) == 4
    with database.session() as session:
        runs = list(session.scalars(select(TradeRun).where(TradeRun.id.in_(run_ids))))
        assert {r.mode for r in runs} == {TradeMode.BACKTEST}
        assert sorted(r.trade_date for r in runs) == [s.day for s in alpha]  # the simulated days, not today
        assert session.scalar(select(func.count(OrderPlan.id)).where(OrderPlan.run_id.in_(run_ids))) == 4
        orders = list(session.scalars(select(TradeOrder).where(TradeOrder.run_id.in_(run_ids))))
        assert {o.status for o in orders} == {OrderState.FILLED} and {o.account for o in orders} == {project["account"]}
        fills = session.scalar(select(func.count(TradeFill.id)).join(TradeOrder, TradeFill.order_id == TradeOrder.id)
                               .where(TradeOrder.run_id.in_(run_ids)))
        assert fills == project["fills"] == len(orders)
        booked = {p.symbol: p.quantity for p in session.scalars(select(Position).where(
            Position.account == project["account"], Position.project_id.is_not(None))) if p.quantity}
        # the writer's positions book holds what the last snapshot asked for
        assert set(booked) == {i.symbol for i in alpha[-1].items}
        # never counted against the real account's daily orders, never in its views
        assert load_risk_facts(session).orders_today == 0
    assert console_queries.recent_orders(database) == ()
    assert console_queries.recent_fills(database) == ()
    # the project's money (the window's books, `positions`): its real cash, not the backtest's holdings
    BooksService(database, "tester").set_capitals({"alpha": "10000"})
    assert [(b.project, b.capital, b.cash, b.realized_pnl) for b in project_books(database)] == [
        ("alpha", Decimal(10000), Decimal(10000), Decimal(0))]
    # the `orders` and `fills` commands: a backtest's records only when its run is named
    assert console_queries.order_list(database) == () and console_queries.fill_list(database) == ()
    named = console_queries.order_list(database, run_id=run_ids[0])
    assert named and {o.run_id for o in named} == {run_ids[0]}
    assert len(console_queries.fill_list(database, run_id=run_ids[0])) == len(named)
    assert console_queries.positions(database) == () and console_queries.position_lines(database) == ()


async def test_a_rebalances_audit_entries_say_its_gross_notional_as_exact_plain_text(database, market):
    """Walked under Xvfb: the audit panel read a backtest plan's "gross_notional":"39370.38000000000000"
    (its prices read back from the database's 8 places times its quantities' 6) beside the paper
    run's "96932.88". The entries say the amount as every export does: exact, no trailing zeros."""
    _prices, alpha, _ = market
    # the price cache's bars, as the window's backtest reads them: Numeric(18, 8) columns
    places = Decimal("1E-8")
    cached = [replace(b, **{f: getattr(b, f).quantize(places) for f in ("open", "high", "low", "close")})
              for b in generated_bars(SYMBOLS, date(2023, 12, 20), END, seed=3)]
    outcome = await Backtester(database, PriceBook(cached), alpha[:1], _spec()).run()
    ((_day, run_id, _outcome),) = outcome.projects["alpha"]["rebalances"]
    log = AuditLog(database)
    (executed,) = log.list(action=AuditAction.RUN_EXECUTE, entity_id=run_id)
    (planned,) = log.list(action=AuditAction.PLAN_CREATE, entity_id=executed.payload["plan_id"])
    for entry in (executed, planned):
        said = entry.payload["gross_notional"]
        assert said == plain(Decimal(said)) and Decimal(said) > 0, entry.payload


async def test_a_backtests_input_snapshots_stay_out_of_the_traders_list_until_imported_for_trading(database, market, tmp_path):
    """A folder of dated snapshot files backtested for the live project 'alpha': its inputs are
    stored (the plans and the trail point at them) but are not the trader's decisions; importing
    one of the files for trading makes that one a decision like any other."""
    from services.backtest.inputs import read_snapshots

    prices, _, _ = market
    folder = tmp_path / "alpha"
    folder.mkdir()
    for day, symbols in ((date(2024, 2, 1), ("T01", "T02")), (date(2024, 3, 1), ("T03", "T04"))):
        (folder / f"alpha-{day.isoformat()}.csv").write_text(
            "symbol,weight\n" + "".join(f"{s},0.2\n" for s in symbols), encoding="utf-8")
    live = tmp_path / "live.csv"
    live.write_text("symbol,weight\nT05,0.1\n", encoding="utf-8")
    assert console_queries.import_snapshot(database, live, "alpha", actor="tester").created
    outcome = await Backtester(database, prices, read_snapshots(folder, ["alpha"]), _spec(start=date(2024, 2, 1))).run()
    assert outcome.projects["alpha"]["orders"] > 0
    _, listed = console_queries.projects_and_snapshots(database)  # the window's list and `snapshot list`
    assert [s.source_name for s in listed] == ["live.csv"]
    again = console_queries.import_snapshot(database, folder / "alpha-2024-03-01.csv", "alpha", actor="tester")
    assert again.snapshot_id is not None and not again.created  # the stored input, now a decision too
    _, listed = console_queries.projects_and_snapshots(database)
    assert sorted(s.source_name for s in listed) == ["alpha-2024-03-01.csv", "live.csv"]


async def test_a_project_only_a_backtest_made_is_in_none_of_the_traders_lists_until_imported(database, market, tmp_path):
    """A snapshot file's project name ('alpha') makes a project row for the backtest; the
    window's project list and books and the capital list leave it out until the trader imports
    a snapshot of it (or sets its capital)."""
    prices, alpha, _ = market
    assert (await Backtester(database, prices, alpha, _spec()).run()).projects["alpha"]["orders"] > 0
    projects, _ = console_queries.projects_and_snapshots(database)
    assert projects == ()
    assert project_books(database) == ()
    assert BooksService(database, "tester").capitals() == {}
    live = tmp_path / "live.csv"
    live.write_text("symbol,weight\nT05,0.1\n", encoding="utf-8")
    assert console_queries.import_snapshot(database, live, "alpha", actor="tester").created
    projects, _ = console_queries.projects_and_snapshots(database)
    assert [p.name for p in projects] == ["alpha"]
    assert [b.project for b in project_books(database)] == ["alpha"]
    assert BooksService(database, "tester").capitals() == {"alpha": None}


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_the_trails_portfolio_snapshots_carry_the_cash_of_every_fill_so_far(database, market):
    # the writer carries a backtest's cash from batch to batch (CashBook) instead of re-reading
    # all fills: every run's closing snapshot must still hold the net cash of all fills up to it
    prices, alpha, _ = market
    outcome = await Backtester(database, prices, alpha, _spec()).run()
    project = outcome.projects["alpha"]
    with database.session() as session:
        rows = session.execute(select(TradeOrder.run_id, TradeFill.side, TradeFill.quantity, TradeFill.price, TradeFill.commission)
                               .join(TradeOrder, TradeFill.order_id == TradeOrder.id)
                               .where(TradeOrder.account == project["account"], TradeFill.superseded.is_(False))).all()
        closing = list(session.scalars(select(TrailPortfolioSnapshot).where(
            TrailPortfolioSnapshot.account == project["account"], TrailPortfolioSnapshot.reason == "run_end")
            .order_by(TrailPortfolioSnapshot.id)))
    assert len(closing) == 4
    for snap in closing:
        expected = sum((-(Side(side).sign * q * p) - (c or 0) for run_id, side, q, p, c in rows if run_id <= snap.run_id), Decimal(0))
        assert snap.cash == expected
        assert snap.equity == snap.cash + snap.market_value


async def test_next_open_fills_at_the_next_sessions_open_with_slippage(database, market):
    prices, alpha, _ = market
    first = alpha[:1]
    outcome = await Backtester(database, prices, first, _spec(fill=FillAt.NEXT_OPEN, slippage_bps=Decimal(10),
                                                              commission="none", end=date(2024, 1, 10))).run()
    run_id = outcome.projects["alpha"]["rebalances"][0][1]
    with database.session() as session:
        fills = list(session.scalars(select(TradeFill).join(TradeOrder, TradeFill.order_id == TradeOrder.id)
                                     .where(TradeOrder.run_id == run_id)))
    next_day = date(2024, 1, 3)  # the snapshot is 2 January's
    assert fills and {f.fill_time.date() for f in fills} == {next_day}
    for fill in fills:
        assert fill.price == prices.open_on(fill.symbol, next_day) * Decimal("1.001")  # buys pay 10 bps more
    equity = outcome.projects["alpha"]["equity"]
    assert equity[0] == ["2024-01-02", "100000"]  # nothing filled on the snapshot's own day


async def test_a_risk_block_is_reported_with_its_rule_and_sends_nothing(database, market):
    prices, alpha, _ = market
    outcome = await Backtester(database, prices, alpha[:1], _spec(risk_overrides=("max_order_notional=1000",),
                                                                  end=date(2024, 1, 5))).run()
    project = outcome.projects["alpha"]
    assert project["orders"] == project["fills"] == 0 and project["rebalances"][0][2] == "blocked"
    assert project["risk_blocked"] and {b["rule"] for b in project["risk_blocked"]} == {"max_order_notional"}
    assert Decimal(project["final_equity"]) == Decimal(100_000)


@pytest.mark.slow  # one of the longest of the quick subset (3-10 s): left out of --quick
async def test_the_inputs_are_kept_out_of_full_collections_during_the_run_and_only_then(database, market):
    """The price book and snapshots are frozen out of the collector's full passes while the days
    run (each pass walked them all) and given back after, on success and on failure alike; a
    process with its own collection regime (the window's: automatic collection off) is left alone."""
    import gc

    prices, alpha, _ = market
    # an earlier test of this worker may have run a window, whose start-up froze what it built
    # (app/main.py): that back in the oldest generation, as in a command's process
    gc.unfreeze()
    assert gc.isenabled(), "the automatic collector is off: an earlier test left it so"
    frozen_during: list[int] = []
    await Backtester(database, prices, alpha, _spec(),
                     progress=lambda *_: frozen_during.append(gc.get_freeze_count())).run()
    assert min(frozen_during) > 0 and gc.get_freeze_count() == 0

    def fail(*_):
        raise RuntimeError("stopped by the test")
    with pytest.raises(RuntimeError, match="stopped by the test"):
        await Backtester(database, prices, alpha, _spec(), progress=fail).run()
    assert gc.get_freeze_count() == 0

    gc.disable()  # the window's regime (app/gc_guard.py): its own passes, the automatic collector off
    try:
        frozen_during.clear()
        await Backtester(database, prices, alpha, _spec(),
                         progress=lambda *_: frozen_during.append(gc.get_freeze_count())).run()
        assert set(frozen_during) == {0}
    finally:
        gc.enable()


async def test_a_failed_backtest_is_recorded_failed_with_its_reason_and_leaves_no_run_queued(database, market, monkeypatch):
    """A rebalance that fails past its run's creation (here the engine raising, as a database
    error or a missing price would) failed the backtest but left that run QUEUED forever."""
    from services.db.models import Backtest
    from services.domain import RunStatus
    from services.execution.runs import TradeService

    prices, alpha, _ = market
    calls = {"n": 0}
    original = TradeService.execute

    async def failing_second(self, run_id, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("no prices for ZZZZ")
        return await original(self, run_id, *args, **kwargs)

    monkeypatch.setattr(TradeService, "execute", failing_second)
    backtester = Backtester(database, prices, alpha, _spec())
    with pytest.raises(RuntimeError, match="ZZZZ"):
        await backtester.run()
    with database.session() as session:
        row = session.get(Backtest, backtester.backtest_id)
        assert row.status == "failed" and "no prices for ZZZZ" in row.message
        runs = session.scalars(select(TradeRun).where(TradeRun.mode == TradeMode.BACKTEST)).all()
        assert len(runs) == 2
        statuses = {run.id: run.status for run in runs}
        assert RunStatus.QUEUED not in statuses.values() and RunStatus.RUNNING not in statuses.values(), statuses
        failed = max(statuses)
        assert statuses[failed] is RunStatus.FAILED
        assert "no prices for ZZZZ" in session.get(TradeRun, failed).message


async def test_an_interrupt_records_the_backtest_canceled_and_closes_its_open_run(database, market, monkeypatch):
    """A KeyboardInterrupt (a second Ctrl-C) in the middle of a rebalance: the backtest is
    canceled, not failed or left running, and the cut run is canceled, not QUEUED."""
    from services.db.models import Backtest
    from services.domain import RunStatus
    from services.execution.runs import TradeService

    prices, alpha, _ = market

    async def interrupted(self, run_id, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(TradeService, "execute", interrupted)
    backtester = Backtester(database, prices, alpha, _spec())
    with pytest.raises(KeyboardInterrupt):
        await backtester.run()
    with database.session() as session:
        row = session.get(Backtest, backtester.backtest_id)
        assert row.status == "canceled" and "KeyboardInterrupt" in row.message
        statuses = session.scalars(select(TradeRun.status).where(TradeRun.mode == TradeMode.BACKTEST)).all()
        assert statuses == [RunStatus.CANCELED]


async def test_a_cancel_with_a_reason_stops_after_that_day_and_stores_it(database, market):
    prices, alpha, _ = market
    seen: list[date] = []
    outcome = await Backtester(database, prices, alpha, _spec(), progress=lambda _d, _t, day: seen.append(day),
                               cancel=lambda: "SIGINT" if len(seen) >= 3 else False).run()
    assert outcome.status == "canceled" and outcome.last_day == seen[2] and len(seen) == 3
    assert outcome.message == f"canceled at {seen[2]}: SIGINT"
    from services.backtest.requests import load_backtest

    stored = load_backtest(database, outcome.backtest_id)
    assert stored.message == outcome.message
    # the days it simulated, as its equity series has them: not the window's whole count
    # (canceled at day 1,197 of 3,754, it said "3754 trading days")
    [project] = outcome.projects.values()
    assert outcome.days == stored.results["days"] == len(project["equity"]) == 3


async def test_a_backtest_failing_while_orders_wait_for_the_next_open_cancels_them_with_the_reason(database, market):
    """Next-open orders are working at the simulated broker overnight; a failure then (here the
    progress hook: the window's loop closed under it) left them ACCEPTED for good, as if working.
    Now they are CANCELED through the order state machine with the backtest's reason, and none
    of them counts as working in any view or risk count."""
    from services.books import working_orders
    from services.db.models import Backtest, OrderEvent
    from services.domain import RunStatus

    prices, alpha, _ = market

    def window_gone(_done, _total, _day) -> None:
        raise RuntimeError("Event loop is closed")

    backtester = Backtester(database, prices, alpha[:1], _spec(fill=FillAt.NEXT_OPEN, end=date(2024, 1, 10)),
                            progress=window_gone)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        await backtester.run()
    with database.session() as session:
        row = session.get(Backtest, backtester.backtest_id)
        assert row.status == "failed" and "Event loop is closed" in row.message
        orders = list(session.scalars(select(TradeOrder).where(TradeOrder.account.startswith(f"BACKTEST-{row.id}-"))))
        assert orders and {o.status for o in orders} == {OrderState.CANCELED}, {o.status for o in orders}
        for order in orders:
            last = session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id)
                                   .order_by(OrderEvent.id.desc())).first()
            assert last.to_state is OrderState.CANCELED and "Event loop is closed" in str(last.payload), last.payload
        run = session.get(TradeRun, orders[0].run_id)
        assert run.status is RunStatus.FAILED and "Event loop is closed" in run.message
        # what a book adds for orders still to trade: nothing of the backtest's, in its own
        # simulated account or in any real one
        assert working_orders(session, orders[0].account) == [] and working_orders(session, None) == []
    assert console_queries.recent_orders(database) == () and console_queries.order_list(database) == ()
