"""Which run the window's progress follows when it opens (services.monitor_queries.latest_run):
the selected project's newest run still executing, whatever its day, or executed on the trading
day; never a preview that sent nothing, another day's finished run, another mode's or another
project's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.db.repositories import OrderRepository, ProjectRepository, RunRepository
from services.domain import OrderState, RunStatus, Side, TradeMode
from services.monitor_queries import latest_run

TODAY, YESTERDAY = date(2026, 12, 4), date(2026, 12, 3)


def _run(session, project_id: int, day: date, status: RunStatus, orders: int = 0, mode: TradeMode = TradeMode.PAPER) -> int:
    run = RunRepository(session).create(project_id, mode=mode, trade_date=day, status=status)
    session.flush()
    for n in range(orders):
        OrderRepository(session).create(f"R{run.id}-{n}", "AAPL", Side.BUY, Decimal(1), status=OrderState.FILLED,
                                        run_id=run.id, account="DU1")
    return run.id


def test_the_newest_run_executing_or_executed_today_of_the_project_and_its_state(database):
    with database.unit_of_work() as session:
        alpha = ProjectRepository(session).get_or_create("alpha").id
        beta = ProjectRepository(session).get_or_create("beta").id
        session.flush()
        stuck = _run(session, alpha, YESTERDAY, RunStatus.RUNNING, orders=1)  # still executing from yesterday
        _run(session, alpha, YESTERDAY, RunStatus.DONE, orders=1)  # finished yesterday
        _run(session, beta, TODAY, RunStatus.DONE, orders=1)  # another project's
        _run(session, alpha, TODAY, RunStatus.DONE, orders=1, mode=TradeMode.LIVE)  # another mode's
        _run(session, alpha, TODAY, RunStatus.QUEUED)  # previewed today, nothing sent
    found = latest_run(database, alpha, TradeMode.PAPER, TODAY)
    assert found is not None and (found.run_id, found.status) == (stuck, RunStatus.RUNNING)
    assert (found.plan_id, found.planned, found.target) == (None, {}, Decimal(0))  # no stored plan holds its orders

    with database.unit_of_work() as session:
        done_today = _run(session, alpha, TODAY, RunStatus.PARTIAL, orders=2)
    found = latest_run(database, alpha, TradeMode.PAPER, TODAY)
    assert found is not None and (found.run_id, found.status) == (done_today, RunStatus.PARTIAL)
    assert latest_run(database, alpha, TradeMode.PAPER, date(2026, 12, 7)) is not None  # the stuck run: any day
    with database.unit_of_work() as session:
        RunRepository(session).get(stuck).status = RunStatus.CANCELED
    assert latest_run(database, alpha, TradeMode.PAPER, date(2026, 12, 7)) is None


def test_a_run_sent_by_id_is_read_as_the_latest_run_is(database):
    """The order ticket's run, followed once it went (services.monitor_queries.sent_run): its
    project and state as latest_run reads them, so the window shows it as after a restart."""
    from services.monitor_queries import sent_run

    with database.unit_of_work() as session:
        alpha = ProjectRepository(session).get_or_create("alpha").id
        session.flush()
        ticket = _run(session, alpha, TODAY, RunStatus.RUNNING, orders=1)
    found = sent_run(database, ticket)
    assert found == latest_run(database, alpha, TradeMode.PAPER, TODAY)
    assert found is not None and (found.run_id, found.project_id, found.status) == (ticket, alpha, RunStatus.RUNNING)
    assert found.project == "alpha"  # whose run the chart then says it shows
    assert found.ticket  # no snapshot: a ticket's run, which gives way to the next one sent (RunProgress.gives_way_to)
    assert sent_run(database, ticket + 1) is None


def test_a_followed_runs_amounts_are_in_its_base_currency(database):
    """What the run progress's amounts are in (services.db.repositories.runs.run_base_currency,
    the TCA's rule): the base the run stored with its plan, else its account's last reported
    base, else USD; read alike by the trading window (sent_run, latest_run) and the monitor
    (run_plan). The bar read "0 of 1,144 filled", a notional read as shares."""
    from services.db.repositories import EquityRepository
    from services.monitor_queries import run_plan, sent_run

    with database.unit_of_work() as session:
        alpha = ProjectRepository(session).get_or_create("alpha").id
        session.flush()
        stored = RunRepository(session).create(alpha, trade_date=TODAY, status=RunStatus.RUNNING,
                                               params={"fx": {"base": "CHF", "rates": {}}}).id
        old = _run(session, alpha, TODAY, RunStatus.RUNNING, orders=1)  # stored without fx: its account's
        EquityRepository(session).store_rates("DU1", "EUR", {"USD": Decimal("0.9")})
        bare = RunRepository(session).create(alpha, trade_date=TODAY, status=RunStatus.RUNNING).id
    assert [sent_run(database, r).currency for r in (stored, old, bare)] == ["CHF", "EUR", "USD"]
    assert [run_plan(database, r).currency for r in (stored, old, bare)] == ["CHF", "EUR", "USD"]
    assert latest_run(database, alpha, TradeMode.PAPER, TODAY).currency == "USD"  # the newest: bare
