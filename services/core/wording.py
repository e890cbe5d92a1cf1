"""Words for counts in the messages every front end shows: "1 order", "3 orders", never
"3 order(s)". Free of Qt: the services' messages, the commands' lines and the window's panels
use the same one."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """"1 order", "3 orders" (``plural`` for a noun that does not take an s)."""
    return f"{count} {noun}" if count == 1 else f"{count} {plural or noun + 's'}"


def as_sentence(message: str) -> str:
    """A service's message (lower case, no stop: "lot size must be ...") as a line of a form."""
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def working_note(orders: int, quantities: Mapping[str, Decimal]) -> str:
    """The line a preview shows when the project's orders still working were counted as if
    they filled (docs/project-books.md): "counted as filled: 1 working order of this project:
    AAPL +100"."""
    listed = ", ".join(f"{key} {quantity.normalize():+f}" for key, quantity in sorted(quantities.items()))
    return f"counted as filled: {counted(orders, 'working order')} of this project: {listed}"
