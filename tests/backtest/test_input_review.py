"""`trading-console backtest`'s inputs at their edges: every problem refused with exit 2 and a
message naming it, nothing stored (no backtest row, no run); the edges that are fine run."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from services.db.models import Backtest, TradeRun

from .data import generated_bars, monthly_snapshots, write_prices_csv, write_snapshots_csv

pytestmark = pytest.mark.timeout(120)

SYMBOLS = [f"R{i:02d}" for i in range(12)]
FIRST_BAR, LAST_BAR = date(2024, 1, 25), date(2024, 3, 28)  # 29 March 2024 is Good Friday


@pytest.fixture
def files(tmp_path):
    bars = generated_bars(SYMBOLS, FIRST_BAR, LAST_BAR, seed=9)
    snapshots = monthly_snapshots(SYMBOLS, date(2024, 2, 1), LAST_BAR, "one", seed=1)
    folder = tmp_path / "one"
    folder.mkdir()
    for snap in snapshots:
        (folder / f"one-{snap.day}.csv").write_text(
            "symbol,weight\n" + "".join(f"{i.symbol},{i.weight}\n" for i in snap.items), encoding="utf-8")
    return write_prices_csv(tmp_path / "bars.csv", bars), write_snapshots_csv(tmp_path / "weights.csv", snapshots), folder


def _backtest(db_url, capsys, *args: str) -> tuple[int, str, str]:
    from app.cli import main

    capsys.readouterr()
    code = main(["--db-url", db_url, "backtest", "--commission", "none", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _stored(database) -> tuple[int, int]:
    with database.session() as session:
        return session.scalar(select(func.count(Backtest.id))), session.scalar(select(func.count(TradeRun.id)))


@pytest.mark.parametrize(("window", "said"), [
    # the days before the first bar were simulated flat, their rebalances blocked for missing
    # prices, and the metrics (CAGR, volatility, Sharpe) measured over them: exit 0
    (("--from", "2023-06-01"), "--from 2023-06-01 is before the first day with prices (2024-01-25)"),
    # the days after the last bar, likewise, valued at stale closes
    (("--to", "2024-06-28"), "--to 2024-06-28 is after the last day with prices (2024-03-28)"),
    # said as "no snapshot between 2025-01-02 and 2024-03-28": a range ending before it starts
    (("--from", "2025-01-02"), "--from 2025-01-02 is after the last day with prices (2024-03-28)"),
    (("--to", "2023-01-05"), "--to 2023-01-05 is before the first day with prices (2024-01-25)"),
])
def test_a_window_outside_the_prices_exits_2_naming_the_prices_range(database, db_url, capsys, files, window, said):
    prices, weights, _ = files
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(weights), *window)
    assert code == 2, err
    assert f"trading-console: {said}" in err.splitlines(), err
    assert "no snapshot between" not in err
    assert _stored(database) == (0, 0)


def test_a_window_whose_ends_are_past_the_prices_only_on_closed_days_runs(database, db_url, capsys, files):
    """A window reaching past the prices only on days without a session is fine: --from the
    Saturday before bars starting Monday, --to Easter Sunday after the last bar on Thursday
    (Good Friday between them is a holiday)."""
    prices, weights, _ = files
    bars_start_monday = prices.parent / "monday.csv"
    write_prices_csv(bars_start_monday, generated_bars(SYMBOLS, date(2024, 1, 22), LAST_BAR, seed=9))
    code, out, err = _backtest(db_url, capsys, "--prices", str(bars_start_monday), "--snapshots", str(weights),
                               "--from", "2024-01-20", "--to", "2024-03-31")
    assert code == 0, err
    assert out.startswith("backtest ") and ": done, " in out


def test_a_project_named_twice_is_backtested_once(database, db_url, capsys, files):
    """`--project one --project one` on its stored snapshots rebalanced every snapshot twice a
    day: with next-open fills the second rebalance did not see the first's orders (still to
    fill) and sent them again, doubling every trade. On a folder it was refused as "no snapshot
    of project 'one'" (twice) and "2 chosen (one, one)"."""
    from app.cli import main

    prices, _, folder = files
    for snap in sorted(folder.iterdir()):
        assert main(["--db-url", db_url, "snapshot", "import", str(snap), "--project", "one"]) == 0
    once = _backtest(db_url, capsys, "--prices", str(prices), "--project", "one", "--fill", "next-open", "--json")
    twice = _backtest(db_url, capsys, "--prices", str(prices), "--project", "one", "--project", "one",
                      "--fill", "next-open", "--json")
    assert once[0] == twice[0] == 0, (once[2], twice[2])
    first, second = json.loads(once[1]), json.loads(twice[1])
    assert second["projects"]["one"]["orders"] == first["projects"]["one"]["orders"]
    assert second["projects"]["one"]["final_equity"] == first["projects"]["one"]["final_equity"]
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(folder),
                                "--project", "one", "--project", "one")
    assert code == 0, err


def test_an_empty_snapshot_folder_is_said_as_such(database, db_url, capsys, files, tmp_path):
    prices, _, _ = files
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a snapshot\n", encoding="utf-8")
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(empty))
    assert code == 2, err
    assert (f"trading-console: --snapshots: {empty}: no snapshot file in the folder "
            "(.csv or .json, with an ISO date in its name)") in err.splitlines(), err
    assert _stored(database) == (0, 0)


def test_a_snapshot_symbol_without_prices_exits_2_naming_it(database, db_url, capsys, files, tmp_path):
    prices, _, _ = files
    weights = tmp_path / "unknown.csv"
    weights.write_text("date,symbol,weight\n2024-02-01,R01,0.4\n2024-02-01,ZZZZ,0.4\n", encoding="utf-8")
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(weights))
    assert code == 2, err
    assert "trading-console: 2024-02-01-unknown-backtest.csv (backtest, 2024-02-01): no prices for ZZZZ" in err.splitlines(), err
    assert _stored(database) == (0, 0)


@pytest.mark.parametrize(("option", "said"), [
    (("--lot-size", "0"), "--lot-size: must be a number > 0: '0'"),
    (("--lot-size", "1.5"), "--lot-size: must be a whole number: '1.5'"),
    (("--initial-cash", "0"), "--initial-cash: must be a number > 0: '0'"),
    (("--initial-cash", "-100"), "--initial-cash: must be a number > 0: '-100'"),
    (("--slippage-bps", "-1"), "--slippage-bps: must be a number from 0 to below 10000: '-1'"),
])
def test_a_bad_builder_value_no_cash_or_a_negative_slippage_exits_2_and_stores_nothing(database, db_url, capsys, files, option, said):
    prices, weights, _ = files
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(weights), *option)
    assert code == 2, err
    assert f"trading-console: {said}" in err.splitlines(), err
    assert _stored(database) == (0, 0)


def test_two_snapshots_of_a_project_on_one_session_exit_2_naming_them(database, db_url, capsys, files):
    """A snapshot dated on a Saturday is traded on Monday, as is Monday's own: with next-open
    fills the second rebalance did not see the first's orders (still to fill) and sent them
    again (18 orders instead of 9, every trade doubled), exit 0."""
    prices, _, folder = files
    (folder / "one-2024-02-03.csv").write_text((folder / "one-2024-02-01.csv").read_text(encoding="utf-8"),
                                              encoding="utf-8")
    (folder / "one-2024-02-05.csv").write_text((folder / "one-2024-02-01.csv").read_text(encoding="utf-8"),
                                              encoding="utf-8")
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(folder), "--fill", "next-open")
    assert code == 2, err
    assert ("trading-console: one-2024-02-03.csv and one-2024-02-05.csv (backtest) would both be rebalanced on 2024-02-05 "
            "(a snapshot dated on a weekend or holiday is traded at the next session): keep one of them") in err.splitlines(), err
    assert _stored(database) == (0, 0)


@pytest.mark.parametrize(("day", "said"), [
    # no --to: the window ended at the last bar and this snapshot was left out without a word
    ("2024-04-01", ("one-2024-04-01.csv (backtest, 2024-04-01) is after the last day with prices (2024-03-28): "
                   "it would not be traded; give prices up to it, or --to 2024-03-28 to leave it out")),
    # no --from: the window began at this snapshot, its rebalance blocked for missing prices and
    # the sessions before the first bar simulated flat into the metrics
    ("2024-01-02", ("one-2024-01-02.csv (backtest, 2024-01-02) is before the first day with prices (2024-01-25): "
                   "give prices from it, or --from 2024-01-25 to leave it out")),
])
def test_a_snapshot_past_the_prices_exits_2_naming_it(database, db_url, capsys, files, day, said):
    prices, _, folder = files
    (folder / f"one-{day}.csv").write_text((folder / "one-2024-02-01.csv").read_text(encoding="utf-8"), encoding="utf-8")
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(folder))
    assert code == 2, err
    assert f"trading-console: {said}" in err.splitlines(), err
    assert _stored(database) == (0, 0)
    # the window chosen to leave it out: it runs
    leave_out = ("--to", "2024-03-28") if day > "2024-03-28" else ("--from", "2024-01-25")
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(folder), *leave_out)
    assert code == 0, err


def test_a_snapshot_dated_today_is_left_out_as_no_bar_prices_it_yet(database, db_url, capsys, files):
    """A project's stored snapshots often end with today's decision, which no closed bar prices
    yet: without --to it is left out, as before, rather than refusing the backtest."""
    from datetime import datetime

    from services.core.trading_hours import NEW_YORK

    prices, _, folder = files
    today = datetime.now(NEW_YORK).date()
    (folder / f"one-{today}.csv").write_text((folder / "one-2024-02-01.csv").read_text(encoding="utf-8"), encoding="utf-8")
    code, out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(folder))
    assert code == 0, err
    assert ": done, " in out


@pytest.mark.parametrize(("dates", "window", "said"), [
    # said as "no snapshot between 2024-02-01 and 2024-01-30": a range ending before it starts
    (("2024-02-01",), ("--to", "2024-01-30"), "no snapshot on or before --to 2024-01-30: the first is dated 2024-02-01"),
    # every snapshot after the prices: each is named, and no reversed range besides
    (("2024-04-01",), (), ("one-2024-04-01.csv (backtest, 2024-04-01) is after the last day with prices (2024-03-28): "
                          "it would not be traded; give prices up to it, or --to 2024-03-28 to leave it out")),
])
def test_no_snapshot_in_the_window_is_said_without_a_reversed_range(database, db_url, capsys, files, tmp_path, dates,
                                                                  window, said):
    prices, _, folder = files
    only = tmp_path / "only"
    only.mkdir()
    for day in dates:
        (only / f"one-{day}.csv").write_text((folder / "one-2024-02-01.csv").read_text(encoding="utf-8"), encoding="utf-8")
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(only), *window)
    assert code == 2, err
    assert err.splitlines() == [f"trading-console: {said}"], err
    assert _stored(database) == (0, 0)


def test_a_to_before_the_from_is_said_alone(database, db_url, capsys, files):
    """--from 2024-03-01 --to 2024-02-20 said "--to 2024-02-20 is before --from 2024-03-01" and
    then "no snapshot on or before --to 2024-02-20: the first is dated 2024-03-01", though the
    first snapshot is dated 2024-02-01: the window's reading of reversed dates (it begins at
    --from) named --from as the first snapshot's day. The reversed dates are the one problem."""
    prices, _, folder = files
    code, _out, err = _backtest(db_url, capsys, "--prices", str(prices), "--snapshots", str(folder),
                                "--from", "2024-03-01", "--to", "2024-02-20")
    assert code == 2, err
    assert err.splitlines() == ["trading-console: --to 2024-02-20 is before --from 2024-03-01"], err
    assert _stored(database) == (0, 0)
