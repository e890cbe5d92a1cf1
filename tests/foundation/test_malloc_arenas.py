"""The console's processes limit glibc's malloc arenas (app/malloc_arenas.py), unless the
operator set MALLOC_ARENA_MAX."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "from app.malloc_arenas import limit_malloc_arenas; print(limit_malloc_arenas())"


def _probe(env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt exists on Linux only")
def test_glibc_takes_the_limit_and_the_operators_setting_wins():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _probe(env) == "True"
    assert _probe({**env, "MALLOC_ARENA_MAX": "4"}) == "False"  # left to glibc, which reads it itself
