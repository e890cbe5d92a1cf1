"""A real ``execute`` process paused (SIGSTOP) mid-send for longer than the run's lease, while a
second ``execute`` of the same run (another client id, waiting for the lease) takes the expired
lease over, reconciles and sends the rest; the first is woken (SIGCONT) while the second is still
sending. Every order reaches the broker once, and the database agrees with the broker."""

from __future__ import annotations

import asyncio
import signal

import pytest
from sqlalchemy import select

from services.db.models import RunLease
from services.execution.lease import LEASE_TTL
from tests.fixtures.waiting import wait_until

from .cli_helpers import SHORT_LEASE_TTL, start
from .test_one_sender import (  # noqa: F401 - wide_simulator is a fixture
    ORDERS,
    _assert_each_order_once,
    _execute,
    _finish,
    _prepare,
    _until_orders_at_broker,
    wide_simulator,
)


def _lease_holders(database) -> set[int]:
    with database.session() as session:
        return set(session.scalars(select(RunLease.pid)))


def _a_lease_row_locked(database) -> bool:
    """Whether another connection keeps a row of ``run_leases`` locked (MariaDB): fewer rows
    readable with SKIP LOCKED than without."""
    with database.engine.connect() as connection:
        try:
            every = connection.exec_driver_sql("SELECT COUNT(*) FROM run_leases").scalar()
            free = len(connection.exec_driver_sql("SELECT run_id FROM run_leases FOR UPDATE SKIP LOCKED").all())
            return free < every
        finally:
            connection.rollback()


def _order_rows_locked(database) -> tuple[bool, bool]:
    """(whether another connection keeps a row of an order locked that is past NEW, whether one
    of an order still NEW): fewer rows readable with SKIP LOCKED than without, as above."""
    def locked(connection, where: str) -> bool:
        every = connection.exec_driver_sql(f"SELECT COUNT(*) FROM trade_orders WHERE {where}").scalar()
        free = connection.exec_driver_sql(f"SELECT id FROM trade_orders WHERE {where} FOR UPDATE SKIP LOCKED").all()
        return len(free) < every

    with database.engine.connect() as connection:
        try:
            return locked(connection, "status <> 'NEW'"), locked(connection, "status = 'NEW'")
        finally:
            connection.rollback()


async def pause_outside_a_lease_renewal(proc, database, *, inside_a_write_of_sent_orders: bool = False) -> None:
    """SIGSTOP ``proc`` at a moment it is not inside its lease's renewal (an UPDATE of the lease
    row, committed a moment later; every third of the time to live). Paused inside one, it keeps
    the lease row locked and no one can take the lease over at all: the taker waits out MariaDB's
    lock waits and says the database kept a row locked, another case than these tests'. The
    shorter the lease, the more often a pause lands in one (every 1.7 s at a 5 s lease). Woken and
    paused again until it is not.

    ``inside_a_write_of_sent_orders``: and inside its writer's transaction, which keeps rows of
    orders it sent locked (the rows a taker's writer then needs for the broker's news of them),
    but not inside a claim of NEW orders (the taker's own claim would wait for those, and its
    writer perhaps for nothing). A pause lands in the writer's batch most of the time while the
    process sends; a fresh-clone run's landed in a claim, and the taker said database_lock_held
    with no event unwritten."""
    def paused_outside() -> bool:
        proc.send_signal(signal.SIGSTOP)
        if not _a_lease_row_locked(database):
            if not inside_a_write_of_sent_orders:
                return True
            sent_locked, new_locked = _order_rows_locked(database)
            if sent_locked and not new_locked:
                return True
        proc.send_signal(signal.SIGCONT)  # it commits its renewal, then it is paused again
        return False

    await wait_until(paused_outside, 30, "a moment the execute process is not renewing its lease" +
                     (" and is writing orders it sent" if inside_a_write_of_sent_orders else "") + ", to pause it")


# a pause of more than the lease's time to live (SHORT_LEASE_TTL for both processes: the same race
# as at the default 30 s, in a sixth of the time). MariaDB only: on SQLite (one file, one machine) a
# process stopped inside a transaction holds the file's write lock, and no other process can write
# (take the lease, reconcile) until it continues or dies; whether the pause lands inside one is chance
# (the SQLite case failed so in a fresh-clone run). Several machines, where a takeover matters,
# share MariaDB, whose row locks leave the lease row free.
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow, pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)]


async def test_an_execute_paused_past_its_lease_sends_nothing_once_woken_and_the_taker_sends_each_order_once(
        database, db_url, wide_simulator, monkeypatch):  # noqa: F811 - the fixture imported above
    sim = wide_simulator
    monkeypatch.setenv("TC_LEASE_TTL", str(SHORT_LEASE_TTL))
    snapshot_id = _prepare(database, "paused")
    first = await start(_execute(db_url, sim.port, snapshot_id, "paused", client_id=1, lease_wait=0))
    await _until_orders_at_broker(sim, 10, first)
    await pause_outside_a_lease_renewal(first, database)  # mid-send: some orders claimed, some at the broker, most NEW
    try:
        at_pause = len(sim.orders())
        assert at_pause < ORDERS
        # the second's writer waits on the rows the paused first keeps locked: at connect (its
        # reconciliation gives up after TC_WRITE_TIMEOUT, then it waits for the lease) and, after
        # the takeover, until the woken first commits; 10 s instead of the default 30 s
        monkeypatch.setenv("TC_WRITE_TIMEOUT", "10")
        second = await start(_execute(db_url, sim.port, snapshot_id, "paused", client_id=2, lease_wait=LEASE_TTL * 3))
        monkeypatch.delenv("TC_WRITE_TIMEOUT")
        # the first's lease expires and the second takes it over: the first is woken then, while
        # the second reconciles and sends (it waits for the rows the paused first keeps locked)
        await wait_until(lambda: _lease_holders(database) == {second.pid} or second.returncode is not None, LEASE_TTL * 3,
                         "the second execute to take the expired lease over")
    finally:
        first.send_signal(signal.SIGCONT)
    woken, taker = await asyncio.gather(_finish(first), _finish(second))
    assert taker.code == 0, taker.err[-3000:]
    assert woken.code == 5, woken.err[-3000:]  # incomplete: it lost the run's lease
    assert woken.json["run"]["lease_lost"], woken.json["run"]
    sent_by_first, sent_by_second = set(woken.json["run"]["sent"]), set(taker.json["run"]["sent"])
    assert not sent_by_first & sent_by_second
    assert len(sent_by_first) + len(sent_by_second) == ORDERS
    _assert_each_order_once(database, sim)
