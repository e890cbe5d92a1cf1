"""The writer's subscriber lists (its change sets, its health, the reports it holds unrecorded):
one rule for all three, where each had its own copy of it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Subscribers(Generic[T]):
    """Callbacks told each value in the order they subscribed. One that raises is logged and
    never stops the others, nor the writer that tells them (vn.py's flaw: one failing listener
    silenced the rest)."""

    def __init__(self, what: str) -> None:
        self.what = what  # named in the log when a callback fails
        self._callbacks: list[Callable[[T], None]] = []

    def add(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Subscribe ``callback``; returns what unsubscribes it (harmless twice)."""
        self._callbacks.append(callback)
        callbacks = self._callbacks
        return lambda: callbacks.remove(callback) if callback in callbacks else None

    def tell(self, value: T) -> None:
        for callback in list(self._callbacks):  # one may unsubscribe while told
            try:
                callback(value)
            except Exception:
                log.exception("%s subscriber failed", self.what)

    def __bool__(self) -> bool:
        return bool(self._callbacks)
