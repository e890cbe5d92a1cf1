"""The writer's queue: events taken in queue order, written in batches in a worker thread
(``asyncio.to_thread``: the GUI loop never blocks), and kept when the database cannot take them.

If the database goes away (OperationalError and friends) the batch waits in memory and is
retried with a backoff; subscribers see ``WriterHealth(degraded=True, ...)`` until it is
written. Nothing is dropped: the in-memory backlog is bounded by ``buffer_limit``; beyond it, and
when the writer stops before the database came back, the events go to the local journal
(``services.execution.journal``: one JSON line per event, fsync'd), which is replayed first when
the database returns (also by the next process). Without a journal the writer stops draining the
provider's queue at the limit (the events wait there) and says so.

An event the database refuses (not an outage: a bug or bad data) is parked after its batch was
retried event by event; parked events are a health problem (``WriterHealth.parked``) and are
retried with a backoff until they are written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from services.core.wording import counted
from services.db.lock_conflicts import is_interrupted, is_lock_conflict, lock_blockers
from services.domain import ChangeSet

from ..dbcall import db_call
from ..errors import DatabaseLockHeld
from ..events import BrokerReport, ExecutionEvent, OrderStatusEvent
from ..journal import EventJournal, JournalError
from ..timings import WRITE_TIMEOUT
from .events import JOURNAL_CODEC, PositionTruth
from .health import HealthBoard, WriterHealth
from .projection import EventProjection
from .subscribers import Subscribers

log = logging.getLogger(__name__)

WAITING_ON_LOCK = "waiting for a row another connection keeps locked"
STOPPED_ON_LOCK = "stopped while waiting for a row another connection keeps locked"
LOCK_LOOK_TIMEOUT = 5.0  # seconds for the database to say who holds the locks the writer waits for


def waiting_on_locks(waited: float, backlog: int, holders: list[str]) -> str:
    """What a trader reads when the writer is kept waiting on row locks (DatabaseLockHeld)."""
    who = f" ({'; '.join(holders)})" if holders else ""
    return (f"the database kept this process's event writer waiting {waited:g} s on rows another connection keeps "
            f"locked{who}: a process paused or stuck inside its transaction (Ctrl-Z, SIGSTOP, a debugger) holds them. "
            f"{counted(backlog, 'event')} of this process not written yet; it stopped here and sent nothing more. "
            "Resume or end the process holding the locks (or end its database connection), then execute the run again "
            "or run reconcile: the writer's events are kept (in its journal once this process ends, written first by "
            "the next command or window session), and the orders' states are read again from the broker, nothing sent twice")


async def written_or_kept(writer: EventWriter, timeout: float | None = None) -> None:
    """A command's last wait for its writer: a database still away after ``timeout`` (None: the
    writer's ``flush_timeout``, the write_timeout setting) is the
    writer health's to say (its events go to the journal when the command stops); a writer kept
    waiting by another connection's row locks raises ``DatabaseLockHeld`` (exit 5, naming the
    holder) rather than end as a database away once the stack closes with events unwritten."""
    try:
        await writer.flush(timeout)
    except DatabaseLockHeld:
        raise
    except TimeoutError:
        pass


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(getattr(exc, "connection_invalidated", False))


class EventWriter:
    """Takes events from ``queue`` (the provider's, or its own) and writes them in batches of up
    to ``batch_max``; what the database cannot take yet waits in memory up to ``buffer_limit``
    events, then in the journal at ``journal_path`` (see this module's docstring)."""

    def __init__(
        self,
        db,
        queue: asyncio.Queue | None = None,
        *,
        batch_max: int = 1000,
        buffer_limit: int = 50_000,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        account: str | None = None,
        journal_path=None,
        parked_retry_initial: float = 5.0,
        parked_retry_max: float = 300.0,
        flush_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self.db = db
        # how long a flush waits by default (an action waiting for its events): the write_timeout setting
        self.flush_timeout = flush_timeout
        self.queue: asyncio.Queue = queue if queue is not None else asyncio.Queue()
        self.batch_max = batch_max
        self.buffer_limit = buffer_limit
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.projection = EventProjection(db, account=account, stale_truth=self._stale_truth)
        self._pending: list[object] = []
        self._subscribers: Subscribers[ChangeSet] = Subscribers("change-set")
        self._health_board = HealthBoard()
        # the broker's order statuses and executions waiting while the database does not answer,
        # told to who shows orders, fills and positions (subscribe_unrecorded); the last told, ()
        # once written
        self._unrecorded_subscribers: Subscribers[tuple[BrokerReport, ...]] = Subscribers("unrecorded-report")
        self._unrecorded_told: tuple[BrokerReport, ...] = ()
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.batches = 0
        self.events_written = 0
        self.poisoned: list[tuple[object, str]] = []  # parked: (event, why), retried until written
        self.parked_retry_initial = parked_retry_initial
        self.parked_retry_max = parked_retry_max
        self._parked_delay = parked_retry_initial
        self._parked_due = 0.0
        self.journal = EventJournal(journal_path, JOURNAL_CODEC) if journal_path else None
        self._journaled = 0  # journal lines not replayed yet (as far as this writer knows)
        self._overflowed = False  # some of them went there because memory was full (WriterHealth.overflow)
        self._replay_due = False
        self._stop_requested = False
        # the last attempt found the database unreachable (not a lock wait): a stop does not
        # wait for it to come back
        self._unreachable = False
        # the last flush gave up on row locks another connection holds (DatabaseLockHeld): a stop
        # does not wait for them, and ends its own attempt's lock wait
        self._lock_held = False
        self._wake = asyncio.Event()
        self.inline_db = False  # a backtest's writer writes inline (services.execution.dbcall)
        self._holders = 0  # callers inside ``held()``: what they queue waits for the block's end
        self._released = asyncio.Event()
        self._released.set()
        # events taken from the queue so far, and for each symbol the number (in queue order) of
        # its last live execution: IB's position answers are judged against them (PositionTruth)
        self._received = 0
        self._last_live_fill: dict[str, int] = {}

    @property
    def account(self) -> str | None:
        """The account whose executions and orders are written (None: any); set on connecting."""
        return self.projection.account

    @account.setter
    def account(self, account: str | None) -> None:
        self.projection.account = account

    @property
    def health(self) -> WriterHealth:
        return self._health_board.current

    # ------------------------------------------------------------------ subscriptions
    def subscribe(self, callback: Callable[[ChangeSet], None]) -> Callable[[], None]:
        return self._subscribers.add(callback)

    def subscribe_health(self, callback: Callable[[WriterHealth], None]) -> Callable[[], None]:
        return self._health_board.subscribe(callback)

    def subscribe_unrecorded(self, callback: Callable[[tuple[BrokerReport, ...]], None]) -> Callable[[], None]:
        """``callback(reports)``: the broker's order statuses and executions the database has not
        taken, in the order they came, after each attempt it did not answer that found new ones;
        ``()`` once they are written (services.execution.unrecorded_reports shows them)."""
        return self._unrecorded_subscribers.add(callback)

    def _tell_unrecorded(self, reports: tuple[BrokerReport, ...]) -> None:
        told = self._unrecorded_told
        if len(reports) == len(told) and (not reports or reports[-1] is told[-1]):
            return  # nothing new since the last attempt
        self._unrecorded_told = reports
        self._unrecorded_subscribers.tell(reports)

    def _wants_changes(self) -> bool:
        """Whether a batch's change set is made: always when written in a worker thread (a
        subscriber may come while it is written); inline (a backtest), only for a subscriber
        there already, since none can come before it is published (a backtest's batches mostly
        have none: the records and the positions read back for them cost about a tenth of a batch)."""
        return not self.inline_db or bool(self._subscribers)

    def _publish(self, changes: ChangeSet) -> None:
        self._subscribers.tell(changes)

    def _set_health(self, health: WriterHealth) -> None:
        self._health_board.publish(health)

    def _health(self, degraded: bool, message: str = "", overflow: bool = False) -> WriterHealth:
        reason = self.poisoned[0][1] if self.poisoned else ""
        return WriterHealth(degraded, self.backlog, message if degraded else "", overflow and degraded, len(self.poisoned),
                            reason[:200], self._journaled, str(self.journal.path) if self.journal else "")

    # ------------------------------------------------------------------ lifecycle
    def submit(self, event: object) -> None:
        """Queue an event (reconciliation and our own order actions use the same writer)."""
        self._idle.clear()
        self.queue.put_nowait(event)

    def start(self) -> asyncio.Task:
        if self._task is None or self._task.done():
            self._replay_due = self.journal is not None and self.journal.has_events()
            if self._replay_due:
                self._idle.clear()  # a flush waits for the journal's events too
            self._task = asyncio.get_running_loop().create_task(self.run(), name="event-writer")
        return self._task

    async def stop(self, *, drain: bool = True, timeout: float = 30.0) -> None:
        """Write what is queued (``drain``); what the database could not take within ``timeout``
        goes to the journal (with none configured it is lost, and logged as an error). With a
        journal and the database found unreachable by the last attempt, one more attempt is
        made at once and what it cannot write goes to the journal: the stop does not wait out
        ``timeout`` (a command or window closed during an outage waited 10 s for nothing). The same
        when the last flush gave up on row locks another connection holds (``DatabaseLockHeld``):
        the attempt waiting for them is ended (``_end_own_lock_wait``), its events go to the journal."""
        if drain:
            if (self.journal is not None and (self._unreachable or self._lock_held) and self._task is not None
                    and not self._task.done()):
                await self._stop_into_journal(timeout)
            else:
                try:
                    await self.flush(timeout)
                except DatabaseLockHeld as exc:  # said once here: a window closing has no one else to say it
                    log.warning("event writer stopping: %s", exc)
                    await self._stop_into_journal(timeout)
                except TimeoutError:
                    await self._stop_into_journal(timeout)
        if self.journal is not None and self.poisoned:
            self._spill([event for event, _why in self.poisoned])  # parked events outlive the process too
            self.poisoned.clear()
            self._set_health(self._health(self.health.degraded, self.health.message))
        await self._end_task()

    async def _end_task(self) -> None:
        """Cancel the writing task and wait for its end (a failure it had is logged)."""
        if self._task is None:
            return
        # cancelling the task leaves its thread waiting in the database: the process could not end
        await self._end_own_lock_wait()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass  # what cancel() asked for
        except Exception:
            log.exception("event writer: the writing task had failed")
        self._task = None

    async def _stop_into_journal(self, timeout: float) -> None:
        if self.journal is None or self._task is None or self._task.done():
            log.error("event writer stopped with %d events unwritten (no journal configured)", self.backlog)
            return
        # the loop owns the backlog: it spills everything at its next failed attempt and ends
        self._stop_requested = True
        self._wake.set()
        await self._end_own_lock_wait()  # the attempt fails at once, and the loop spills its events
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            await self._abandon_attempt(timeout)

    async def _end_own_lock_wait(self) -> None:
        """The writer stops after a flush gave up on row locks another connection holds: the
        attempt under way, still waiting for them in MariaDB (up to innodb_lock_wait_timeout, 50 s
        by default), is interrupted (``InterruptibleWork``: its own connection, never the holder's),
        so that it fails at once, rolled back, its events kept as for any failed batch, and the
        process can end (it waits for its worker threads: a command that had said it gave up
        still hung those 50 s). SQLite waits in this process: nothing to end there."""
        if not self._lock_held or self._task is None or self._task.done() or self.db.is_sqlite:
            return
        try:
            ended = await asyncio.wait_for(asyncio.to_thread(self.projection.end_lock_wait), LOCK_LOOK_TIMEOUT)
        except (TimeoutError, DBAPIError) as exc:  # the abandoned attempt then waits its lock wait out
            log.warning("event writer: its attempt's lock wait not ended: %s", str(exc).splitlines()[0][:200] if str(exc) else
                        "the database did not answer")
            return
        if ended:
            log.info("event writer: its attempt waiting for another connection's row locks ended (it stops)")

    async def _abandon_attempt(self, timeout: float) -> None:
        """The attempt under way still waits in the database after ``timeout`` (a server that
        stopped answering; a row another connection keeps locked whose wait could not be ended,
        ``_end_own_lock_wait``): its events go to the journal all the same.
        Cancelling the task does not end the attempt's thread, and the events it held were
        dropped with the task (an adversarial review: "48 events unwritten" after error 1205).
        Should the attempt still commit, the journal's replay writes those events a second time,
        which the writer absorbs as it absorbs a batch replayed after a crash
        (services.execution.journal)."""
        assert self._task is not None and self.journal is not None  # _stop_into_journal's conditions
        await self._end_task()
        self._drain_queue(limit=None)
        events, self._pending = self._pending, []
        log.warning("event writer: the last attempt still waits for the database after %g s; %s go to the journal",
                    timeout, counted(len(events), "event"))
        try:
            # the journal's lock may be held by that very attempt (a replay): waited for, in a thread
            await asyncio.to_thread(self._spill, events)
        except OSError:
            log.exception("event writer stopped with %d events unwritten: the journal %s cannot be written",
                          len(events), self.journal.path)
            self._pending[:0] = events

    @asynccontextmanager
    async def held(self):
        """``async with writer.held():`` the events queued inside the block are written together
        when it ends (one transaction instead of one per burst: a backtest sends a run's orders
        and has them filled at the close in one block). Nothing inside may wait for the writer
        (``flush``, ``wait_done``): it would wait for the block's end."""
        self._holders += 1
        self._released.clear()
        try:
            yield self
        finally:
            self._holders -= 1
            if not self._holders:
                self._released.set()

    def position_mark(self) -> int:
        """The queue number the next submitted or received event will have (see PositionTruth)."""
        return self._received + self.queue.qsize()

    def _taken(self, event: object) -> object:
        """Every event leaves the queue through here, in queue order: numbered."""
        if isinstance(event, ExecutionEvent) and event.source == "broker":
            self._last_live_fill[event.symbol] = self._received
        self._received += 1
        return event

    def live_fill_since(self, symbol: str, mark: int | None) -> bool:
        """Whether a live execution of ``symbol`` (a listing key: its bare symbol) was received
        at or after ``mark`` (taken or to be taken from the queue)."""
        last = self._last_live_fill.get(symbol.partition("@")[0])
        return mark is not None and last is not None and last >= mark

    def _stale_truth(self, truth: PositionTruth) -> bool:
        return self.live_fill_since(truth.symbol, truth.as_of)

    @property
    def backlog(self) -> int:
        return len(self._pending) + self.queue.qsize()

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until everything queued so far is committed (``timeout``: ``flush_timeout``)."""
        timeout = self.flush_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.queue.qsize() or self._pending or self._replay_due or not self._idle.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                locked = await self._lock_holders()
                if locked is not None:
                    self._lock_held = True
                    raise DatabaseLockHeld(waiting_on_locks(timeout, self.backlog, locked))
                raise TimeoutError(f"event writer still has {self.backlog} events after {timeout} s")
            if self.queue.qsize() or self._pending or self._replay_due:
                self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def _lock_holders(self) -> list[str] | None:
        """Whether the writer is kept waiting by row locks another connection holds: its last
        attempt ended on one (it tries again), or the attempt under way waits for one now (MariaDB
        says, and who holds it). None: not that (an outage, a slow database). Each holder as
        ``services.db.lock_conflicts.lock_blockers`` words it (empty when not known)."""
        if self._unreachable:  # an outage: no server to ask, and no lock to name
            return None
        connection_id = self.projection.connection_id
        if self._task is not None and not self._task.done() and connection_id is not None:
            try:
                holders = await asyncio.wait_for(asyncio.to_thread(lock_blockers, self.db, connection_id), LOCK_LOOK_TIMEOUT)
            except TimeoutError:
                holders = None
            if holders is not None:
                return holders
        return [] if self.health.degraded and self.health.message.startswith(WAITING_ON_LOCK) else None

    def _drain_queue(self, limit: int | None = -1) -> None:
        limit = self.buffer_limit if limit == -1 else limit
        while limit is None or len(self._pending) < limit:
            try:
                self._pending.append(self._taken(self.queue.get_nowait()))
            except asyncio.QueueEmpty:
                break

    async def run(self) -> None:
        delay = self.retry_initial
        self._replay_due = self.journal is not None and self.journal.has_events()
        if self._replay_due:
            assert self.journal is not None  # only a journal has events to replay
            self._idle.clear()
            self._journaled = await asyncio.to_thread(self.journal.pending)
            self._set_health(self._health(False))
        while True:
            if self._replay_due:  # the journal holds the oldest events: they go first
                assert self.journal is not None
                try:
                    changes = await asyncio.to_thread(self._replay_batch)
                except JournalError:
                    kept = await asyncio.to_thread(self.journal.set_aside)
                    log.exception("event writer: the journal cannot be read back; moved to %s for a human to look at", kept)
                    self._replay_due, self._journaled = False, 0
                    continue
                except Exception as exc:
                    if not _is_connection_error(exc):  # the journal file itself (disk, permissions)
                        log.exception("event writer: replaying the journal %s failed; retried", self.journal.path)
                    if await self._database_down(exc, delay):
                        return
                    delay = min(delay * 2, self.retry_max)
                    continue
                delay = self.retry_initial
                self._unreachable = self._lock_held = False
                self._after_write(changes)
                continue
            if not self._pending:
                if self._stop_requested and self.queue.empty():
                    return
                if self.queue.empty():
                    self._idle.set()
                first = await self._next_event()
                if first is None:
                    continue  # parked events were retried meanwhile
                self._idle.clear()
                self._pending.append(first)
            if self._holders:  # written together when the holder's block ends (``held``)
                await self._released.wait()
            self._drain_queue()
            batch = self._pending[: self.batch_max]
            try:
                changes = await db_call(self.inline_db, self.projection.write, batch, changes=self._wants_changes())
            except Exception as exc:
                if _is_connection_error(exc):
                    if await self._database_down(exc, delay):
                        return
                    delay = min(delay * 2, self.retry_max)
                    continue
                log.exception("event batch failed; writing its events one by one")
                changes, done, outage = await asyncio.to_thread(self._write_one_by_one_until_outage, batch)
                if outage is not None:  # the database went away half-way: the rest waits
                    del self._pending[:done]
                    self.events_written += done
                    if changes:
                        self._publish(changes)
                    if await self._database_down(outage, delay):
                        return
                    delay = min(delay * 2, self.retry_max)
                    continue
            delay = self.retry_initial
            self._unreachable = self._lock_held = False
            del self._pending[: len(batch)]
            self.batches += 1
            self.events_written += len(batch)
            self._after_write(changes)

    def _after_write(self, changes: ChangeSet | None) -> None:
        if self.poisoned and self._parked_due <= asyncio.get_running_loop().time():
            self._parked_due = asyncio.get_running_loop().time() + self._parked_delay
        # the outage warning stays until the backlog it announced is written
        degraded = self.health.degraded and bool(self._pending or self._replay_due)
        self._set_health(self._health(degraded, self.health.message, self.health.overflow))
        if changes:
            self._publish(changes)
        if self._unrecorded_told:
            # written: the change set just published carries the orders and fills as stored
            # (reports that came meanwhile are on their way, not waiting on an outage)
            self._tell_unrecorded(())

    async def _database_down(self, exc: BaseException, delay: float) -> bool:
        """After a failed attempt: spill to the journal if memory is full (or the writer is
        stopping), say so, wait ``delay`` (a stop request cuts it short). True: stop now."""
        # a lock another connection keeps (a process frozen in its transaction) is waited out as an
        # outage is, but named for what it is
        # (or its own wait for one that a stop ended: the server answered, it is no outage)
        ended_by_stop = self._lock_held and is_interrupted(exc)
        locked = is_lock_conflict(exc) or ended_by_stop
        self._unreachable = not locked
        if ended_by_stop:  # the stop's own KILL QUERY, not news from the server: the driver's words said nothing
            message = STOPPED_ON_LOCK
        else:
            message = f"{WAITING_ON_LOCK if locked else 'database unreachable'}: {str(exc).splitlines()[0][:200]}"
        memory_full = self.backlog >= self.buffer_limit
        if self.journal is not None and (self._stop_requested or memory_full):
            # the memory limit is said while what it sent to the journal waits there; a stop sends
            # everything to the journal with memory to spare ("0 events waiting in memory (memory
            # limit reached)" was said of a command that merely ended)
            self._overflowed = self._overflowed or memory_full
            self._drain_queue(limit=None)
            events, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._spill, events)
            except OSError:
                log.exception("event writer: the journal %s cannot be written; %d events stay in memory",
                              self.journal.path, len(events))
                self._pending[:0] = events
        overflow = self.backlog >= self.buffer_limit or (self._overflowed and self._journaled > 0)
        self._set_health(self._health(True, message, overflow))
        if self._unrecorded_subscribers:  # (those spilled to the journal are no longer at hand)
            self._tell_unrecorded(tuple(e for e in self._pending if isinstance(e, OrderStatusEvent)
                                        or (isinstance(e, ExecutionEvent) and e.source == "broker")))
        if self._stop_requested:
            return True
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except TimeoutError:
            pass
        return False

    def _spill(self, events: list[object]) -> None:
        if not events:
            return
        assert self.journal is not None  # spilled only with a journal configured
        self.journal.append(list(events))
        self._journaled += len(events)
        self._replay_due = True
        log.warning("event writer: %s written to the journal %s", counted(len(events), "event"), self.journal.path)

    def _replay_batch(self) -> ChangeSet | None:
        """One batch from the journal, in a worker thread; the journal's offset moves only once
        the batch is committed (an outage leaves it for the next attempt)."""
        assert self.journal is not None
        with self.journal.replay(self.batch_max) as events:
            if not events:
                self._replay_due = False
                self._journaled = 0
                return None
            try:
                changes = self.projection.write(events)
            except Exception as exc:
                if _is_connection_error(exc):
                    raise
                log.exception("journal batch failed; writing its events one by one")
                changes = self._write_one_by_one(events)
        self._journaled = max(0, self._journaled - len(events))
        self.batches += 1
        self.events_written += len(events)
        return changes

    async def _next_event(self):
        """The next queued event; meanwhile parked events are retried when due (None then)."""
        if not self.poisoned:
            return self._taken(await self.queue.get())
        loop = asyncio.get_running_loop()
        wait = self._parked_due - loop.time()
        if wait > 0:
            try:
                return self._taken(await asyncio.wait_for(self.queue.get(), wait))
            except TimeoutError:
                pass
        await self.retry_parked()
        return None

    async def retry_parked(self) -> int:
        """Try the parked events again (one by one); returns how many are still parked."""
        if not self.poisoned:
            return 0
        parked, self.poisoned = self.poisoned, []
        changes, done, outage = await asyncio.to_thread(self._write_one_by_one_until_outage, [e for e, _why in parked])
        if outage is not None:  # not tried yet: parked as they were
            self.poisoned.extend(parked[done:])
        loop = asyncio.get_running_loop()
        if self.poisoned:
            self._parked_delay = min(self._parked_delay * 2, self.parked_retry_max)
        else:
            self._parked_delay = self.parked_retry_initial
        self._parked_due = loop.time() + self._parked_delay
        self._set_health(self._health(self.health.degraded, self.health.message, self.health.overflow))
        if changes:
            self._publish(changes)
        return len(self.poisoned)

    def _write_one_by_one_until_outage(self, batch: list[object]) -> tuple[ChangeSet, int, BaseException | None]:
        """``_write_one_by_one`` that stops at a database outage: (changes, events handled, the
        outage or None); the events after ``handled`` were not tried."""
        merged = ChangeSet()
        for done, event in enumerate(batch):
            try:
                changes = self._write_one_by_one([event])
            except Exception as exc:
                if not _is_connection_error(exc):
                    raise
                return merged, done, exc
            merged = ChangeSet(merged.orders + changes.orders, merged.fills + changes.fills,
                               merged.positions + changes.positions, merged.runs + changes.runs)
        return merged, len(batch), None

    def _write_one_by_one(self, batch: list[object]) -> ChangeSet:
        merged = ChangeSet()
        for event in batch:
            try:
                changes = self.projection.write([event])
            except Exception as exc:
                if _is_connection_error(exc):
                    raise
                log.exception("event could not be written and is parked (retried until written): %r", event)
                self.poisoned.append((event, f"{type(exc).__name__}: {exc}"))
                continue
            merged = ChangeSet(merged.orders + changes.orders, merged.fills + changes.fills,
                               merged.positions + changes.positions, merged.runs + changes.runs)
        return merged
