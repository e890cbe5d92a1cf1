"""The import-linter contracts of pyproject.toml (layering, docs/style.md practice 1), run with
the environment's ``lint-imports``: services never import Qt, widgets never import the database
layer, the pure core imports neither the database nor the broker, the simulator is independent
of the console's services. A second run on a tiny package that breaks a contract shows that the
check can fail. Lint and types (issue 9): ``ruff check .`` and ``mypy`` (configured in
pyproject.toml) find nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(config), "--no-cache"], check=False, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def test_the_contracts_are_declared():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    sources = {tuple(c["source_modules"]): set(c["forbidden_modules"]) for c in contracts}
    assert {"PySide6", "qasync", "pyqtgraph"} <= sources[("services",)]
    assert {"services.db", "sqlalchemy"} <= sources[("widgets",)]
    assert {"services.db", "services.execution", "ib_async", "sqlalchemy"} <= sources[("services.core",)]
    assert {"services.db", "services.execution", "app", "widgets"} <= sources[("services.ibsim",)]


def test_the_code_keeps_every_contract():
    result = _lint(ROOT, ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_broken_contract_fails_the_check(tmp_path):
    for package in ("app", "widgets", "services", "services/core", "services/db", "services/ibsim", "services/execution"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "services/core/rules.py").write_text("from services.db import session\n")
    (tmp_path / "services/db/session.py").write_text("import sqlalchemy\n")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (tmp_path / "pyproject.toml").write_text(tomli_w.dumps({"tool": {"importlinter": config["tool"]["importlinter"]}}))
    result = _lint(tmp_path, tmp_path / "pyproject.toml")
    assert result.returncode != 0
    assert "the pure core imports neither the database nor the broker BROKEN" in result.stdout
    assert "services.core.rules -> services.db" in result.stdout


def _tool(module: str, *args: str) -> subprocess.CompletedProcess:
    """A checker from this environment, run on the checkout with its pyproject.toml."""
    return subprocess.run([sys.executable, "-m", module, *args], check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff_finds_nothing():
    result = _tool("ruff", "check", ".", "--no-cache", "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    result = _tool("mypy")  # files and options from [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_import_fallbacks():
    """A broken module must fail loudly at import, not turn into a log line or a stand-in."""
    found = [f"{path.relative_to(ROOT)}:{number}"
             for package in ("app", "widgets", "services", "benchmarks")
             for path in sorted((ROOT / package).rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if "except ImportError" in line or "except ModuleNotFoundError" in line]
    assert found == []
