"""Counts in messages: "1 order", "3 orders", never "order(s)"."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

from services.core.wording import counted

ROOT = Path(__file__).resolve().parents[2]
BRACKETED_PLURAL = re.compile(r"[a-z]\(s\)")


def test_a_count_takes_its_noun_in_the_singular_only_for_one():
    assert counted(1, "order") == "1 order"
    assert [counted(n, "fill") for n in (0, 2)] == ["0 fills", "2 fills"]
    assert counted(3, "working order") == "3 working orders"
    assert counted(2, "child", "children") == "2 children"


def _messages_with_a_bracketed_plural(path: Path) -> list[str]:
    """The string literals of a module (docstrings aside) that write a plural as "(s)"."""
    with path.open("rb") as source:
        return [f"{path.relative_to(ROOT)}:{token.start[0]}" for token in tokenize.tokenize(source.readline)
                if token.type == tokenize.STRING and not token.string.startswith(('"""', "r\"\"\""))
                and BRACKETED_PLURAL.search(token.string)]


def test_no_message_of_the_console_writes_a_plural_in_brackets():
    found = [where for folder in ("app", "widgets", "services") for path in sorted((ROOT / folder).rglob("*.py"))
             for where in _messages_with_a_bracketed_plural(path)]
    assert not found, found
