"""One sender per run: the run lease and the order claim, on SQLite and MariaDB (in process; the
multi-process races are in test_one_sender.py)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select, update

from services.db.models import AuditLog, OrderEvent, RunLease, TradeOrder
from services.db.repositories import OrderRepository, ProjectRepository, RunRepository
from services.domain import EventSource, OrderState, TradeMode
from services.execution.errors import LeaseExpired
from services.execution.lease import (
    LEASE_EXPIRED,
    LEASE_TTL,
    Claim,
    Holder,
    Lease,
    LeaseManager,
    RunBusy,
    holder_alive,
    process_key,
)
from tests.fixtures.waiting import wait_until, wait_until_blocking

from .conftest import build_stack, make_snapshot

pytestmark = pytest.mark.timeout(60)


class _Clock:
    """A wall clock (UTC) for lease managers that a test moves forward: a process that stood still
    finds, when it runs again, that the time went on. On MariaDB the database server's clock goes
    on with it (``_server_follows``), ``server_skew`` apart from the machines' clocks.

    ``still``: the clock moves only when the test moves it (``offset``), for a test that asks what
    a lease allows at a given moment of it (5.5 s left, 5 s left). A running clock spent the real
    time between the test's steps from the lease as well: its 0.5 s between "5.5 s left" and the
    send margin's 5 s went in a few queries on a loaded machine (load 9 on 2 cores), and the look
    that had to let the order go said, rightly by that clock, "the run's lease expired while
    sending"."""

    def __init__(self, server_skew: timedelta = timedelta(0), *, still: bool = False) -> None:
        self.offset = timedelta(0)
        self.server_skew = server_skew
        self._still_at = datetime.now(UTC) if still else None

    def __call__(self) -> datetime:
        return (self._still_at or datetime.now(UTC)) + self.offset

    def server(self) -> datetime:
        return self() + self.server_skew


@contextmanager
def _server_follows(db, clock: _Clock) -> Iterator[None]:
    """On MariaDB, every statement of ``db``'s connections runs with the server's clock at
    ``clock.server()`` (``SET timestamp``: what NOW() and UTC_TIMESTAMP() return in that session):
    the database's own notion of now, read by the real query, as a server whose clock is off (or
    after the time went on) has it. SQLite has no clock of its own: the machine's is the file's."""
    if db.engine.dialect.name != "mysql":
        yield
        return

    def set_server_time(_connection, cursor, *_args) -> None:
        with cursor.connection.cursor() as setter:
            setter.execute("SET timestamp = %s", (clock.server().timestamp(),))

    sqlalchemy_event.listen(db.engine, "before_cursor_execute", set_server_time)
    try:
        yield
    finally:
        sqlalchemy_event.remove(db.engine, "before_cursor_execute", set_server_time)
        db.engine.dispose()  # no pooled connection keeps a frozen session clock


def _run_with_orders(db, n: int) -> tuple[int, list[str]]:
    with db.unit_of_work() as session:
        project = ProjectRepository(session).get_or_create("lease")
        run = RunRepository(session).create(project.id, mode=TradeMode.PAPER)
        coids = [f"lease-{run.id}-{i}" for i in range(n)]
        for coid in coids:
            OrderRepository(session).insert_once(coid, "AAPL", "BUY", Decimal(1), run_id=run.id, project_id=project.id)
        return run.id, coids


def _statuses(db, coids) -> dict[str, OrderState]:
    with db.session() as session:
        return {c: OrderState(s) for c, s in session.execute(
            select(TradeOrder.client_order_id, TradeOrder.status).where(TradeOrder.client_order_id.in_(coids)))}


def test_atomic_claim_two_claimers_one_wins(database):
    """Even if the lease logic failed (two senders with the same lease), the conditional update
    lets exactly one of two simultaneous claimers have each order."""
    run_id, coids = _run_with_orders(database, 30)
    manager = LeaseManager(database)
    lease = manager.try_acquire(run_id)
    outcomes: dict[str, list[Claim]] = {c: [] for c in coids}
    barrier = threading.Barrier(2)

    def claimer():
        for coid in coids:
            barrier.wait(timeout=10)
            outcomes[coid].append(manager.claim(lease, coid))

    threads = [threading.Thread(target=claimer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(sorted(o) == [Claim.CLAIMED, Claim.NOT_NEW] for o in outcomes.values()), outcomes
    assert set(_statuses(database, coids).values()) == {OrderState.SENDING}
    with database.session() as session:
        claims = Counter(session.scalars(select(OrderEvent.order_id).where(OrderEvent.event_type == "claimed")))
    assert len(claims) == 30 and set(claims.values()) == {1}


def test_claim_needs_a_valid_lease_and_a_new_unsent_order(database):
    run_id, coids = _run_with_orders(database, 3)
    manager = LeaseManager(database, ttl=30)
    lease = manager.try_acquire(run_id)
    with database.unit_of_work() as session:
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id == coids[1]).values(ib_order_id=77))
    assert manager.claim(lease, coids[1]) is Claim.NOT_NEW  # already at the broker
    with database.unit_of_work() as session:  # the lease runs low (heartbeat missed): no claim
        session.execute(update(RunLease).where(RunLease.run_id == run_id).values(expires_at=datetime.now(UTC) + timedelta(seconds=5)))
    assert manager.claim(lease, coids[0]) is Claim.NO_LEASE
    assert manager.renew(lease)
    claim_id, mine = manager.claim_many(lease, coids)
    assert mine == {coids[0], coids[2]} and claim_id.startswith(lease.token + "/")
    with database.session() as session:  # one event per order claimed, every column as written
        events = session.scalars(select(OrderEvent).where(OrderEvent.event_type == "claimed")).all()
        ids = {coid: order_id for coid, order_id in session.execute(select(TradeOrder.client_order_id, TradeOrder.id))}
        assert sorted(e.order_id for e in events) == sorted([ids[coids[0]], ids[coids[2]]])
        assert {(e.source, e.from_state, e.to_state, e.flagged, e.message, repr(e.payload)) for e in events} == {
            (EventSource.SYSTEM, OrderState.NEW, OrderState.SENDING, False, "claimed for sending", repr({"claim": claim_id}))}
        assert len({e.time for e in events}) == 1 and events[0].time.tzinfo is UTC  # the claim's one moment
    assert manager.unclaim(claim_id, [coids[0]], "not sent: test") == [coids[0]]
    assert manager.unclaim("another-claim", [coids[2]], "not ours") == []  # only the claim's own orders
    assert _statuses(database, coids) == {coids[0]: OrderState.NEW, coids[1]: OrderState.NEW, coids[2]: OrderState.SENDING}
    other = LeaseManager(database)
    assert isinstance(other.try_acquire(run_id), type(other.holder(run_id)))  # held: the holder comes back
    manager.release(lease)
    assert manager.holder(run_id) is None


def test_a_claim_moves_its_orders_updated_at_and_an_empty_one_looks_at_the_lease_only(database):
    """The claim gives its orders' ``updated_at`` itself (it runs on the driver on SQLite, where
    no ``onupdate`` is computed); a claim of no order claims nothing and says whether the lease
    still allows claims, as an empty IN did."""
    run_id, coids = _run_with_orders(database, 2)
    manager = LeaseManager(database, ttl=30)
    lease = manager.try_acquire(run_id)
    with database.unit_of_work() as session:
        session.execute(update(TradeOrder).values(updated_at=datetime(2020, 1, 1, tzinfo=UTC)))
    before = datetime.now(UTC)
    _claim_id, mine = manager.claim_many(lease, [coids[0]])
    assert mine == {coids[0]}
    with database.session() as session:
        updated = dict(session.execute(select(TradeOrder.client_order_id, TradeOrder.updated_at)).all())
    assert updated[coids[0]] >= before and updated[coids[1]] == datetime(2020, 1, 1, tzinfo=UTC)
    empty = manager.claim_many(lease, [])
    assert empty is not None and empty[1] == set()
    with database.unit_of_work() as session:  # the lease runs low: an empty claim says so too
        session.execute(update(RunLease).where(RunLease.run_id == run_id).values(expires_at=datetime.now(UTC) + timedelta(seconds=5)))
    assert manager.claim_many(lease, []) is None
    assert _statuses(database, coids) == {coids[0]: OrderState.SENDING, coids[1]: OrderState.NEW}


def test_nothing_is_written_under_a_lease_about_to_expire_and_only_a_renewal_moves_its_end(database):
    run_id, _ = _run_with_orders(database, 1)
    clock = _Clock(still=True)  # the moments below are the test's, whatever the machine's load
    with _server_follows(database, clock):
        manager = LeaseManager(database, ttl=30, clock=clock)
        assert manager.send_margin == 5
        lease = manager.try_acquire(run_id)
        end = lease.expires_at
        clock.offset = timedelta(seconds=24.5)  # 5.5 s left: an order may still go
        manager.check_sendable(lease)
        clock.offset = timedelta(seconds=25)  # 5 s left: it might reach the broker after a taker reconciled
        with pytest.raises(LeaseExpired, match=r"lease expired while sending \(the process stalled\?\)"):
            manager.check_sendable(lease)
        assert manager.renew(lease) and lease.expires_at > end + timedelta(seconds=24)
        manager.check_sendable(lease)
        renewed = lease.expires_at
        clock.offset = timedelta(seconds=25 + LEASE_TTL)  # expired: another process takes it over
        other = LeaseManager(database, clock=clock)
        assert other.try_acquire(run_id).taken_over_from.token == lease.token
        assert not manager.renew(lease) and lease.expires_at == renewed  # a failed renewal moves nothing
        with pytest.raises(LeaseExpired):
            manager.check_sendable(lease)


async def test_a_sender_stalled_past_its_lease_writes_nothing_more_and_the_taker_sends_each_order_once(stack, simulator, database):
    """Process A claims the run's orders and sends two; then, between the pacing token of its
    third order and the write, its loop stands still longer than the lease (its heartbeat does not
    run, its clock goes on). Process B (another client id) takes the expired lease over,
    reconciles (A's claimed, unsent orders back to NEW) and sends them. A wakes up: the look at its
    lease in the step that writes the order refuses, so A sends nothing more, gives back nothing
    B took, and says that its sending stopped on the lease. Each order is at the broker once."""
    symbols = ["AAPL", "MSFT", "AMZN", "GOOG", "NVDA", "META"]
    run_id, drafts = await _setup_run(stack, dict.fromkeys(symbols, "0.01"))
    clock = _Clock()
    stack.service.leases.clock = clock
    other = await build_stack(database, simulator, client_id=2)
    other.service.leases.clock = clock
    try:
        provider = stack.provider
        placing: list[str] = []
        place_order, acquire = provider.place_order, provider.pacing.acquire
        taker: dict[str, object] = {}

        async def counting(request, check=None):
            placing.append(request.client_order_id)
            return await place_order(request, check=check)

        async def stalls_before_the_third_write():
            await acquire()
            if len(placing) == 3 and not taker:
                stack.service.leases.held[run_id]._task.cancel()  # a loop standing still runs no heartbeat
                await wait_until(lambda: len(simulator.orders()) == 2, 5, "A's first two orders at the broker")
                clock.offset = timedelta(seconds=LEASE_TTL + 1)
                taker["result"] = await other.service.execute(run_id)

        provider.place_order, provider.pacing.acquire = counting, stalls_before_the_third_write
        with _server_follows(database, clock):
            result = await stack.service.execute(run_id)
        taken = taker["result"]
        coids = [d.client_order_id for d in drafts]
        assert result.sent == tuple(placing[:2]) and result.stopped == LEASE_EXPIRED and result.lease_lost
        assert sorted(taken.sent) == sorted(set(coids) - set(result.sent)) and not taken.lease_lost
        # every write of either process has reached the simulator
        await wait_until(lambda: len(simulator.orders()) >= len(result.sent) + len(taken.sent), 10, "both senders' orders at the broker")
        assert Counter(o.order_ref for o in simulator.orders()) == dict.fromkeys(coids, 1)
        await other.service.wait_done(run_id, 10)
        assert set(_statuses(database, coids).values()) == {OrderState.FILLED}
    finally:
        await other.close()


# SQLite only (not a skip on MariaDB: there is nothing to run there): MariaDB takes no lock at
# BEGIN, a claim waits inside its UPDATE for row locks, and the send-time check guards that case
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_claim_that_waited_for_the_write_lock_checks_the_lease_at_its_own_moment(database):
    """SQLite: a claim waits for the write lock (BEGIN IMMEDIATE). Here the lease runs low while it
    waits: the time is read once the lock is held, so the claim finds too little lease left and
    takes nothing (read before the wait, it claimed with 31 s of stall unaccounted for)."""
    run_id, coids = _run_with_orders(database, 1)
    released = threading.Event()
    manager = LeaseManager(database, ttl=30, clock=lambda: datetime.now(UTC) + timedelta(seconds=31 if released.is_set() else 0))
    lease = manager.try_acquire(run_id)
    begins = threading.Event()
    got: list[Claim] = []
    with database.core(write=True):  # another writer holds the write lock (BEGIN IMMEDIATE) for a long time
        def beginning(_connection) -> None:
            begins.set()

        sqlalchemy_event.listen(database.engine, "begin", beginning)
        try:
            claimer = threading.Thread(target=lambda: got.append(manager.claim(lease, coids[0])))
            claimer.start()
            wait_until_blocking(begins.is_set, 10, "the claim to begin its transaction (and wait for the lock)")
        finally:
            sqlalchemy_event.remove(database.engine, "begin", beginning)
        released.set()  # the lock is let go 31 s later
    claimer.join(30)
    assert got == [Claim.NO_LEASE]
    assert _statuses(database, coids) == {coids[0]: OrderState.NEW}


def test_a_lease_whose_writing_waited_for_a_lock_lives_its_whole_time_from_when_it_was_got(database):
    """Seen in a real window on MariaDB: another transaction kept the run's row locked for 22 s;
    the lease's insert (its foreign key checks that row) waited, and the lease was stamped with
    the time read before the wait: 8 of its 30 s left, below the claims' margin, so the run sent
    nothing ("the run's lease expired"). Stamped once written, it lives 30 s from then and claims.
    On SQLite the wait is at BEGIN, before the time is read: the same outcome."""
    from tests.fixtures.locks import FrozenWriter, innodb_transactions

    run_id, coids = _run_with_orders(database, 1)
    clock = _Clock()
    manager = LeaseManager(database, ttl=30, clock=clock)
    begins = threading.Event()
    got: list[Lease] = []
    with _server_follows(database, clock):
        frozen = FrozenWriter(database.url, runs=[run_id])  # another console mid-transaction on the run

        def beginning(_connection) -> None:
            begins.set()

        sqlalchemy_event.listen(database.engine, "begin", beginning)
        try:
            taker = threading.Thread(target=lambda: got.append(manager.try_acquire(run_id)), daemon=True)
            taker.start()
            if database.is_sqlite:  # BEGIN IMMEDIATE waits for the frozen writer's write lock
                wait_until_blocking(begins.is_set, 10, "the lease's transaction to begin (and wait for the lock)")
            else:  # the insert waits for the run's row
                wait_until_blocking(lambda: any("LOCK WAIT" in t for t in innodb_transactions(database).values()), 10,
                                    "the lease's insert to wait for the run's row")
            clock.offset += timedelta(seconds=22)  # the time goes on while it waits
        finally:
            sqlalchemy_event.remove(database.engine, "begin", beginning)
            frozen.close()
        taker.join(30)
        assert got, "the lease was not taken once the run's row was free"
        [lease] = got
        left = (lease.expires_at - clock.server()).total_seconds()
        assert left > 29, f"the lease was born with {left:.1f} s of its 30 s"
        assert manager.claim(lease, coids[0]) is Claim.CLAIMED


async def test_second_holder_is_refused_naming_the_holder_or_waits(database):
    run_id, _ = _run_with_orders(database, 1)
    first = LeaseManager(database, client_id=11)
    second = LeaseManager(database, client_id=12)
    async with first.hold(run_id) as lease:
        with pytest.raises(RunBusy) as refused:
            await second.acquire(run_id)
        text = str(refused.value)
        assert f"host {first.host}" in text and f"process {os.getpid()}" in text
        assert "client id 11" in text and "since " in text and refused.value.exit_code == 4
        assert refused.value.holder.token == lease.token
        # a bounded wait: it gets the lease once the holder lets go
        looks: list[object] = []
        found_busy = asyncio.Event()
        try_acquire = second.try_acquire
        loop = asyncio.get_running_loop()

        def looking(run):
            looks.append(got := try_acquire(run))
            loop.call_soon_threadsafe(found_busy.set)
            return got

        second.try_acquire = looking
        waiter = asyncio.create_task(second.acquire(run_id, wait=20))
        await asyncio.wait_for(found_busy.wait(), 10)  # its first look found the run busy
        assert not waiter.done() and looks[0].token == lease.token
    got = await waiter
    assert got.taken_over_from is None and second.holder(run_id).client_id == 12
    second.release(got)


async def test_the_heartbeat_renews_while_the_worker_threads_wait_on_other_steps(database):
    """The renewal does not queue behind the process's other database steps: on 2 cores the
    default executor has six threads, and six steps waiting on a server's locks (up to 50 s each
    on MariaDB) held the heartbeat back until the lease ran low and sending stopped, the process
    alive and its lease row free. Here the default executor's one thread is taken."""
    run_id, _ = _run_with_orders(database, 1)
    manager = LeaseManager(database, client_id=21, ttl=3.0)  # a renewal every second
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1, thread_name_prefix="the-only-worker"))
    renewed = asyncio.Event()
    renew = manager.renew

    def renewing(lease: Lease) -> bool:
        done = renew(lease)
        loop.call_soon_threadsafe(renewed.set)
        return done

    manager.renew = renewing  # type: ignore[method-assign]
    other_step = threading.Event()
    async with manager.hold(run_id) as lease:
        first_end = lease.expires_at
        waiting = asyncio.ensure_future(asyncio.to_thread(other_step.wait))  # the only worker, taken
        try:
            await asyncio.wait_for(renewed.wait(), 10)
        except TimeoutError:
            pytest.fail("no renewal in 10 s (a heartbeat every second) while the worker thread waited on another step")
        finally:
            other_step.set()
            await waiting
        assert lease.expires_at > first_end and not lease.lost


def test_expired_lease_is_taken_over_and_the_old_holder_cannot_renew(database):
    run_id, _ = _run_with_orders(database, 1)
    old = LeaseManager(database, ttl=30)
    old_lease = old.try_acquire(run_id)
    with database.unit_of_work() as session:
        session.execute(update(RunLease).where(RunLease.run_id == run_id).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    new = LeaseManager(database)
    new_lease = new.try_acquire(run_id)
    assert new_lease.taken_over_from is not None and new_lease.taken_over_from.token == old_lease.token
    assert not old.renew(old_lease)  # the old holder learns it lost the lease
    assert old.claim(old_lease, "anything") is Claim.NO_LEASE
    old.release(old_lease)  # releasing a lost lease leaves the new holder's row alone
    assert new.holder(run_id).token == new_lease.token


def test_a_dead_holder_on_this_machine_is_stale_at_once(database):
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        key = process_key(child.pid)
        if key is None:
            pytest.skip("no /proc here: only the expiry tells a dead holder")
        assert holder_alive(key) is True
    finally:
        child.kill()
        child.wait(10)
    assert holder_alive(key) is False
    run_id, _ = _run_with_orders(database, 1)
    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        session.add(RunLease(run_id=run_id, token="killed", host="here", pid=child.pid, client_id=1, process_key=key,
                             acquired_at=now, heartbeat_at=now, expires_at=now + timedelta(minutes=5)))
    lease = LeaseManager(database).try_acquire(run_id)
    assert lease.taken_over_from is not None and lease.taken_over_from.token == "killed"


async def _setup_run(stack, symbols: dict[str, str]) -> tuple[int, list]:
    _, snapshot_id = make_snapshot(stack.db, "takeover", symbols)
    run = await stack.service.create_run("takeover", snapshot_id, TradeMode.PAPER)
    preview = await stack.service.preview(run.id, Decimal("100000"))
    await asyncio.to_thread(stack.service._insert_orders, run.id, preview.plan)
    return run.id, list(preview.drafts)


def _dead_holder(db, run_id: int, coids: list[str], *, expired: bool = True, token: str = "dead-holder") -> None:
    now = datetime.now(UTC)
    with db.unit_of_work() as session:
        session.add(RunLease(run_id=run_id, token=token, host="elsewhere", pid=4242, client_id=3, process_key=None,
                             acquired_at=now - timedelta(minutes=2), heartbeat_at=now - timedelta(minutes=1),
                             expires_at=now - timedelta(seconds=1) if expired else now + timedelta(minutes=5)))
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id.in_(coids))
                        .values(status=OrderState.SENDING, claimed_by=token, claimed_at=now - timedelta(minutes=1)))


async def test_lease_of_a_dead_holder_is_taken_over_only_after_reconciliation(stack, simulator, ib_client):
    """The dead holder had claimed two orders: one reached IB (another client id sent it), one
    never did. The taker reconciles first: the first takes IB's state and is not sent again, the
    second goes back to NEW and is sent once, and so is the never-claimed third."""
    from ib_async import MarketOrder, Stock

    run_id, drafts = await _setup_run(stack, {"AAPL": "0.01", "MSFT": "0.01", "AMZN": "0.01"})
    at_ib, lost, fresh = drafts
    _dead_holder(stack.db, run_id, [at_ib.client_order_id, lost.client_order_id])
    ib = await ib_client(client_id=9)
    order = MarketOrder("BUY", float(at_ib.quantity))
    order.orderRef = at_ib.client_order_id
    ib.placeOrder(Stock(at_ib.symbol, "SMART", "USD"), order)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not simulator.executions():
        assert loop.time() < deadline, "the simulator never filled the dead holder's order"
        await asyncio.sleep(0.01)

    result = await stack.service.execute(run_id)

    assert sorted(result.sent) == sorted([lost.client_order_id, fresh.client_order_id])
    assert Counter(o.order_ref for o in simulator.orders()) == {d.client_order_id: 1 for d in drafts}
    await stack.service.wait_done(run_id, 5)
    statuses = _statuses(stack.db, [d.client_order_id for d in drafts])
    assert set(statuses.values()) == {OrderState.FILLED}
    with stack.db.session() as session:
        lost_id = session.scalar(select(TradeOrder.id).where(TradeOrder.client_order_id == lost.client_order_id))
        events = [(e.event_type, e.from_state, e.to_state) for e in session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == lost_id).order_by(OrderEvent.id))]
        actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    # released by reconciliation before this holder claimed and sent it
    assert events[:2] == [("not_sent", OrderState.SENDING, OrderState.NEW), ("claimed", OrderState.NEW, OrderState.SENDING)]
    assert "run.lease_takeover" in actions
    assert stack.service.leases.holder(run_id) is None  # released at the end


async def test_a_live_holder_is_refused_and_its_sending_orders_left_alone(stack, simulator):
    run_id, drafts = await _setup_run(stack, {"AAPL": "0.01", "MSFT": "0.01"})
    _dead_holder(stack.db, run_id, [drafts[0].client_order_id], expired=False, token="alive-elsewhere")
    with pytest.raises(RunBusy, match=r"host elsewhere, process 4242, client id 3, since "):
        await stack.service.execute(run_id)
    report = await stack.reconciler.reconcile()
    assert report.released == [] and drafts[0].client_order_id not in report.resolved_unknown
    assert _statuses(stack.db, [d.client_order_id for d in drafts]) == {
        drafts[0].client_order_id: OrderState.SENDING, drafts[1].client_order_id: OrderState.NEW}
    assert simulator.orders() == []


# MariaDB only (not a skip on SQLite: there the taker's unit of work holds the write lock from its
# BEGIN IMMEDIATE, so no renewal can land between its read and its update)
@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)
def test_a_renewal_between_the_takers_look_and_its_update_keeps_the_lease_with_its_holder(database, monkeypatch):
    """The holder stood still past its lease; it wakes up and its heartbeat renews the lease
    while another process, which has just read the expired row, is about to take it over. The
    taker's conditional update must not win over that renewal: the holder, renewed, goes on
    writing its claimed orders (its look before each write passes), and a taker that also held
    the run would give those claims back NEW after finding them unknown at the broker, and send
    them a second time."""
    run_id, _ = _run_with_orders(database, 1)
    clock = _Clock()
    with _server_follows(database, clock):
        holder_manager = LeaseManager(database, ttl=30, clock=clock)
        held = holder_manager.try_acquire(run_id)
        clock.offset = timedelta(seconds=31)  # the holder's process stood still: its lease expired
        stale = Holder.stale
        renewed: list[bool] = []

        def renewed_right_after_the_takers_look(self, now=None):
            answer = stale(self, now)
            if not renewed:  # the holder's heartbeat, on its own connection, between the taker's read and update
                renewed.append(holder_manager.renew(held))
            return answer

        monkeypatch.setattr(Holder, "stale", renewed_right_after_the_takers_look)
        got = LeaseManager(database, ttl=30, clock=clock).try_acquire(run_id)
        assert renewed == [True]
        holder_manager.check_sendable(held)  # the renewed holder may write its claimed orders...
        assert isinstance(got, Holder) and got.token == held.token  # ...so nobody else holds the run
        assert holder_manager.holder(run_id).token == held.token


# MariaDB only (not a skip on SQLite: its file lives on one machine, whose one clock every process reads)
@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)
async def test_a_machine_whose_clock_is_off_judges_the_lease_by_the_database_servers_and_stops_when_stepped(database):
    """Two machines share the database, one with its clock 31 s off. The lease's times are the
    database server's clock, read by both, so neither machine's own clock decides: one ahead
    does not take over a lease its holder still writes under (it is told who holds it, and that
    its clock is off), one behind takes a free lease and may write under it (it refused both
    before). A holder whose clock is stepped while it holds stops writing under its lease: its
    view of the lease's end was off for a while."""
    run_id, _ = _run_with_orders(database, 1)
    holder_manager = LeaseManager(database, ttl=30)
    held = holder_manager.try_acquire(run_id)
    ahead = LeaseManager(database, ttl=30, clock=lambda: datetime.now(UTC) + timedelta(seconds=31))
    got = ahead.try_acquire(run_id)
    assert isinstance(got, Holder) and got.token == held.token  # not taken over
    with pytest.raises(RunBusy, match=r"the database server's clock is 3[01]\.\d+ s behind this machine's"):
        await ahead.acquire(run_id)
    assert ahead.live_tokens({held.token}) == {held.token}  # nor its claims given back by a reconciliation
    holder_manager.release(held)
    behind = LeaseManager(database, ttl=30, clock=lambda: datetime.now(UTC) - timedelta(seconds=31))
    lease = behind.try_acquire(run_id)
    assert isinstance(lease, Lease)
    behind.check_sendable(lease)  # 30 s of lease left by the server's clock, whatever this machine's says
    assert isinstance(holder_manager.try_acquire(run_id), Holder)
    behind.release(lease)

    # a holder whose clock is stepped while it holds: its heartbeat stops its sending
    stepped = LeaseManager(database, ttl=0.3)
    async with stepped.hold(run_id) as lease:
        stepped.clock = lambda: datetime.now(UTC) + timedelta(seconds=10)
        await wait_until(lambda: lease.lost, 5, "the heartbeat to stop the lease")
        assert "further ahead of the database server's" in lease.lost_because
        # the step, measured across two round trips to the server: 10 s give or take their milliseconds
        assert abs(float(re.search(r"clock is ([0-9.]+) s", lease.lost_because).group(1)) - 10) < 0.5, lease.lost_because
        with pytest.raises(LeaseExpired):
            stepped.check_sendable(lease)


# MariaDB only (not a skip on SQLite: its file lives on one machine, whose one clock every process reads)
@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)
@pytest.mark.parametrize("skew", [10, -10], ids=["server-ahead", "server-behind"])
def test_a_database_server_whose_clock_is_off_keeps_one_sender_per_run(database, skew):
    """The database server's clock is 10 s off the machines' (which agree): a MariaDB host whose
    clock drifted. The lease is stamped and judged by the server's clock, the one clock every
    process shares, so the console works as with a right one: one process holds the run, another
    is told so (with the skew named), the holder writes while its lease has the send margin left
    and no longer, and the other takes the run over once the lease has expired, not before."""
    run_id, coids = _run_with_orders(database, 2)
    clock = _Clock(server_skew=timedelta(seconds=skew), still=True)  # the moments below are the test's, whatever the load
    with _server_follows(database, clock):
        holder_manager = LeaseManager(database, ttl=30, clock=clock)
        other = LeaseManager(database, ttl=30, clock=clock)
        lease = holder_manager.try_acquire(run_id)  # before: ClockSkew, every process refused
        assert isinstance(lease, Lease)
        with database.session() as session:  # the row's times are the server's
            row = session.get(RunLease, run_id)
            assert abs(row.acquired_at - clock.server()) < timedelta(seconds=2)
        assert holder_manager.claim(lease, coids[0]) is Claim.CLAIMED
        held = other.try_acquire(run_id)
        assert isinstance(held, Holder) and held.token == lease.token
        with pytest.raises(RunBusy, match=rf"database server's clock is [0-9.]+ s {'ahead of' if skew > 0 else 'behind'} "
                                          "this machine's") as busy:
            asyncio.run(other.acquire(run_id))
        # the skew, measured around one round trip to the server: 10 s give or take its milliseconds
        assert abs(float(re.search(r"clock is ([0-9.]+) s", str(busy.value)).group(1)) - 10) < 0.5, str(busy.value)
        clock.offset = timedelta(seconds=24.5)  # the time went on for everyone: 5.5 s of lease left
        holder_manager.check_sendable(lease)
        assert isinstance(other.try_acquire(run_id), Holder)
        clock.offset = timedelta(seconds=25)  # 5 s left: the holder writes no more
        with pytest.raises(LeaseExpired, match="lease expired while sending"):
            holder_manager.check_sendable(lease)
        assert isinstance(other.try_acquire(run_id), Holder)  # but nobody takes it yet
        clock.offset = timedelta(seconds=30.5)  # expired by the server's clock: taken over
        taken = other.try_acquire(run_id)
        assert isinstance(taken, Lease) and taken.taken_over_from.token == lease.token
        assert not holder_manager.renew(lease)
        assert holder_manager.claim(lease, coids[1]) is Claim.NO_LEASE and other.claim(taken, coids[1]) is Claim.CLAIMED


async def test_a_resumed_run_does_not_send_an_order_ib_already_works_though_the_record_says_new(stack, simulator, ib_client):
    """The record has an order NEW (whatever lost its claim and its placeOrder: a process whose
    writes never landed), while IB works it already, placed by another client id under its order
    ref. The run's next execute reconciles first: IB's open order takes the row, and only the
    orders IB never saw are sent."""
    from ib_async import LimitOrder, Stock

    run_id, drafts = await _setup_run(stack, {"AAPL": "0.01", "MSFT": "0.01"})
    at_ib, fresh = drafts
    assert set(_statuses(stack.db, [at_ib.client_order_id]).values()) == {OrderState.NEW}
    ib = await ib_client(client_id=9)
    order = LimitOrder("BUY", float(at_ib.quantity), 1.0)  # far below the market: it works, unfilled
    order.orderRef = at_ib.client_order_id
    ib.placeOrder(Stock(at_ib.symbol, "SMART", "USD"), order)
    await wait_until(lambda: any(o.order_ref == at_ib.client_order_id for o in simulator.open_orders()), 5,
                     "the order working at IB")

    result = await stack.service.execute(run_id)

    assert result.sent == (fresh.client_order_id,)
    assert Counter(o.order_ref for o in simulator.orders()) == {d.client_order_id: 1 for d in drafts}
    await stack.writer.flush()
    assert _statuses(stack.db, [at_ib.client_order_id])[at_ib.client_order_id] is OrderState.ACCEPTED


# MariaDB only (not a skip on SQLite: its file lives on one machine, whose one clock every process reads)
@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)
async def test_a_reconciliation_on_a_machine_whose_clock_is_off_leaves_a_live_holders_claims_alone(stack, simulator):
    """A window on another machine reconciles while a holder sends: the holder's lease ends in 20
    s, the window's clock runs 31 s ahead, so by its clock the lease expired. It must not give the
    holder's claimed orders back NEW (the holder writes them a moment later): it judges the lease
    by the database server's clock, which stamped it."""
    run_id, drafts = await _setup_run(stack, {"AAPL": "0.01"})
    now = datetime.now(UTC)
    with stack.db.unit_of_work() as session:
        session.add(RunLease(run_id=run_id, token="alive-elsewhere", host="elsewhere", pid=4242, client_id=3, process_key=None,
                             acquired_at=now, heartbeat_at=now, expires_at=now + timedelta(seconds=20)))
        session.execute(update(TradeOrder).where(TradeOrder.client_order_id == drafts[0].client_order_id)
                        .values(status=OrderState.SENDING, claimed_by="alive-elsewhere/claim", claimed_at=now))
    leases = stack.service.leases
    assert stack.reconciler.leases is leases
    leases.clock = lambda: datetime.now(UTC) + timedelta(seconds=31)
    report = await stack.reconciler.reconcile()
    assert report.released == [] and drafts[0].client_order_id not in report.resolved_unknown
    assert _statuses(stack.db, [drafts[0].client_order_id])[drafts[0].client_order_id] is OrderState.SENDING
