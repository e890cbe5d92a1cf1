"""TWS socket framing: 4-byte big-endian length, then NUL-terminated UTF-8 fields.

Pure helpers, no I/O: ``frame`` builds one message, ``FrameBuffer`` splits a byte stream
back into field lists, ``fmt`` renders one value the way the server puts it on the wire.
"""

from __future__ import annotations

import struct
from decimal import Decimal

API_PREFIX = b"API\0"
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"  # what TWS sends for "no value" in doubles

_LEN = struct.Struct(">I")


def fmt(value: object) -> str:
    """One wire field. ``None`` is empty, bools are 0/1, Decimals are plain (no exponent,
    no trailing zeros) so that every decoder's ``float()`` / ``int()`` reads them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    return str(value)


def frame(fields: list[str] | tuple[str, ...]) -> bytes:
    """One framed message from already formatted fields."""
    payload = "".join(f + "\0" for f in fields).encode()
    return _LEN.pack(len(payload)) + payload


def frame_raw(text: str) -> bytes:
    """A framed string without field terminator (the client's version announcement)."""
    payload = text.encode()
    return _LEN.pack(len(payload)) + payload


class FrameBuffer:
    """Accumulates bytes and yields complete messages as field lists."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes) -> list[list[str]]:
        self._data += data
        messages: list[list[str]] = []
        while len(self._data) >= 4:
            (size,) = _LEN.unpack_from(self._data, 0)
            end = 4 + size
            if len(self._data) < end:
                break
            text = bytes(self._data[4:end]).decode(errors="backslashreplace")
            del self._data[:end]
            fields = text.split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            messages.append(fields)
        return messages


def parse_version_range(text: str) -> tuple[int, int, str]:
    """``v157..178 +OPTS`` -> (157, 178, "+OPTS"). ``v100`` means min == max."""
    head, _, options = text.strip("\0").partition(" ")
    if not head.startswith("v"):
        raise ValueError(f"not a version announcement: {text!r}")
    low, sep, high = head[1:].partition("..")
    low_v = int(low)
    high_v = int(high) if sep else low_v
    return low_v, high_v, options
