"""Every document the code, the tests and the README cite is in this repository (``docs/``):
nothing points at a folder outside the checkout."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("app", "widgets", "services", "benchmarks", "migrations", "tests")
CITATION = re.compile(r"\bdocs/[\w.-]+\.md\b")
OUTSIDE = re.compile(r"shared/docs|\.\./shared|shared/seeds|seed plan|\bseed-?0\d\d")


def _files():
    yield ROOT / "README.md"
    for package in SOURCES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_cited_documents_exist_in_the_repository():
    missing = []
    for path in _files():
        for cited in set(CITATION.findall(path.read_text(encoding="utf-8"))):
            if not (ROOT / cited).is_file():
                missing.append(f"{path.relative_to(ROOT)} cites {cited}")
    assert missing == []


def test_nothing_cites_a_document_outside_the_repository():
    this = Path(__file__).resolve()
    outside = [f"{path.relative_to(ROOT)}: {match}" for path in _files() if path.resolve() != this
               for match in OUTSIDE.findall(path.read_text(encoding="utf-8"))]
    assert outside == []
