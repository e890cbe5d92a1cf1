"""Sending a run's orders under its lease: claimed a few at a time (NEW -> SENDING, one
conditional update) right before their placeOrder, paced, stopped by a halt, a lost connection or
a lost lease; whatever was claimed and not sent is given back (NEW).

One sender in a loop rather than one task per order: placeOrder never blocks, so the pacing
limiter is the only bound. Before each chunk (about one second of sending) the trading state is
read again, and every ``SEND_WATCH_INTERVAL`` seconds as well, so that a halt or a Cancel All from
another process stops what was not sent yet (a Cancel All writes a marker of the account it acts
on, ``cancel_all_marks``: a sender whose account's marker changed since it started stops, gives
back its claims and leaves its unsent orders to the Cancel All, which waits for it:
``sending_since`` on the run's lease; one that did not stop within that wait cancels, when it
ends, what it wrote that still works at the broker: ``_cancel_after_cancel_all``; a Cancel All of
another account leaves it sending, as it tells the trader);
a halt or Cancel All in this process stops it before the very next order. The run's lease is looked at last right before each
placeOrder is written, in the same synchronous step (``LeaseManager.check_sendable``): a sender
whose process stalled past its lease sends nothing more, gives its claims back and says so. An order someone else claimed, sent or canceled is never sent
from here: the claim right before its placeOrder takes only orders still NEW and never sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import InterfaceError, OperationalError

from services.core.order_state import EventKind
from services.core.wording import counted
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import TradeOrder
from services.db.repositories.settings import SettingsRepository
from services.domain import EventSource, OrderState, TradeMode, TradingState

from .dbcall import db_call, runs_inline
from .errors import BrokerError, ExecutionError, LeaseExpired, NotConnected, SendingStopped
from .halt_unsent import HALT_STOPPED, audit_closed, cancel_unsent_of_runs
from .lease import LEASE_EXPIRED, LEASE_LOST, Lease, LeaseManager
from .order_claims import placed_by
from .provider import ExecutionProvider, OrderRequest
from .writer import EventWriter, LocalOrderEvent

log = logging.getLogger(__name__)

SEND_CHECK_CHUNK = 45  # orders sent between two looks at the database: about one second
CLAIM_BATCH = 15  # orders claimed together right before they are sent: a third of a second
SEND_WATCH_INTERVAL = 0.5  # seconds between two looks at the trading state and the Cancel All marker while sending
CANCEL_ALL = "Cancel All"  # why a sender stopped at a Cancel All (of this process or another)
NO_CLAIM = "the run's lease expired or was taken (heartbeat not renewed in time)"
# why a sender stopped when another process may have taken its run over (a clock stepped off the
# database server's stops it too, with the clock's words: nobody took the run)
LEASE_TAKEN = (LEASE_LOST, LEASE_EXPIRED, NO_CLAIM)
SENT_AFTER_CANCEL_ALL = "canceled by its sender: a Cancel All of another process came while it sent"
# the broker's statuses of an order that needs no cancel from its sender (final, or one on its way)
_DONE_OR_CANCELING = frozenset({"Cancelled", "ApiCancelled", "Filled", "Inactive", "PendingCancel"})

_ORDERS = cast(Table, TradeOrder.__table__)  # Core statements on the table: no ORM layer to cross
_STILL_NEW = select(_ORDERS.c.client_order_id).where(_ORDERS.c.client_order_id.in_(bindparam("ids", expanding=True)),
                                                     _ORDERS.c.status == OrderState.NEW)


@dataclass
class SendOutcome:
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unsent: list[str] = field(default_factory=list)  # still NEW at the end
    stopped: str | None = None  # why sending stopped before the end
    # sending stopped because the run's lease was lost or about to expire: another process may
    # be finishing the run, this one's execute is incomplete (never a plain success)
    lease_lost: bool = False
    # a Cancel All of another process came while this sender sent: the orders it wrote that were
    # still working at the broker, canceled there by it (``_cancel_after_cancel_all``), and those
    # whose cancel failed, each with why
    canceled_after_cancel_all: list[str] = field(default_factory=list)
    not_canceled_after_cancel_all: list[tuple[str, str]] = field(default_factory=list)


class OrderSender:
    def __init__(self, db, provider: ExecutionProvider, writer: EventWriter, leases: LeaseManager,
                 stop_requested: Callable[[], str | None], on_sent: Callable[[str], None] | None = None) -> None:
        self.db = db
        # told each client order id whose placeOrder was written, in that synchronous step: ahead
        # of any broker reply, so whatever it records comes before what the broker answers
        self.on_sent = on_sent
        self.provider = provider
        self.writer = writer
        self.leases = leases
        self.stop_requested = stop_requested  # why this process stops its sending (a halt, Cancel All), else None
        self._remote_stop: str | None = None  # why another process stops it (read from the database)
        self._mark = None  # the Cancel All marker this sender started under (of its account)
        self._watched = False  # sending to a real broker, under the trading state and the marker

    async def _db(self, fn, *args):
        return await db_call(runs_inline(self.provider), fn, *args)

    async def send(self, lease: Lease, requests: list[OrderRequest]) -> SendOutcome:
        out = SendOutcome()
        if hasattr(self.provider, "qualify"):
            try:
                await self.provider.qualify(list(dict.fromkeys(r.spec for r in requests)))
            except NotConnected as exc:
                out.stopped = f"connection lost: {exc}"
        # a HALT or a Cancel All stops what goes to the broker; a backtest's simulated broker is not one
        if TradeMode(self.provider.mode).simulated:
            await self._send_chunks(lease, requests, out, halts=False)
        else:
            await self._send_watched(lease, requests, out)
        if out.stopped in (*LEASE_TAKEN, lease.lost_because):
            out.lease_lost = True
            log.error("run %s: sending stopped: %s; %s sent by this process", lease.run_id, out.stopped, len(out.sent))
        ids = [r.client_order_id for r in requests]
        if len(out.sent) == len(ids) and not lease.lost:
            # each one claimed by this lease (SENDING) and placed: none can be NEW again unless a
            # taker of a lost lease gave it back
            return out
        try:
            out.unsent = await self._db(self._still_new, ids)
        except (OperationalError, InterfaceError) as exc:
            # The database is away for a moment (the writer keeps the events and reports it): what
            # this process did not send is known here, and the run's outcome must not be lost to it.
            log.warning("database unreachable after sending (%s); orders not sent by this process are reported as unsent",
                        str(exc).splitlines()[0][:200])
            sent = set(out.sent)
            out.unsent = [c for c in ids if c not in sent]
            return out
        if out.stopped == HALT_STOPPED and out.unsent:
            # never sent automatically after the resume, nor by the run's next execute: the trader
            # previews again, for the market as it is then (services/execution/halt_unsent.py)
            try:
                closed = await self._db(self._close_halted, lease.run_id, out.unsent)
            except (OperationalError, InterfaceError) as exc:
                # left NEW, stored before the halt: the first recovery pass or execute of the run
                # closes them (halt_unsent.close_stopped); the outcome is not lost to it
                log.warning("run %s: the orders a halt stopped not closed yet (database unreachable: %s)", lease.run_id,
                            str(exc).splitlines()[0][:200])
            else:
                if closed:
                    log.warning("run %s: %s a halt stopped before they were sent closed as canceled, never "
                                "sent automatically", lease.run_id, counted(len(closed), "order"))
        return out

    @retry_lock_conflicts  # one unit of work of conditional updates: runs again from scratch
    def _close_halted(self, run_id: int, client_order_ids: list[str]) -> list[str]:
        with self.db.unit_of_work() as session:
            closed = cancel_unsent_of_runs(session, client_order_ids=client_order_ids)
            audit_closed(self.db, session, run_id, closed)
            return closed

    async def _send_chunks(self, lease: Lease, requests: list[OrderRequest], out: SendOutcome, *, halts: bool) -> None:
        for start in range(0, len(requests), SEND_CHECK_CHUNK):
            if out.stopped:
                break
            if halts:
                self._remote_stop = await self._db(self._stop_in_database)
                if self._remote_stop:
                    out.stopped = self._remote_stop
                    break
            # an order canceled or sent before its turn is not claimed (the claim's conditions)
            out.stopped = await self._send_claimed(lease, requests[start:start + SEND_CHECK_CHUNK], out)

    async def _send_watched(self, lease: Lease, requests: list[OrderRequest], out: SendOutcome) -> None:
        """Sending to a real broker: marked on the run's lease as sending, under the Cancel All
        marker read in the same transaction (a Cancel All of another process waits for this
        sender until it is no longer marked); the trading state and the marker are read again
        before every chunk and every ``SEND_WATCH_INTERVAL`` seconds by a watcher, so that a
        halt or a Cancel All of another process stops it before its next order."""
        try:
            state, self._mark = await self._db(self.leases.start_sending, lease, self._account)
        except (OperationalError, InterfaceError) as exc:
            out.stopped = f"database unreachable: {str(exc).splitlines()[0][:200]}"
            return
        self._watched = True
        watcher = asyncio.ensure_future(self._watch())
        try:
            if state is TradingState.HALTED:
                out.stopped = HALT_STOPPED
            else:
                await self._send_chunks(lease, requests, out, halts=True)
        finally:
            watcher.cancel()
            try:
                await watcher
            except asyncio.CancelledError:
                pass
            # while the lease still says it sends: a Cancel All that waits for this sender cancels after these
            try:
                await self._cancel_after_cancel_all(lease, out)
            except Exception:  # the lease's sending mark is cleared below whatever happens
                log.exception("run %s: the cancels of what this sender wrote after another process's Cancel All failed; "
                              "cancel the run's working orders at the broker", lease.run_id)
            try:
                # after every claim was given back: what this sender leaves NEW is known now
                await self._db(self.leases.stop_sending, lease)
            except Exception as exc:  # noqa: BLE001 - the lease row goes with the lease at the end of the run
                log.warning("run %s: sender's end not recorded on its lease (%s)", lease.run_id, str(exc).splitlines()[0][:200])

    async def _cancel_after_cancel_all(self, lease: Lease, out: SendOutcome) -> None:
        """A Cancel All of another process made while this sender sent, of its account (or of
        an unknown one: ``_cancel_all_since_start``): cancel at the broker every order this
        sender wrote that is still working there. That Cancel All waited a few
        seconds for this sender, then canceled anyway; what this sender wrote between its cancel
        and the sender's next look at the marker (every ``SEND_WATCH_INTERVAL``, each chunk)
        reached the broker after it and stayed working, though the trader had pressed Cancel All.

        No time is compared: the marker is written by the other process's clock, and which of
        this sender's orders came after it cannot be told from two clocks (a skew of a second
        would pass an order written after the cancel as one before it). So every order it wrote
        is looked at, and the broker says which still work (an order the Cancel All reached is
        canceled or canceling there: not asked again). A Cancel All of this process is not
        one: its stop is read right before each placeOrder, and it cancels after this sender.
        Each cancel is asked once (``provider.cancel_order``, outside any retried unit of
        work); its order's CANCEL_REQUESTED event says why."""
        if not out.sent or self.stop_requested() == CANCEL_ALL:
            return
        if self._remote_stop != CANCEL_ALL:
            try:
                if not await self._db(self._cancel_all_since_start):
                    return
            except (OperationalError, InterfaceError) as exc:
                log.error("run %s: the Cancel All marker not read after sending (%s); if another process canceled "
                          "everything meanwhile, what this sender wrote may still work", lease.run_id,
                          str(exc).splitlines()[0][:200])
                return
        working = await self._still_working(out.sent)
        for client_order_id in working:
            try:
                await self.provider.cancel_order(client_order_id)
            except BrokerError as exc:
                out.not_canceled_after_cancel_all.append((client_order_id, str(exc)))
                continue
            self.writer.submit(LocalOrderEvent(client_order_id, EventKind.CANCEL_REQUESTED, EventSource.SYSTEM,
                                               message=SENT_AFTER_CANCEL_ALL))
            out.canceled_after_cancel_all.append(client_order_id)
        if working:
            log.warning("run %s: a Cancel All of another process came while this sender sent; canceled at the broker "
                        "%s it wrote that still worked: %s%s", lease.run_id, len(out.canceled_after_cancel_all),
                        ", ".join(out.canceled_after_cancel_all) or "none",
                        "".join(f"; not canceled {c}: {why}" for c, why in out.not_canceled_after_cancel_all))

    async def _still_working(self, sent: list[str]) -> list[str]:
        """Of the orders this sender wrote, those still working at the broker (not final, no
        cancel on its way), as the broker answers; the record's view when it does not answer
        (an order the record has as final is not asked again)."""
        try:
            open_at_broker = {o.order_ref for o in await self.provider.open_orders() if o.status not in _DONE_OR_CANCELING}
        except BrokerError as exc:
            log.warning("open orders not read from the broker (%s): the record says which still work", exc)
            try:
                open_at_broker = await self._db(self._not_final, sent)
            except (OperationalError, InterfaceError):
                open_at_broker = set(sent)  # neither answers: each is asked to cancel (a final one is refused, harmless)
        return [c for c in sent if c in open_at_broker]

    @property
    def _account(self) -> str | None:
        """The account this sender sends for (its connection's; None: unknown, which every
        Cancel All concerns)."""
        return getattr(self.provider, "account", None) or None

    def _cancel_all_since_start(self) -> bool:
        """A Cancel All that concerns this sender's account came since it started."""
        with self.db.session() as session:
            return SettingsRepository(session).cancel_all_concerning(self._account) != self._mark

    def _not_final(self, client_order_ids: list[str]) -> set[str]:
        """Of these, the orders the record does not have as final."""
        out: set[str] = set()
        with self.db.session() as session:
            for start in range(0, len(client_order_ids), 500):
                out.update(c for c, status in session.execute(
                    select(_ORDERS.c.client_order_id, _ORDERS.c.status)
                    .where(_ORDERS.c.client_order_id.in_(client_order_ids[start:start + 500])))
                    if not OrderState(status).is_terminal)
        return out

    async def _watch(self) -> None:
        """Reads the trading state and the Cancel All marker every ``SEND_WATCH_INTERVAL``
        seconds while sending: a slow sender (pacing, a long chunk) sees another process's
        halt or Cancel All within that time, not only at its next chunk."""
        while self._remote_stop is None:
            await asyncio.sleep(SEND_WATCH_INTERVAL)
            try:
                self._remote_stop = await self._db(self._stop_in_database)
            except Exception as exc:  # noqa: BLE001 - the next chunk reads it again; the lease bounds a database outage
                log.warning("trading state not read while sending: %s", str(exc).splitlines()[0][:200])

    def _check_sendable(self, lease: Lease) -> None:
        """Right before an order's placeOrder is written: a halt or a Cancel All asked since the
        order was handed to the pacing limiter stops it there (it waited its turn there for up
        to a few seconds, and went out after the trader's Cancel All), then the lease's check.
        The provider's resend after IB's error 100 runs it too, after a fresh look at the
        database (``_LastLook``)."""
        stop = self.stop_requested() or self._remote_stop
        if stop:
            raise SendingStopped(stop)
        self.leases.check_sendable(lease)

    async def _look_again(self, lease: Lease):
        """Before a resend after IB's error 100: a fresh look at the Cancel All marker and the
        trading state (the watcher's is up to ``SEND_WATCH_INTERVAL`` old, and ends with the
        sending; a command holds the run's lease, and resends, while it waits for the fills),
        and the lease marked as sending again for that write when this sender's work is over
        (``LeaseManager.mark_resending``): a Cancel All of another process written after this
        look waits for it, one written before stops it. The time it was marked, or None."""
        if not self._watched or self._remote_stop is not None:
            return None
        state, marker, marked_at = await self._db(self.leases.mark_resending, lease, self._mark, self._account)
        if marker != self._mark:
            self._remote_stop = CANCEL_ALL
        elif state is TradingState.HALTED:
            self._remote_stop = HALT_STOPPED
        return marked_at

    def _why_stop(self, lease: Lease) -> str | None:
        stop = self.stop_requested() or self._remote_stop
        if stop:
            return stop
        if lease.lost:
            return lease.lost_because
        if self.leases.expiring(lease):
            return LEASE_EXPIRED
        if not self.provider.is_connected:
            return "connection lost"
        return None

    async def _send_claimed(self, lease: Lease, todo: list[OrderRequest], out: SendOutcome) -> str | None:
        """Claim ``todo`` in batches and send what each claim got; returns why sending stopped.
        The next batch is claimed while this one is sent (a claim waits for the database's write
        lock, which the writer holds a good part of the time on SQLite): claims never slow the
        sending down, and a claim is at most one batch (a third of a second) ahead of its orders."""
        # a simulated broker (a backtest) is not paced: its whole chunk goes in the same instant,
        # so one claim per chunk is as close to its orders as a third of a second is to a live one's
        size = SEND_CHECK_CHUNK if runs_inline(self.provider) else CLAIM_BATCH
        batches = [todo[i:i + size] for i in range(0, len(todo), size)]

        def claim(batch):
            return asyncio.ensure_future(self._db(self.leases.claim_many, lease, [r.client_order_id for r in batch]))

        stopped = self._why_stop(lease)
        next_claim = claim(batches[0]) if batches and not stopped else None
        try:
            for k, batch in enumerate(batches):
                if next_claim is None:  # not claimed: sending was stopping
                    return self._why_stop(lease) or "sending stopped"
                got = await next_claim
                next_claim = None
                if got is None:
                    return NO_CLAIM
                claim_id, mine = got
                pending = [r for r in batch if r.client_order_id in mine]
                if k + 1 < len(batches) and self._why_stop(lease) is None:
                    next_claim = claim(batches[k + 1])
                for n, request in enumerate(pending):
                    stopped = self._why_stop(lease)
                    if stopped is None:
                        try:
                            if not await self._send_one(lease, request, claim_id, out):
                                stopped = f"connection lost: {out.failed[-1][1]}"
                                n += 1  # that one was given back already
                        except (LeaseExpired, SendingStopped) as exc:  # refused right before the write: given back below
                            stopped = str(exc)
                    if stopped:
                        rest = [r.client_order_id for r in pending[n:]]
                        if rest:
                            await self._give_back(claim_id, rest, stopped)
                        return stopped
            return None
        finally:
            if next_claim is not None:  # claimed ahead, never sent: give it back
                try:
                    got = await next_claim
                except Exception:  # the claim itself failed: nothing was claimed to give back
                    log.debug("claim ahead failed", exc_info=True)
                    got = None
                if got is not None and got[1]:
                    await self._give_back(got[0], sorted(got[1]), stopped or "sending stopped")

    async def _give_back(self, claim_id: str, client_order_ids: list[str], stopped: str) -> None:
        """Claimed orders this sender will not send: back to NEW for the run's next sending; or,
        stopped by a Cancel All, closed as canceled (``LeaseManager.cancel_unsent``): the Cancel
        All leaves a stopping sender's claims to it, and has listed what to cancel by the time a
        sender that did not stop within its wait lets them go. (Given back NEW for another reason
        after a Cancel All, its lease ran out first, they are closed by the run's next execute or
        recovery pass: services.execution.halt_unsent.close_stopped.)"""
        if stopped == CANCEL_ALL:
            await self._db(self.leases.cancel_unsent, claim_id, client_order_ids,
                           "canceled before sending: a Cancel All stopped its sender")
        else:
            await self._db(self.leases.unclaim, claim_id, client_order_ids, f"not sent: {stopped}")

    async def _send_one(self, lease: Lease, request: OrderRequest, claim_id: str, out: SendOutcome) -> bool:
        """Send one claimed order. False: stop sending (the connection is gone). LeaseExpired /
        SendingStopped: not written (the lease may expire before it reaches the broker; a halt or
        a Cancel All came while it waited for its turn at the pacing limiter), still claimed."""
        try:
            # the lease and the stop requests are looked at last, in the synchronous step that
            # writes the order (and again before IB's error 100 has it written once more)
            ib_order_id = await self.provider.place_order(request, check=_LastLook(self, lease))
        except (LeaseExpired, SendingStopped):
            raise
        except ExecutionError as exc:
            # raised before placeOrder left (not connected, unknown contract): never reached the
            # broker, so the claim is given back
            out.failed.append((request.client_order_id, str(exc)))
            log.error("order %s not sent: %s", request.client_order_id, exc)
            await self._db(self.leases.unclaim, claim_id, request.client_order_id, f"not sent: {exc}")
            return not isinstance(exc, NotConnected)
        except Exception as exc:  # unknown whether it left: stays SENDING for reconciliation
            out.failed.append((request.client_order_id, str(exc) or type(exc).__name__))
            log.exception("order %s: placeOrder failed; left SENDING for reconciliation", request.client_order_id)
            return True
        # queued synchronously right after placeOrder: ahead of any broker reply
        self.writer.submit(LocalOrderEvent(request.client_order_id, EventKind.SUBMITTED, EventSource.SYSTEM, ib_order_id=ib_order_id,
                                           payload={"orderRef": request.client_order_id, "orderId": ib_order_id,
                                                    **placed_by(getattr(self.provider, "client_id", None))}))
        out.sent.append(request.client_order_id)
        if self.on_sent is not None:
            try:
                self.on_sent(request.client_order_id)
            except Exception:  # the order went: a failing listener never makes it look unsent
                log.exception("order %s: the sent listener failed", request.client_order_id)
        return True

    def _stop_in_database(self) -> str | None:
        """Why another process stops this sender: a Cancel All of its account since this sender
        started (its account's marker changed; first, so that a halt with Cancel All closes the
        claims as canceled), trading HALTED; else None."""
        with self.db.session() as session:
            settings = SettingsRepository(session, read_once=True)
            if settings.cancel_all_concerning(self._account) != self._mark:
                return CANCEL_ALL
            if settings.trading_state() is TradingState.HALTED:
                return HALT_STOPPED
            return None

    def _still_new(self, client_order_ids: list[str]) -> list[str]:
        """Of these, the orders still waiting to be sent (in the given order)."""
        new: set[str] = set()
        with self.db.session() as session:
            for start in range(0, len(client_order_ids), 500):
                new.update(session.scalars(_STILL_NEW, {"ids": client_order_ids[start:start + 500]}))
        return [c for c in client_order_ids if c in new]


class _LastLook:
    """The check right before a run's placeOrder is written (``OrderSender._check_sendable``);
    ``around_resend``: the provider's resend after IB's error 100 (services.execution.paced.
    InFlightOrders) looks at the database first, after its pacing wait (``OrderSender.
    _look_again``): a Cancel All or a halt of another process written since the claim stops it too."""

    def __init__(self, sender: OrderSender, lease: Lease) -> None:
        self.sender = sender
        self.lease = lease

    def __call__(self) -> None:
        self.sender._check_sendable(self.lease)

    @asynccontextmanager
    async def around_resend(self) -> AsyncIterator[None]:
        marked_at = await self.sender._look_again(self.lease)
        try:
            yield
        finally:
            if marked_at is not None:
                await self.sender._db(self.sender.leases.unmark_resending, self.lease, marked_at)
