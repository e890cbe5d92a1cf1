"""The ONE writer: drains the broker's domain events into the database in batched transactions.

* exactly-once by ``exec_id`` (the fills table's unique key): duplicates are no-ops;
* corrections (same base id, higher revision) supersede the earlier revision, and only the
  difference reaches the order's filled quantity and the position (never double counted);
* commissions fill in whenever they arrive (also before their execution: kept until it comes);
* every state change goes through ``services.core.order_state`` and is recorded in
  ``order_events`` with the broker's raw payload; IB's error code and text become the
  ``rejected_reason``;
* positions are updated from fills, run statuses roll up from their orders;
* after each commit a ``ChangeSet`` goes to the subscribers (the GUI refreshes exactly that).

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

All database work runs in a worker thread (``asyncio.to_thread``): the GUI loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from services.core.order_state import EventKind, Outcome
from services.core.order_state import OrderEvent as SmEvent
from services.core.order_state import OrderStatus as SmStatus
from services.core.order_state import apply_event, run_status
from services.core.positions_book import BookedFill, PositionBook, PositionState, apply_fill, apply_late_commission
from services.db.convert import to_fill_record, to_order_record, to_position_record
from services.db.models import OrderEvent as OrderEventRow
from services.db.models import Position, TradeFill, TradeOrder, TradeRun
from services.db.repositories import OrderRepository, PositionRepository, split_exec_id

PositionKey = tuple[int | None, str, str]  # (project_id, account, symbol); project None = the account row
from services.domain import ChangeSet, EventSource, OrderState, RunStatus, Side

from services.core.ib_codes import is_warning, rejects_order

from .journal import EventCodec, EventJournal, JournalError
from .events import (
    BrokerErrorEvent,
    CommissionEvent,
    ExecutionEvent,
    OpenOrderEvent,
    OrderStatusEvent,
)
from .listings import position_key

log = logging.getLogger(__name__)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class LocalOrderEvent:
    """Our own side of an order's life (sent, cancel requested, ack timeout, replace...)."""

    client_order_id: str
    kind: EventKind
    source: EventSource = EventSource.SYSTEM
    ib_order_id: int | None = None
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class ReconciledStatus:
    """Reconciliation's verdict on one order (from open/completed orders at IB)."""

    client_order_id: str
    status: str  # IB status string
    filled: Decimal | None = None
    perm_id: int | None = None
    ib_order_id: int | None = None
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class PositionTruth:
    """IB's account-level position (reconciliation overwrites the account row with it).

    ``as_of`` is the writer's :meth:`EventWriter.position_mark` taken just before the positions
    were asked for: a live execution of the symbol received after it may or may not be in IB's
    answer, so the truth is stale for that symbol and is not applied (the next pass corrects a
    real difference). None (an old journal line): applied."""

    account: str
    symbol: str
    quantity: Decimal
    average_cost: Decimal
    as_of: int | None = None


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
        """One line for a status bar or a command's output ("" when all is well)."""
        parts = []
        if self.degraded:
            parts.append(f"{self.message or 'database unreachable'}; {self.backlog} event(s) waiting in memory"
                         + (" (memory limit reached)" if self.overflow else ""))
        if self.journaled:
            parts.append(f"{self.journaled} event(s) kept in the journal {self.journal_path}, written when the "
                         "database is reachable")
        if self.parked:
            parts.append(f"{self.parked} event(s) the database refused, retried until written ({self.parked_reason})")
        return "; ".join(parts)


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(getattr(exc, "connection_invalidated", False))


def _now() -> datetime:
    return datetime.now(UTC)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def sm_status(order: TradeOrder) -> SmStatus:
    """Rebuild the state machine's view of a stored order (its hidden fields live in params)."""
    sm = (order.params or {}).get("sm", {})
    before = sm.get("before_replace")
    pending = sm.get("pending_quantity")
    return SmStatus(
        state=OrderState(order.status),
        quantity=Decimal(order.quantity),
        exec_filled=Decimal(sm.get("exec_filled", "0")),
        status_filled=Decimal(sm.get("status_filled", "0")),
        before_replace=OrderState(before) if before else None,
        pending_quantity=Decimal(pending) if pending is not None else None,
        reject_reason=sm.get("reject_reason"),
    )


def _store_sm(order: TradeOrder, st: SmStatus) -> None:
    params = dict(order.params or {})
    params["sm"] = {
        "exec_filled": str(st.exec_filled),
        "status_filled": str(st.status_filled),
        "before_replace": st.before_replace.value if st.before_replace else None,
        "pending_quantity": _s(st.pending_quantity),
        "reject_reason": st.reject_reason,
    }
    order.params = params


def apply_to_order(
    session,
    order: TradeOrder,
    event: SmEvent,
    *,
    source: EventSource,
    event_type: str,
    payload: dict | None,
    when: datetime | None = None,
) -> bool:
    """Run one event through the state machine and record it in ``order_events``.
    Returns whether the order changed."""
    before = sm_status(order)
    transition = apply_event(before, event)
    if transition.outcome is Outcome.INTERNAL_ERROR:
        # a bug, not a broker fact: recorded on the order (flagged) and logged with its context
        log.error("order state machine failed on order %s (%s, %s) for %s event %r: %s\n%s", order.id,
                  order.client_order_id, before.state, event_type, event, transition.reason, transition.traceback)
        add_order_event(session, order.id, source=source, event_type="internal_error", from_state=before.state,
                        to_state=before.state, flagged=True, message=f"{event_type} event {event!r}: {transition.reason}",
                        payload=payload, time=when or _now())
        return False
    after = transition.after
    changed = transition.changed
    when = when or _now()
    if changed:
        order.status = after.state
        order.quantity = after.quantity
        order.filled_quantity = after.filled
        if after.reject_reason and after.state is OrderState.REJECTED and not order.rejected_reason:
            order.rejected_reason = after.reject_reason
        order.last_status_time = when
        _store_sm(order, after)
    # every state change, every flagged event and every error; a fill that only moves the filled
    # quantity is recorded in trade_fills (with its raw payload), not a second time here
    state_changed = before.state is not after.state
    if state_changed or transition.outcome is Outcome.FLAGGED or event_type == "error" or (
            event_type != "fill" and (changed or transition.outcome is not Outcome.IGNORED)):
        add_order_event(session, order.id, source=source, event_type=event_type, from_state=before.state,
                        to_state=after.state, flagged=transition.outcome is Outcome.FLAGGED,
                        message=transition.reason, payload=payload, time=when)
    return changed


def add_order_event(session, order_id: int, *, source: EventSource, event_type: str, from_state=None, to_state=None,
                    flagged: bool = False, message: str | None = None, payload: dict | None = None, time: datetime | None = None) -> None:
    """Append to ``order_events`` (flushed with the batch, not one statement per event)."""
    session.add(OrderEventRow(order_id=order_id, source=EventSource(source), event_type=event_type,
                              from_state=from_state, to_state=to_state, flagged=flagged, message=message,
                              payload=payload, time=time or _now()))


_NEW_FILL_COLUMNS = ("exec_id", "exec_base_id", "exec_revision", "superseded", "order_id", "symbol", "side", "quantity", "price",
                     "commission", "currency", "exchange", "account", "perm_id", "order_ref", "fill_time", "raw_payload")


@dataclass(eq=False, slots=True)
class _NewFill:
    """A fill of this batch, inserted with one multi-row INSERT at the end (no ORM object per
    fill: that and RETURNING per row were most of the writer's cost)."""

    exec_id: str
    exec_base_id: str
    exec_revision: int
    superseded: bool
    order_id: int
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    commission: Decimal | None
    currency: str
    exchange: str | None
    account: str | None
    perm_id: int | None
    order_ref: str | None
    fill_time: datetime
    raw_payload: dict | None
    id: int | None = None

    def row(self) -> dict:
        return {name: getattr(self, name) for name in _NEW_FILL_COLUMNS}


class _Batch:
    """What one transaction touched (for the change set), plus its caches: the orders, fills and
    positions of the whole batch are loaded with a few queries up front, changed in memory and
    flushed together (one commit per batch is what makes the writer fast)."""

    def __init__(self) -> None:
        self.orders: dict[int, TradeOrder] = {}
        self.fills: dict[int, TradeFill] = {}
        self.new_fills: list[TradeFill] = []
        self.positions: dict[tuple[int, str, str], Position] = {}
        self.runs: set[int] = set()
        self.orphan_commissions: dict[str, CommissionEvent] = {}
        self.by_ref: dict[str, TradeOrder] = {}
        self.by_perm: dict[int, TradeOrder] = {}
        self.fills_by_base: dict[str, list[TradeFill]] = {}
        self.fills_by_exec: dict[str, TradeFill] = {}
        self.position_state: dict[PositionKey, PositionState] = {}
        self.dirty_positions: set[PositionKey] = set()
        # what this batch does to each position, in event order, booked once the batch's
        # commissions are known (_settle_positions); keys to rebuild from their stored fills
        self.position_ops: dict[PositionKey, list] = {}
        self.replay_keys: set[PositionKey] = set()


@dataclass(frozen=True, slots=True)
class _LateCommission:
    """A commission (or a change of it) for a fill booked by an earlier batch, which was the
    last fill of its position: booked incrementally (positions_book.apply_late_commission)."""

    signed_quantity: Decimal
    amount: Decimal


def _refs_and_perms(events: list[object]) -> tuple[set[str], set[int], set[str]]:
    refs: set[str] = set()
    perms: set[int] = set()
    bases: set[str] = set()
    for ev in events:
        ref = getattr(ev, "order_ref", None) or getattr(ev, "client_order_id", None)
        if ref:
            refs.add(ref)
        perm = getattr(ev, "perm_id", None)
        if perm:
            perms.add(perm)
        exec_id = getattr(ev, "exec_id", None)
        if exec_id:
            bases.add(split_exec_id(exec_id)[0])
    return refs, perms, bases


class EventWriter:
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
    ) -> None:
        self.db = db
        self.queue: asyncio.Queue = queue if queue is not None else asyncio.Queue()
        self.batch_max = batch_max
        self.buffer_limit = buffer_limit
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.account = account
        self._pending: list[object] = []
        self._orphan_commissions: dict[str, CommissionEvent] = {}
        self._subscribers: list[Callable[[ChangeSet], None]] = []
        self._health_subscribers: list[Callable[[WriterHealth], None]] = []
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.health = WriterHealth(False, 0)
        self.batches = 0
        self.events_written = 0
        self.poisoned: list[tuple[object, str]] = []  # parked: (event, why), retried until written
        self.parked_retry_initial = parked_retry_initial
        self.parked_retry_max = parked_retry_max
        self._parked_delay = parked_retry_initial
        self._parked_due = 0.0
        self.journal = EventJournal(journal_path, JOURNAL_CODEC) if journal_path else None
        self._journaled = 0  # journal lines not replayed yet (as far as this writer knows)
        self._replay_due = False
        self._stop_requested = False
        self._wake = asyncio.Event()
        self._current: _Batch | None = None
        # events taken from the queue so far, and for each symbol the number (in queue order) of
        # its last live execution: IB's position answers are judged against them (PositionTruth)
        self._received = 0
        self._last_live_fill: dict[str, int] = {}

    # ------------------------------------------------------------------ subscriptions
    def subscribe(self, callback: Callable[[ChangeSet], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def subscribe_health(self, callback: Callable[[WriterHealth], None]) -> Callable[[], None]:
        self._health_subscribers.append(callback)
        return lambda: self._health_subscribers.remove(callback) if callback in self._health_subscribers else None

    def _publish(self, changes: ChangeSet) -> None:
        for callback in list(self._subscribers):
            try:
                callback(changes)
            except Exception:  # one failing subscriber never stops the others (vn.py's flaw)
                log.exception("change-set subscriber failed")

    def _set_health(self, health: WriterHealth) -> None:
        previous = self.health
        self.health = health
        key = lambda h: (h.degraded, h.overflow, h.parked, h.journaled)  # noqa: E731
        if key(health) == key(previous):
            return  # only changes of the warning are published, not every backlog count
        if health.problem:
            log.warning("event writer: %s", health.describe())
        else:
            log.info("event writer: every event written")
        for callback in list(self._health_subscribers):
            try:
                callback(health)
            except Exception:
                log.exception("writer health subscriber failed")

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
        goes to the journal (with none configured it is lost, and logged as an error)."""
        if drain:
            try:
                await self.flush(timeout)
            except TimeoutError:
                await self._stop_into_journal(timeout)
        if self.journal is not None and self.poisoned:
            self._spill([event for event, _why in self.poisoned])  # parked events outlive the process too
            self.poisoned.clear()
            self._set_health(self._health(self.health.degraded, self.health.message))
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def _stop_into_journal(self, timeout: float) -> None:
        if self.journal is None or self._task is None or self._task.done():
            log.error("event writer stopped with %d events unwritten (no journal configured)", self.backlog)
            return
        # the loop owns the backlog: it spills everything at its next failed attempt and ends
        self._stop_requested = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            log.error("event writer stopped with %d events unwritten: the last attempt did not end", self.backlog)

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

    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far is committed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.queue.qsize() or self._pending or self._replay_due or not self._idle.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"event writer still has {self.backlog} events after {timeout} s")
            if self.queue.qsize() or self._pending or self._replay_due:
                self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), min(remaining, 0.5))
            except (asyncio.TimeoutError, TimeoutError):
                pass

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
            self._idle.clear()
            self._journaled = await asyncio.to_thread(self.journal.pending)
            self._set_health(self._health(False))
        while True:
            if self._replay_due:  # the journal holds the oldest events: they go first
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
            self._drain_queue()
            batch = self._pending[: self.batch_max]
            try:
                changes = await asyncio.to_thread(self._write_batch, batch)
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

    async def _database_down(self, exc: BaseException, delay: float) -> bool:
        """After a failed attempt: spill to the journal if memory is full (or the writer is
        stopping), say so, wait ``delay`` (a stop request cuts it short). True: stop now."""
        message = f"database unreachable: {str(exc).splitlines()[0][:200]}"
        if self.journal is not None and (self._stop_requested or self.backlog >= self.buffer_limit):
            self._drain_queue(limit=None)
            events, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._spill, events)
            except OSError:
                log.exception("event writer: the journal %s cannot be written; %d events stay in memory",
                              self.journal.path, len(events))
                self._pending[:0] = events
        overflow = self.backlog >= self.buffer_limit or self._journaled > 0
        self._set_health(self._health(True, message, overflow))
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
        self.journal.append(list(events))
        self._journaled += len(events)
        self._replay_due = True
        log.warning("event writer: %d event(s) written to the journal %s", len(events), self.journal.path)

    def _replay_batch(self) -> ChangeSet | None:
        """One batch from the journal, in a worker thread; the journal's offset moves only once
        the batch is committed (an outage leaves it for the next attempt)."""
        with self.journal.replay(self.batch_max) as events:
            if not events:
                self._replay_due = False
                self._journaled = 0
                return None
            try:
                changes = self._write_batch(events)
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
                changes = self._write_batch([event])
            except Exception as exc:
                if _is_connection_error(exc):
                    raise
                log.exception("event could not be written and is parked (retried until written): %r", event)
                self.poisoned.append((event, f"{type(exc).__name__}: {exc}"))
                continue
            merged = ChangeSet(merged.orders + changes.orders, merged.fills + changes.fills,
                               merged.positions + changes.positions, merged.runs + changes.runs)
        return merged

    # ------------------------------------------------------------------ one transaction
    def _write_batch(self, events: list[object]) -> ChangeSet:
        batch = _Batch()
        self._current = batch
        batch.orphan_commissions = dict(self._orphan_commissions)
        with self.db.unit_of_work() as session, session.no_autoflush:
            self._prefetch(session, batch, events)
            for event in events:
                self._apply(session, batch, event)
            self._settle_positions(session, batch)
            self._write_positions(session, batch)
            session.flush()
            self._insert_fills(session, batch)
            self._roll_up_runs(session, batch)
            session.flush()
            changes = ChangeSet(
                orders=tuple(to_order_record(o) for o in batch.orders.values()),
                fills=tuple(to_fill_record(f) for f in batch.fills.values()),
                positions=tuple(to_position_record(p) for p in batch.positions.values()),
                runs=tuple(sorted(batch.runs)),
            )
        self._orphan_commissions = batch.orphan_commissions  # only once committed
        return changes

    def _prefetch(self, session, batch: _Batch, events: list[object]) -> None:
        refs, perms, bases = _refs_and_perms(events)
        for chunk in _chunks(sorted(refs)):
            for order in session.scalars(select(TradeOrder).where(TradeOrder.client_order_id.in_(chunk))):
                self._cache_order(batch, order)
        for chunk in _chunks(sorted(perms)):
            for order in session.scalars(select(TradeOrder).where(TradeOrder.ib_perm_id.in_(chunk)).order_by(TradeOrder.id)):
                self._cache_order(batch, order)
        for chunk in _chunks(sorted(bases)):
            for fill in session.scalars(select(TradeFill).where(TradeFill.exec_base_id.in_(chunk))):
                batch.fills_by_base.setdefault(fill.exec_base_id, []).append(fill)
                batch.fills_by_exec[fill.exec_id] = fill

    @staticmethod
    def _insert_fills(session, batch: _Batch) -> None:
        if not batch.new_fills:
            return
        now = _now()
        rows = [{**f.row(), "created_at": now, "updated_at": now} for f in batch.new_fills]
        session.execute(TradeFill.__table__.insert(), rows)  # one executemany: a multi-row INSERT
        by_exec = {f.exec_id: f for f in batch.new_fills}
        for chunk in _chunks(list(by_exec)):
            for fill_id, exec_id in session.execute(select(TradeFill.id, TradeFill.exec_id).where(TradeFill.exec_id.in_(chunk))):
                by_exec[exec_id].id = fill_id
        for fill in batch.new_fills:
            fill_time = fill.fill_time
            fill.fill_time = fill_time if fill_time.tzinfo else fill_time.replace(tzinfo=UTC)
            batch.fills[fill.id] = fill

    @staticmethod
    def _cache_order(batch: _Batch, order: TradeOrder) -> None:
        batch.by_ref[order.client_order_id] = order
        if order.ib_perm_id:
            batch.by_perm[order.ib_perm_id] = order

    def _apply(self, session, batch: _Batch, event: object) -> None:
        if isinstance(event, ExecutionEvent):
            self._on_execution(session, batch, event)
        elif isinstance(event, CommissionEvent):
            self._on_commission(session, batch, event)
        elif isinstance(event, OrderStatusEvent):
            self._on_status(session, batch, event)
        elif isinstance(event, OpenOrderEvent):
            self._on_open_order(session, batch, event)
        elif isinstance(event, BrokerErrorEvent):
            self._on_error(session, batch, event)
        elif isinstance(event, LocalOrderEvent):
            self._on_local(session, batch, event)
        elif isinstance(event, ReconciledStatus):
            self._on_reconciled(session, batch, event)
        elif isinstance(event, PositionTruth):
            self._on_position_truth(session, batch, event)
        else:
            log.debug("writer ignores %r", event)

    # ------------------------------------------------------------------ matching
    def _find(self, session, batch: _Batch, order_ref: str | None, perm_id: int | None) -> TradeOrder | None:
        """By orderRef (= client_order_id), then permId; never by IB's orderId alone."""
        if order_ref and order_ref in batch.by_ref:
            return batch.by_ref[order_ref]
        if perm_id and perm_id in batch.by_perm:
            return batch.by_perm[perm_id]
        return None

    def _touch(self, batch: _Batch, order: TradeOrder) -> None:
        batch.orders[order.id] = order
        if order.run_id is not None:
            batch.runs.add(order.run_id)

    def _bind_ids(self, order: TradeOrder, *, ib_order_id: int | None = None, perm_id: int | None = None,
                  client_id: int | None = None, account: str | None = None) -> None:
        if perm_id and order.ib_perm_id != perm_id:
            order.ib_perm_id = perm_id
            self._cache_order(self._current, order)
        if ib_order_id and order.ib_order_id != ib_order_id:
            order.ib_order_id = ib_order_id
        if client_id is not None and client_id >= 0 and ib_order_id and order.ib_client_id != client_id:
            order.ib_client_id = client_id
        if account and not order.account:
            order.account = account

    def _external(self, session, batch: _Batch, *, order_ref: str, perm_id: int, ib_order_id: int, client_id: int,
                  account: str, symbol: str, side: str, quantity: Decimal, order_type: str = "MKT",
                  limit_price: Decimal | None = None, raw: dict | None = None) -> TradeOrder:
        """An order IB knows and we do not (TWS by hand, another client): recorded, never dropped."""
        client_order_id = order_ref or f"EXT-{perm_id or ib_order_id}"
        order, created = OrderRepository(session).insert_once(
            client_order_id, symbol, Side(side), quantity,
            order_type=order_type if order_type in ("MKT", "LMT") else "MKT",
            limit_price=limit_price, status=OrderState.SUBMITTED, is_external=True,
            ib_order_id=ib_order_id or None, ib_perm_id=perm_id or None,
            ib_client_id=client_id if client_id is not None and client_id >= 0 else None,
            account=account or None,
        )
        if created:
            add_order_event(session, order.id, source=EventSource.BROKER, event_type="external",
                            to_state=OrderState.SUBMITTED, flagged=True,
                            message="order unknown to the database: recorded as external", payload=raw)
        self._cache_order(batch, order)
        self._touch(batch, order)
        return order

    # ------------------------------------------------------------------ handlers
    def _on_execution(self, session, batch: _Batch, ev: ExecutionEvent) -> None:
        if self.account and ev.account and ev.account != self.account:
            return
        existing = batch.fills_by_exec.get(ev.exec_id)
        if existing is not None:
            if ev.commission is not None and existing.commission is None:
                existing.commission = ev.commission
                if existing.id is not None:
                    batch.fills[existing.id] = existing
                    if not existing.superseded:
                        self._late_commission(session, batch, existing, ev.commission)
            return  # exactly once: a duplicate execDetails changes nothing
        order = self._find(session, batch, ev.order_ref, ev.perm_id)
        if order is None:
            order = self._external(session, batch, order_ref=ev.order_ref, perm_id=ev.perm_id, ib_order_id=ev.ib_order_id,
                                   client_id=ev.client_id, account=ev.account, symbol=ev.symbol, side=ev.side,
                                   quantity=ev.cum_qty or ev.shares, raw=ev.raw)
        self._bind_ids(order, perm_id=ev.perm_id, account=ev.account)
        commission = ev.commission
        orphan = batch.orphan_commissions.pop(ev.exec_id, None)
        if commission is None and orphan is not None:
            commission = orphan.commission
        base, revision = split_exec_id(ev.exec_id)
        revisions = batch.fills_by_base.setdefault(base, [])
        newest = max(revisions, key=lambda r: r.exec_revision, default=None)
        fill = _NewFill(
            exec_id=ev.exec_id, exec_base_id=base, exec_revision=revision, superseded=False, order_id=order.id,
            symbol=ev.symbol, side=str(Side(ev.side)), quantity=ev.shares, price=ev.price, commission=commission,
            currency=ev.currency or "USD", exchange=ev.exchange or None, account=ev.account or None,
            perm_id=ev.perm_id or None, order_ref=ev.order_ref or None, fill_time=ev.time, raw_payload=ev.raw,
        )
        revisions.append(fill)
        batch.fills_by_exec[ev.exec_id] = fill
        batch.new_fills.append(fill)
        self._touch(batch, order)
        if newest is not None and newest.exec_revision > revision:
            # an older revision arriving late: stored superseded, nothing to count
            fill.superseded = True
            add_order_event(session, order.id, source=EventSource.BROKER, event_type="fill_correction",
                            message=f"late older revision {ev.exec_id}: stored superseded", payload=ev.raw)
            return
        old = newest  # the revision counted so far (None for a first execution)
        if old is not None:
            old.superseded = True
            if old.id is not None:
                batch.fills[old.id] = old
            add_order_event(session, order.id, source=EventSource.BROKER, event_type="fill_correction",
                            message=f"execution {old.exec_id} corrected by {ev.exec_id}", payload=ev.raw)
        before = sm_status(order)
        counted = before.exec_filled
        value = (order.avg_fill_price or ZERO) * counted if order.avg_fill_price is not None else ZERO
        delta = fill.quantity - (old.quantity if old is not None else ZERO)
        value += fill.quantity * fill.price - (old.quantity * old.price if old is not None else ZERO)
        if delta > 0:
            apply_to_order(session, order, SmEvent.fill(delta), source=EventSource.BROKER if ev.source == "broker" else EventSource.RECONCILE,
                           event_type="fill", payload=ev.raw, when=ev.time)
        elif delta < 0:
            from dataclasses import replace as _replace

            st = _replace(before, exec_filled=max(ZERO, before.exec_filled + delta))
            _store_sm(order, st)
            order.filled_quantity = st.filled
        total = counted + delta
        if total > 0:
            order.avg_fill_price = (value / total).quantize(Decimal("0.00000001"))
        # positions (services.core.positions_book): a new execution is booked at the end of the
        # batch, with its commission if the batch brought it; a correction rebuilds the position
        for key in _position_keys(order, ev.account, position_key(order, ev)):
            if old is not None:
                batch.replay_keys.add(key)
            else:
                batch.position_ops.setdefault(key, []).append(fill)

    # ------------------------------------------------------------------ positions
    def _settle_positions(self, session, batch: _Batch) -> None:
        """Book this batch's fills, late commissions and IB's truths into the positions (one book:
        services.core.positions_book, IB's average-cost method, docs/ib-average-cost.md)."""
        for key in sorted(batch.replay_keys, key=_key_order):
            batch.position_state[key] = self._replay(session, batch, key)
            batch.dirty_positions.add(key)
        for key, ops in batch.position_ops.items():
            if key in batch.replay_keys:
                continue
            state = self._stored_state(session, key)
            for op in ops:
                if isinstance(op, _NewFill):
                    if not op.superseded:
                        state, _ = apply_fill(state, Side(op.side).sign * op.quantity, op.price, op.commission)
                elif isinstance(op, _LateCommission):
                    state = apply_late_commission(state, op.signed_quantity, op.amount)
                elif isinstance(op, PositionTruth) and state.quantity != op.quantity and not self._stale_truth(op):
                    state = replace(state, quantity=op.quantity, average_cost=op.average_cost)
            batch.position_state[key] = state
            batch.dirty_positions.add(key)

    @staticmethod
    def _stored_state(session, key: PositionKey) -> PositionState:
        project_id, account, symbol = key
        row = PositionRepository(session).get(account, symbol, project_id=project_id)
        return PositionState() if row is None else PositionState(row.quantity, row.average_cost, row.realized_pnl)

    def _replay(self, session, batch: _Batch, key: PositionKey) -> PositionState:
        """The position rebuilt from its stored fills (and this batch's), in arrival order: each
        execution at its first revision's place, with its current revision and commission."""
        project_id, account, listing = key  # the listing key: a bare symbol is the US stock
        bare = listing.partition("@")[0]
        query = (select(TradeFill, TradeOrder)
                 .join(TradeOrder, TradeFill.order_id == TradeOrder.id)
                 .where(TradeFill.symbol == bare).order_by(TradeFill.id))
        if project_id is not None:
            query = query.where(TradeOrder.project_id == project_id)
        candidates = [(f, (f.account or order.account or "")) for f, order in session.execute(query)
                      if position_key(order, f) == listing]
        for fill in batch.new_fills:
            order = batch.orders.get(fill.order_id) or session.get(TradeOrder, fill.order_id)
            if fill.symbol == bare and position_key(order, fill) == listing and (project_id is None or order.project_id == project_id):
                candidates.append((fill, fill.account or order.account or ""))
        first_seen: dict[str, int] = {}
        current: dict[str, object] = {}
        for fill, fill_account in candidates:
            if fill_account != account:
                continue
            first_seen.setdefault(fill.exec_base_id, len(first_seen))
            if not fill.superseded:
                current[fill.exec_base_id] = fill
        booked = [current[base] for base in sorted(first_seen, key=first_seen.get) if base in current]
        book = PositionBook.replay(BookedFill(f.exec_id, Side(f.side).sign * f.quantity, f.price, f.commission) for f in booked)
        return book.state

    def _write_positions(self, session, batch: _Batch) -> None:
        repo = PositionRepository(session)
        for key in sorted(batch.dirty_positions, key=_key_order):
            project_id, account, symbol = key
            state = batch.position_state[key]
            batch.positions[(project_id or 0, account, symbol)] = repo.upsert(
                account, symbol, state.quantity, state.average_cost, realized_pnl=state.realized_pnl, project_id=project_id)

    def _late_commission(self, session, batch: _Batch, fill: TradeFill, amount: Decimal) -> None:
        """A commission for a fill an earlier batch booked: incremental when that fill is still the
        last of its symbol, else the position is rebuilt from its fills."""
        order = batch.orders.get(fill.order_id) or session.get(TradeOrder, fill.order_id)
        keys = _position_keys(order, fill.account, position_key(order, fill))
        # a range scan of the primary key from this fill on: a few rows when the report follows its fill
        later = session.scalar(select(TradeFill.id).where(TradeFill.id > fill.id, TradeFill.symbol == fill.symbol,
                                                          TradeFill.superseded.is_(False)).limit(1))
        if later is not None or any(k in batch.position_ops or k in batch.replay_keys for k in keys):
            batch.replay_keys.update(keys)
            return
        for key in keys:
            batch.position_ops.setdefault(key, []).append(_LateCommission(Side(fill.side).sign * fill.quantity, amount))

    def _on_commission(self, session, batch: _Batch, ev: CommissionEvent) -> None:
        fill = batch.fills_by_exec.get(ev.exec_id)
        if fill is None:
            batch.orphan_commissions[ev.exec_id] = ev  # the execution comes later
            return
        if fill.commission != ev.commission:
            booked = fill.commission or ZERO
            fill.commission = ev.commission
            if fill.id is not None and not fill.superseded:  # its position was booked by an earlier batch
                self._late_commission(session, batch, fill, ev.commission - booked)
            if ev.currency:
                fill.currency = ev.currency
            if fill.id is not None:
                batch.fills[fill.id] = fill

    def _on_status(self, session, batch: _Batch, ev: OrderStatusEvent) -> None:
        order = self._find(session, batch, ev.order_ref, ev.perm_id)
        if order is None:
            log.debug("orderStatus for an order we cannot match (orderId %s permId %s): left to reconciliation", ev.ib_order_id, ev.perm_id)
            return
        self._bind_ids(order, ib_order_id=ev.ib_order_id, perm_id=ev.perm_id, client_id=ev.client_id)
        changed = apply_to_order(session, order, SmEvent.ib_status(ev.status, ev.filled, ev.why_held),
                                 source=EventSource.BROKER, event_type="status", payload=ev.raw, when=ev.time)
        if ev.avg_fill_price and ev.filled and order.avg_fill_price is None:
            order.avg_fill_price = ev.avg_fill_price
            changed = True
        if changed or order.id not in batch.orders:
            self._touch(batch, order)

    def _on_open_order(self, session, batch: _Batch, ev: OpenOrderEvent) -> None:
        if self.account and ev.account and ev.account != self.account:
            return
        order = self._find(session, batch, ev.order_ref, ev.perm_id)
        if order is None:
            order = self._external(session, batch, order_ref=ev.order_ref, perm_id=ev.perm_id, ib_order_id=ev.ib_order_id,
                                   client_id=ev.client_id, account=ev.account, symbol=ev.symbol, side=ev.side,
                                   quantity=ev.quantity, order_type=ev.order_type, limit_price=ev.limit_price, raw=ev.raw)
        self._bind_ids(order, ib_order_id=ev.ib_order_id if not ev.completed else None, perm_id=ev.perm_id,
                       client_id=ev.client_id, account=ev.account)
        st = sm_status(order)
        if st.state is OrderState.REPLACE_REQUESTED:
            pending = (order.params or {}).get("pending_replace") or {}
            want_qty = Decimal(pending["quantity"]) if pending.get("quantity") else order.quantity
            want_lmt = Decimal(pending["limit_price"]) if pending.get("limit_price") else order.limit_price
            if ev.quantity == want_qty and (ev.limit_price is None or want_lmt is None or ev.limit_price == want_lmt):
                apply_to_order(session, order, SmEvent(EventKind.REPLACE_CONFIRMED), source=EventSource.BROKER,
                               event_type="replace_confirmed", payload=ev.raw, when=ev.time)
                order.limit_price = want_lmt
                params = dict(order.params or {})
                params.pop("pending_replace", None)
                order.params = params
        apply_to_order(session, order, SmEvent.ib_status(ev.status, None), source=EventSource.BROKER,
                       event_type="open_order", payload=ev.raw, when=ev.time)
        self._touch(batch, order)

    def _on_error(self, session, batch: _Batch, ev: BrokerErrorEvent) -> None:
        if not ev.order_ref:
            return
        order = batch.by_ref.get(ev.order_ref)
        if order is None:
            return
        payload = ev.raw
        if is_warning(ev.code):
            # 10349 and warnings never cancel: recorded, no state change
            add_order_event(session, order.id, source=EventSource.BROKER, event_type="warning",
                            message=f"{ev.code}: {ev.message}", payload=payload)
            return
        if rejects_order(ev.code) and not OrderState(order.status).is_terminal and order.status is not OrderState.REPLACE_REQUESTED:
            order.rejected_reason = f"{ev.code}: {ev.message}".strip()
            st = sm_status(order)
            if st.reject_reason is None:
                from dataclasses import replace as _replace

                _store_sm(order, _replace(st, reject_reason=order.rejected_reason))
        apply_to_order(session, order, SmEvent.error(ev.code, ev.message), source=EventSource.BROKER,
                       event_type="error", payload=payload, when=ev.time)
        self._touch(batch, order)

    def _on_local(self, session, batch: _Batch, ev: LocalOrderEvent) -> None:
        order = batch.by_ref.get(ev.client_order_id)
        if order is None:
            log.error("local event for unknown order %s", ev.client_order_id)
            return
        if ev.ib_order_id:
            self._bind_ids(order, ib_order_id=ev.ib_order_id)
        if ev.kind is EventKind.REPLACE_REQUESTED:
            params = dict(order.params or {})
            params["pending_replace"] = {"quantity": _s(ev.quantity), "limit_price": _s(ev.limit_price)}
            order.params = params
        if ev.kind is EventKind.REPLACE_REJECTED:
            params = dict(order.params or {})
            params.pop("pending_replace", None)
            order.params = params
        event = SmEvent(ev.kind, quantity=ev.quantity, message=ev.message)
        apply_to_order(session, order, event, source=ev.source, event_type=str(ev.kind), payload=ev.payload or None)
        if ev.kind is EventKind.RISK_BLOCKED and order.status is OrderState.BLOCKED:
            order.rejected_reason = ev.message or order.rejected_reason
        self._touch(batch, order)

    def _on_reconciled(self, session, batch: _Batch, ev: ReconciledStatus) -> None:
        order = batch.by_ref.get(ev.client_order_id)
        if order is None:
            return
        self._bind_ids(order, ib_order_id=ev.ib_order_id, perm_id=ev.perm_id)
        apply_to_order(session, order, SmEvent.ib_status(ev.status, ev.filled), source=EventSource.RECONCILE,
                       event_type="reconcile", payload={"status": ev.status, "filled": _s(ev.filled), "note": ev.message, **ev.payload})
        self._touch(batch, order)

    def _on_position_truth(self, session, batch: _Batch, ev: PositionTruth) -> None:
        """IB's account position wins over ours when the quantities differ (booked in order with
        the batch's fills; a position rebuilt from its fills in this batch keeps the fills' view)."""
        batch.position_ops.setdefault((None, ev.account, ev.symbol), []).append(ev)

    # ------------------------------------------------------------------ runs
    def _roll_up_runs(self, session, batch: _Batch) -> None:
        for run_id in sorted(batch.runs):
            run = session.get(TradeRun, run_id)
            if run is None:
                continue
            rows = session.execute(select(TradeOrder.status, TradeOrder.filled_quantity).where(TradeOrder.run_id == run_id)).all()
            status = run_status([(OrderState(s), q) for s, q in rows])
            if status is RunStatus.QUEUED and run.status is not RunStatus.QUEUED:
                continue  # never move a started run back to queued
            if status is not run.status:
                run.status = status
                if status in (RunStatus.DONE, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELED):
                    run.ended_at = _now()


def _position_keys(order: TradeOrder, account: str | None, symbol: str) -> list[PositionKey]:
    """A fill moves its project's row and the account's row (project None)."""
    account = account or order.account or ""
    return [(project_id, account, symbol) for project_id in dict.fromkeys((order.project_id, None))]


def _key_order(key: PositionKey) -> tuple:
    return (key[0] or 0, key[1], key[2])


def _chunks(items: list, size: int = 500):
    for i in range(0, len(items), size):
        yield items[i : i + size]


JOURNAL_CODEC = EventCodec(
    (ExecutionEvent, CommissionEvent, OrderStatusEvent, OpenOrderEvent, BrokerErrorEvent, LocalOrderEvent, ReconciledStatus,
     PositionTruth),
    (EventKind, EventSource),
)
