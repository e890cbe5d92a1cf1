"""Errors a command does not handle itself still end as one clear line and the right exit code,
with the traceback in the log file only and no password anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # each case a `python -m app` subprocess


def _run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {"TC_CONFIG_FILE": str(home / "s.toml"), "TC_DATA_DIR": str(home / "d"), "TC_LOG_DIR": str(home / "l"),
           "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "app", *args], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("--db-url", "mysql+pymysql://trader:S3cretPw@127.0.0.1:1/console", "snapshot", "list"), 5, "database server unreachable at 127.0.0.1:1"),
        (("--db-url", "notaurl", "orders"), 2, "invalid database URL"),
        (("--db-url", "postgresql://trader:S3cretPw@h/db", "orders"), 2, "invalid database URL"),
        (("--config", "/nonexistent/settings.toml", "orders"), 2, "does not exist"),
        (("preview", "--snapshot", "x.csv", "--portfolio-value", "1e400"), 2, "--portfolio-value"),
        (("preview", "--snapshot", "x.csv", "--portfolio-value", "1000", "--lot-size", "2.5"), 2, "whole number"),
        (("execute", "--snapshot", "1", "--project", "p", "--ib-port", "99999"), 2, "must be a port from 1 to 65535: '99999'"),
    ],
)
@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_one_line_and_exit_code(tmp_path, args, code, says):
    result = _run(*args, home=tmp_path)
    assert result.returncode == code, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert "S3cretPw" not in result.stderr + result.stdout
    log = tmp_path / "l" / "console.log"
    if log.exists():
        assert "S3cretPw" not in log.read_text()


@pytest.mark.parametrize("as_json", [False, True])
def test_a_reader_gone_is_no_failure(tmp_path, as_json):
    """`trading-console trade-settings | head -1`: the reader closes the pipe before the command
    writes; the command ends 0 with nothing on stderr, not an internal error or a traceback (with
    --json the error object itself used to fail on the closed pipe)."""
    import os

    db_url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    env = {"TC_CONFIG_FILE": str(tmp_path / "s.toml"), "TC_DATA_DIR": str(tmp_path / "d"), "TC_LOG_DIR": str(tmp_path / "l"),
           "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
    assert _run("--db-url", db_url, "db", "upgrade", home=tmp_path).returncode == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    try:
        result = subprocess.run([sys.executable, "-m", "app", "--db-url", db_url, "trade-settings", *(["--json"] if as_json else [])],
                                check=False, cwd=ROOT, env=env, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("as_json", [False, True])
def test_an_argument_that_is_not_utf8_is_named_and_refused_before_anything_runs(tmp_path, as_json):
    """A file name with the byte 0xff reached the command as 'p\\udcff.csv': `bars import` stored
    the file and printed the name with a replacement character, a missing one was said as
    "q\\udcff.csv: ... No such file or directory"."""
    bars = tmp_path / "p\udcff.csv"  # the bytes p, 0xff, .csv on disk
    bars.write_text("date,symbol,open,high,low,close\n2025-01-02,AAPL,1,1,1,1\n")
    database = tmp_path / "x.sqlite3"
    env = {"TC_CONFIG_FILE": str(tmp_path / "s.toml"), "TC_DATA_DIR": str(tmp_path / "d"), "TC_LOG_DIR": str(tmp_path / "l"),
           "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
    path = bytes(tmp_path) + b"/p\xff.csv"
    args = [sys.executable.encode(), b"-m", b"app", b"--db-url", f"sqlite:///{database}".encode(), b"bars", b"import",
            path, *([b"--json"] if as_json else [])]

    result = subprocess.run(args, check=False, cwd=ROOT, env=env, capture_output=True, timeout=120)

    said = (f"trading-console: argument 5, {path!r}, is not valid UTF-8 (byte 0xff at position {path.index(0xff)}): "
            "the console reads its arguments as UTF-8 text; rename the file, or give the name in UTF-8\n")
    assert (result.returncode, result.stderr.decode()) == (2, said)
    assert not database.exists()  # nothing opened, nothing stored
    if as_json:
        import json

        assert json.loads(result.stdout) == {"error": "bad_input", "message": said.removeprefix("trading-console: ").rstrip("\n")}
    else:
        assert result.stdout == b""


@pytest.mark.parametrize("raised, said", [("lock", "database_lock_held"), ("timeout", None)])
def test_a_commands_last_flush_held_by_another_connections_locks_says_so(raised, said):
    """A command's last wait for its writer (``_written``, after replace, order, recover): a
    writer kept waiting by another connection's row locks (``DatabaseLockHeld``) is said as such,
    exit 5; swallowed, it ended as ``database_unreachable`` once the stack closed with events
    unwritten, sending the trader to look for a database that was there all along. A plain
    timeout is still left to the writer's health and journal."""
    import asyncio

    from app.commands.execution import _written
    from services.execution.errors import DatabaseLockHeld

    class Writer:
        async def flush(self, timeout):
            raise DatabaseLockHeld("held") if raised == "lock" else TimeoutError("slow")

    class Stack:
        writer = Writer()

    if said is None:
        asyncio.run(_written(Stack()))
        return
    with pytest.raises(DatabaseLockHeld) as error:
        asyncio.run(_written(Stack()))
    assert (error.value.code, error.value.exit_code) == (said, 5)



def test_a_reader_gone_in_the_middle_of_a_long_output_is_no_database_error(tmp_path):
    """`trading-console trail --run 1 | head -5`: a command run through ``run_guarded`` (trail, tca,
    audit, positions, backtests, db ...) whose output filled stdout's buffer met the closed pipe
    while printing, and its BrokenPipeError, an OSError, was said as "database error: Broken pipe",
    exit 5, sending the trader to look at a database that was fine. ``db sql`` prints some 25 kB."""
    import os

    env = {"TC_CONFIG_FILE": str(tmp_path / "s.toml"), "TC_DATA_DIR": str(tmp_path / "d"), "TC_LOG_DIR": str(tmp_path / "l"),
           "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    try:
        result = subprocess.run([sys.executable, "-m", "app", "db", "sql"], check=False, cwd=ROOT, env=env,
                                stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")


def test_the_first_db_upgrade_makes_the_consoles_own_data_folder(tmp_path):
    """On a new machine (no data folder yet) `db current` and `db upgrade` of the console's own
    database said 'the folder of the SQLite database .../console.sqlite3 does not exist: create it
    (mkdir -p ...)', exit 2, though `orders` or the window create that folder themselves. A folder
    of a database URL the trader named is still never created."""
    current = _run("db", "current", home=tmp_path)
    assert (current.returncode, current.stderr) == (0, ""), current.stderr
    assert current.stdout.endswith("console.sqlite3: no schema (run `trading-console db upgrade`)\n")
    upgrade = _run("db", "upgrade", home=tmp_path)
    assert (upgrade.returncode, upgrade.stderr) == (0, ""), upgrade.stderr
    assert (tmp_path / "d" / "console.sqlite3").is_file()
    named = _run("--db-url", f"sqlite:///{tmp_path / 'typo' / 'x.sqlite3'}", "db", "upgrade", home=tmp_path)
    assert named.returncode == 2 and "does not exist: create it" in named.stderr, named.stderr
    assert not (tmp_path / "typo").exists()
