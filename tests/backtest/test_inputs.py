"""The backtest's dated snapshots read from a folder or one dated CSV (services.backtest.inputs):
their days, their projects, and the problems named."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.backtest.inputs import SnapshotInputError, read_snapshots
from services.core.snapshot_dates import stored_day


def test_a_dated_csv_whose_name_holds_a_date_stores_each_group_under_a_name_read_back_as_its_day(tmp_path):
    csv = tmp_path / "weights-2024-01-31.csv"
    csv.write_text("date,symbol,weight,project\n2024-02-01,AAA,0.5,alpha\n2024-03-01,BBB,0.5,alpha\n")

    found = read_snapshots(csv)

    assert [s.day for s in found] == [date(2024, 2, 1), date(2024, 3, 1)]
    assert [stored_day(s.source_name, datetime.now(UTC)) for s in found] == [s.day for s in found]


def test_a_name_stored_before_still_reads_as_its_day():
    assert stored_day("weights-alpha-2024-02-01.csv", datetime.now(UTC)) == date(2024, 2, 1)


def test_a_folder_with_two_projects_chosen_says_it_holds_one_and_which_have_no_snapshot(tmp_path):
    for day in ("2024-02-01", "2024-03-01"):
        (tmp_path / f"alpha-{day}.csv").write_text("symbol,weight\nAAA,0.5\n")

    with pytest.raises(SnapshotInputError) as refused:
        read_snapshots(tmp_path, ["alpha", "beta"])

    problems = refused.value.problems
    assert f"{tmp_path}: no snapshot of project 'alpha'" in problems
    assert f"{tmp_path}: no snapshot of project 'beta'" in problems
    assert any("a folder of snapshot files holds one project" in p for p in problems)
    assert not any("no dated snapshot" in p for p in problems)  # it has two


def test_a_dated_csv_of_another_project_names_the_chosen_one_missing_and_what_it_holds(tmp_path):
    csv = tmp_path / "weights.csv"
    csv.write_text("date,symbol,weight,project\n2024-02-01,AAA,0.5,one\n")

    with pytest.raises(SnapshotInputError) as refused:
        read_snapshots(csv, ["two"])

    assert refused.value.problems == [f"{csv}: no snapshot of project 'two'", f"{csv}: it holds 'one'"]


def test_a_snapshot_day_before_1900_or_yet_to_come_is_named_in_a_dated_csv_and_a_folder(tmp_path):
    """0001-01-01 ran into the exchange calendar's clock: "bad input: Cannot convert Timestamp to
    nanoseconds without overflow. Use `.asm8.view('i8')` ..." after the backtest was stored."""
    csv = tmp_path / "weights.csv"
    csv.write_text("date,symbol,weight\n0001-01-01,AAA,0.5\n2024-02-01,BBB,0.5\n9999-12-31,CCC,0.5\n")
    with pytest.raises(SnapshotInputError) as refused:
        read_snapshots(csv)
    assert refused.value.problems == ["weights.csv: line 2, column date: date 0001-01-01 is before 1900-01-01",
                                      "weights.csv: line 4, column date: date 9999-12-31 has not come yet"]
    folder = tmp_path / "folder"
    folder.mkdir()
    for day in ("0001-01-01", "2024-02-01"):
        (folder / f"alpha-{day}.csv").write_text("symbol,weight\nAAA,0.5\n")
    with pytest.raises(SnapshotInputError) as refused:
        read_snapshots(folder)
    assert refused.value.problems == ["alpha-0001-01-01.csv: the date 0001-01-01 is before 1900-01-01"]


def test_a_row_with_a_blank_project_under_a_project_column_is_named_not_given_to_the_chosen_project(tmp_path):
    """A blank project cell used to fall to the default project: with `--project a` the row became
    one of project a's snapshots and was traded (or, without --project, one of a made-up
    `backtest` project's)."""
    csv = tmp_path / "weights.csv"
    csv.write_text("date,symbol,weight,project\n2024-01-02,AAA,0.5,a\n2024-01-02,BBB,0.5,b\n2024-01-03,AAA,0.2,\n"
                   "2024-01-04,AAA,0.3\n")

    for projects in (["a"], None):
        with pytest.raises(SnapshotInputError) as refused:
            read_snapshots(csv, projects)

        assert refused.value.problems == [
            "weights.csv: line 4, column project: no project named (the file has a project column)",
            "weights.csv: line 5, column project: no project named (the file has a project column)",
        ]


@pytest.mark.parametrize("loose", ["20240102", "2024-W01-2", "2024W012", "2024-002", " 2024-01-02x"])
def test_a_dated_csv_takes_dates_written_yyyy_mm_dd_only(tmp_path, loose):
    """date.fromisoformat took 20240102 and the ISO week date 2024-W01-2 as 2 January 2024."""
    csv = tmp_path / "weights.csv"
    csv.write_text(f"date,symbol,weight\n2024-01-03,AAA,0.5\n{loose},BBB,0.5\n")

    with pytest.raises(SnapshotInputError) as refused:
        read_snapshots(csv)

    assert refused.value.problems == [
        f"weights.csv: line 3, column date: {loose.strip()!r} is not an ISO date (YYYY-MM-DD)"]


def test_a_folder_file_named_with_a_loose_date_or_two_dates_is_named_and_nothing_is_read(tmp_path):
    """A name with two dates was dated by the first; 20240102 and 2024-W01-2 are not YYYY-MM-DD."""
    for name in ("alpha-2024-01-03.csv", "alpha-20240104.csv", "alpha-2024-W01-5.csv",
                 "alpha-2024-01-08-from-2024-01-05.csv", "alpha-2024-01-09-v2-2024-01-09.csv", "alpha-12024-01-10.csv"):
        (tmp_path / name).write_text("symbol,weight\nAAA,0.5\n")

    with pytest.raises(SnapshotInputError) as refused:
        read_snapshots(tmp_path)

    assert refused.value.problems == [
        "alpha-12024-01-10.csv: no ISO date (YYYY-MM-DD) in the file name",
        ("alpha-2024-01-08-from-2024-01-05.csv: 2 dates in the file name (2024-01-08, 2024-01-05); "
         "a snapshot file's name holds one"),
        "alpha-2024-W01-5.csv: no ISO date (YYYY-MM-DD) in the file name",
        "alpha-20240104.csv: no ISO date (YYYY-MM-DD) in the file name"]


def test_a_folder_file_named_with_one_date_twice_is_dated_by_it(tmp_path):
    (tmp_path / "alpha-2024-01-09-v2-2024-01-09.csv").write_text("symbol,weight\nAAA,0.5\n")

    assert [s.day for s in read_snapshots(tmp_path)] == [date(2024, 1, 9)]


def test_a_dated_csv_row_with_fewer_or_more_cells_than_the_header_is_named_as_in_a_snapshot_file(tmp_path):
    """Regrouped by day, a row was padded with empty cells and cut to the header's columns before
    the snapshot parser read it: a short row ("BBB,..." with no price) and one with an extra cell
    passed in silence, though a snapshot file refuses both. Each is named by its line."""
    csv = tmp_path / "weights.csv"
    csv.write_text("date,symbol,weight,price\n"
                   "2024-02-01,AAA,0.5,10\n"
                   "2024-02-01,BBB,0.25\n"
                   "2024-03-01,CCC,0.5,20,oops\n"
                   "2024-03-01,DDD,0.25,\n")

    with pytest.raises(SnapshotInputError) as refused:
        read_snapshots(csv)

    assert refused.value.problems == [
        "weights.csv: line 3: 3 cells but the header has 4 columns: no cell for price (an empty value still needs its comma)",
        "weights.csv: line 4: 5 cells but the header has 4 columns",
    ]
