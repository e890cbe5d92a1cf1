"""What the writer owes the database, and who is told when that changes (the window's status
bar, the commands): only changes of the warning are published, not every backlog count."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from services.core.wording import counted
from services.urls import redact_text

from .subscribers import Subscribers

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriterHealth:
    """What the writer owes the database. ``degraded``: the database is unreachable (``backlog``
    events wait in memory, ``journaled`` more in the journal, ``overflow``: the memory limit was
    reached); ``parked``: events the database refused, retried until written."""

    degraded: bool
    backlog: int
    message: str = ""
    overflow: bool = False
    parked: int = 0
    parked_reason: str = ""
    journaled: int = 0
    journal_path: str = ""

    @property
    def problem(self) -> bool:
        return self.degraded or self.parked > 0 or self.journaled > 0

    def describe(self) -> str:
        """One line for a status bar or a command's output ("" when all is well), any URL's
        password or registered secret in the database's messages masked: the commands masked
        it themselves, the window's activity log showed it as the driver said it."""
        return redact_text(self._said())

    def line(self) -> str:
        """This health as the window's activity log and every command (after "trading-console: "
        on stderr) say it as it changes: "Event writer: database unreachable: ...", then "Database
        reachable again: every event written" (the commands said the problem without "Event
        writer" and "database reachable again; every event written")."""
        return f"Event writer: {self.describe()}" if self.problem else "Database reachable again: every event written"

    def _said(self) -> str:
        parts = []
        if self.degraded and not self.backlog and self.journaled and not self.overflow:
            parts.append(self.message or "database unreachable")  # all in the journal: "0 events in memory" said nothing
        elif self.degraded:
            parts.append(f"{self.message or 'database unreachable'}; {counted(self.backlog, 'event')} waiting in memory"
                         + (" (memory limit reached)" if self.overflow else ""))
        if self.journaled:
            parts.append(f"{counted(self.journaled, 'event')} kept in the journal {self.journal_path}, written when the "
                         "database is reachable")
        if self.parked:
            parts.append(f"{counted(self.parked, 'event')} the database refused, retried until written ({self.parked_reason})")
        return "; ".join(parts)


class HealthBoard:
    """The writer's current health and its subscribers."""

    def __init__(self) -> None:
        self.current = WriterHealth(False, 0)
        self._subscribers: Subscribers[WriterHealth] = Subscribers("writer health")

    def subscribe(self, callback: Callable[[WriterHealth], None]) -> Callable[[], None]:
        return self._subscribers.add(callback)

    def publish(self, health: WriterHealth) -> None:
        previous = self.current
        self.current = health
        key = lambda h: (h.degraded, h.overflow, h.parked, h.journaled)  # noqa: E731
        if key(health) == key(previous):
            return  # only changes of the warning are published, not every backlog count
        if health.problem:
            log.warning("event writer: %s", health.describe())
        else:
            log.info("event writer: every event written")
        self._subscribers.tell(health)
