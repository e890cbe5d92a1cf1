"""The command line says a mistyped id, revision, path or project as it says every other one:
each case through ``app.cli.main`` as the trader types it, the line on stderr and exit 2."""

from __future__ import annotations

import argparse
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from app.cli import EXIT_BAD_INPUT, EXIT_OK, build_parser, main
from services.db.migrate import head

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
NOV20 = str(SAMPLES / "momentum_2026-11-20.csv")


def _at_head(tmp_path: Path, template: Path) -> str:
    """``tmp_path``'s database at the newest revision, as `db upgrade` leaves a new file: a copy of
    the session's migrated template (tests/fixtures/db.py), not a migration from nothing in each
    case (0.3-0.5 s of CPU); the case's own `db upgrade` then finds it at head and exits 0."""
    path = tmp_path / "x.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


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
    option says "not a number"."""
    code, said = _said(capsys, list(argv))
    assert code == EXIT_BAD_INPUT
    assert said[-1].endswith("error: argument ORDER_ID: not a number: 'abc'"), said


def _typed_options(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every option and positional of every command that has a type, as (its name, its action)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _typed_options(sub, (*path, name))
        elif action.type is not None:
            yield " ".join((*path, action.option_strings[0] if action.option_strings else action.metavar or action.dest)), action


# A value each kind of number option takes (a port, a count, an amount, seconds, a percent, a
# rate): an option whose type reads one of them as a number is a number option.
_GOOD = (("{}", "7497"), ("{}", "5"), ("EUR={}", "5"))


def _number_options() -> dict[str, tuple[argparse.Action, str]]:
    found = {}
    for name, action in _typed_options(build_parser()):
        for form, good in _GOOD:
            try:
                value = action.type(form.format(good))
            except (argparse.ArgumentTypeError, ValueError, ArithmeticError):
                continue
            parts = value if isinstance(value, tuple) else (value,)
            if any(isinstance(part, int | float | Decimal) and not isinstance(part, bool) for part in parts):
                found[name] = (action, form)
                break
    return found


def test_every_number_option_says_a_value_that_is_not_a_number_in_one_way():
    """`snapshot list --limit x` and `audit list --limit x` said argparse's "argument --limit:
    invalid int value: 'x'" (`watch --interval`: "invalid float value", `--client-id` and `sim
    --seed` alike), `--ib-port x` "not a port number", `--wait-seconds x` "not a number of
    seconds", `--cash-buffer x` "'x' is not a number", `cancel x` "not a whole number": one
    mistake in six wordings. Walks every command's options, so a new `type=int` is caught."""
    options = _number_options()
    assert {"snapshot list --limit", "audit list --limit", "watch --interval", "sim --seed", "orders --client-id",
            "orders --ib-port", "cancel ORDER_ID", "order --wait-seconds", "preview --cash-buffer", "preview --fx",
            "assign --quantity"} <= set(options), sorted(options)
    wrong = {}
    for name, (action, form) in options.items():
        for number, said in (("x", "not a number: 'x'"),
                             ("1,5", "not a number: '1,5' (commas only group thousands, as in 1,000.5)")):
            typed = form.format(number)
            try:
                action.type(typed)
                wrong[name] = f"{typed!r} taken"
            except argparse.ArgumentTypeError as refusal:
                if str(refusal) != said:
                    wrong[name] = str(refusal)
            except Exception as failure:  # int, float, Decimal: argparse says their ValueError its own way
                wrong[name] = f"{type(failure).__name__}: {failure}"
    assert wrong == {}, wrong


@pytest.mark.parametrize("argv", [("snapshot", "list", "--limit", "x"), ("audit", "list", "--limit", "x"),
                                  ("watch", "--interval", "x"), ("orders", "--client-id", "x")])
def test_a_limit_that_is_not_a_number_is_said_in_the_consoles_words(capsys, argv):
    code, said = _said(capsys, list(argv))
    assert code == EXIT_BAD_INPUT
    assert said[-1].endswith(f"error: argument {argv[-2]}: not a number: 'x'"), said


def test_a_limit_of_nothing_is_refused_by_every_listing(capsys):
    """`snapshot list --limit 0` said "no snapshots" (exit 0) where `audit list --limit 0` and
    `backtests --limit 0` refuse it."""
    for argv in (["snapshot", "list"], ["audit", "list"], ["backtests"]):
        code, said = _said(capsys, [*argv, "--limit", "0"])
        assert code == EXIT_BAD_INPUT and said[-1].endswith("error: argument --limit: must be at least 1: '0'"), (argv, said)


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
    # a backtest of a project's stored snapshots names the option typed (it said "--snapshots: ...")
    code, said = _said(capsys, ["--db-url", url, "backtest", "--project", "nosuch", "--from-broker"])
    assert code == EXIT_BAD_INPUT and "trading-console: --project: no project named 'nosuch' (projects: momentum)" in said, said


@pytest.mark.parametrize("command", ["orders", "fills"])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_run_that_does_not_exist_is_said_by_orders_and_fills_as_by_tca_and_trail(capsys, tmp_path, _sqlite_template,
                                                                                   command, as_json):
    """From the terminal (the demo's run 1 filled), `fills --run 99` printed the table's header
    alone (`--json` an empty list) and exit 0, as for a run that sent nothing: a mistyped run
    read as a run without fills, where `tca --run 99` and `trail --run 99` say "run 99 does not
    exist", exit 2. `orders --run 99` alike."""
    url = _at_head(tmp_path, _sqlite_template)
    assert main(["--db-url", url, "db", "upgrade"]) == EXIT_OK
    capsys.readouterr()
    code = main(["--db-url", url, command, "--run", "99", *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    assert (code, err.splitlines()) == (EXIT_BAD_INPUT, ["trading-console: run 99 does not exist"]), out
    if as_json:
        assert json.loads(out) == {"error": "not_found", "message": "run 99 does not exist"}
    else:
        assert out == ""
    code, said = _said(capsys, ["--db-url", url, "tca", "--run", "99"])
    assert (code, said) == (EXIT_BAD_INPUT, ["trading-console: run 99 does not exist"])


@pytest.mark.parametrize(("argv", "expected"), [
    (["db", "upgrade", "+30"], ("'+30' goes past the newest revision, {head}: {after} follow the database's revision, "
                               "0002_plans (`trading-console db history` lists them)")),
    (["db", "downgrade", "-5", "--yes"], ("'-5' goes below base (no tables): 2 lie below the database's revision, 0002_plans "
                                        "(`trading-console db history` lists them)")),
    (["db", "downgrade", "head+1"], ("'head+1' goes past the newest revision, {head}: none follows {head} "
                                    "(`trading-console db history` lists them)")),
    (["db", "upgrade", "0001+40"], ("'0001+40' goes past the newest revision, {head}: {after_first} follow 0001_initial "
                                   "(`trading-console db history` lists them)")),
    (["db", "upgrade", "base-1"], ("'base-1' goes below base (no tables): none lies below base "
                                  "(`trading-console db history` lists them)")),
    (["db", "upgrade", "-1"], ("'-1' is 0001_initial, below the database's revision, 0002_plans: nothing changed; "
                              "`trading-console db downgrade -1` goes back to it")),
    (["db", "downgrade", "+1"], ("'+1' is 0003_lease, above the database's revision, 0002_plans: nothing changed; "
                                "`trading-console db upgrade +1` goes forward to it")),
    (["db", "upgrade", "00"], "'00' is the start of {count} revisions: give more of it (`trading-console db history` lists them)"),
    (["db", "upgrade", "@+1"], ("'@+1' is not a revision of this console: `trading-console db history` lists them "
                               "(the newest, {head}, is also called head)")),
    (["db", "sql", "head+2"], ("'head+2' goes past the newest revision, {head}: none follows {head} "
                              "(`trading-console db history` lists them)")),
    (["db", "sql", "--from", "0003_lease", "0001_initial"],
     ("'0001_initial' is 0001_initial, below the revision of --from, 0003_lease: `db sql` prints upgrades only: "
      "name a REV after --from, or a --from before 0001_initial")),
    (["db", "sql", "--from", "0003_lease", "-1"],
     ("'-1' is 0002_plans, below the revision of --from, 0003_lease: `db sql` prints upgrades only: "
      "name a REV after --from, or a --from before 0002_plans")),
    (["db", "sql", "--from", "0003_lease", "+40"],
     ("'+40' goes past the newest revision, {head}: {after_lease} follow the revision of --from, 0003_lease "
      "(`trading-console db history` lists them)")),
])
def test_a_relative_revision_that_names_none_is_said_in_the_consoles_words(capsys, tmp_path, argv, expected):
    """Alembic said "Relative revision +30 didn't produce 30 migrations", "Walked too far",
    "AssertionError: (details in the log file)" (exit 1) for `db upgrade 0001+40` and `db sql
    head+2`; `db upgrade base-1` went to the newest revision and `db upgrade -1` did nothing,
    saying only where the database was. `db sql --from 0003_lease 0001_initial`, which reads no
    database, said "below the database's revision, 0003_lease: nothing changed; `trading-console
    db downgrade 0001_initial` goes back to it", and `--from 0003_lease +40` counted from "the
    database's revision"."""
    from services.db import migrate

    revisions = [revision for revision, _ in migrate.history()]
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    assert main(["--db-url", url, "db", "upgrade", "0002_plans"]) == EXIT_OK
    code, said = _said(capsys, ["--db-url", url, *argv])
    words = expected.format(head=head(), after=len(revisions) - 2, after_first=len(revisions) - 1, count=len(revisions),
                            after_lease=len(revisions) - 3)
    assert (code, said) == (EXIT_BAD_INPUT, [f"trading-console: {words}"])
    assert migrate.current(url) == "0002_plans"  # nothing changed


PRICES = str(SAMPLES / "prices_2026-11-21.csv")


@pytest.mark.parametrize(("argv", "expected"), [
    (["order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "x"], "error: argument --quantity: not a number: 'x'"),
    (["order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "1,5"],
     "error: argument --quantity: not a number: '1,5' (commas only group thousands, as in 1,000.5)"),
    (["order", "--symbol", "AAPL", "--side", "BUY", "--notional", "x"], "error: argument --notional: not a number: 'x'"),
    (["backtest", "--initial-cash", "x"], "trading-console: --initial-cash: not a number: 'x'"),
    (["backtest", "--initial-cash", "1,5"],
     "trading-console: --initial-cash: not a number: '1,5' (commas only group thousands, as in 1,000.5)"),
    (["backtest", "--slippage-bps", "x"], "trading-console: --slippage-bps: not a number: 'x'"),
    (["backtest", "--lot-size", "x"], "trading-console: --lot-size: not a number: 'x'"),
    (["backtest", "--cash-buffer", "x"], "trading-console: --cash-buffer: not a number: 'x'"),
    (["backtest", "--risk", "max_order_notional=x"], "trading-console: --risk: max_order_notional: not a number: 'x'"),
    (["preview", "--snapshot", NOV20, "--portfolio-value", "100000", "--prices", PRICES, "--risk", "max_order_notional=x"],
     "  --risk: max_order_notional: not a number: 'x'"),
])
def test_a_number_a_service_checks_is_said_as_every_number_option_says_it(capsys, tmp_path, _sqlite_template, argv,
                                                                         expected):
    """`order --quantity x` said "quantity must be a number, got 'x'", `backtest --initial-cash x`
    "--initial-cash 'x' is not a number", `--risk max_order_notional=x` "max_order_notional must be
    a number, got 'x'", where every other number option says "argument --limit: not a number: 'x'"."""
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    if argv[0] == "backtest":
        assert _at_head(tmp_path, _sqlite_template) == url
        assert main(["--db-url", url, "db", "upgrade"]) == EXIT_OK
        prices = tmp_path / "bars.csv"
        prices.write_text("date,symbol,open,high,low,close\n2026-11-20,D,10,10,10,10\n", encoding="utf-8")
        weights = tmp_path / "weights.csv"
        weights.write_text("date,symbol,weight\n2026-11-20,D,0.1\n", encoding="utf-8")
        argv = [*argv, "--prices", str(prices), "--snapshots", str(weights), "--project", "alpha"]
    code, said = _said(capsys, ["--db-url", url, *argv])
    assert code == EXIT_BAD_INPUT
    assert said[-1].endswith(expected) if expected.startswith("error:") else expected in said, said


@pytest.mark.parametrize(("argv", "env", "expected"), [
    (["trade-settings", "set", "auto_recovery.max_auto_retries=x"], {},
     "trading-console: auto_recovery.max_auto_retries: not a number: 'x'"),
    (["trade-settings", "set", "auto_recovery.max_auto_retries=1.5"], {},
     "trading-console: auto_recovery.max_auto_retries: must be a whole number: '1.5'"),
    (["trade-settings", "set", "risk.max_orders_per_run=1.5"], {},
     "trading-console: risk.max_orders_per_run: must be a whole number: '1.5'"),
    (["trade-settings", "set", "project_capital.alpha=x"], {}, "trading-console: project_capital.alpha: not a number: 'x'"),
    (["trade-settings", "set", "project_capital.alpha=1,5"], {},
     "trading-console: project_capital.alpha: not a number: '1,5' (commas only group thousands, as in 1,000.5)"),
    (["trade-settings", "set", "project_capital.alpha=-5"], {},
     "trading-console: project_capital.alpha: must be a number > 0, or off (or left empty) for no capital: '-5'"),
    (["trade-settings", "set", "project_capital.alpha=1e10"], {},
     "trading-console: project_capital.alpha: must be a number below 1e10 (a plan keeps no larger portfolio value): '1e10'"),
    (["orders"], {"TC_IB_PORT": "x"}, "trading-console: TC_IB_PORT: not a number: 'x'"),
    (["orders"], {"TC_IB_CLIENT_ID": "1.5"}, "trading-console: TC_IB_CLIENT_ID: must be a whole number: '1.5'"),
    (["backtest", "--initial-cash", "-5"], {}, "trading-console: --initial-cash: must be a number > 0: '-5'"),
    (["backtest", "--lot-size", "1.5"], {}, "trading-console: --lot-size: must be a whole number: '1.5'"),
])
def test_a_number_of_a_setting_or_a_bound_is_said_as_every_number_option_says_it(capsys, tmp_path, _sqlite_template,
                                                                                 monkeypatch, argv, env, expected):
    """`trade-settings set auto_recovery.max_auto_retries=x` said "'x' is not a number", a project's
    capital "capital 'x' is not a number" (without the comma's reason for '1,5'), TC_IB_PORT=x
    "TC_IB_PORT must be a whole number, got 'x'", `backtest --initial-cash -5` "--initial-cash
    '-5' must be > 0", where the options say "not a number: 'x'" and "must be a number > 0: '-5'"."""
    url = _at_head(tmp_path, _sqlite_template)
    assert main(["--db-url", url, "db", "upgrade"]) == EXIT_OK
    monkeypatch.setenv("TC_CONFIG_FILE", str(tmp_path / "none.toml"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if argv[0] == "backtest":
        prices = tmp_path / "bars.csv"
        prices.write_text("date,symbol,open,high,low,close\n2026-11-20,D,10,10,10,10\n", encoding="utf-8")
        weights = tmp_path / "weights.csv"
        weights.write_text("date,symbol,weight\n2026-11-20,D,0.1\n", encoding="utf-8")
        argv = [*argv, "--prices", str(prices), "--snapshots", str(weights), "--project", "alpha"]
    code, said = _said(capsys, ["--db-url", url, *argv])
    assert code == EXIT_BAD_INPUT
    assert expected in said, said


def test_a_value_that_is_no_number_is_said_in_one_way_by_the_reading_itself():
    """NotANumber's own message, for a caller that shows it as it is, said "'x' is not a number"."""
    from services.core.books import CapitalError, parse_capital
    from services.core.typed_numbers import NotANumber, typed_decimal

    for typed, said in (("x", "not a number: 'x'"), (None, "not a number: None"), ("1_000", "not a number: '1_000'"),
                        ("1,5", "not a number: '1,5' (commas only group thousands, as in 1,000.5)")):
        with pytest.raises(NotANumber) as refused:
            typed_decimal(typed)
        assert str(refused.value) == said
    with pytest.raises(CapitalError) as refused:  # the Settings dialog's Project capital rows
        parse_capital("abc")
    assert str(refused.value) == "capital: not a number: 'abc'"


@pytest.mark.parametrize(("argv", "env", "expected"), [
    (["orders"], {"TC_IB_PORT": "0"}, "trading-console: TC_IB_PORT: must be a port from 1 to 65535: '0'"),
    (["orders"], {"TC_LEASE_TTL": "0"}, "trading-console: TC_LEASE_TTL: must be a number of seconds from 3 to 3600: '0'"),
    (["orders"], {"TC_IB_MARKET_DATA_LINES": "0"},
     "trading-console: TC_IB_MARKET_DATA_LINES: must be at least 1 (IB gives every account 100 market data lines): '0'"),
    (["orders", "--ib-port", "99999"], {}, "error: argument --ib-port: must be a port from 1 to 65535: '99999'"),
    (["sim", "--port", "70000"], {}, "error: argument --port: must be a port from 0 to 65535: '70000'"),
    (["watch", "--interval", "9"], {}, "error: argument --interval: must be a number of seconds from 0.05 to 5: '9'"),
    (["sim", "--fill-interval", "-0.5"], {}, "error: argument --fill-interval: must be a number >= 0: '-0.5'"),
    (["preview", "--snapshot", "1", "--cash-buffer", "100"], {},
     "error: argument --cash-buffer: must be a percent from 0 to below 100: '100'"),
    (["trail", "--run", "0"], {}, "error: argument --run: must be at least 1: '0'"),
    (["backtest", "--slippage-bps", "-5"], {}, "trading-console: --slippage-bps: must be a number from 0 to below 10000: '-5'"),
    (["backtest", "--slippage-bps", "10000"], {},
     "trading-console: --slippage-bps: must be a number from 0 to below 10000: '10000'"),
    (["backtest", "--cash-buffer", "100"], {}, "trading-console: --cash-buffer: must be a percent from 0 to below 100: '100'"),
    (["backtest", "--lot-size", "0"], {}, "trading-console: --lot-size: must be a number > 0: '0'"),
    (["backtest", "--initial-cash", "1e12"], {},
     "trading-console: --initial-cash: must be a number below 1e10 (the database keeps no larger amount): '1e12'"),
])
def test_a_number_beyond_its_bound_is_said_as_every_number_option_says_it(capsys, tmp_path, _sqlite_template,
                                                                          monkeypatch, argv, env, expected):
    """The bounds said their own ways: a port "TC_IB_PORT must be 1-65535, got '0'" and "argument
    --ib-port: port must be 1-65535: '0'", TC_LEASE_TTL=0 "TC_LEASE_TTL must be between 3 and 3600
    seconds, got '0'", `watch --interval 9` "must be between 0.05 and 5 seconds: '9'", `sim
    --fill-interval -0.5` "seconds must be >= 0: '-0.5'", `--cash-buffer 100` "--cash-buffer '100'
    must be a percent from 0 to below 100", `backtest --slippage-bps -5` "--slippage-bps '-5' must
    be >= 0 and < 10000", `--initial-cash 1e12` "--initial-cash '1e12' is too large: ...", where
    every other bound says "must be a number > 0: '-5'" (``must_be_said``)."""
    url = _at_head(tmp_path, _sqlite_template)
    assert main(["--db-url", url, "db", "upgrade"]) == EXIT_OK
    monkeypatch.setenv("TC_CONFIG_FILE", str(tmp_path / "none.toml"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if argv[0] == "backtest":
        prices = tmp_path / "bars.csv"
        prices.write_text("date,symbol,open,high,low,close\n2026-11-20,D,10,10,10,10\n", encoding="utf-8")
        weights = tmp_path / "weights.csv"
        weights.write_text("date,symbol,weight\n2026-11-20,D,0.1\n", encoding="utf-8")
        argv = [*argv, "--prices", str(prices), "--snapshots", str(weights), "--project", "alpha"]
    code, said = _said(capsys, ["--db-url", url, *argv])
    assert code == EXIT_BAD_INPUT
    assert said[-1].endswith(expected) if expected.startswith("error:") else expected in said, said


@pytest.mark.parametrize("typed", ["nan", "inf", "-Infinity"])
def test_a_number_option_refuses_what_is_no_finite_number(typed):
    """typed_decimal refuses NaN and the infinities itself (the command line's reading checked
    again after it, a check that never fired)."""
    from app.commands.arguments import number

    with pytest.raises(argparse.ArgumentTypeError) as refused:
        number()(typed)
    assert str(refused.value) == f"not a finite number: {typed!r}"


@pytest.mark.parametrize(("given", "expected"), [
    ({"lot_size": Decimal(0)}, "lot size: must be a number > 0: '0'"),
    ({"lot_size": Decimal("2.5")}, "lot size: must be a whole number: '2.5'"),
    ({"lot_sizes": {"B": Decimal("0.5")}}, "lot size of B: must be a whole number: '0.5'"),
    ({"min_order_value": Decimal(-1)}, "min order value: must be a number >= 0: '-1'"),
    ({"limit_offset_bps": Decimal(10000), "order_type": "LMT"},
     "limit offset (bps): must be a number from 0 to below 10000: '10000'"),
    ({"cash_buffer": Decimal(1)}, "cash buffer: must be a ratio from 0 to below 1: '1'"),
])
def test_the_builders_own_check_says_a_bound_as_every_number_option_says_it(given, expected):
    """The builder's parameter check (what the preview form, --lot-size and the backtest end with)
    said "lot size must be > 0, got 0" and "lot size must be a whole number of shares, got 2.5"."""
    from services.core.builder import BuildParams

    with pytest.raises(ValueError) as refused:
        BuildParams(portfolio_value=Decimal(1000), **given)
    assert str(refused.value) == expected


@pytest.mark.parametrize(("fields", "expected"), [
    ({"quantity": "0"}, "quantity: must be a number > 0: '0'"),
    ({"quantity": "-5"}, "quantity: must be a number > 0: '-5'"),
    ({"quantity": "1.5"}, "quantity: must be a whole number: '1.5'"),
    ({"quantity": "5", "order_type": "LMT", "limit_price": "0"}, "limit price: must be a number > 0: '0'"),
])
def test_the_order_tickets_numbers_are_said_as_every_number_option_says_them(fields, expected):
    """The ticket (the window's and the service's) said "quantity must be a positive number, got
    '0'" and "quantity must be whole shares, got 1.5" where `order --quantity 0` says "argument
    --quantity: must be a number > 0: '0'"."""
    from services.execution.errors import BadInput
    from services.execution.manual import Ticket

    with pytest.raises(BadInput) as refused:
        Ticket.of("AAPL", "BUY", **fields)
    assert str(refused.value) == expected


def test_the_backtests_own_check_says_its_bounds_as_its_options_do():
    """services.backtest.checks said "slippage 10000 bps must be >= 0 and < 10000" and "initial
    cash -5 must be positive" where the command says "--slippage-bps: must be a number from 0 to
    below 10000: '10000'"."""
    from services.backtest.checks import check_spec
    from services.backtest.costs import FillAt
    from services.backtest.prices import PriceBook
    from services.backtest.runner import BacktestSpec

    spec = BacktestSpec(Decimal(-5), FillAt.CLOSE, Decimal(10000), "none", {}, (), None, None)
    problems = check_spec(spec, PriceBook.from_columns({}), [])
    assert problems[:2] == ["--initial-cash: must be a number > 0: '-5'",
                            "--slippage-bps: must be a number from 0 to below 10000: '10000'"], problems


def test_the_trails_signals_say_the_snapshots_price_beside_the_reference_price_used():
    """`trail`'s Signals, "the signals its preview saw", printed one PRICE: the reference price
    the builder used (a backtest's bar, the broker's quote), not the snapshot's own. Seen with the
    demo's backtest: NVDA's signal read 127.69 where momentum_2026-11-21.json says 147.10, and
    the snapshot's price, stored with each signal, was printed nowhere. Both now, each named."""
    from app.commands.trail import render
    from services.trail_queries import DecisionTrail

    trail = DecisionTrail(run_id=2, plan_id=2, executed=True, signals=(
        {"symbol": "NVDA", "weight": "0.13", "score": "2.28", "rank": 1, "snapshot_price": "147.10", "price": "127.69"},
        {"symbol": "KO", "weight": "0.04", "score": None, "rank": None, "snapshot_price": None, "price": "64.88"}))

    lines = render(trail).splitlines()
    head = lines.index("Signals (2)") + 1
    header = lines[head].split("  ")
    assert [h.strip() for h in header if h.strip()] == ["SYMBOL", "WEIGHT", "SCORE", "RANK", "SNAPSHOT PRICE", "REF PRICE"]
    nvda, ko = lines[head + 1], lines[head + 2]
    column = lines[head].index("SNAPSHOT PRICE")
    reference = lines[head].index("REF PRICE")
    assert nvda[column:reference].strip() == "147.10" and nvda[reference:].strip() == "127.69"
    assert ko[column:reference].strip() == "" and ko[reference:].strip() == "64.88"


@pytest.mark.parametrize(("fields", "said"), [
    # a backtest's rebalance: the terminal said "run 2, plan 2 (executed)", a paper or live run's
    # words, where the Decisions panel says it was replayed and never sent
    ({"executed": True, "backtest": True}, "Backtest run 2, plan 2 (executed in the backtest, never sent to a broker)"),
    # a preview its run did not execute: "run 2, plan 2" read as the run's plan
    ({"executed": False}, "Preview not sent: run 2, plan 2"),
    ({"executed": True}, "Run 2, plan 2 (executed)"),
])
def test_the_trail_command_heads_a_trail_as_the_decisions_panel_does(fields, said):
    from app.commands.trail import render
    from services.trail_queries import DecisionTrail

    trail = DecisionTrail(run_id=2, plan_id=2, **fields)
    assert render(trail).splitlines()[0] == said == trail.title


@pytest.mark.parametrize(("argv", "said"), [
    (["order", "--symbol", "AAPL", "--side", "BUY", "--quantity", "5", "--order-type", "LMT"],
     "trading-console order: error: unrecognized arguments: --order-type LMT (did you mean --type?)"),
    (["orders", "--stauts", "FILLED"], "trading-console orders: error: unrecognized arguments: --stauts FILLED (did you mean --status?)"),
    (["audit", "verify", "--nope"], "trading-console audit verify: error: unrecognized arguments: --nope"),
])
def test_an_option_a_command_does_not_have_is_said_by_that_command_with_the_nearest_it_has(capsys, argv, said):
    """`order ... --order-type LMT` was refused with the top-level usage (no option of `order` in
    it) and "trading-console: error: unrecognized arguments": the command's own usage and the
    option it has nearest the one typed."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == said, err
    assert err.startswith(f"usage: {said.split(':')[0]} "), err  # the command's usage, not the top level's


def test_bars_show_keeps_its_columns_under_their_headings_for_a_short_symbol(capsys, tmp_path, _sqlite_template):
    """`bars show` of AAPL alone printed "SYMBOL  SERIES           BARS" over "AAPL  TRADES             15":
    the symbol column was as wide as the longest symbol, not its heading, so every column after it
    stood two places left of its heading."""
    url = _at_head(tmp_path, _sqlite_template)
    bars = tmp_path / "bars.csv"
    bars.write_text("date,symbol,open,high,low,close,volume\n2025-01-02,AAPL,243.1,244.2,241.0,243.85,5000\n")
    assert main(["--db-url", url, "bars", "import", str(bars)]) == EXIT_OK
    capsys.readouterr()
    assert main(["--db-url", url, "bars", "show"]) == EXIT_OK
    heading, row = capsys.readouterr().out.splitlines()
    assert [heading.index(word) for word in ("SERIES", "BARS", "FIRST", "LAST")] == [
        row.index("TRADES"), row.index("1  2025") + 1 - len("BARS"), row.index("2025-01-02"), row.rindex("2025-01-02")]
