"""The writer's local journal: events it could not keep in memory while the database was away.

One JSON line per event, appended and fsync'd per batch; a side file holds the byte offset up to
which the lines have been written to the database (advanced, and fsync'd, after each committed
batch). When everything is replayed both files are removed. A crash between a commit and the
offset update replays that one batch again, which the writer absorbs (fills are unique by
``exec_id``; a repeated status changes nothing).

Every operation holds an exclusive lock on ``<journal>.lock`` for its duration, so that the
window and the headless commands, which share the data folder, never replay the same line twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

if sys.platform == "win32":  # pragma: no cover - the console's lock on Windows
    import msvcrt

    def _lock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)

    def _unlock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)

    def _unlock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class JournalError(Exception):
    """A line of the journal cannot be read back (named by its line number)."""


class EventCodec:
    """Frozen event dataclasses <-> JSON-safe dicts; Decimals, datetimes and enums are tagged so
    they come back as exactly what went in."""

    def __init__(self, event_types: Iterable[type], enum_types: Iterable[type[Enum]]) -> None:
        self.event_types = {t.__name__: t for t in event_types}
        self.enum_types = {t.__name__: t for t in enum_types}

    def encode(self, event: object) -> dict:
        name = type(event).__name__
        if self.event_types.get(name) is not type(event) or not dataclasses.is_dataclass(event):
            raise TypeError(f"{name} cannot go into the writer's journal")
        return {"type": name, "fields": {f.name: self._value(getattr(event, f.name)) for f in dataclasses.fields(event)}}

    def decode(self, data: dict) -> object:
        cls = self.event_types[data["type"]]
        return cls(**{name: self._restore(value) for name, value in data["fields"].items()})

    def _value(self, value: Any) -> Any:
        if isinstance(value, Enum):
            return {"$enum": type(value).__name__, "value": value.value}
        if isinstance(value, Decimal):
            return {"$decimal": str(value)}
        if isinstance(value, datetime):
            return {"$datetime": value.isoformat()}
        if isinstance(value, dict):
            return {"$dict": {str(k): self._value(v) for k, v in value.items()}}
        if isinstance(value, (list, tuple)):
            return [self._value(v) for v in value]
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        return str(value)  # a broker payload's odd value: its text is what order_events keeps anyway

    def _restore(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._restore(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "$enum" in value:
            return self.enum_types[value["$enum"]](value["value"])
        if "$decimal" in value:
            return Decimal(value["$decimal"])
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        return {k: self._restore(v) for k, v in value["$dict"].items()}


class EventJournal:
    def __init__(self, path: str | Path, codec: EventCodec) -> None:
        self.path = Path(path)
        self.offset_path = self.path.with_name(self.path.name + ".offset")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.codec = codec

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as handle:
            _lock(handle)
            try:
                yield
            finally:
                _unlock(handle)

    def append(self, events: list[object]) -> None:
        """Append ``events`` (in order) and fsync before returning: once this returns they survive
        a crash."""
        if not events:
            return
        lines = "".join(json.dumps(self.codec.encode(e), ensure_ascii=False, separators=(",", ":")) + "\n" for e in events)
        with self.locked(), open(self.path, "ab") as handle:
            handle.write(lines.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def _offset(self) -> int:
        try:
            return int(self.offset_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def has_events(self) -> bool:
        return self._size() > self._offset()

    def pending(self) -> int:
        """Events not replayed yet (counts lines: for the health message, not on a hot path)."""
        offset = self._offset()
        try:
            with open(self.path, "rb") as handle:
                handle.seek(offset)
                return sum(1 for line in handle if line.strip())
        except FileNotFoundError:
            return 0

    @contextmanager
    def replay(self, limit: int) -> Iterator[list[object]]:
        """Under the lock: the next ``limit`` events not yet written. When the ``with`` block
        ends without an error they count as written (the offset moves past them, fsync'd; an
        exhausted journal is removed); an error leaves them for the next replay."""
        with self.locked():
            offset = self._offset()
            events: list[object] = []
            end = offset
            try:
                handle = open(self.path, "rb")  # noqa: SIM115 - closed by the `with handle` below; only the open may find no file
            except FileNotFoundError:
                yield []
                return
            with handle:
                handle.seek(offset)
                while len(events) < limit:
                    line = handle.readline()
                    if not line:
                        break
                    end += len(line)
                    if not line.endswith(b"\n"):
                        end -= len(line)  # a torn last line (crash mid-append): never acknowledged, left
                        break
                    if not line.strip():
                        continue
                    try:
                        events.append(self.codec.decode(json.loads(line)))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise JournalError(f"{self.path}: line {self._line_number(end)} cannot be read back: {exc}") from exc
            yield events
            if end >= self._size():
                self.path.unlink(missing_ok=True)
                self.offset_path.unlink(missing_ok=True)
            else:
                self._write_offset(end)

    def _write_offset(self, offset: int) -> None:
        tmp = self.offset_path.with_name(self.offset_path.name + ".tmp")
        with open(tmp, "w") as handle:
            handle.write(str(offset))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.offset_path)

    def _line_number(self, end: int) -> int:
        with open(self.path, "rb") as handle:
            return handle.read(end).count(b"\n")

    def set_aside(self) -> Path:
        """Move an unreadable journal out of the way (kept for a human, never replayed)."""
        with self.locked():
            target = self.path.with_name(f"{self.path.name}.unreadable-{os.getpid()}-{int(datetime.now().timestamp())}")
            os.replace(self.path, target)
            self.offset_path.unlink(missing_ok=True)
            return target
