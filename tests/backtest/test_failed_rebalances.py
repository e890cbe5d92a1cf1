"""A rebalance that fails for a reason other than a risk block (its preview refused, a builder
or engine error) was reported as if it had traded: the backtest ended "done" (exit 0), the
failure only in the rebalance's outcome text and the log. Now the results list each failed
rebalance (per project: day, run, code, reason; in total with the project), the backtest's
message says how many failed and why, the failed run is closed FAILED (not left QUEUED), and
the command exits 5 listing them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.backtest.costs import FillAt
from services.backtest.inputs import DatedSnapshot
from services.backtest.prices import PriceBook
from services.backtest.requests import as_json, load_backtest
from services.backtest.runner import Backtester, BacktestSpec
from services.core.bars import Bar
from services.core.snapshots import SnapshotItem
from services.db.models import TradeRun
from services.domain import RunStatus

from .data import (
    REFUSED_CASH,
    REFUSED_CLOSES,
    REFUSED_RISK_OFF,
    REFUSED_WEIGHTS,
    write_refused_rebalance_files,
)

pytestmark = pytest.mark.timeout(120)

CASH, RISK_OFF, CLOSES = REFUSED_CASH, REFUSED_RISK_OFF, REFUSED_CLOSES
TOO_LARGE = "portfolio value 25200000000 is too large: a plan keeps values below 1e10"


def _prices() -> PriceBook:
    return PriceBook([Bar(day, "D", Decimal(c), Decimal(c), Decimal(c), Decimal(c), Decimal(1_000_000))
                      for day, c in CLOSES.items()])


def _snapshot(day: date, weight: str, project: str = "alpha") -> DatedSnapshot:
    return DatedSnapshot(day, project, f"{project}-{day}.csv", f"{project}-{day}-{weight}",
                         (SnapshotItem("D", Decimal(weight), 2),))


def _spec() -> BacktestSpec:
    return BacktestSpec(CASH, FillAt.CLOSE, commission="none", builder={"rounding": "floor", "lot_size": Decimal(1)},
                        risk_overrides=RISK_OFF, end=date(2024, 2, 7))


async def test_a_refused_preview_is_listed_as_a_failed_rebalance_with_its_reason_and_run(database):
    snapshots = [_snapshot(day, weight) for day, weight in REFUSED_WEIGHTS]
    outcome = await Backtester(database, _prices(), snapshots, _spec()).run()
    project = outcome.projects["alpha"]
    (_, first_run, first), (_, failed_run, said) = project["rebalances"]
    assert first == "sent" and said == f"failed: {TOO_LARGE}"
    assert project["failed_rebalances"] == [
        {"day": "2024-02-06", "run_id": failed_run, "code": "bad_input", "message": TOO_LARGE}]
    assert outcome.total["failed_rebalances"] == [
        {"day": "2024-02-06", "run_id": failed_run, "code": "bad_input", "message": TOO_LARGE, "project": "alpha"}]
    assert project["risk_blocked"] == []  # not a risk block
    # the backtest ran every day (done), and says that a rebalance did not trade
    assert outcome.status == "done"
    assert outcome.message == f"1 rebalance failed: alpha 2024-02-06: {TOO_LARGE}"
    stored = load_backtest(database, outcome.backtest_id)
    assert stored.status == "done" and stored.message == outcome.message
    from services.backtest.listing import list_backtests

    assert [(b.status, b.message) for b in list_backtests(database)] == [("done", outcome.message)]  # `backtests`
    assert stored.results["projects"]["alpha"]["failed_rebalances"] == project["failed_rebalances"]
    body = as_json(outcome)
    assert body["projects"]["alpha"]["failed_rebalances"] == project["failed_rebalances"]
    assert body["total"]["failed_rebalances"] == outcome.total["failed_rebalances"]
    assert body["message"] == outcome.message
    with database.session() as session:
        runs = {run.id: run for run in session.scalars(select(TradeRun).where(TradeRun.id.in_([first_run, failed_run])))}
        assert runs[first_run].status is RunStatus.DONE
        # its preview was refused: the run is closed as failed with the reason, not left QUEUED
        assert runs[failed_run].status is RunStatus.FAILED and TOO_LARGE in runs[failed_run].message


async def test_a_backtest_whose_rebalances_all_traded_lists_no_failure_and_keeps_its_message(database):
    outcome = await Backtester(database, _prices(), [_snapshot(date(2024, 2, 1), "0.9")], _spec()).run()
    assert outcome.projects["alpha"]["failed_rebalances"] == [] and outcome.total["failed_rebalances"] == []
    assert outcome.status == "done" and outcome.message is None
    assert load_backtest(database, outcome.backtest_id).message is None


def _backtest_command(db_url, capsys, tmp_path, *more: str) -> tuple[int, str, str]:
    from app.cli import main

    prices, weights = write_refused_rebalance_files(tmp_path)
    capsys.readouterr()
    code = main(["--db-url", db_url, "backtest", "--prices", str(prices), "--snapshots", str(weights),
                 "--initial-cash", str(CASH), "--commission", "none", "--risk", *RISK_OFF, *more])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_lists_the_failed_rebalances_and_exits_5(database, db_url, capsys, tmp_path):
    code, out, err = _backtest_command(db_url, capsys, tmp_path)
    assert code == 5, err
    backtest_id = int(out.split(":")[0].removeprefix("backtest "))
    with database.session() as session:
        failed_run = session.scalars(select(TradeRun.id).where(TradeRun.status == RunStatus.FAILED)).one()
    assert f"failed alpha 2024-02-06 run {failed_run}: bad_input: {TOO_LARGE}" in out
    assert f"trading-console: backtest {backtest_id}: 1 rebalance failed and did not trade (listed above)" in err
    # the stored backtest shows them as the run printed them
    from app.cli import main

    capsys.readouterr()
    assert main(["--db-url", db_url, "backtests", "--show", str(backtest_id)]) == 0
    assert f"failed alpha 2024-02-06 run {failed_run}: bad_input: {TOO_LARGE}" in capsys.readouterr().out


def test_the_commands_json_lists_them_under_each_project(db_url, capsys, tmp_path):
    import json

    code, out, err = _backtest_command(db_url, capsys, tmp_path, "--json")
    assert code == 5, err
    body = json.loads(out)
    assert body["status"] == "done" and body["message"] == f"1 rebalance failed: alpha 2024-02-06: {TOO_LARGE}"
    (failed,) = body["projects"]["alpha"]["failed_rebalances"]
    assert (failed["day"], failed["code"], failed["message"]) == ("2024-02-06", "bad_input", TOO_LARGE)
    assert body["total"]["failed_rebalances"] == [dict(failed, project="alpha")]


def test_a_backtest_stored_before_failures_were_listed_has_them_read_from_its_rebalances():
    """`backtests --show` of a row stored before ``failed_rebalances``: its failed rebalances
    were only in their outcomes' text, read from there (no code), not shown as none."""
    from services.backtest.runner import BacktestOutcome

    old = {"final_equity": "1", "total_return": "0", "cagr": "0", "volatility": "0", "max_drawdown": "0", "sharpe": None,
           "turnover": "0", "commissions": "0", "orders": 1, "fills": 1, "risk_blocked": [], "equity": [],
           "rebalances": [["2024-02-01", 7, "sent"], ["2024-02-06", 8, f"failed: {TOO_LARGE}"]]}
    body = as_json(BacktestOutcome(3, "done", {"alpha": old}, dict(old), 5))
    assert body["projects"]["alpha"]["failed_rebalances"] == [
        {"day": "2024-02-06", "run_id": 8, "code": "", "message": TOO_LARGE}]
    assert body["total"]["failed_rebalances"] == [
        {"day": "2024-02-06", "run_id": 8, "code": "", "message": TOO_LARGE, "project": "alpha"}]


async def test_a_listing_without_a_price_that_day_is_a_risk_block_not_a_failure(database):
    """A snapshot naming a listing whose bars begin later: its preview has no price for it, which
    the risk rules block (``missing_price``): listed under risk_blocked, as before, not as a failure."""
    later = PriceBook([Bar(day, symbol, Decimal(c), Decimal(c), Decimal(c), Decimal(c), Decimal(1_000_000))
                       for day, c in CLOSES.items() for symbol in ("D", "LATE") if symbol == "D" or day >= date(2024, 2, 5)])
    snapshot = DatedSnapshot(date(2024, 2, 1), "alpha", "alpha.csv", "late",
                             (SnapshotItem("D", Decimal("0.4"), 2), SnapshotItem("LATE", Decimal("0.4"), 3)))
    outcome = await Backtester(database, later, [snapshot], _spec()).run()
    project = outcome.projects["alpha"]
    assert [outcome_ for _day, _run, outcome_ in project["rebalances"]] == ["blocked"]
    assert [(b["symbol"], b["code"]) for b in project["risk_blocked"]] == [("LATE", "missing_price")]
    assert project["failed_rebalances"] == [] and outcome.message is None


@pytest.mark.parametrize("error", [ValueError, RuntimeError])
def test_a_backtest_failing_mid_run_is_said_naming_it_and_exits_5(database, db_url, capsys, tmp_path, monkeypatch, error):
    """An error the engine does not expect in a rebalance (here raised by the test: on SQLite a
    plan's quantity over what it stores did so) fails the backtest as a whole, recorded failed
    with its runs closed. The command said "bad input: ..." for a ValueError (exit 2, whose
    promise is that nothing was stored) and "database error: ..." for a RuntimeError: now it names
    the backtest and that it is recorded failed, exit 5."""
    from app.cli import main
    from services.backtest.listing import list_backtests
    from services.execution.runs import TradeService

    async def failing(self, run_id, *args, **kwargs):
        raise error("the engine's own words")

    monkeypatch.setattr(TradeService, "execute", failing)
    prices, weights = write_refused_rebalance_files(tmp_path)
    capsys.readouterr()
    code = main(["--db-url", db_url, "backtest", "--prices", str(prices), "--snapshots", str(weights), "--commission", "none"])
    _out, err = capsys.readouterr()
    (listed,) = list_backtests(database)
    assert code == 5, err
    assert listed.status == "failed"
    said = [line for line in err.splitlines() if line.startswith("trading-console: ")]
    assert said == [(f"trading-console: backtest {listed.id} failed (recorded as failed, its runs closed): "
                    f"{error.__name__}: the engine's own words")], err
    with database.session() as session:
        assert set(session.scalars(select(TradeRun.status))) == {RunStatus.FAILED}


# --------------------------------------------------------------------- a run the engine refuses to create
# A rebalance whose run cannot even be made (``prepare_run`` refuses that day's input: here its
# stored snapshot is another project's) failed the backtest as a whole: every other rebalance
# lost, "backtest N failed". Now it is one more failed rebalance, said as the others are, with
# no run (none was stored: its creation is one transaction, rolled back), and the days go on.
PLAIN_CASH = Decimal(100_000)


def _refused_run_backtest(database, tmp_path) -> tuple[Backtester, str]:
    """alpha rebalanced on 2024-02-01 and 2024-02-06 from its own snapshots, and on 2024-02-05
    from a stored snapshot of project beta (the run of alpha refuses it)."""
    from services.console_queries import import_snapshot

    other = tmp_path / "beta-2024-02-05.csv"
    other.write_text("symbol,weight\nD,0.5\n", encoding="utf-8")
    beta_snapshot = import_snapshot(database, other, "beta", actor="tester").snapshot_id
    foreign = DatedSnapshot(date(2024, 2, 5), "alpha", other.name, "beta-stored", (SnapshotItem("D", Decimal("0.5"), 2),),
                            snapshot_id=beta_snapshot)
    snapshots = [_snapshot(date(2024, 2, 1), "0.9"), foreign, _snapshot(date(2024, 2, 6), "0.5")]
    spec = BacktestSpec(PLAIN_CASH, FillAt.CLOSE, commission="none", builder={"rounding": "floor", "lot_size": Decimal(1)},
                        risk_overrides=RISK_OFF, end=date(2024, 2, 7))
    return Backtester(database, _prices(), snapshots, spec), f"snapshot {beta_snapshot} belongs to project 'beta', not to 'alpha'"


async def test_a_rebalance_whose_run_is_refused_is_one_failed_rebalance_and_the_others_trade(database, tmp_path):
    backtester, refused = _refused_run_backtest(database, tmp_path)
    outcome = await backtester.run()
    project = outcome.projects["alpha"]
    assert [(day, outcome_) for day, _run, outcome_ in project["rebalances"]] == [
        ("2024-02-01", "sent"), ("2024-02-05", f"failed: {refused}"), ("2024-02-06", "sent")]
    assert project["rebalances"][1][1] is None  # no run was made for it
    assert project["failed_rebalances"] == [{"day": "2024-02-05", "run_id": None, "code": "bad_input", "message": refused}]
    assert outcome.total["failed_rebalances"] == [dict(project["failed_rebalances"][0], project="alpha")]
    assert outcome.status == "done" and outcome.message == f"1 rebalance failed: alpha 2024-02-05: {refused}"
    stored = load_backtest(database, outcome.backtest_id)
    assert (stored.status, stored.message) == ("done", outcome.message)
    assert stored.results["projects"]["alpha"]["failed_rebalances"] == project["failed_rebalances"]
    # nothing half written: the two runs that were made both ended, none is left queued or open
    with database.session() as session:
        runs = session.execute(select(TradeRun.id, TradeRun.status, TradeRun.trade_date)
                               .where(TradeRun.project_id == outcome.projects["alpha"]["project_id"])
                               .order_by(TradeRun.id)).all()
    assert [(status, day) for _id, status, day in runs] == [(RunStatus.DONE, date(2024, 2, 1)),
                                                            (RunStatus.DONE, date(2024, 2, 6))]
    assert [run_id for _day, run_id, _outcome in project["rebalances"] if run_id is not None] == [r[0] for r in runs]


async def test_a_failed_rebalance_without_a_run_is_shown_without_one(database, db_url, tmp_path, capsys, qtbot):
    """`backtests --show` (the `backtest` command's table), its JSON and the window's Backtest
    panel say a rebalance refused before it had a run as the others, naming no run ("run None")."""
    import json

    from app.cli import main
    from widgets.views.backtest import BacktestView

    backtester, refused = _refused_run_backtest(database, tmp_path)
    outcome = await backtester.run()
    capsys.readouterr()
    assert main(["--db-url", db_url, "backtests", "--show", str(outcome.backtest_id)]) == 0
    failed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("failed ")]
    assert failed == [f"failed alpha 2024-02-05 (no run): bad_input: {refused}"]
    assert main(["--db-url", db_url, "backtests", "--show", str(outcome.backtest_id), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["projects"]["alpha"]["failed_rebalances"] == [
        {"day": "2024-02-05", "run_id": None, "code": "bad_input", "message": refused}]

    view = BacktestView()
    qtbot.addWidget(view)
    view.show_results(outcome.projects, outcome.total)
    table = view.rebalances_table
    rows = [tuple(table.item(r, c).text() for c in range(4)) for r in range(table.rowCount())]
    assert [(day, run) for day, _name, run, _outcome in rows] == [
        ("2024-02-01", str(outcome.projects["alpha"]["rebalances"][0][1])), ("2024-02-05", ""),
        ("2024-02-06", str(outcome.projects["alpha"]["rebalances"][2][1]))]


def _gone() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError("INSERT INTO trade_runs ...", {}, Exception("(2006, 'MySQL server has gone away')"))


@pytest.mark.parametrize("error", [_gone, lambda: ValueError("the engine's own words")], ids=["database_gone", "ValueError"])
async def test_a_run_that_cannot_be_made_for_another_reason_still_fails_the_backtest(database, monkeypatch, error):
    """Only the engine's refusal of a day's input (an ``ExecutionError``) is that rebalance's
    failure: the database gone while a run is made, or an error the engine does not expect,
    ends the backtest as before (recorded failed with its reason, none of its runs left open)."""
    from services.backtest.listing import list_backtests
    from services.execution.runs import TradeService

    made = TradeService.prepare_run
    calls = []

    async def second_fails(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise error()
        return await made(self, *args, **kwargs)

    monkeypatch.setattr(TradeService, "prepare_run", second_fails)
    snapshots = [_snapshot(date(2024, 2, 1), "0.9"), _snapshot(date(2024, 2, 5), "0.5"), _snapshot(date(2024, 2, 6), "0.5")]
    spec = BacktestSpec(PLAIN_CASH, FillAt.CLOSE, commission="none", builder={"rounding": "floor", "lot_size": Decimal(1)},
                        risk_overrides=RISK_OFF, end=date(2024, 2, 7))
    raised = error()
    with pytest.raises(type(raised)):
        await Backtester(database, _prices(), snapshots, spec).run()
    assert len(calls) == 2  # the days after it did not run
    (listed,) = list_backtests(database)
    assert listed.status == "failed" and listed.message == f"{type(raised).__name__}: {raised}"
    with database.session() as session:
        assert list(session.scalars(select(TradeRun.status))) == [RunStatus.DONE]  # the first; none made or open after


@pytest.mark.parametrize(("builder", "said"), [
    ({"lot_size": Decimal(0)}, "builder: lot size: must be a number > 0: '0'"),
    ({"cash_buffer": Decimal(1)}, "builder: cash buffer: must be a ratio from 0 to below 1: '1'"),
])
async def test_a_builder_value_the_run_refuses_is_refused_before_anything_is_stored(database, builder, said):
    """A builder value is the whole backtest's, the same every day: one the run refuses (given
    past the command's and the panel's checks, by a caller of ``Backtester``) failed every
    rebalance alike, each listed. It is refused with the other input problems
    (``checks.check_spec``), in the builder's words, before anything is stored."""
    from services.backtest.listing import list_backtests

    spec = BacktestSpec(PLAIN_CASH, FillAt.CLOSE, commission="none", builder={"rounding": "floor", **builder},
                        risk_overrides=RISK_OFF, end=date(2024, 2, 7))
    with pytest.raises(ValueError) as refused:
        await Backtester(database, _prices(), [_snapshot(date(2024, 2, 1), "0.9")], spec).run()
    assert str(refused.value) == said
    assert list_backtests(database) == []
    with database.session() as session:
        assert session.scalar(select(TradeRun.id)) is None
