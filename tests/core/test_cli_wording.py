"""The command line says a mistyped id, revision, path or project as it says every other one:
each case through ``app.cli.main`` as the trader types it, the line on stderr and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import EXIT_BAD_INPUT, main

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
