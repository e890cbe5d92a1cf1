"""What the trader did while the database did not answer, written as soon as it answers again.

A halt or a Cancel All must not wait for the database: the broker is still there, and orders may
be working at it. When the database does not answer (its server unreachable, or the database
itself gone: ``services.db.errors``), the action does at once what needs no database (this
process's senders stop; Cancel All's cancel goes to the broker) and leaves here what it could not
write: the HALTED state with its ``trading.halt`` entry, the Cancel All marker with its
``trading.cancel_all`` entry. They are written in the order taken, by one background task that
tries again until the database answers, each with ``recorded_late`` (when it was asked and why
it was not recorded then) in its audit payload.

A row's Cancel goes by the order as the window shows it, its audit entry left here the same way.
A database that answers but keeps a lock the step needs (a process stopped inside its
transaction) is met alike once the step has waited ``LOCK_WAIT_LIMIT`` (``write_or_leave``):
the step, still waiting, is waited for here, and written again if it fails.

Until the halt is written, this process holds it itself (``halt_pending``): its runs and manual
orders are refused as HALTED even if the database, once back, still says ACTIVE for a moment,
and a resume writes it first. Other processes cannot know of it before it is written; the words
the action returns say so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from services.db.errors import describe_db_error, is_database_gone, is_server_unreachable
from services.db.lock_conflicts import is_lock_conflict

from .dbcall import db_call

log = logging.getLogger(__name__)

RETRY_INITIAL = 0.2  # seconds before the first try again; doubled up to RETRY_MAX
RETRY_MAX = 2.0
# how long a halt's or Cancel All's database step may wait (a lock another connection holds)
# before the cancel goes to the broker without it: a healthy write takes milliseconds, a lock
# wait gives up only after the server's timeout (50 s by default), three times over
LOCK_WAIT_LIMIT = 10.0
T = TypeVar("T")


def database_unavailable(exc: BaseException) -> bool:
    """The database did not answer (its server unreachable) or is not there (dropped): what a
    halt and a Cancel All do without it, rather than fail."""
    return is_server_unreachable(exc) or is_database_gone(exc)


@dataclass(slots=True)
class Unrecorded:
    """One action left to write: ``what`` in words ("the halt"), ``write(recorded_late)``, the
    blocking write given what to record of the delay, and whether it is a halt. ``running``:
    its first write, still waiting for a lock another connection holds (``write_or_leave``): done when
    that ends well, else written again as any other."""

    what: str
    write: Callable[[dict], object]
    asked_at: datetime
    why: str
    halt: bool = False
    running: asyncio.Future | None = None
    during: str = "while the database did not answer"  # what kept it, for "Recorded now: ..."

    def late(self) -> dict:
        """What the audit entry records of the delay."""
        return {"asked_at": self.asked_at.isoformat(), "not_recorded_then": self.why}


class UnrecordedActions:
    """The actions of this process waiting for the database (see the module's docstring)."""

    def __init__(self, *, inline: bool = False, retry_initial: float = RETRY_INITIAL, retry_max: float = RETRY_MAX) -> None:
        self.inline = inline  # a backtest's engine calls its database inline (services.execution.dbcall)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.lock_wait_limit = LOCK_WAIT_LIMIT
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
        why = describe_db_error(exc)
        self._wait(Unrecorded(what, write, datetime.now(UTC), why, halt))
        return _not_recorded(parts or what, plural, f"the database did not answer ({why})", "it answers")

    async def write_or_leave(self, what: str, call: Awaitable[T], write: Callable[[dict], object], *,
                             halt: bool = False, parts: str = "", plural: bool = False) -> tuple[T | None, str]:
        """``call``, an action's database step (a halt's state, a Cancel All's marker, run in a
        thread), and "" once it is written; else (None, the words for the trader) with the step
        left here: the database did not answer (``add``: ``write`` tried again until it does),
        or the step waits over ``lock_wait_limit`` seconds for a lock another connection keeps
        (a process stopped inside its transaction: a lock wait lasts the server's timeout, again
        and again), and is waited for here while the action goes on without it, ``write`` tried
        again if it fails. Any other failure is raised. Inline (a backtest's engine) the step is
        simply awaited."""
        running = asyncio.ensure_future(call)
        try:
            if self.inline:
                return await running, ""
            return await asyncio.wait_for(asyncio.shield(running), self.lock_wait_limit), ""
        except TimeoutError:
            log.warning("%s: its database step waits for a lock for over %s s; going on without it", what,
                        self.lock_wait_limit)
            why = f"the database kept a lock it needs for over {self.lock_wait_limit:g} s (another connection's transaction)"
            self._wait(Unrecorded(what, write, datetime.now(UTC), why, halt, running,
                                  "while another connection kept a lock it needs"))
            return None, _not_recorded(parts or what, plural, why, "the lock is free")
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return None, self.add(what, write, exc, halt=halt, parts=parts, plural=plural)

    def _wait(self, entry: Unrecorded) -> None:
        self._waiting.append(entry)
        self._written.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._write_when_back(), name="unrecorded actions")

    def left_words(self, again: str) -> str:
        """What stays unrecorded when a command ends (it cannot stay to write it), and what to run
        (``again``: the command) once the database answers; "" when nothing does."""
        if not self._waiting:
            return ""
        asked = "; ".join(f"{entry.what} asked at {entry.asked_at.strftime('%H:%M:%S')} UTC" for entry in self._waiting)
        return (f"NOT recorded, the database did not answer before this command ended: {asked}; other processes do "
                f"not see {'them' if len(self._waiting) > 1 else 'it'}: run `trading-console {again}` again once it answers")

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
                if entry.running is not None:  # its own write, waiting for a lock: the first to try
                    running, entry.running = entry.running, None
                    await running
                else:
                    await db_call(self.inline, entry.write, entry.late())
            except Exception as exc:
                # any failure keeps it waiting (a halt stays held here); one that is no outage is logged once
                if not (database_unavailable(exc) or is_lock_conflict(exc)) and id(entry) not in logged:
                    logged.add(id(entry))
                    log.exception("%s could not be recorded; trying again", entry.what)
                await asyncio.sleep(delay)  # a back-off between tries, not a synchronisation
                delay = min(delay * 2, self.retry_max)
                continue
            self._waiting.pop(0)
            delay = self.retry_initial
            log.warning("%s recorded late (asked at %s)", entry.what, entry.asked_at.isoformat())
            words = f"Recorded now: {entry.what} asked at {entry.asked_at.strftime('%H:%M:%S')} UTC {entry.during}"
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


def _not_recorded(what: str, plural: bool, why: str, until: str) -> str:
    return (f"{what} {'are' if plural else 'is'} not recorded yet: {why}; {'they are' if plural else 'it is'} "
            f"written as soon as {until}, and until then other processes do not see {'them' if plural else 'it'}")
