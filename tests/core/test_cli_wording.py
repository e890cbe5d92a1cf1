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
