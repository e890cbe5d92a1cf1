"""An SQLite database this user cannot write: its folder (SQLite in WAL mode creates FILE-wal and
FILE-shm beside the file, even to read) or the file itself. Every command and the window's start
said "unable to open database file" or "attempt to write a readonly database" (exit 5, the
window with a traceback on the terminal); now one line naming the file, the cause and what to do
(services.db.errors.sqlite_not_writable), exit 2, and nothing read or written. The commands run
as a user who cannot write the folder: ``nobody`` when the tests run as root (tests/fixtures/other_user.py)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.other_user import ROOT, Place
from tests.fixtures.waiting import wait_until_blocking

SAMPLE = ROOT / "resources" / "samples" / "momentum_2026-11-20.csv"

# every test runs commands (or a window) as another user, each a `python -m app` process: out
# of dev.py test --quick, as the suite's other subprocess tests are (pyproject's slow marker)
pytestmark = pytest.mark.slow


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(result: subprocess.CompletedProcess, says: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "sqlite3.OperationalError" not in result.stderr
    assert says in lines[0], lines[0]
    return lines[0]


def _made_database(place: Place, name: str = "console.sqlite3") -> Path:
    created = place.run_as_owner("--db-url", f"sqlite:///{(place.data / name).as_posix()}", "db", "upgrade")
    assert created.returncode == 0, created.stderr
    path = place.data / name
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()  # closed: folded back
    return path


def _nothing_beside(path: Path) -> None:
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no -wal, -shm, journal


def test_reads_and_writes_in_a_folder_this_user_cannot_write_say_so(other_user_place: Place):
    place = other_user_place
    path = _made_database(place)
    path.chmod(0o666)  # the file itself writable: only the folder is not
    place.lock_folder()
    before = _digest(path)
    wal, shm = f"{path}-wal", f"{path}-shm"
    for command in (("orders",), ("snapshot", "list"), ("snapshot", "import", str(SAMPLE), "--project", "p"),
                    ("halt",)):
        line = _one_line(place.run(*command), says=f"the database file {path} is in a folder this user")
        assert f"SQLite needs to create {wal} and {shm} beside it" in line, line
        assert f"fix the permissions of {place.data}" in line and "nothing was read or written" in line, line
    answer = place.run("backtests", "--json")
    _one_line(answer, says="is in a folder this user")
    assert json.loads(answer.stdout)["error"] == "bad_database_location", answer.stdout
    assert _digest(path) == before
    _nothing_beside(path)


def test_a_database_file_this_user_cannot_write_says_so(other_user_place: Place):
    place = other_user_place
    path = _made_database(place)
    if not place.as_root:
        path.chmod(0o444)  # as root the file stays root's 0644: nobody cannot write it
    before = _digest(path)
    for command in (("orders",), ("snapshot", "import", str(SAMPLE), "--project", "p"), ("db", "upgrade")):
        line = _one_line(place.run(*command), says=f"the database file {path} is read-only for the user")
        assert "make the file writable for this user" in line, line
    assert _digest(path) == before
    _nothing_beside(path)


def test_the_window_says_its_database_cannot_be_created(other_user_place: Place):
    """The demo window (--screenshot: its start without a screen to click on) in a data folder
    this user cannot write: its database cannot be created there."""
    place = other_user_place
    place.lock_folder()
    result = place.run("--screenshot", str(place.base / "config" / "shot.png"), timeout=180)
    line = _one_line(result, says=f"start-up failed: the database file {place.data / 'demo.sqlite3'} cannot be created")
    assert f"the folder {place.data} is not writable for the user" in line, line
    assert list(place.data.iterdir()) == []


def test_the_paper_window_shows_the_problem_and_closes_cleanly(other_user_place: Place):
    """A paper window on a database in a folder this user cannot write: the start-up box says
    it (the same line as the log's), the terminal has one line, no traceback; closed, exit 2."""
    place = other_user_place
    path = _made_database(place)
    path.chmod(0o666)
    place.lock_folder()
    log_file = place.base / "logs" / "console.log"
    window = subprocess.Popen(place.command("--profile", "paper"), env=place.env(), cwd=place.base,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_blocking(lambda: log_file.exists() and "start-up failed" in log_file.read_text(), timeout=90,
                            message="the window's start-up failure in its log")
        window.send_signal(signal.SIGTERM)  # closes as the close button does
        _out, err = window.communicate(timeout=60)
    finally:
        if window.poll() is None:
            window.kill()
            window.communicate()
    assert window.returncode == 2, err
    assert "Traceback" not in err and "sqlite3.OperationalError" not in err, err
    said = [line for line in err.splitlines() if "start-up failed" in line]
    assert len(said) == 1 and f"the database file {path} is in a folder this user" in said[0], err
    assert "Traceback" not in log_file.read_text()
    _nothing_beside(path)
