"""The layering rules of docs/style.md, checked by walking every import statement:
services never import Qt; widgets never touch the database; only app knows both."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "qasync", "pyqtgraph", "shiboken6", "pytestqt")
DB_MODULES = ("sqlalchemy", "pymysql", "alembic", "services.db", "services.repositories")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_services_never_import_qt():
    assert offenders("services", QT_MODULES) == []


def test_widgets_never_touch_the_database():
    assert offenders("widgets", DB_MODULES) == []


def test_the_checker_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom PySide6.QtCore import QObject\n")
    assert "PySide6.QtCore" in imported_modules(sample)
