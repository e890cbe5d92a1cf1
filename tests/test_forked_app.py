"""``tests/fixtures/forked_app``: a ``python -m app`` child forked from the preloaded server says
and exits exactly as one started with exec (its arguments, environment and working directory are
the ones asked for), and a SIGKILL ends it as it ends a process: exit status -9."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from tests.execution.cli_helpers import run, start
from tests.fixtures import forked_app


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
    assert isinstance(proc, forked_app.ForkedProcess)
    assert proc.pid != os.getpid()
    os.kill(proc.pid, 0)  # a process of its own, alive
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
    assert proc.returncode == -signal.SIGKILL
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert isinstance(out, bytes) and isinstance(err, bytes)
