"""The client virtual environments of the conformance suite, created by the tests on first use.

Each client gets its own venv (``python -m venv`` + ``pip install <requirement>``) in a cache
folder outside the repository, keyed by the pinned requirement, so that a machine installs each
client once and every later run (CI included) reuses it:

    ~/.cache/ib-trading-console/conformance/<client>-<version>/    (TC_CONFORMANCE_CACHE overrides)

A venv counts as ready only once the ``ready`` marker is written after a successful install, so
an interrupted install is redone. Creation is serialized with a file lock (parallel test workers).
When pip cannot install the client (no index reachable), the test fails under ``CI=true`` with
pip's message, and is skipped elsewhere.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
INSTALL_TIMEOUT = 600  # seconds for one pip install; a network outage ends it with pip's message


def _pyproject_requirement(name: str) -> str:
    """The project's own pin of ``name`` (so the suite tests the client the console uses)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        deps.extend(extra)
    for dep in deps:
        if re.match(rf"{re.escape(name)}\s*[=<>!~]", dep):
            return dep.replace(" ", "")
    raise LookupError(f"{name} is not pinned in pyproject.toml")


@dataclass(frozen=True)
class Client:
    name: str  # the scenario script is scenario_<name>.py
    requirement: str  # what pip installs

    @property
    def cache_key(self) -> str:
        """``ib_async-2.1-2.2`` for ``ib_async>=2.1,<2.2``: the requirement, made a folder name."""
        spec = self.requirement[len(self.name):]
        return f"{self.name}-" + "-".join(re.findall(r"[0-9][0-9A-Za-z.]*", spec))


# ibapi on the package index is IB's official client 9.81 repackaged (the only version there);
# it announces versions 100..157. ib_insync is frozen at 0.9.86; ib_async follows the project's pin.
CLIENTS = {
    "ibapi": Client("ibapi", "ibapi==9.81.1.post1"),
    "ib_insync": Client("ib_insync", _pyproject_requirement("ib_insync")),
    "ib_async": Client("ib_async", _pyproject_requirement("ib_async")),
}


def cache_root() -> Path:
    override = os.environ.get("TC_CONFORMANCE_CACHE")
    if override:
        return Path(override)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ib-trading-console" / "conformance"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def client_python(client: Client) -> Path:
    """The python of the client's venv, created and installed on first use."""
    venv = cache_root() / client.cache_key
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{client.cache_key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be creating it: wait for it
        if (venv / "ready").exists():
            return venv_python(venv)
        shutil.rmtree(venv, ignore_errors=True)  # a half-made venv from an interrupted run
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        result = subprocess.run(
            [str(venv_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check", client.requirement],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=env, check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            message = (f"cannot install {client.requirement} into {venv} (is the package index reachable?):\n"
                       f"{result.stderr.strip()[-2000:]}")
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        (venv / "ready").write_text(client.requirement + "\n")
        return venv_python(venv)
