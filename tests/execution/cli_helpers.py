"""Run ``python -m app`` as a real subprocess from async tests (the simulator lives on the test's
loop, so the child is awaited, never waited for synchronously)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures import forked_app
from tests.fixtures.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
# the run lease's time to live (TC_LEASE_TTL) of the children of a test that waits a lease out
# (a process paused past it): everything the lease derives from it shrinks with it
# (services.execution.timings), so the test proves the same in 5 s instead of the default 30 s
SHORT_LEASE_TTL = 5.0


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


def child_env(tmp_home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = str(ROOT)
    return env


def cli_args(db_url: str, port: int, command: str, *rest: str, client_id: int = 1, connection: bool = True) -> list[str]:
    args = [sys.executable, "-m", "app", "--db-url", db_url, "--log-level", "WARNING", command, *rest]
    if connection:
        args += ["--ib-port", str(port), "--client-id", str(client_id), "--connect-timeout", "5"]
    return args


async def start(args: list[str]) -> asyncio.subprocess.Process | forked_app.ForkedProcess:
    """The child with stdout and stderr piped; ``python -m app`` is forked from a process that has
    imported the console already (``tests/fixtures/forked_app``: same process semantics, without
    0.9 s of imports per child)."""
    return await forked_app.start(args, cwd=ROOT, env=child_env())


async def run(args: list[str], timeout: float = 60) -> Result:
    proc = await start(args)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return Result(proc.returncode, out.decode(), err.decode())


async def until_client_gone(sim, client_id: int, timeout: float = 5.0) -> None:
    await wait_until(lambda: client_id not in sim.connected_client_ids(), timeout,
                     f"client {client_id} to leave the simulator")
