"""Every command accepts what the README says it does, and every option has a help text."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CONNECTION_OPTIONS = ("--ib-host", "--ib-port", "--client-id", "--account", "--live-token", "--connect-timeout")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _all_parsers():
    found = []

    def walk(name, parser):
        found.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(f"{name} {sub_name}".strip(), sub)

    walk("", build_parser())
    return found


def _readme_commands_with_connection_options() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if "each with the connection options" in line)
    return re.findall(r"`([a-z-]+)(?: ID)?`", row.split("|")[1])


def test_readme_lists_the_order_management_commands():
    assert set(_readme_commands_with_connection_options()) >= {"orders", "fills", "cancel", "replace", "cancel-all",
                                                              "halt", "resume", "reconcile"}


@pytest.mark.parametrize("command", _readme_commands_with_connection_options())
def test_commands_the_readme_lists_with_connection_options_accept_them(command):
    parser = _subparsers(build_parser())[command]
    options = {s for a in parser._actions for s in a.option_strings}
    assert set(CONNECTION_OPTIONS) <= options, f"{command} lacks {set(CONNECTION_OPTIONS) - options}"
    positional = ["7"] if command in ("cancel", "replace") else []
    args = build_parser().parse_args([command, *positional, "--ib-port", "4002", "--client-id", "3"])
    assert (args.ib_port, args.client_id) == (4002, 3)


@pytest.mark.parametrize("name,parser", _all_parsers(), ids=[n or "top" for n, _ in _all_parsers()])
def test_every_option_has_a_help_text(name, parser):
    missing = [a.option_strings or [a.dest] for a in parser._actions
               if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and not a.help]
    assert missing == [], f"`{name}`: options without help: {missing}"


@pytest.mark.parametrize(("name", "parser"), [p for p in _all_parsers() if p[0]], ids=lambda v: v if isinstance(v, str) else "")
def test_every_commands_help_says_what_it_does(name, parser):
    """`reconcile --help`, `cancel --help`, `replace --help`, `backtests --help` and
    `trade-settings --help` listed options and nothing of what the command does (a helper's walk
    of the commands): a command without a description of its own says its one-line help."""
    assert parser.description, f"`{name} --help` says nothing of what it does"


def test_execute_takes_allow_short_with_preview_s_meaning():
    """``preview`` (and ``preview --save``) had --allow-short, ``execute`` of the same FILE did not."""
    commands = _subparsers(build_parser())

    def option(command):
        return next(a for a in commands[command]._actions if "--allow-short" in a.option_strings)

    assert option("execute").help == option("preview").help == "accept negative weights in a snapshot file"
    args = build_parser().parse_args(["execute", "--snapshot", "short.csv", "--project", "p", "--allow-short"])
    assert args.allow_short is True
    assert build_parser().parse_args(["execute", "--snapshot", "short.csv"]).allow_short is False


def test_gui_takes_the_window_options_after_the_command_too():
    args = build_parser().parse_args(["--profile", "paper", "gui"])
    assert args.profile == "paper" and args.demo is False
    args = build_parser().parse_args(["gui", "--demo", "--screenshot", "x.png"])
    assert args.demo is True and args.screenshot == "x.png"


def test_bench_help_lists_every_benchmark_with_its_options(capsys):
    from benchmarks.__main__ import available, main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in available():
        assert f"== {name}" in out
    assert "--symbols" in out and "--orders" in out and "--fills" in out and "--skip-baseline" in out
    assert main(["core_build_risk", "--help"]) == 0
    only = capsys.readouterr().out
    assert "== core_build_risk" in only and "== event_writer" not in only


def test_help_loads_no_database_broker_or_gui_library():
    """``trading-console --help`` (and the parser every command builds first) imports none of
    SQLAlchemy, Alembic, ib_async, Qt or pandas: app.cli's promise that the heavy imports wait
    for the handlers (the trade-settings keys the help lists once brought the whole database
    layer, half a second of every command's start)."""
    import subprocess
    import sys

    heavy = ("sqlalchemy", "alembic", "ib_async", "PySide6", "pandas", "numpy", "services.db")
    probe = ("import sys, app.cli; app.cli.build_parser(); "
             f"print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m.startswith('services.db'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"the parser loaded {', '.join(loaded[:10])}"
    shown = subprocess.run([sys.executable, "-m", "app", "trade-settings", "set", "--help"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    assert "risk.max_order_notional" in " ".join(shown.split()) and "auto_recovery.new_timeout_seconds" in " ".join(shown.split())


@pytest.mark.parametrize(("argv", "message"), [
    (["sim", "--spread", "-1"], "argument --spread: must be a number >= 0: '-1'"),
    (["sim", "--port", "70000"], "argument --port: must be a port from 0 to 65535: '70000'"),
    (["sim", "--cash", "nan"], "argument --cash: not a finite number: 'nan'"),
    (["sim", "--fill-interval", "-0.5"], "argument --fill-interval: must be a number >= 0: '-0.5'"),
    (["sim", "--partial-fills", "0"], "argument --partial-fills: must be at least 1: '0'"),
    (["execute", "--portfolio-value", "0", "--plan", "1"], "argument --portfolio-value: must be a number > 0: '0'"),
    (["replace", "7", "--limit", "abc"], "argument --limit: not a number: 'abc'"),
    # finite, too large for the order's column: said so, as `order --quantity 100000000000000000000` says it
    (["replace", "7", "--quantity", "1e20"],
     "argument --quantity: quantity 1E+20 is too large: an order's quantity must be below 1e12"),
    (["replace", "7", "--quantity", "1e13"],
     "argument --quantity: quantity 1E+13 is too large: an order's quantity must be below 1e12"),
    (["replace", "7", "--limit", "5e14"],
     "argument --limit: limit price 5E+14 is too large: an order's limit price must be below 1e10"),
    (["sim", "--cash", "1e20"], "argument --cash: too large: '1e20' (at most 1e15)"),
    # the order ticket's words (Ticket.of): `order --quantity 1e3` was sent as 1,000 shares, the
    # option reading the number before the ticket's check could see what was typed
    (["order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "1e3"],
     "argument --quantity: must be a number in digits, without an exponent: '1e3'"),
    (["order", "--symbol", "AAPL", "--side", "BUY", "--notional", "5E3"],
     "argument --notional: must be a number in digits, without an exponent: '5E3'"),
    (["order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "5", "--type", "LMT", "--limit", "1e2"],
     "argument --limit: must be a number in digits, without an exponent: '1e2'"),
    (["order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "5", "--type", "STP", "--stop", "2e2"],
     "argument --stop: must be a number in digits, without an exponent: '2e2'"),
    (["snapshot", "import", "f.csv", "--project", "p", "--max-gross-weight", "-1"],
     "argument --max-gross-weight: must be a number > 0: '-1'"),
    (["bars", "download", "--symbols", "AAPL", "--from", "2024-13-01", "--to", "2024-12-31"],
     "argument --from: not a date (YYYY-MM-DD): '2024-13-01'"),
    # date.fromisoformat took these as 2 January 2024
    (["bars", "download", "--symbols", "AAPL", "--from", "20240102", "--to", "2024-12-31"],
     "argument --from: not a date (YYYY-MM-DD): '20240102'"),
    (["bars", "download", "--symbols", "AAPL", "--from", "2024-01-02", "--to", "2024-W01-2"],
     "argument --to: not a date (YYYY-MM-DD): '2024-W01-2'"),
    (["preview", "x.csv", "--project", "p", "--lot-size", "1.5"], "argument --lot-size: must be a whole number: '1.5'"),
    (["execute", "--plan", "1", "--ib-port", "0"], "argument --ib-port: must be a port from 1 to 65535: '0'"),
    # the builder's own bound (BuildParams): a refused offset was stored in the day's run first
    (["preview", "--snapshot", "1", "--save", "--limit-bps", "10000"], "argument --limit-bps: must be below 10000: '10000'"),
    (["execute", "--snapshot", "1", "--limit-bps", "10000"], "argument --limit-bps: must be below 10000: '10000'"),
])
def test_a_bad_value_is_refused_by_the_parser_with_its_option_named_and_exit_2(argv, message, capsys):
    """One set of value types for every command (app/commands/arguments.py): a number, port,
    duration or date that cannot be right is refused before anything opens or connects."""
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name,parser", _all_parsers(), ids=[n or "top" for n, _ in _all_parsers()])
def test_no_help_shows_the_source_code_markup(name, parser):
    """A command's description taken from its module docstring showed reStructuredText's
    ``double backticks`` (`order`, `recover`) or the docstring's usage line (`assign`)."""
    shown = parser.format_help()
    assert "``" not in shown, shown
    description = parser.description or ""
    assert not description.lstrip().startswith("`trading-console"), description
