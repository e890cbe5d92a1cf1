"""`snapshot list` reads what the window's Snapshots list reads (services.console_queries.
projects_and_snapshots): the command queried the repositories and looked the project up by name
itself. The trader's snapshots newest first, one project's, the newest N; a project the trader
has not got is refused with the words the command prints. Both databases."""

from __future__ import annotations

import json

import pytest

from services.console_queries import NoSuchProject, import_snapshot, projects_and_snapshots, store_snapshot


def _stored(database, tmp_path) -> dict[str, int]:
    from services.console_queries import parse_for_storage
    from services.db.repositories.snapshots import BACKTEST_INPUT_NOTE

    ids = {}
    for name, project, weight in (("a1.csv", "alpha", "0.1"), ("b1.csv", "beta", "0.2"), ("a2.csv", "alpha", "0.3")):
        path = tmp_path / name
        path.write_text(f"symbol,weight\nAAPL,{weight}\n", encoding="utf-8")
        ids[name] = import_snapshot(database, path, project, note=f"from {name}", actor="tester").snapshot_id
    inputs = tmp_path / "inputs.csv"
    inputs.write_text("symbol,weight\nMSFT,0.1\n", encoding="utf-8")
    store_snapshot(database, parse_for_storage(inputs), "replayed", note=BACKTEST_INPUT_NOTE, actor="tester")  # a backtest's input only
    return ids


def test_the_query_lists_one_projects_newest_snapshots_and_refuses_an_unknown_project(database, tmp_path):
    ids = _stored(database, tmp_path)
    projects, every = projects_and_snapshots(database)
    assert [s.id for s in every] == [ids["a2.csv"], ids["b1.csv"], ids["a1.csv"]]  # newest first, no backtest input
    assert [s.note for s in every] == ["from a2.csv", "from b1.csv", "from a1.csv"]
    names = {p.id: p.name for p in projects}
    _, alphas = projects_and_snapshots(database, project=" alpha", limit=1)  # the name as it is stored: stripped
    assert [(s.id, names[s.project_id]) for s in alphas] == [(ids["a2.csv"], "alpha")]
    for unknown in ("gamma", "replayed"):  # none, and one a backtest made for its inputs alone
        with pytest.raises(NoSuchProject) as refused:
            projects_and_snapshots(database, project=unknown)
        # the trader's projects listed ("replayed", a backtest's own, is none of them)
        assert str(refused.value) == f"no project named {unknown!r} (projects: alpha, beta)"


def test_the_command_prints_what_the_query_read(database, db_url, tmp_path, capsys):
    from app.cli import main

    ids = _stored(database, tmp_path)
    capsys.readouterr()
    assert main(["--db-url", db_url, "snapshot", "list", "--project", "alpha", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["project"], r["source"], r["note"]) for r in rows] == [
        (ids["a2.csv"], "alpha", "a2.csv", "from a2.csv"), (ids["a1.csv"], "alpha", "a1.csv", "from a1.csv")]
    assert main(["--db-url", db_url, "snapshot", "list", "--project", "gamma"]) == 2
    assert capsys.readouterr().err.strip() == "trading-console: snapshot list: no project named 'gamma' (projects: alpha, beta)"


def test_the_newest_snapshot_is_the_newest_by_its_date_an_undated_one_by_when_it_was_stored(database, tmp_path):
    """"Newest" was the one stored last: a file backfilled after the others (momentum_2026-11-19.csv
    imported after momentum_2026-11-21.json) came first in the list, and the window opened on it
    and previewed it. Now a snapshot is dated by the YYYY-MM-DD date in its name, else the New
    York day it was stored (services.backtest.inputs.stored_day: the date a backtest gives it);
    of two of a day the one stored later is the newer (the backtest's rule too)."""
    from services.core.snapshot_dates import stored_day

    def imported(name: str, weight: str) -> int:
        path = tmp_path / name
        path.write_text(f"symbol,weight\nAAPL,{weight}\n", encoding="utf-8")
        return import_snapshot(database, path, "alpha", actor="tester").snapshot_id

    dated = imported("momentum_2026-11-21.csv", "0.1")
    undated = imported("weights.csv", "0.2")  # dated the day it is stored: after 2026-11-21
    backfilled = imported("momentum_2026-11-19.csv", "0.3")  # stored last, dated before the others
    _, listed = projects_and_snapshots(database)
    today = stored_day("weights.csv", listed[0].created_at)
    assert today > stored_day("momentum_2026-11-21.csv", listed[0].created_at)  # the test's premise
    assert [s.id for s in listed] == [undated, dated, backfilled]
    _, newest = projects_and_snapshots(database, project="alpha", limit=1)  # `snapshot list --limit 1`
    assert [s.id for s in newest] == [undated]
    # of one day the one stored later: a file dated today, then an undated one stored after it
    of_today = imported(f"momentum_{today.isoformat()}.csv", "0.4")
    after_it = imported("weights-rebalanced.csv", "0.5")
    _, listed = projects_and_snapshots(database)
    assert [s.id for s in listed] == [after_it, of_today, undated, dated, backfilled]


def test_a_snapshot_imported_while_the_list_is_read_is_listed_with_its_project_or_not_at_all(database, db_url, tmp_path):
    """On MariaDB (READ COMMITTED: each statement sees its own moment) an import with a new
    project committed between the list's two reads, projects first, gave the window a snapshot
    whose project it did not list: the tree left it out, and the window's own import then found
    nothing to select ("Select a snapshot first", seen once in a full run). The import is made
    here right after the list's first statement, from another connection."""
    from sqlalchemy import event

    from services.db import Database

    path = tmp_path / "new-book.csv"
    path.write_text("symbol,weight\nAAPL,0.1\n", encoding="utf-8")
    other = Database(db_url)
    done: list[int] = []

    def import_between_reads(*_args) -> None:
        if not done:
            done.append(import_snapshot(other, path, "new book", actor="tester").snapshot_id)

    event.listen(database.engine, "after_cursor_execute", import_between_reads)
    try:
        projects, snapshots = projects_and_snapshots(database)
    finally:
        event.remove(database.engine, "after_cursor_execute", import_between_reads)
        other.dispose()
    assert done, "the import between the reads was made"
    listed = {p.id for p in projects}
    assert all(s.project_id in listed for s in snapshots), (projects, snapshots)
    again_projects, again = projects_and_snapshots(database)  # the next read has both
    assert [s.id for s in again] == done and [p.name for p in again_projects] == ["new book"]
