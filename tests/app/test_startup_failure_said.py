"""A window whose start fails on a database the operator has not upgraded says it in one line
(as `db upgrade`'s commands say it) and exits with the commands' code for it: the log had a
traceback of SchemaNotCurrent at ERROR, printed on the terminal, as though the console had
crashed (seen opening the demo window on a new MariaDB database). Anything unforeseen keeps its
traceback (app.main._log_startup_failure)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.urls import redact_url

ROOT = Path(__file__).resolve().parents[2]

# a window in its own process: out of dev.py test --quick, as the other subprocess tests are
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)]


def test_a_window_on_a_database_without_its_schema_says_so_in_one_line(isolated_user_dirs, empty_db_url, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "app", "--db-url", empty_db_url, "--screenshot", str(tmp_path / "shot.png")],
                            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=150,
                            check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 5, result.stderr  # the commands' exit for schema_not_current (app.commands.db)
    assert "Traceback" not in result.stderr and "SchemaNotCurrent" not in result.stderr, result.stderr
    said = (f"trading-console: start-up failed: the database at {redact_url(empty_db_url)} has no schema yet: "
            "run `trading-console db upgrade` (the operator's decision: back up first)")
    assert lines == [said], result.stderr
    log_text = (isolated_user_dirs / "logs" / "console.log").read_text()
    assert "start-up failed: the database at" in log_text and "Traceback" not in log_text
