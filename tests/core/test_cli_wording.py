"""The command line says a mistyped id, revision, path or project as it says every other one:
each case through ``app.cli.main`` as the trader types it, the line on stderr and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import EXIT_BAD_INPUT, EXIT_OK, main
from services.db.migrate import head

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
NOV20 = str(SAMPLES / "momentum_2026-11-20.csv")


def _said(capsys, argv) -> tuple[int, list[str]]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's refusal
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("argv", [("cancel", "abc"), ("replace", "abc", "--quantity", "1")])
def test_an_order_id_that_is_not_a_number_is_said_as_every_number_is(capsys, argv):
    """argparse's int said "argument ORDER_ID: invalid int value: 'abc'"; every other number
    option says "not a number" ("not a whole number" for a count)."""
    code, said = _said(capsys, list(argv))
    assert code == EXIT_BAD_INPUT
    assert said[-1].endswith("error: argument ORDER_ID: not a whole number: 'abc'"), said


def test_a_revision_this_console_does_not_know_names_the_way_to_list_them(capsys, tmp_path):
    """Alembic's "Can't locate revision identified by 'nosuchrev'" said no more; `db history`
    lists the revisions `db upgrade` takes."""
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    code, said = _said(capsys, ["--db-url", url, "db", "upgrade", "nosuchrev"])
    assert code == EXIT_BAD_INPUT
    expected = ("trading-console: 'nosuchrev' is not a revision of this console: `trading-console db history` "
                f"lists them (the newest, {head()}, is also called head)")
    assert said == [expected], said
    capsys.readouterr()
    assert main(["db", "history"]) == EXIT_OK  # no database needed
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["0001_initial", "Create"] and lines[-1].startswith(f"{head()} (head)")


def test_a_folder_given_as_a_snapshot_or_bar_file_is_said_to_be_one(capsys, tmp_path):
    """`snapshot import FOLDER` said "FOLDER: unknown snapshot format ''", `bars import FOLDER`
    "1 problem; nothing was stored" and "unknown bar file format ''"."""
    folder = tmp_path / "targets"
    folder.mkdir()
    code, said = _said(capsys, ["snapshot", "import", str(folder), "--project", "p"])
    assert (code, said) == (EXIT_BAD_INPUT, [f"trading-console: {folder} is a folder, not a snapshot file (CSV or JSON)"])
    code, said = _said(capsys, ["bars", "import", str(folder)])
    assert (code, said) == (EXIT_BAD_INPUT, [f"trading-console: {folder} is a folder, not a bar file (CSV or Parquet)"])


def test_a_missing_file_is_said_alike_by_snapshot_and_bars_import(capsys, tmp_path):
    """`bars import MISSING.csv` said "missing.csv: 1 problem; nothing was stored" and "file:
    cannot read the file: ...", without the "trading-console: " every command's failure has;
    `snapshot import` "cannot read PATH: No such file or directory"."""
    missing = tmp_path / "missing.csv"
    code, snapshot = _said(capsys, ["snapshot", "import", str(missing), "--project", "p"])
    assert (code, snapshot) == (EXIT_BAD_INPUT, [f"trading-console: cannot read {missing}: No such file or directory"])
    code, bars = _said(capsys, ["bars", "import", str(missing)])
    assert (code, bars) == (EXIT_BAD_INPUT, snapshot)


def test_a_bar_file_refused_for_its_problems_is_said_with_the_prefix(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,symbol,open,high,low,close\n2025-01-32,AAPL,1,1,1,1\n")
    code, said = _said(capsys, ["--db-url", f"sqlite:///{tmp_path / 'x.sqlite3'}", "bars", "import", str(bad)])
    assert code == EXIT_BAD_INPUT
    assert said[0] == "trading-console: bad.csv: 1 problem; nothing was stored", said
    assert said[1].startswith("  line 2, column date: "), said


def test_an_unknown_project_is_said_alike_by_every_command_with_the_projects_there_are(capsys, tmp_path):
    """`assign --project nosuch` said "no project named 'nosuch'", `positions --project nosuch`
    "project 'nosuch' does not exist"."""
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    assert main(["--db-url", url, "snapshot", "import", NOV20, "--project", "momentum"]) == EXIT_OK
    expected = ["trading-console: no project named 'nosuch' (projects: momentum)"]
    for argv in (["positions", "--project", "nosuch"],
                 ["assign", "--project", "nosuch", "--symbol", "AAPL", "--quantity", "1", "--cost", "100"]):
        code, said = _said(capsys, ["--db-url", url, *argv])
        assert (code, said) == (EXIT_BAD_INPUT, expected), argv
    code, said = _said(capsys, ["--db-url", url, "snapshot", "list", "--project", "nosuch"])
    assert (code, said) == (EXIT_BAD_INPUT, ["trading-console: snapshot list: no project named 'nosuch' (projects: momentum)"])
