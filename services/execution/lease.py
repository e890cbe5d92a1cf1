"""One sender per run, across processes: a lease row in ``run_leases``.

A run is sent, resumed or recovered by one holder at a time (two windows, a window and a
command, two commands). The lease is one row per run:

* taken atomically, the same way on SQLite and MariaDB: an INSERT that fails on the primary key
  when the run is held, or, for a stale row, a conditional UPDATE ``WHERE token = <the stale
  token> AND expires_at = <the end it was read with>`` (rowcount 1: ours; 0: someone else took
  it first, or its holder renewed it meanwhile);
* kept alive by a heartbeat (``expires_at`` moved forward every third of the time to live) while
  the holder sends and waits; deleted at the end;
* stale when it expired, or when its holder ran on this machine and that process is gone (a
  SIGKILL needs no expiry: the boot id, the pid namespace and the process start time tell a dead
  holder from a reused pid).

The lease is the first lock. The second one does not trust it: every order is claimed for
sending, a few at a time right before their placeOrder, with one conditional UPDATE (``NEW`` ->
``SENDING`` while the claimer's lease is valid for at least ``claim_margin`` more seconds), so no
two senders can send the same order even if the lease logic failed. A taker of a stale lease reconciles before it sends: a SENDING order of a
dead holder that the broker never saw goes back to NEW (``release_stale_claims``), one the broker
knows takes the broker's state.

A holder whose process stalled (a long pause of its event loop: garbage collection, swap, a VM
paused, a blocking call) may wake up after its lease expired and was taken over, with orders
still claimed: its heartbeat has not run yet, so nothing told it. The last look is therefore at
the moment of the write: right before each placeOrder goes on the socket, in the same synchronous
step (no await in between), the sender refuses when its lease expires in less than ``send_margin``
seconds (``LeaseManager.check_sendable``), gives its claims back (only those still under its own
claim id) and stops saying why. An order it did write left at least ``send_margin`` seconds before
anyone could take the lease over, so it is at the broker when the taker reconciles. A released
lease refuses too (``Lease.released``): a placeOrder that IB's error 100 dropped is sent again by
the provider under the check of the lease that sent it, possibly after the run's sending ended
and another process took the run and closed the dropped order as never received. ``expires_at``
of a held lease only moves forward on a renewal the database confirmed.

Clocks: every time in the lease row is the database's clock, and so is every judgement of it
(a taker's "expired?", a claim's "valid for ``claim_margin`` more?", a reconciliation's "its holder
lives?"): the one clock every process of the database shares, read in the transaction that stamps
or judges (``LeaseManager.database_now``: MariaDB's ``UTC_TIMESTAMP(6)``; SQLite is a file on one
machine, whose clock is the file's). A process's own clock may be off the server's by any amount
(a MariaDB host whose clock drifted, a laptop without NTP): stamped by one clock and judged by
another, such an offset would either refuse every sender or let a taker in while the holder
still writes. The one look that cannot ask the database, the holder's before each placeOrder
(``check_sendable``), turns the lease's end into this process's clock with the offset between
the two measured at the stamp (``Lease.offset``, rounded towards an earlier end). That offset
only changes when a clock is stepped (this machine's or the server's): each renewal measures it
again, and a holder that finds it moved by more than half of ``send_margin`` stops writing under
its lease (``ClockSkew``), since for a while its view of the lease's end was not the takers'.

Who a holder is and whether its process lives (the key in the row): services.execution.process_identity.
The updates that give back or cancel the claims of a sender, this one's or another process's
(reconciliation, recovery, Cancel All): services.execution.order_claims.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, exists, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import OrderEvent as OrderEventRow
from services.db.models import RunLease, TradeOrder
from services.db.repositories.base import execute_many, fetch_all
from services.db.repositories.orders import EVENT_COLUMNS
from services.db.types import utcnow
from services.domain import EventSource, OrderState, TradingState

from .dbcall import db_call, db_call_detached
from .errors import LeaseExpired, Missing, Refused
from .order_claims import cancel_claims, release_claims
from .process_identity import Holder, _holder, process_key
from .process_identity import holder_alive as holder_alive  # re-exported: tests/execution/test_lease.py
from .timings import LEASE_TTL  # seconds a lease lives without a heartbeat (a setting: app.settings)

log = logging.getLogger(__name__)

LEASE_EXPIRED = "the run's lease expired while sending (the process stalled?)"
LEASE_LOST = "the run's lease was lost (taken by another process after it expired)"
LEASE_RELEASED = "the run's lease was released (its sending ended): nothing more is written under it"
WAIT_POLL = 0.25  # seconds between two looks at a busy lease while waiting for it
# an offset between this machine's clock and the database server's smaller than this is not worth
# a trader's attention in a refusal (the times it names are the server's: off by this, they still
# read right against the trader's own clock)
SKEW_WORTH_SAYING = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


# built once: building a statement costs more than running it on SQLite (a backtest takes a lease,
# claims its orders and releases the lease for every rebalance); Core statements on the tables
# (a statement on the mapped classes goes through the ORM's layer: twice the cost of running it)
_LEASES = cast(Table, RunLease.__table__)
_ORDERS = cast(Table, TradeOrder.__table__)
_INSERT_LEASE = insert(_LEASES)
# every column a new lease row is given (the table has no column default): one executemany of the
# driver's (execute_many), not SQLAlchemy's statement handling, which cost more than the INSERT
_LEASE_COLUMNS = ("run_id", "token", "host", "pid", "client_id", "process_key", "acquired_at", "heartbeat_at", "expires_at")
# a lease row's write that took longer than this (a lock wait) is stamped again once written
_RESTAMP_AFTER = timedelta(seconds=1)
_RELEASE = delete(_LEASES).where(_LEASES.c.run_id == bindparam("lease_run"), _LEASES.c.token == bindparam("lease_token"))
_RELEASE_PARAMS = ("lease_run", "lease_token")
# (an UPDATE's bind names must not be column names)
_CLAIM_WHERE = (_ORDERS.c.client_order_id.in_(bindparam("ids", expanding=True)), _ORDERS.c.run_id == bindparam("lease_run"),
                _ORDERS.c.status == OrderState.NEW, _ORDERS.c.ib_order_id.is_(None),
                exists().where(_LEASES.c.run_id == bindparam("lease_run"), _LEASES.c.token == bindparam("lease_token"),
                               _LEASES.c.expires_at > bindparam("valid_until")))
# ``updated_at`` given as its ``onupdate`` gives it: the SQLite claim runs on the driver (fetch_all),
# where no column default is computed
_CLAIM_VALUES = {"status": OrderState.SENDING, "claimed_by": bindparam("claim_id"), "claimed_at": bindparam("claim_time"),
                 "updated_at": bindparam("claim_updated_at")}
_CLAIM = update(_ORDERS).where(*_CLAIM_WHERE).values(_CLAIM_VALUES)
# SQLite: the claimed orders come back from the UPDATE itself (MariaDB has no UPDATE ... RETURNING)
_CLAIM_RETURNING = update(_ORDERS).where(*_CLAIM_WHERE).values(_CLAIM_VALUES).returning(_ORDERS.c.id, _ORDERS.c.client_order_id)
_CLAIMED = select(_ORDERS.c.id, _ORDERS.c.client_order_id).where(
    _ORDERS.c.client_order_id.in_(bindparam("ids", expanding=True)), _ORDERS.c.status == OrderState.SENDING,
    _ORDERS.c.claimed_by == bindparam("claim_id"))
_INSERT_EVENTS = insert(cast(Table, OrderEventRow.__table__))  # the claim's order events: one executemany
_SERVER_NOW = text("SELECT UTC_TIMESTAMP(6)")  # MariaDB's clock, in UTC whatever the session's time zone
_LEASE_VALID = select(_LEASES.c.token).where(_LEASES.c.run_id == bindparam("lease_run"), _LEASES.c.token == bindparam("lease_token"),
                                             _LEASES.c.expires_at > bindparam("valid_until"))


class RunBusy(Refused):
    """Another live process holds the run's lease."""

    code = "run_busy"

    def __init__(self, message: str, holder: Holder) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(eq=False)
class Lease:
    """A lease this process holds."""

    run_id: int
    token: str
    ttl: float
    expires_at: datetime
    taken_over_from: Holder | None = None  # the stale holder this lease replaced
    # this process's clock minus the database's, measured when ``expires_at`` was stamped (rounded
    # towards an earlier end on this clock), and how uncertain that measure was (the query's round trip)
    offset: timedelta = timedelta(0)
    uncertainty: timedelta = timedelta(0)
    lost: bool = False  # the heartbeat found the row gone or taken, or a clock stepped: stop sending
    lost_because: str = LEASE_LOST  # why, for the run's result (LEASE_LOST, or the clock's words)
    # given back (the row deleted): another process may hold the run from now on, so nothing
    # may be written under this lease any more (a placeOrder sent again after IB's error 100
    # carries the lease's check: services.execution.paced.InFlightOrders)
    released: bool = False
    _task: asyncio.Task | None = field(default=None, repr=False)


class ClockSkew(Refused):
    """This machine's clock and the database server's moved against each other (one of them was
    stepped) while this process held a run's lease."""

    code = "clock_skew"

    def __init__(self, moved: float, limit: float) -> None:
        self.moved, self.limit = moved, limit  # seconds this machine's clock moved ahead (negative: behind); allowed
        super().__init__(self.while_holding())

    def while_holding(self) -> str:
        """Why the holder stopped sending: no other process took the run (what the trader would
        read in LEASE_LOST), this one let it go, for its view of the lease's end was off."""
        return (f"this machine's clock is {abs(self.moved):.3f} s {'further ahead of' if self.moved > 0 else 'further behind'} "
                f"the database server's than when the lease was last renewed (at most {self.limit:g} s allowed): a clock "
                "was stepped while this process held the run's lease, so it stopped sending (its view of the lease's end "
                "was not the database's); what it did not send is left NEW: synchronise the clocks (NTP slews them "
                "instead of stepping), then execute the run again")


def _skew_words(skew: float) -> str:
    """``skew``: the database server's clock minus this machine's, in seconds."""
    return f"the database server's clock is {abs(skew):.3f} s {'ahead of' if skew > 0 else 'behind'} this machine's"


class Claim(StrEnum):
    CLAIMED = "claimed"
    NOT_NEW = "not_new"  # canceled, or claimed or sent by someone else: never send it
    NO_LEASE = "no_lease"  # our lease is gone or about to expire: stop sending


class LeaseManager:
    def __init__(self, db, *, client_id: int | None = None, ttl: float = LEASE_TTL, claim_margin: float | None = None,
                 send_margin: float | None = None, clock: Callable[[], datetime] = _now) -> None:
        self.db = db
        self.client_id = client_id
        self.ttl = ttl
        # a claim needs this much lease left: the placeOrder that follows it (a pacing wait at
        # most) lands long before a taker could call the holder dead
        self.claim_margin = ttl / 3 if claim_margin is None else claim_margin
        # a placeOrder needs this much lease left when it is written (check_sendable): it reaches
        # the broker before a taker could reconcile
        self.send_margin = ttl / 6 if send_margin is None else send_margin
        # this process's wall clock (UTC): the database's clock on SQLite (one machine), and the one
        # the look before each placeOrder reads; injectable for tests (on MariaDB a test moves the
        # server's clock with it: tests/execution/test_lease.py, ``_server_follows``)
        self.clock = clock
        # the last measure of the database server's clock minus this process's (seconds), for the
        # words of a refusal; None on SQLite (one clock) or before the first measure
        self.skew: float | None = None
        self.host = socket.gethostname()
        self.inline_db = False  # a backtest's leases are taken inline (services.execution.dbcall)
        self.held: dict[int, Lease] = {}

    # ------------------------------------------------------------------ reads
    def holder(self, run_id: int) -> Holder | None:
        with self.db.session() as session:
            row = session.get(RunLease, run_id)
            return _holder(row) if row is not None else None

    def live_tokens(self, tokens: set[str]) -> set[str]:
        """Of these claim tokens, those of leases still held by a live holder (judged by the
        database's clock, as the holder stamped them: whatever this machine's clock says). A lease
        given back is no one's."""
        if not tokens:
            return set()
        with self.db.session() as session:
            now = self.database_now(session.connection())[0]
            rows = session.scalars(select(RunLease).where(RunLease.token.in_(sorted(tokens)))).all()
            return {row.token for row in rows if not _holder(row).stale(now)}

    def live_client_ids(self, client_ids: set[int]) -> set[int]:
        """Of these broker client ids, those of a live lease holder (any run): a process connected
        with that client id is at work right now."""
        if not client_ids:
            return set()
        with self.db.session() as session:
            now = self.database_now(session.connection())[0]
            rows = session.scalars(select(RunLease).where(RunLease.client_id.in_(sorted(client_ids)))).all()
            return {row.client_id for row in rows if row.client_id is not None and not _holder(row).stale(now)}

    def own_tokens(self) -> set[str]:
        return {lease.token for lease in self.held.values() if not lease.lost}

    # ------------------------------------------------------------------ the database's clock
    def database_now(self, connection) -> tuple[datetime, timedelta, timedelta]:
        """The database's now, read on ``connection`` (in the transaction that stamps or judges
        with it), with this process's clock minus it and how uncertain that is. On MariaDB the
        server's ``UTC_TIMESTAMP(6)``; the offset is this clock's reading before the query minus
        the server's, which turns a lease end of the server's into one on this clock no later than
        the real one (the server read its clock after this process read its own). On SQLite the
        file's clock is this machine's: ``clock``, no offset."""
        if connection.dialect.name not in ("mysql", "mariadb"):
            return self.clock(), timedelta(0), timedelta(0)
        before = self.clock()
        server = connection.scalar(_SERVER_NOW)
        after = self.clock()
        if isinstance(server, str):
            server = datetime.fromisoformat(server)
        server = server.replace(tzinfo=UTC)
        round_trip = after - before
        self.skew = (server - (before + round_trip / 2)).total_seconds()
        return server, before - server, round_trip

    def _skew_said(self) -> str:
        """The skew, for a refusal that names the holder's times (the server's), when it is
        worth saying."""
        if self.skew is None or abs(self.skew) < SKEW_WORTH_SAYING:
            return ""
        return f" (its times are the database server's clock: {_skew_words(self.skew)})"

    # ------------------------------------------------------------------ acquire / renew / release
    @retry_lock_conflicts  # each attempt's writes are committed or rolled back whole
    def try_acquire(self, run_id: int) -> Lease | Holder:
        """Our new lease, or the live holder that has it. Stamped and judged by the database's
        clock, read in the transaction that writes or judges the row."""
        token = uuid.uuid4().hex
        for _attempt in range(3):
            try:
                with self.db.core(write=True) as connection:
                    now, offset, uncertainty = self.database_now(connection)
                    values = self._lease_values(token, now)
                    execute_many(connection, _INSERT_LEASE, _LEASE_COLUMNS, [(run_id, *(values[c] for c in _LEASE_COLUMNS[1:]))])
                    values, offset, uncertainty = self._stamped_once_held(connection, run_id, token, now, values,
                                                                          offset, uncertainty)
                return Lease(run_id, token, self.ttl, values["expires_at"], offset=offset, uncertainty=uncertainty)
            except IntegrityError:
                pass  # held (or the run does not exist: told below)
            with self.db.unit_of_work() as session:
                row = session.get(RunLease, run_id)
                if row is None:
                    from services.db.models import TradeRun

                    if session.get(TradeRun, run_id) is None:
                        raise Missing(f"run {run_id} does not exist")
                    continue  # released in between: insert again
                current = _holder(row)
                now, offset, uncertainty = self.database_now(session.connection())
                if not current.stale(now):
                    return current
                values = self._lease_values(token, now)
                # the end it was read with too: a renewal that landed since this read (the holder
                # woke up; on MariaDB the read takes no lock) keeps the lease with its holder, who
                # writes its claimed orders under it; the token alone would not tell
                taken = session.execute(update(RunLease).where(RunLease.run_id == run_id, RunLease.token == current.token,
                                                               RunLease.expires_at == current.expires_at)
                                        .values(**values)).rowcount
                if taken == 1:
                    values, offset, uncertainty = self._stamped_once_held(session.connection(), run_id, token, now, values,
                                                                          offset, uncertainty)
            if taken == 1:
                log.warning("run %s: took over the stale lease of %s", run_id, current.describe())
                return Lease(run_id, token, self.ttl, values["expires_at"], current, offset=offset, uncertainty=uncertainty)
        raise Refused(f"run {run_id}: its lease changed hands three times while taking it; try again", code="run_busy")

    def _stamped_once_held(self, connection, run_id: int, token: str, now: datetime, values: dict,
                           offset: timedelta, uncertainty: timedelta) -> tuple[dict, timedelta, timedelta]:
        """The new lease's row stamped again, in its transaction, when writing it waited: on
        MariaDB the insert checks its run's row (the foreign key) and waits while another
        transaction keeps that row locked, and a takeover's update waits for the old row; stamped
        with the time read before the wait, the lease was born with that much less to live (a
        22 s wait left 8 of 30 s, below the claims' margin: the run sent nothing, "lease
        expired"). SQLite waits at BEGIN, before the time is read."""
        later, later_offset, later_uncertainty = self.database_now(connection)
        if later - now <= _RESTAMP_AFTER:
            return values, offset, uncertainty
        values = {**values, **{column: stamp for column, stamp in self._lease_values(token, later).items()
                               if column in ("acquired_at", "heartbeat_at", "expires_at")}}
        connection.execute(update(RunLease).where(RunLease.run_id == run_id, RunLease.token == token)
                           .values(acquired_at=values["acquired_at"], heartbeat_at=values["heartbeat_at"],
                                   expires_at=values["expires_at"]))
        return values, later_offset, later_uncertainty

    def _lease_values(self, token: str, now: datetime) -> dict:
        """A new lease row's columns, stamped at ``now`` (the database's clock)."""
        return {"token": token, "host": self.host[:255], "pid": os.getpid(), "client_id": self.client_id,
                "process_key": process_key(), "acquired_at": now, "heartbeat_at": now,
                "expires_at": now + timedelta(seconds=self.ttl)}

    async def acquire(self, run_id: int, *, wait: float = 0.0) -> Lease:
        """The run's lease; waits up to ``wait`` seconds for a live holder to finish, then
        refuses naming it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait)
        while True:
            got = await db_call(self.inline_db, self.try_acquire, run_id)
            if isinstance(got, Lease):
                self.held[run_id] = got
                return got
            if loop.time() + WAIT_POLL > deadline:
                waited = f" (waited {wait:g} s)" if wait > 0 else ""
                raise RunBusy(f"run {run_id} is being executed by another process: {got.describe()}{self._skew_said()}"
                              f"{waited}; nothing was sent from here", got)
            await asyncio.sleep(WAIT_POLL)

    def renew(self, lease: Lease) -> bool:
        """Moves ``expires_at`` forward (the database's clock), in the row and then in ``lease``,
        only when the row is still ours: a failed renewal leaves the lease's end where it was.
        Raises ClockSkew, renewing nothing, when this process's clock and the database's moved
        against each other by more than half of ``send_margin`` since the lease's last stamp: the
        look before each placeOrder read the lease's end off by that much meanwhile."""
        with self.db.unit_of_work() as session:
            now, offset, uncertainty = self.database_now(session.connection())
            # what the two round trips leave unknown counts for the clocks
            moved = offset - lease.offset
            limit = self.send_margin / 2
            if abs(moved.total_seconds()) - max(uncertainty, lease.uncertainty).total_seconds() > limit:
                raise ClockSkew(moved.total_seconds(), limit)
            expires = now + timedelta(seconds=lease.ttl)
            renewed = session.execute(update(RunLease).where(RunLease.run_id == lease.run_id, RunLease.token == lease.token)
                                      .values(heartbeat_at=now, expires_at=expires)).rowcount == 1
        if renewed:
            lease.expires_at, lease.offset, lease.uncertainty = expires, offset, uncertainty
        return renewed

    def release(self, lease: Lease) -> None:
        # first, before the row goes: from the moment another process can take the run, no
        # message still carrying this lease's check (an order sent again after IB's error 100)
        # may be written
        lease.released = True
        if self.held.get(lease.run_id) is lease:
            del self.held[lease.run_id]
        with self.db.core(write=True) as connection:
            execute_many(connection, _RELEASE, _RELEASE_PARAMS, [(lease.run_id, lease.token)])

    async def _heartbeat(self, lease: Lease) -> None:
        while not lease.lost:
            await asyncio.sleep(lease.ttl / 3)
            try:
                # on a thread of its own, not the default executor's that every other database step
                # of the process shares: six steps waiting there on a server's locks (its six
                # threads on 2 cores, up to 50 s each on MariaDB) held the renewal back until the
                # lease ran low and sending stopped, the process alive and its lease row free. A
                # daemon thread: the process may end without a renewal waiting on the server
                if not await db_call_detached(self.inline_db, self.renew, lease):
                    lease.lost = True
                    log.error("run %s: lease lost (taken by another process after it expired); sending stops", lease.run_id)
            except ClockSkew as exc:
                # a clock stepped while holding: this process's view of the lease's end was not
                # the database's, so nothing more is written under it
                lease.lost_because = exc.while_holding()
                lease.lost = True
                log.error("run %s: sending stops: %s", lease.run_id, lease.lost_because)
                return
            except Exception as exc:  # noqa: BLE001 - the database away: claims stop by themselves as the lease runs low
                log.warning("run %s: lease heartbeat failed: %s", lease.run_id, exc)

    @asynccontextmanager
    async def hold(self, run_id: int, *, wait: float = 0.0) -> AsyncIterator[Lease]:
        """Hold the run's lease (with its heartbeat) for the block; re-entrant in one process."""
        existing = self.held.get(run_id)
        if existing is not None and not existing.lost and not existing.released:
            yield existing
            return
        lease = await self.acquire(run_id, wait=wait)
        lease._task = asyncio.get_running_loop().create_task(self._heartbeat(lease), name=f"lease-{run_id}")
        try:
            yield lease
        finally:
            lease._task.cancel()
            try:
                await lease._task
            except asyncio.CancelledError:
                pass
            except Exception:  # the heartbeat logs its own failures
                log.debug("run %s: lease heartbeat ended with an error", run_id, exc_info=True)
            try:
                await db_call(self.inline_db, self.release, lease)
            except Exception as exc:  # noqa: BLE001 - it expires by itself
                log.warning("run %s: lease not released (%s); it expires in at most %g s", run_id, exc, lease.ttl)

    # ------------------------------------------------------------------ a sender at work (Cancel All waits for it)
    def start_sending(self, lease: Lease, account: str | None = None) -> tuple[TradingState, datetime | None]:
        """The lease's sender starts, for ``account`` (its connection's; None: unknown): the
        trading state and the Cancel All marker it starts under (the last Cancel All that
        concerns its account: ``SettingsRepository.cancel_all_concerning``), read in the
        transaction that marks the lease as sending (``sending_since``, ``sending_mark``,
        ``sending_account``). A Cancel All of any process that concerns its account after this
        moment changes that marker, which the sender reads again while it sends and stops at;
        one of another account leaves it sending."""
        from services.db.repositories.settings import SettingsRepository

        with self.db.unit_of_work() as session:
            settings = SettingsRepository(session)
            state, mark = settings.trading_state(), settings.cancel_all_concerning(account)
            session.execute(update(RunLease).where(RunLease.run_id == lease.run_id, RunLease.token == lease.token)
                            .values(sending_since=self.clock(), sending_mark=mark, sending_account=account or None))
        return state, mark

    def stop_sending(self, lease: Lease) -> None:
        """The lease's sender ended (its claims given back): a Cancel All waits no more for it."""
        with self.db.unit_of_work() as session:
            session.execute(update(RunLease).where(RunLease.run_id == lease.run_id, RunLease.token == lease.token)
                            .values(sending_since=None, sending_mark=None, sending_account=None))

    def mark_resending(self, lease: Lease, mark: datetime | None,
                       account: str | None = None) -> tuple[TradingState, datetime | None, datetime | None]:
        """Before a placeOrder IB dropped (error 100) is written again under ``lease``, for
        ``account``: the trading state and the Cancel All marker of that account (as
        ``start_sending``), read in the transaction that marks the lease as sending again under
        ``mark`` (its sender's) when its sender's work is over (not marked): a Cancel All of
        another process after this moment waits for the resend, as for a sender. (state,
        marker, the time it was marked or None)."""
        from services.db.repositories.settings import SettingsRepository

        with self.db.unit_of_work() as session:
            settings = SettingsRepository(session)
            state, current = settings.trading_state(), settings.cancel_all_concerning(account)
            if state is TradingState.HALTED or current != mark:
                return state, current, None
            now = self.clock()
            marked = session.execute(update(RunLease).where(RunLease.run_id == lease.run_id, RunLease.token == lease.token,
                                                            RunLease.sending_since.is_(None))
                                     .values(sending_since=now, sending_mark=mark, sending_account=account or None)).rowcount == 1
        return state, current, now if marked else None

    def unmark_resending(self, lease: Lease, marked_at: datetime) -> None:
        """The resend ``mark_resending`` marked is written: a Cancel All waits no more for it (a
        sender that started since keeps its own mark)."""
        with self.db.unit_of_work() as session:
            session.execute(update(RunLease).where(RunLease.run_id == lease.run_id, RunLease.token == lease.token,
                                                   RunLease.sending_since == marked_at)
                            .values(sending_since=None, sending_mark=None, sending_account=None))

    def senders_before(self, mark: datetime, *accounts: str | None) -> list[Holder]:
        """The live holders whose sender started before the Cancel All marker ``mark`` (of
        ``accounts``, the accounts it marked: the login's for IB's global cancel; none, or None:
        unknown) and is still at work, of the senders that Cancel All concerns
        (``cancel_all_concerns`` for one of its accounts: another account's sender is not
        stopped by it, and not waited for); a dead holder's lease, stale, sends nothing more."""
        from services.db.repositories.settings import cancel_all_concerns

        acted_on = accounts or (None,)
        with self.db.session() as session:
            now = self.database_now(session.connection())[0]
            rows = session.scalars(select(RunLease).where(RunLease.sending_since.is_not(None))).all()
            return [_holder(row) for row in rows
                    if (row.sending_mark is None or row.sending_mark < mark)
                    and any(cancel_all_concerns(account, row.sending_account) for account in acted_on)
                    and not _holder(row).stale(now)]

    # ------------------------------------------------------------------ the last look before a placeOrder
    def expiring(self, lease: Lease) -> bool:
        """Our lease ends within ``send_margin`` seconds (or has ended): nothing more may be
        written to the broker under it. Its end is the database's clock, read here on this
        process's with the offset measured when it was stamped."""
        return self.clock() >= lease.expires_at + lease.offset - timedelta(seconds=self.send_margin)

    def check_sendable(self, lease: Lease) -> None:
        """Raises LeaseExpired unless an order may be written now under ``lease``. Synchronous
        and without the database: called right before the socket write, in the same step."""
        if lease.released:
            raise LeaseExpired(LEASE_RELEASED)
        if lease.lost:
            raise LeaseExpired(lease.lost_because)
        if self.expiring(lease):
            raise LeaseExpired(LEASE_EXPIRED)

    # ------------------------------------------------------------------ the order claim
    @retry_lock_conflicts  # one unit of work; run again, it claims under a new claim id at a new moment
    def claim_many(self, lease: Lease, client_order_ids: list[str]) -> tuple[str, set[str]] | None:
        """NEW -> SENDING in one conditional update, only while our lease is valid for at least
        ``claim_margin`` more seconds. Returns (this claim's id, the orders it got), or None when
        the lease is gone or about to expire. Two claimers never get the same order: the update
        is atomic per row and the second finds it no longer NEW."""
        claim_id = f"{lease.token}/{uuid.uuid4().hex[:12]}"  # each claim its own id, even under one lease
        # Core statements on a plain connection (no ORM object is loaded): the same transaction,
        # locking and statements as a unit of work, without the ORM session's own cost
        with self.db.core(write=True) as connection:
            # the time is read once the transaction has begun (on SQLite: once it holds the write
            # lock, which it may have waited for): the lease is checked against the claim's moment,
            # on the database's clock, which stamped its end; the claim's own time is this process's,
            # as every other time of the order's life (and the Cancel All marker it is compared with)
            valid_until = self.database_now(connection)[0] + timedelta(seconds=self.claim_margin)
            now = self.clock()
            params = {"ids": list(client_order_ids), "lease_run": lease.run_id, "lease_token": lease.token,
                      "valid_until": valid_until, "claim_id": claim_id, "claim_time": now,
                      "claim_updated_at": utcnow()}
            mine: Sequence[Any] = ()  # nothing asked (an empty IN matches no row): only the lease is looked at
            if client_order_ids and connection.dialect.update_returning:
                # the rows this UPDATE changed are the ones its unique claim id marks: the same set
                # the SELECT below reads back, in one statement (on the driver, which takes no empty list)
                mine = fetch_all(connection, _CLAIM_RETURNING, params)
            elif client_order_ids:
                connection.execute(_CLAIM, params)
                mine = connection.execute(_CLAIMED, params).all()
            if mine:  # one executemany of the driver (no per-row parameter processing)
                payload = {"claim": claim_id}
                execute_many(connection, _INSERT_EVENTS, EVENT_COLUMNS, [
                    (order_id, EventSource.SYSTEM, "claimed", OrderState.NEW, OrderState.SENDING, False, "claimed for sending",
                     payload, now) for order_id, _coid in mine])
            elif not connection.scalar(_LEASE_VALID, params):
                return None
        return claim_id, {coid for _id, coid in mine}

    def claim(self, lease: Lease, client_order_id: str) -> Claim:
        got = self.claim_many(lease, [client_order_id])
        if got is None:
            return Claim.NO_LEASE
        return Claim.CLAIMED if got[1] else Claim.NOT_NEW

    def unclaim(self, claim_id: str, client_order_ids: list[str] | str, reason: str) -> list[str]:
        """SENDING -> NEW for orders of this claim that never reached the broker."""
        ids = [client_order_ids] if isinstance(client_order_ids, str) else list(client_order_ids)
        return release_claims(self.db, [(c, claim_id) for c in ids], reason, EventSource.SYSTEM)

    def cancel_unsent(self, claim_id: str, client_order_ids: list[str], reason: str) -> list[str]:
        """CANCELED for orders of this claim that never reached the broker (``cancel_claims``)."""
        return cancel_claims(self.db, [(c, claim_id) for c in client_order_ids], reason)
