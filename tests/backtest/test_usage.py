"""`trading-console backtest --help` and the README show the command line as documented (issue 11, point 5)."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli import build_parser

ISSUE_COMMAND_LINE = ("backtest --prices FILE | --from-broker [--ib-port P ...] --snapshots PATH [--project NAME]... "
                      "--initial-cash C --fill close|next-open --slippage-bps N --commission SPEC --rounding floor|nearest "
                      "--lot-size N --cash-buffer PCT [--from DATE] [--to DATE] [--json]")


def test_help_and_readme_show_the_documented_command_line():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["backtest"]
    assert sub.format_usage().strip() == f"usage: trading-console {ISSUE_COMMAND_LINE}"
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").replace("\\|", "|")
    assert f"`{ISSUE_COMMAND_LINE}`" in readme
