"""What the trader did while the database did not answer, written as soon as it answers again.

A halt or a Cancel All must not wait for the database: the broker is still there, and orders may
be working at it. When the database does not answer (its server unreachable, or the database
itself gone: ``services.db.errors``), the action does at once what needs no database (this
process's senders stop; Cancel All's cancel goes to the broker) and leaves here what it could not
write: the HALTED state with its ``trading.halt`` entry, the Cancel All marker with its
``trading.cancel_all`` entry. They are written in the order taken, by one background task that
tries again until the database answers, each with ``recorded_late`` (when it was asked and why
it was not recorded then) in its audit payload.

Until the halt is written, this process holds it itself (``halt_pending``): its runs and manual
orders are refused as HALTED even if the database, once back, still says ACTIVE for a moment.
Other processes cannot know of it before it is written; the words the action returns say so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.db.errors import describe_db_error, is_database_gone, is_server_unreachable

from .dbcall import db_call

log = logging.getLogger(__name__)

RETRY_INITIAL = 0.2  # seconds before the first try again; doubled up to RETRY_MAX
RETRY_MAX = 2.0


def database_unavailable(exc: BaseException) -> bool:
    """The database did not answer (its server unreachable) or is not there (dropped): what a
    halt and a Cancel All do without it, rather than fail."""
    return is_server_unreachable(exc) or is_database_gone(exc)


@dataclass(frozen=True, slots=True)
class Unrecorded:
    """One action left to write: ``what`` in words ("the halt"), ``write(recorded_late)``, the
    blocking write given what to record of the delay, and whether it is a halt."""

    what: str
    write: Callable[[dict], object]
    asked_at: datetime
    why: str
    halt: bool = False

    def late(self) -> dict:
        """What the audit entry records of the delay."""
        return {"asked_at": self.asked_at.isoformat(), "not_recorded_then": self.why}


class UnrecordedActions:
    """The actions of this process waiting for the database (see the module's docstring)."""

    def __init__(self, *, inline: bool = False, retry_initial: float = RETRY_INITIAL, retry_max: float = RETRY_MAX) -> None:
        self.inline = inline  # a backtest's engine calls its database inline (services.execution.dbcall)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._waiting: list[Unrecorded] = []
        self._task: asyncio.Task | None = None
        self._written: asyncio.Event = asyncio.Event()
        self._written.set()
        self._listeners: list[Callable[[str], None]] = []

    @property
    def halt_pending(self) -> bool:
        """A halt of this process not written yet: its sends are refused as HALTED meanwhile."""
        return any(entry.halt for entry in self._waiting)

    @property
    def waiting(self) -> tuple[str, ...]:
        return tuple(entry.what for entry in self._waiting)

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """``listener(words)`` each time an action is written late, on the loop ("Recorded now: the
        halt asked at 09:28:42 UTC ..."); returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def add(self, what: str, write: Callable[[dict], object], exc: BaseException, *, halt: bool = False,
            parts: str = "", plural: bool = False) -> str:
        """Leave ``write`` for when the database answers; the words for the trader. ``what``: the
        action in words ("the halt"); ``parts``: what of it is not recorded, when not all of it
        ("its audit entry"; ``plural``: "its marker and audit entry")."""
        several = plural
        why = describe_db_error(exc)
        self._waiting.append(Unrecorded(what, write, datetime.now(UTC), why, halt))
        self._written.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._write_when_back(), name="unrecorded actions")
        return (f"{parts or what} {'are' if several else 'is'} not recorded yet: the database did not answer ({why}); "
                f"{'they are' if several else 'it is'} written as soon as it answers, and until then other processes "
                f"do not see {'them' if several else 'it'}")

    async def wait_written(self, timeout: float) -> bool:
        """True once everything waiting is written (at once when nothing waits)."""
        try:
            await asyncio.wait_for(self._written.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _write_when_back(self) -> None:
        delay = self.retry_initial
        logged: set[int] = set()  # the entries whose failure other than an outage was logged (once each)
        while self._waiting:
            entry = self._waiting[0]
            try:
                await db_call(self.inline, entry.write, entry.late())
            except Exception as exc:
                # any failure keeps it waiting (a halt stays held here); one that is no outage is logged once
                if not database_unavailable(exc) and id(entry) not in logged:
                    logged.add(id(entry))
                    log.exception("%s could not be recorded; trying again", entry.what)
                await asyncio.sleep(delay)  # a back-off between tries, not a synchronisation
                delay = min(delay * 2, self.retry_max)
                continue
            self._waiting.pop(0)
            delay = self.retry_initial
            log.warning("%s recorded late (asked at %s)", entry.what, entry.asked_at.isoformat())
            words = (f"Recorded now: {entry.what} asked at {entry.asked_at.strftime('%H:%M:%S')} UTC while the database "
                     "did not answer")
            for listener in list(self._listeners):
                listener(words)
        self._written.set()

    async def stop(self) -> None:
        """The engine stops: what is still waiting stays unrecorded, said in the log."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._waiting:
            log.error("not recorded (the database did not answer before the engine stopped): %s",
                      ", ".join(f"{e.what} asked at {e.asked_at.isoformat()}" for e in self._waiting))
