"""A project's stored snapshots, as a backtest replays them (``--project NAME`` without
``--snapshots``, the panel's ticked project): the trader's decisions, never an earlier
backtest's input files (stored with BACKTEST_INPUT_NOTE for its plans and trail)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.backtest.inputs import SnapshotInputError
from services.backtest.requests import (
    LastBar,
    first_stored_day,
    last_bar,
    project_names,
    stored_snapshots,
)
from services.console_queries import import_snapshot
from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository
from services.db.repositories.snapshots import BACKTEST_INPUT_NOTE, NewSnapshot

pytestmark = pytest.mark.timeout(120)


def _as_a_backtest_stores_its_inputs(db, project: str, source_file: str, symbol: str, weight: str) -> None:
    """What services.backtest.runner.Backtester._begin stores for an input file it was given."""
    with db.unit_of_work() as session:
        project_id = ProjectRepository(session).get_or_create(project).id
        SnapshotRepository(session).store_once([NewSnapshot(project_id, source_file, f"hash-{source_file}-{symbol}",
                                                            [SnapshotItemInput(symbol, Decimal(weight))])],
                                               note=BACKTEST_INPUT_NOTE)


def test_a_backtests_input_files_are_not_replayed_as_the_projects_stored_snapshots(database, tmp_path):
    trader = tmp_path / "alpha-2024-02-01.csv"
    trader.write_text("symbol,weight\nAAA,0.50\n")
    assert import_snapshot(database, trader, "alpha", actor="tester").created
    # an earlier what-if backtest of alpha, from a folder: the same day and a later one
    _as_a_backtest_stores_its_inputs(database, "alpha", "alpha-2024-02-01.csv", "BBB", "0.90")
    _as_a_backtest_stores_its_inputs(database, "alpha", "alpha-2024-03-01.csv", "BBB", "0.10")

    found = stored_snapshots(database, ["alpha"])

    assert [(s.day, [(i.symbol, i.weight) for i in s.items]) for s in found] == [(date(2024, 2, 1), [("AAA", Decimal("0.5"))])]


def test_a_project_a_backtest_made_for_its_inputs_alone_is_not_offered_nor_replayed(database, tmp_path):
    trader = tmp_path / "alpha-2024-02-01.csv"
    trader.write_text("symbol,weight\nAAA,0.50\n")
    import_snapshot(database, trader, "alpha", actor="tester")
    _as_a_backtest_stores_its_inputs(database, "whatif", "weights-2024-02-01.csv", "BBB", "0.90")

    assert project_names(database) == ["alpha"]
    with pytest.raises(SnapshotInputError, match="project 'whatif' has no stored snapshot"):
        stored_snapshots(database, ["whatif"])


def test_the_first_stored_day_is_the_first_snapshot_replayed(database, tmp_path):
    """What the panel's From says an empty From begins at: the first of the snapshots the
    backtest replays (an earlier backtest's inputs left out); none without a backtest to begin."""
    for name in ("alpha-2024-02-01.csv", "alpha-2024-03-01.csv"):
        (tmp_path / name).write_text("symbol,weight\nAAA,0.50\n")
        import_snapshot(database, tmp_path / name, "alpha", actor="tester")
    _as_a_backtest_stores_its_inputs(database, "alpha", "alpha-2024-01-02.csv", "BBB", "0.90")
    _as_a_backtest_stores_its_inputs(database, "whatif", "weights-2024-01-02.csv", "BBB", "0.90")

    assert first_stored_day(database, ["alpha"]) == date(2024, 2, 1) == stored_snapshots(database, ["alpha"])[0].day
    assert first_stored_day(database, []) is None
    assert first_stored_day(database, ["alpha", "whatif"]) is None  # refused: whatif has no stored snapshot
    assert first_stored_day(database, ["alpha", "nobody"]) is None


def test_the_last_bar_day_is_the_last_closed_session_of_the_snapshots_listings(database, tmp_path):
    """What the panel's To says an empty To ends at on the broker's bars: the bars are asked for
    to today and the price cache holds them to the last closed session of the snapshots'
    listings, whichever snapshot is the last; none without a backtest to end."""
    (tmp_path / "alpha-2024-02-01.csv").write_text("symbol,weight\nAAA,0.50\n")
    import_snapshot(database, tmp_path / "alpha-2024-02-01.csv", "alpha", actor="tester")
    _as_a_backtest_stores_its_inputs(database, "whatif", "weights-2024-01-02.csv", "BBB", "0.90")

    after_the_close = datetime(2024, 3, 6, 22, 0, tzinfo=UTC)  # a Wednesday, NYSE closed at 21:00 UTC
    assert last_bar(database, ["alpha"], now=after_the_close).day == date(2024, 3, 6)
    assert last_bar(database, ["alpha"], now=datetime(2024, 3, 6, 15, 0, tzinfo=UTC)).day == date(2024, 3, 5)
    assert last_bar(database, ["alpha"], now=datetime(2024, 3, 9, 12, 0, tzinfo=UTC)).day == date(2024, 3, 8)  # Saturday
    assert last_bar(database, [], now=after_the_close) is None
    assert last_bar(database, ["alpha", "whatif"], now=after_the_close) is None  # refused: no stored snapshot
    assert last_bar(database, ["alpha", "nobody"], now=after_the_close) is None


def test_the_last_bar_day_moves_on_at_the_next_close_of_the_snapshots_listings(database, tmp_path):
    """When the panel's To reads the last bar's day again while it stays in view: the next
    regular close by the exchange calendar (weekends, an early close and summer time included),
    not a clock tick of its own."""
    (tmp_path / "alpha-2024-02-01.csv").write_text("symbol,weight\nAAA,0.50\n")
    import_snapshot(database, tmp_path / "alpha-2024-02-01.csv", "alpha", actor="tester")

    def moment(*args) -> datetime:
        return datetime(*args, tzinfo=UTC)

    assert last_bar(database, ["alpha"], now=moment(2024, 3, 6, 15, 0)) == LastBar(date(2024, 3, 5), moment(2024, 3, 6, 21, 0))
    assert last_bar(database, ["alpha"], now=moment(2024, 3, 6, 21, 0)) == LastBar(date(2024, 3, 6), moment(2024, 3, 7, 21, 0))
    # Saturday: Monday's close, New York on summer time since Sunday
    assert last_bar(database, ["alpha"], now=moment(2024, 3, 9, 12, 0)) == LastBar(date(2024, 3, 8), moment(2024, 3, 11, 20, 0))
    # the eve of Independence Day closes at 13:00 in New York; the day itself is a holiday
    assert last_bar(database, ["alpha"], now=moment(2024, 7, 3, 12, 0)) == LastBar(date(2024, 7, 2), moment(2024, 7, 3, 17, 0))
    assert last_bar(database, ["alpha"], now=moment(2024, 7, 3, 18, 0)) == LastBar(date(2024, 7, 3), moment(2024, 7, 5, 20, 0))
    assert last_bar(database, [], now=moment(2024, 3, 6, 15, 0)) is None


def test_a_stored_snapshot_dated_the_day_it_was_stored_says_why_when_no_snapshot_is_in_the_window(
        database, db_url, tmp_path, capsys):
    """A trader's files named mom_20240201.csv (a date, not YYYY-MM-DD) are dated the day they
    were stored: the backtest of the project was refused with "the first is dated <today>", a day
    none of the trader's names held, and no word of why. The refusal names the file and why."""
    from datetime import datetime

    from app.cli import main
    from services.core.trading_hours import NEW_YORK

    from .data import generated_bars, write_prices_csv

    prices = write_prices_csv(tmp_path / "bars.csv", generated_bars(["AAA"], date(2024, 1, 25), date(2024, 3, 28), seed=3))
    (tmp_path / "mom_20240201.csv").write_text("symbol,weight\nAAA,0.50\n")
    assert import_snapshot(database, tmp_path / "mom_20240201.csv", "alpha", actor="tester").created
    today = datetime.now(NEW_YORK).date()

    capsys.readouterr()
    code = main(["--db-url", db_url, "backtest", "--commission", "none", "--prices", str(prices), "--project", "alpha"])
    err = capsys.readouterr().err

    assert code == 2, err
    assert err.splitlines() == [
        (f"trading-console: no snapshot on or before the last day with prices (2024-03-28): the first is dated {today} "
         "(mom_20240201.csv: no YYYY-MM-DD date in the name, so dated the day it was stored; import it again under "
         "a name holding its date, as momentum_2024-01-31.csv)")], err


def test_a_stored_snapshot_another_of_its_day_replaced_is_named_where_the_backtest_is_read(
        database, db_url, tmp_path, capsys, qtbot):
    """Two stored snapshots of a day: the one stored later is traded (a correction), the other
    was left out without a word (a backfilled file named without a YYYY-MM-DD date vanished).
    The rule stays; the backtest's message (the `backtest` and `backtests --show` headline, the
    JSON), and the Rebalances row of the day name the one left out and the one that replaced it."""
    import json

    from app.cli import main
    from widgets.views.backtest import BacktestView

    from .data import generated_bars, write_prices_csv

    prices = write_prices_csv(tmp_path / "bars.csv", generated_bars(["AAA", "BBB"], date(2024, 1, 25), date(2024, 3, 28), seed=3))
    for name, symbol in (("alpha-2024-02-01.csv", "AAA"), ("alpha-2024-02-01-fix.csv", "BBB")):
        (tmp_path / name).write_text(f"symbol,weight\n{symbol},0.10\n")
        assert import_snapshot(database, tmp_path / name, "alpha", actor="tester").created
    said = ("alpha 2024-02-01: alpha-2024-02-01.csv left out, replaced by "
            "alpha-2024-02-01-fix.csv (stored later the same day)")

    capsys.readouterr()
    code = main(["--db-url", db_url, "backtest", "--commission", "none", "--prices", str(prices), "--project", "alpha"])
    out, err = capsys.readouterr()
    assert code == 0, err
    headline = out.splitlines()[0]
    backtest_id = int(headline.split(":")[0].removeprefix("backtest "))
    assert headline == f"backtest {backtest_id}: done, 40 trading days: {said}", out

    assert main(["--db-url", db_url, "backtests", "--show", str(backtest_id)]) == 0
    assert f"backtest {backtest_id}: done, 40 trading days: {said}" in capsys.readouterr().out
    assert main(["--db-url", db_url, "backtests", "--show", str(backtest_id), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["message"] == said
    assert body["projects"]["alpha"]["left_out_snapshots"] == [
        {"day": "2024-02-01", "left_out": ["alpha-2024-02-01.csv"], "replaced_by": "alpha-2024-02-01-fix.csv",
         "traded_on": "2024-02-01", "undated": []}]

    from services.backtest.listing import stored_outcome

    outcome = stored_outcome(database, backtest_id)
    assert outcome is not None
    view = BacktestView()
    qtbot.addWidget(view)
    view.show_results(outcome.projects, outcome.total)
    table = view.rebalances_table
    assert [(table.item(r, 0).text(), table.item(r, 3).text()) for r in range(table.rowCount())] == [
        ("2024-02-01", ("executed in the backtest; alpha-2024-02-01.csv left out, replaced by alpha-2024-02-01-fix.csv "
                        "(stored later the same day)"))]


def test_a_stored_snapshot_without_a_date_in_its_name_left_out_says_why_it_shares_the_day(database, tmp_path):
    """mom_20261120.csv and mom_20261124.json stored the same day are both of that day: the
    later one is kept, and the earlier is named with why they share a day."""
    from services.backtest.inputs import left_out_entry
    from services.backtest.outcomes import left_out_line

    for name in ("mom_20240201.csv", "mom_20240205.csv"):
        (tmp_path / name).write_text(f"symbol,weight\n{name[4:12]},0.50\n".replace("2024", "X"))
        assert import_snapshot(database, tmp_path / name, "alpha", actor="tester").created

    (snap,) = stored_snapshots(database, ["alpha"])

    assert (snap.source_name, snap.left_out) == ("mom_20240205.csv", ("mom_20240201.csv",))
    assert left_out_line([dict(left_out_entry(snap, snap.day), project="alpha")]) == (
        f"alpha {snap.day}: mom_20240201.csv left out, replaced by mom_20240205.csv (stored later "
        "the same day; mom_20240201.csv, mom_20240205.csv: no YYYY-MM-DD date in the name, so dated the day it was stored)")
