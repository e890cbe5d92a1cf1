"""Words for counts in the messages every front end shows: "1 order", "3 orders", never
"3 order(s)". Free of Qt: the services' messages, the commands' lines and the window's panels
use the same one."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """"1 order", "3 orders" (``plural`` for a noun that does not take an s)."""
    return f"{count} {noun}" if count == 1 else f"{count} {plural or noun + 's'}"


def as_sentence(message: str) -> str:
    """A service's message (lower case, no stop: "lot size must be ...") as a line of a form."""
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
