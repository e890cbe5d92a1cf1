"""``tests/fixtures/forked_app``: a ``python -m app`` child forked from the preloaded server says
and exits exactly as one started with exec (its arguments, environment and working directory are
the ones asked for), and a SIGKILL ends it as it ends a process: exit status -9. ``run_sync``
answers as ``subprocess.run`` does, timeout included."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from tests.execution.cli_helpers import child_env, run, start
from tests.fixtures import forked_app


@pytest.fixture(autouse=True)
def _forking(monkeypatch):
    """These tests are about the forked children: on even under TC_TEST_FORK_APP=0."""
    monkeypatch.setenv("TC_TEST_FORK_APP", "1")


@pytest.mark.parametrize("command", [
    ["--help"],
    ["no-such-command"],
    ["watch"],  # no database in this test's TC_DATA_DIR: exit 2 naming the file (the environment)
    ["snapshot", "list", "--json"],  # made in this test's data folder, at the schema's head
])
async def test_a_forked_child_says_and_exits_as_an_execd_one(command, monkeypatch):
    args = [sys.executable, "-m", "app", *command]
    forked = await run(args)
    monkeypatch.setenv("TC_TEST_FORK_APP", "0")
    execd = await run(args)
    assert (forked.code, forked.out, forked.err) == (execd.code, execd.out, execd.err)


async def test_the_child_is_forked_and_a_sigkill_ends_it_with_minus_nine():
    proc = await start([sys.executable, "-m", "app", "sim", "--port", "0"])  # serves until stopped
    try:
        assert isinstance(proc, forked_app.ForkedProcess)
        assert proc.pid != os.getpid()
        os.kill(proc.pid, 0)  # a process of its own, alive
        proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
        assert proc.returncode == -signal.SIGKILL
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert isinstance(out, bytes) and isinstance(err, bytes)
    finally:  # never leave the simulator behind, whatever failed
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 30)


@pytest.mark.parametrize("command", [["--help"], ["no-such-command"], ["watch"]])
def test_run_sync_answers_as_subprocess_run(command, monkeypatch, tmp_path):
    args = [sys.executable, "-m", "app", *command]
    forked = forked_app.run_sync(args, cwd=tmp_path, env=child_env(), timeout=120)
    execd = subprocess.run(args, cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=120, check=False)
    assert (forked.returncode, forked.stdout, forked.stderr) == (execd.returncode, execd.stdout, execd.stderr)


def test_run_sync_kills_a_child_past_its_timeout():
    with pytest.raises(subprocess.TimeoutExpired):
        forked_app.run_sync([sys.executable, "-m", "app", "sim", "--port", "0"], env=child_env(), timeout=1)
