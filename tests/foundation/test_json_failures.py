"""A command asked for ``--json`` that fails says so in JSON: one object ``{"error": CODE,
"message": LINE}`` on stdout, the same line on stderr and the same exit code as without --json
(``app.cli.say_failure``, the one rule). Before, a database failure left stdout empty: the
line went to stderr only, and a script reading the JSON read nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.forked_app import run_sync

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT_URL = "mysql+pymysql://trader:S3cretPw@127.0.0.1:1/console"  # nothing listens on port 1
ASSIGN = ("assign", "--symbol", "AAPL", "--quantity", "1", "--project", "p", "--cost", "1")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]  # each case a `python -m app` subprocess


def _run(*args: str) -> subprocess.CompletedProcess:
    # PYTHONPATH as cli_helpers.child_env gives it (cwd is ROOT either way): forked, not exec'd
    return run_sync([sys.executable, "-m", "app", *args], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)


def _said(result: subprocess.CompletedProcess) -> dict:
    assert result.stdout.count("\n") == 1, f"not one JSON line on stdout: {result.stdout!r} (stderr {result.stderr!r})"
    said = json.loads(result.stdout)
    assert set(said) == {"error", "message"}, said
    assert f"trading-console: {said['message']}" in result.stderr  # the same line for a reader
    assert "Traceback" not in result.stderr
    return said


@pytest.mark.parametrize("command", [ASSIGN, ("trade-settings",), ("trade-settings", "set", "risk.max_order_notional=5"),
                                     ("positions",), ("audit", "list"), ("orders",)])
def test_an_unreachable_server_is_one_json_error(command):
    result = _run("--db-url", CLOSED_PORT_URL, *command, "--json")
    assert result.returncode == 5, result.stderr
    said = _said(result)
    assert said["error"] == "database_unreachable"
    assert "database server unreachable at 127.0.0.1:1" in said["message"]
    assert "S3cretPw" not in result.stdout + result.stderr


@pytest.mark.parametrize(("command", "code", "exit_code"), [
    (ASSIGN, "database_unreachable", 5),  # opened to be written: SQLite cannot open a folder
    (("trade-settings",), "database_unreachable", 5),
    (("positions",), "no_schema", 2),  # a reader opens only an existing file
])
def test_an_sqlite_file_that_is_a_folder_is_one_json_error(tmp_path, command, code, exit_code):
    folder = tmp_path / "console.sqlite3"
    folder.mkdir()
    url = f"sqlite:///{folder.as_posix()}"
    result = _run("--db-url", url, *command, "--json")
    assert result.returncode == exit_code, result.stderr
    assert _said(result)["error"] == code
    plain = _run("--db-url", url, *command)  # without --json: the same line and exit code, nothing on stdout
    assert (plain.returncode, plain.stdout) == (exit_code, "")
    assert plain.stderr.strip().splitlines()[-1] == result.stderr.strip().splitlines()[-1]


def test_a_missing_settings_file_and_an_unknown_project_are_json_errors(db_url):
    missing = _run("--config", "/nonexistent/settings.toml", "positions", "--json")
    assert (missing.returncode, _said(missing)["error"]) == (2, "bad_settings")
    unknown = _run("--db-url", db_url, "positions", "--project", "nope", "--json")
    assert (unknown.returncode, _said(unknown)["error"]) == (2, "not_found")
    assert "nope" in _said(unknown)["message"]


@pytest.mark.parametrize(("command", "says"), [
    (("tca", "--run", "x"), "trading-console tca: argument --run: not a number: 'x'"),
    (("trail",), "trading-console trail: one of the arguments --run --plan is required"),
    (("audit", "verify"), "trading-console audit verify: unrecognized arguments: --json"),  # verify has no --json
    (("backtest", "--fill"), "trading-console backtest: argument --fill: expected one argument"),
])
def test_a_usage_error_of_a_command_asked_for_json_is_one_json_error(command, says):
    """argparse's refusals (a value of the wrong type, a required option missing, an option the
    command does not have) went to stderr only: a script reading the JSON read nothing."""
    result = _run(*command, "--json")
    assert result.returncode == 2, result.stderr
    assert result.stdout.count("\n") == 1, f"not one JSON line on stdout: {result.stdout!r} (stderr {result.stderr!r})"
    assert json.loads(result.stdout) == {"error": "bad_input", "message": says}
    assert says.replace(": ", ": error: ", 1) in result.stderr  # argparse's own line and usage, as before
    assert "usage: " in result.stderr
    plain = _run(*command)  # without --json nothing on stdout
    assert (plain.returncode, plain.stdout) == (2, "")
