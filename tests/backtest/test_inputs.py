"""The backtest's dated snapshots read from a folder or one dated CSV (services.backtest.inputs):
their days, their projects, and the problems named."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.backtest.inputs import SnapshotInputError, read_snapshots, stored_day


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
