"""`trading-console backtest` as a real subprocess: the JSON shape, the stored results, and bad
input refused with exit 2 listing every problem (nothing stored)."""

from __future__ import annotations

import asyncio
import signal
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.backtest.requests import load_backtest
from services.db.models import Backtest, TradeRun
from tests.execution.cli_helpers import cli_args, run, start
from tests.fixtures.waiting import wait_until

from .data import generated_bars, monthly_snapshots, write_prices_csv, write_snapshots_csv

pytestmark = [pytest.mark.timeout(180), pytest.mark.parametrize("db_backend", ["sqlite"])]

SYMBOLS = [f"C{i:02d}" for i in range(12)]
START, END = date(2024, 2, 1), date(2024, 4, 30)


@pytest.fixture
def files(tmp_path):
    bars = generated_bars(SYMBOLS, date(2024, 1, 25), END, seed=9)
    snapshots = monthly_snapshots(SYMBOLS, START, END, "one", seed=1) + monthly_snapshots(SYMBOLS, START, END, "two", seed=2)
    return write_prices_csv(tmp_path / "bars.csv", bars), write_snapshots_csv(tmp_path / "weights.csv", snapshots)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_backtest_json_has_the_run_and_each_projects_results(database, db_url, files):
    prices, weights = files
    result = await run(cli_args(db_url, 0, "backtest", "--prices", str(prices), "--snapshots", str(weights),
                                "--initial-cash", "50000", "--fill", "close", "--slippage-bps", "5",
                                "--commission", "ib-tiered", "--rounding", "floor", "--lot-size", "1",
                                "--cash-buffer", "1", "--json", connection=False), timeout=150)
    assert result.code == 0, result.err
    body = result.json
    assert set(body["projects"]) == {"one", "two"}
    for project in body["projects"].values():
        assert {"final_equity", "total_return", "max_drawdown", "sharpe", "commissions", "orders", "fills",
                "equity"} <= set(project)
        assert project["equity"][0][0] == "2024-02-01" and project["equity"][-1][0] == "2024-04-30"
        assert Decimal(project["final_equity"]) == Decimal(project["equity"][-1][1])
        assert project["orders"] == project["fills"] > 0 and Decimal(project["commissions"]) > 0
    stored = load_backtest(database, body["run_id"])
    assert stored is not None and stored.status == "done"
    assert stored.results["projects"]["one"]["final_equity"] == body["projects"]["one"]["final_equity"]
    assert stored.params["commission"] == "ib-tiered" and stored.params["builder"]["cash_buffer"] == "0.01"
    # the `orders` and `fills` commands list the broker's records: none of the backtest's
    for command in ("orders", "fills"):
        listed = await run(cli_args(db_url, 0, command, "--json", connection=False))
        assert (listed.code, listed.json) == (0, []), (command, listed.err)


async def test_bad_input_exits_2_naming_every_problem_and_stores_nothing(database, db_url, tmp_path, files):
    prices, _ = files
    weights = tmp_path / "bad.csv"
    weights.write_text("date,symbol,weight\n2024-02-30,C01,0.5\n2024-03-01,C02,abc\n2024-03-01,C03,0.2\n", encoding="utf-8")
    result = await run(cli_args(db_url, 0, "backtest", "--prices", str(prices), "--snapshots", str(weights),
                                "--initial-cash", "-5", "--fill", "tomorrow", "--commission", "cheap",
                                "--slippage-bps", "x", "--what-to-show", "ADJUSTED_LAST", "--from", "20240102",
                                "--to", "2024-W52-5", connection=False))
    assert result.code == 2, result.err
    for expected in ("--initial-cash: must be a number > 0: '-5'", "--fill 'tomorrow'", "--commission", "--slippage-bps: not a number: 'x'",
                     "line 2, column date", "line 3", "--what-to-show ADJUSTED_LAST chooses the broker's bars",
                     "--from '20240102' is not an ISO date (YYYY-MM-DD)", "--to '2024-W52-5' is not an ISO date (YYYY-MM-DD)"):
        assert expected in result.err, (expected, result.err)
    with database.session() as session:
        assert session.scalar(select(func.count(Backtest.id))) == 0
        assert session.scalar(select(func.count(TradeRun.id))) == 0


async def test_bad_input_with_json_is_one_json_error_listing_every_problem(database, db_url, tmp_path, files):
    """`backtest --json` refused its inputs on stderr only and left stdout empty (exit 2): a script
    reading the JSON read nothing, where every other command prints its one error object."""
    prices, good = files
    weights = tmp_path / "bad.csv"
    weights.write_text("date,symbol,weight\n2024-02-30,C01,0.5\n", encoding="utf-8")
    result = await run(cli_args(db_url, 0, "backtest", "--prices", str(prices), "--snapshots", str(weights),
                                "--initial-cash", "-5", "--fill", "tomorrow", "--json", connection=False))
    assert result.code == 2, result.err
    assert result.out.count("\n") == 1, result.out  # one object, one line
    said = result.json
    assert said["error"] == "bad_input"
    assert said["message"] == "backtest: 3 problems; nothing was stored"
    assert len(said["problems"]) == 3
    for expected in ("--initial-cash: must be a number > 0: '-5'", "--fill 'tomorrow'", "line 2, column date"):
        assert any(expected in problem for problem in said["problems"]), (expected, said)
        assert expected in result.err
    assert f"trading-console: {said['message']}" in result.err  # the same line for a reader
    one = await run(cli_args(db_url, 0, "backtest", "--snapshots", str(good), "--json", connection=False))
    assert (one.code, one.json) == (2, {"error": "bad_input", "message": "no prices: give --prices FILE, --from-broker or --cached",
                                        "problems": ["no prices: give --prices FILE, --from-broker or --cached"]}), one.err
    with database.session() as session:
        assert session.scalar(select(func.count(Backtest.id))) == 0
        assert session.scalar(select(func.count(TradeRun.id))) == 0


@pytest.mark.parametrize("cash", ["1e14", "1e400"])
async def test_initial_cash_the_database_cannot_keep_exits_2_and_stores_nothing(database, db_url, files, cash):
    """1e14 went through to the first plan: "database error: 1E+14 is too large for exact storage
    on SQLite" (exit 5), a failed backtest and its runs left QUEUED; 1e400 failed in the engine as
    "bad input: [<class 'decimal.DivisionImpossible'>]" with the same rows left behind."""
    prices, weights = files
    result = await run(cli_args(db_url, 0, "backtest", "--prices", str(prices), "--snapshots", str(weights),
                                "--initial-cash", cash, connection=False))
    assert result.code == 2, result.err
    assert f"--initial-cash: must be a number below 1e10 (the database keeps no larger amount): '{cash}'" in result.err, result.err
    with database.session() as session:
        assert session.scalar(select(func.count(Backtest.id))) == 0
        assert session.scalar(select(func.count(TradeRun.id))) == 0


async def test_prices_file_problems_are_listed_with_their_lines(db_url, tmp_path, files):
    _, weights = files
    prices = tmp_path / "broken.csv"
    prices.write_text("date,symbol,open,high,low,close\n2024-02-01,C01,1,1,1,x\n2024-02-31,C02,1,1,1,1\n", encoding="utf-8")
    result = await run(cli_args(db_url, 0, "backtest", "--prices", str(prices), "--snapshots", str(weights),
                                connection=False))
    assert result.code == 2
    assert "--prices: broken.csv: line 2, column close" in result.err, result.err
    assert "--prices: broken.csv: line 3, column date" in result.err, result.err



@pytest.fixture(scope="module")
def long_files(tmp_path_factory):
    """Twenty-five years of 20 symbols rebalanced monthly: several seconds of days to interrupt."""
    folder = tmp_path_factory.mktemp("long")
    symbols = [f"L{i:02d}" for i in range(20)]
    first, last = date(2000, 1, 3), date(2024, 12, 31)
    return (write_prices_csv(folder / "bars.csv", generated_bars(symbols, first, last, seed=4)),
            write_snapshots_csv(folder / "weights.csv", monthly_snapshots(symbols, first, last, "long", seed=5)))


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_signal_mid_run_cancels_the_backtest_promptly_and_leaves_no_run_queued(database, db_url, long_files,
                                                                                       signum, code):
    """Ctrl-C was ignored until the last day (exit 0, the run complete) and SIGTERM killed the
    process leaving the backtest `running` forever: now either stops it after the current day,
    through the window's Cancel, with the results so far stored and exit 128 + the signal."""
    prices, weights = long_files
    proc = await start(cli_args(db_url, 0, "backtest", "--prices", str(prices), "--snapshots", str(weights),
                                connection=False))
    try:
        def rebalanced() -> bool:  # the days have started: a rebalance's run is stored
            with database.session() as session:
                return session.scalar(select(func.count(TradeRun.id))) > 0

        await wait_until(rebalanced, 90, "the backtest's first rebalance")
        sent = asyncio.get_running_loop().time()
        proc.send_signal(signum)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        took = asyncio.get_running_loop().time() - sent
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    err_text = err.decode()
    assert proc.returncode == code, (proc.returncode, err_text, out.decode()[:300])
    assert took < 10, took  # a run of some 6,300 days takes longer than this on a loaded machine
    with database.session() as session:
        row = session.scalars(select(Backtest)).one()
        statuses = session.scalars(select(TradeRun.status).distinct()).all()
    day = row.message.removeprefix("canceled at ").split(":")[0]
    assert row.status == "canceled" and row.message == f"canceled at {day}: {signal.Signals(signum).name}"
    assert date.fromisoformat(day) < date(2024, 12, 31)
    assert f"backtest {row.id} canceled at {day}" in err_text
    assert not {"queued", "running"} & {str(s) for s in statuses}, statuses
    assert f"backtest {row.id}: canceled" in out.decode()
    assert row.results["projects"]["long"]["equity"][-1][0] == day  # the results so far are kept


@pytest.mark.parametrize(("typed", "said"), [
    ("bogus=1", "--risk: unknown risk parameter 'bogus'"),
    ("max_order_notional", "--risk: risk override 'max_order_notional' is not NAME=VALUE"),
    ("max_order_notional=abc", "--risk: max_order_notional: not a number: 'abc'"),
    ("allow_short=maybe", "--risk: allow_short: 'maybe' is not true or false"),
])
async def test_a_bad_risk_override_exits_2_and_stores_nothing(database, db_url, files, typed, said):
    """`--risk bogus=1` used to run: every rebalance failed on it (a warning in the log only) and
    the backtest ended "done", exit 0, with no orders, stored as if it were a result."""
    prices, weights = files
    result = await run(cli_args(db_url, 0, "backtest", "--prices", str(prices), "--snapshots", str(weights),
                                "--risk", typed, connection=False))
    assert result.code == 2, result.err
    assert said in result.err, result.err
    with database.session() as session:
        assert session.scalar(select(func.count(Backtest.id))) == 0
        assert session.scalar(select(func.count(TradeRun.id))) == 0
