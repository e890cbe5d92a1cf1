"""``python3 dev.py test``: how it starts pytest."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _dev():
    spec = importlib.util.spec_from_file_location("dev_entry_point", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_suite_writes_bytecode_caches_whatever_the_environment_says(monkeypatch):
    """PYTHONDONTWRITEBYTECODE=1 (set on this project's machines) made each `python -m app` child
    of the suite compile every module it imports again, and each worker its test modules."""
    dev = _dev()
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(dev, "ensure_mysql", lambda env: None)
    started: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(dev.subprocess, "call", lambda command, cwd, env: started.append((command, env)) or 0)
    assert dev.run_tests(["--quick"]) == 0
    [(command, env)] = started
    assert command[1:3] == ["-m", "pytest"] and command[-2:] == ["-m", "not slow"]
    assert "PYTHONDONTWRITEBYTECODE" not in env
