"""Past backtests read back (services.backtest.listing) through `trading-console backtests`: the
list newest first with each one's status, days, final equity and message; `--show ID` prints a
stored backtest exactly as `backtest --json` printed it when it ran."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.backtest.costs import FillAt
from services.backtest.prices import PriceBook
from services.backtest.requests import as_json
from services.backtest.runner import Backtester, BacktestSpec

from .abandoned import HOST, dead_key, rebooted_key, running_backtest
from .data import generated_bars, monthly_snapshots

SYMBOLS = [f"L{i:02d}" for i in range(12)]


async def _backtest(database, *, cancel_after: int | None = None):
    snapshots = (monthly_snapshots(SYMBOLS, date(2024, 1, 2), date(2024, 3, 29), "east", seed=3)
                 + monthly_snapshots(SYMBOLS, date(2024, 1, 2), date(2024, 3, 29), "west", seed=4))
    spec = BacktestSpec(Decimal(20_000), FillAt.CLOSE, commission="ib-fixed",
                        builder={"rounding": "floor", "lot_size": Decimal(1)}, end=date(2024, 3, 29))
    days: list[int] = []
    return await Backtester(database, PriceBook(generated_bars(SYMBOLS, date(2023, 12, 20), date(2024, 3, 29))),
                            snapshots, spec, progress=lambda done, _total, _day: days.append(done),
                            cancel=lambda: cancel_after is not None and len(days) >= cancel_after).run()


def _cli(db_url: str, capsys, *args: str) -> tuple[int, str, str]:
    from app.cli import main

    capsys.readouterr()
    code = main(["--db-url", db_url, "backtests", *args])
    out, err = capsys.readouterr()
    return code, out, err


async def test_backtests_lists_them_newest_first_and_show_prints_one_as_it_ran(database, db_url, capsys):
    done = await _backtest(database)
    canceled = await _backtest(database, cancel_after=5)
    dead, _, _ = running_backtest(database, host=HOST, key=dead_key(), pid=4242)  # its process gone: closed on reading
    elsewhere, _, _ = running_backtest(database, host="another-host", key=rebooted_key(), heartbeat=datetime.now(UTC))

    code, out, err = _cli(db_url, capsys, "--json")
    assert code == 0 and f"backtest {dead} closed as failed" in err  # said once, by the look that closed it
    listed = json.loads(out)
    assert [(b["id"], b["status"]) for b in listed] == [
        (elsewhere, "running"), (dead, "failed"), (canceled.backtest_id, "canceled"), (done.backtest_id, "done")]
    by_id = {b["id"]: b for b in listed}
    first = by_id[done.backtest_id]
    assert first["projects"] == ["east", "west"] and first["days"] == done.days and first["message"] is None
    assert first["final_equity"] == {"east": done.projects["east"]["final_equity"],
                                     "west": done.projects["west"]["final_equity"], "(total)": done.total["final_equity"]}
    assert datetime.fromisoformat(first["started"]) <= datetime.fromisoformat(first["finished"])
    assert by_id[canceled.backtest_id]["message"] == canceled.message == f"canceled at {canceled.last_day}"
    assert by_id[dead]["message"].startswith("the process running it ended (pid 4242")
    assert (by_id[dead]["days"], by_id[dead]["final_equity"], by_id[elsewhere]["finished"]) == (None, {}, None)

    code, out, _ = _cli(db_url, capsys, "--limit", "2", "--json")
    assert code == 0 and [b["id"] for b in json.loads(out)] == [elsewhere, dead]

    for outcome in (done, canceled):  # the very object `backtest --json` printed when it ran
        code, out, err = _cli(db_url, capsys, "--show", str(outcome.backtest_id), "--json")
        assert (code, err) == (0, "")
        assert json.loads(out) == json.loads(json.dumps(as_json(outcome)))

    code, out, _ = _cli(db_url, capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["ID", "STARTED", "(UTC)"] and len(lines) == 5
    assert lines[3].split()[0] == str(canceled.backtest_id) and f"canceled at {canceled.last_day}" in lines[3]
    east = Decimal(done.projects["east"]["final_equity"])
    assert lines[4].split()[0] == str(done.backtest_id) and f"east {east:,.2f}" in lines[4], lines[4]

    code, out, _ = _cli(db_url, capsys, "--show", str(canceled.backtest_id))
    assert code == 0 and out.startswith(  # the message in its headline, as `backtest` prints it and the panel shows it
        f"backtest {canceled.backtest_id}: canceled, {canceled.days} trading days: canceled at {canceled.last_day}\n")
    assert "message:" not in out  # said once


@pytest.mark.parametrize(("args", "said"), [
    (("--show", "999"), "backtest 999 does not exist"),
    (("--show", "1", "--limit", "3"), "give one of them"),
])
def test_backtests_refuses_an_unknown_backtest_and_both_options_exit_2(database, db_url, capsys, args, said):
    code, out, err = _cli(db_url, capsys, *args)
    assert (code, out) == (2, "") and said in err


def test_no_backtests_says_so(database, db_url, capsys):
    assert _cli(db_url, capsys) == (0, "no backtests\n", "")
    assert _cli(db_url, capsys, "--json") == (0, "[]\n", "")


LONG = 2_520  # ten years of trading days


def _results(n: int, projects: list[str]) -> dict:
    """Results in the shape a run stores them, each project's daily equity and drawdown ``LONG`` long."""
    days = [f"2014-01-{d % 28 + 1:02d}" for d in range(LONG)]
    per_project = {name: {"project": name, "final_equity": f"{10_000 + n}.{k}5",
                          "equity": [[day, f"{10_000 + k}.25"] for day in days], "drawdown": [[day, "0.01"] for day in days]}
                   for k, name in enumerate(projects)}
    total = {"final_equity": str(sum(Decimal(p["final_equity"]) for p in per_project.values()))}
    return {"projects": per_project, "total": total, "days": LONG}


def _as_listed_before(results: dict) -> dict:
    """The final equities the list showed when it read them from the results: per project, then
    the total when there are several."""
    finals = {name: p["final_equity"] for name, p in results["projects"].items()}
    return {**finals, "(total)": results["total"]["final_equity"]} if len(finals) > 1 else finals


def test_the_list_reads_summaries_not_results_and_an_older_row_alone(database):
    from sqlalchemy import event, update

    from services.backtest.closing import close_backtest
    from services.backtest.listing import list_backtests
    from services.db.models import Backtest

    def running(projects: list[str]) -> int:
        with database.unit_of_work() as session:
            row = Backtest(status="running", params={"projects": projects})
            session.add(row)
            session.flush()
            return row.id

    older = running(["east", "west"])  # closed before summaries were stored (migration 0020): results only
    older_results = _results(0, ["east", "west"])
    with database.unit_of_work() as session:
        session.execute(update(Backtest).where(Backtest.id == older)
                        .values(status="done", results=older_results, finished_at=datetime.now(UTC)))
    expected = {older: _as_listed_before(older_results)}
    for n in range(1, 21):
        projects = ["east", "west"] if n % 2 else ["north"]
        backtest_id, results = running(projects), _results(n, projects)
        assert close_backtest(database, backtest_id, "done", results, None)
        expected[backtest_id] = _as_listed_before(results)

    statements: list[tuple[str, object]] = []
    fetched_results: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, parameters, *_):
        statements.append((statement, parameters))
        if "backtests.results" in statement:
            fetched_results.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        newest = list_backtests(database)
        assert statements and fetched_results == []  # 20 backtests, ten years of equity each: none read
        both = list_backtests(database, 21)
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)

    assert [b.id for b in newest] == sorted(expected, reverse=True)[:20]
    (_, parameters), = fetched_results  # the older row's, alone (parameters: a dict on MariaDB, a tuple on SQLite)
    assert older in (parameters.values() if isinstance(parameters, dict) else parameters)
    for listed in both:
        assert listed.to_dict()["final_equity"] == expected[listed.id], listed.id
        assert (listed.status, listed.days) == ("done", LONG)
        assert listed.projects == (("east", "west") if len(expected[listed.id]) > 1 else ("north",))


async def test_show_says_the_settings_a_backtest_ran_with_so_two_with_other_costs_read_apart(database, db_url, capsys):
    """A stored backtest's settings (its row's ``params``) were printed nowhere: two backtests with
    other costs read alike but by their results. ``--show`` says them on a line of their own (the
    window's Backtest panel shows the same line), ``--json`` has them, and so does the list's JSON."""
    from services.backtest.summary import settings_line

    snapshots = monthly_snapshots(SYMBOLS, date(2024, 1, 2), date(2024, 2, 29), "east", seed=3)
    prices = PriceBook(generated_bars(SYMBOLS, date(2023, 12, 20), date(2024, 2, 29)))
    builder = {"rounding": "floor", "lot_size": Decimal(1), "cash_buffer": Decimal("0.025"), "liquidate_unlisted": True}
    cheap = await Backtester(database, prices, snapshots, BacktestSpec(
        Decimal(20_000), FillAt.CLOSE, Decimal(0), "none", dict(builder), end=date(2024, 2, 29))).run()
    dear = await Backtester(database, prices, snapshots, BacktestSpec(
        Decimal(20_000), FillAt.NEXT_OPEN, Decimal(10), "ib-fixed", dict(builder), ("max_order_notional=off",),
        start=date(2024, 1, 2), end=date(2024, 2, 29))).run()

    said = {}
    for outcome in (cheap, dear):
        code, out, _ = _cli(db_url, capsys, "--show", str(outcome.backtest_id))
        assert code == 0
        said[outcome.backtest_id] = out.splitlines()[1]  # under the headline
    assert said[cheap.backtest_id] == (
        f"backtest {cheap.backtest_id} ran with initial cash 20,000, fill close, slippage 0 bps, commission none, "
        "rounding floor, lot size 1, cash buffer 2.5%, holdings absent from a snapshot sold, the console's risk limits, "
        "from the first snapshot to 2024-02-29")
    assert said[dear.backtest_id] == (
        f"backtest {dear.backtest_id} ran with initial cash 20,000, fill next-open, slippage 10 bps, commission ib-fixed, "
        "rounding floor, lot size 1, cash buffer 2.5%, holdings absent from a snapshot sold, "
        "risk max_order_notional=off, from 2024-01-02 to 2024-02-29")

    code, out, _ = _cli(db_url, capsys, "--show", str(dear.backtest_id), "--json")
    shown = json.loads(out)
    assert code == 0 and shown["settings"] == said[dear.backtest_id]
    assert shown["params"]["fill"] == "next-open" and shown["params"]["slippage_bps"] == "10"
    assert shown["params"]["commission"] == "ib-fixed" and shown["params"]["projects"] == ["east"]

    code, out, _ = _cli(db_url, capsys, "--json")
    listed = {b["id"]: b for b in json.loads(out)}
    assert listed[cheap.backtest_id]["settings"] == said[cheap.backtest_id] == settings_line(
        cheap.backtest_id, listed[cheap.backtest_id]["params"])
    assert listed[dear.backtest_id]["params"]["risk_overrides"] == ["max_order_notional=off"]
