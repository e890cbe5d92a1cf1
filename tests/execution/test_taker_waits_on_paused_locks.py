"""A real ``execute`` process paused (SIGSTOP) mid-send and left paused, while a second ``execute``
of the same run takes the expired lease over; the paused process still holds MariaDB row locks in
an open transaction (its writer was writing the sent orders' events: the test holds those very
locks itself, in a transaction it keeps open, so that the pause's timing does not decide whether
they are held). The taker's event writer waits on those locks; the taker must end saying so (what held it,
that nothing more was sent from there, what to do), with the database's exit code, and nothing may
be lost: once the paused process is gone, the next execute of the run writes or re-derives it all."""

from __future__ import annotations

import pytest

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
from .test_paused_sender import _lease_holders, pause_outside_a_lease_renewal

pytestmark = [pytest.mark.timeout(400), pytest.mark.slow, pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)]


async def test_a_taker_held_by_a_paused_process_s_row_locks_says_so_and_nothing_is_lost(
        database, db_url, wide_simulator, isolated_user_dirs, monkeypatch):  # noqa: F811 - the fixture imported above
    sim = wide_simulator
    # the lease the taker waits out (TC_LEASE_TTL) and the taker's wait for its writer before it
    # says what holds it (TC_WRITE_TIMEOUT): 30 s each by default, 5 s each here. Its stop waits no
    # more for those locks: it ends its writer's own wait for them in MariaDB (KILL QUERY of its own
    # statement; before, the abandoned attempt waited out innodb_lock_wait_timeout, 50 s, and the
    # process could not end until it had: this test took 65 s, now about 23 s)
    monkeypatch.setenv("TC_LEASE_TTL", str(SHORT_LEASE_TTL))
    snapshot_id = _prepare(database, "locked")
    first = await start(_execute(db_url, sim.port, snapshot_id, "locked", client_id=1, lease_wait=0))
    await _until_orders_at_broker(sim, 10, first)
    await pause_outside_a_lease_renewal(first, database)  # mid-send
    locker, second = database.engine.connect(), None
    try:
        locker.exec_driver_sql("BEGIN")
        # what the paused process's writer holds mid-transaction: the rows of the orders it sent
        # that the broker has (those it locked itself are skipped: they are held already)
        locker.exec_driver_sql("SELECT id FROM trade_orders WHERE status NOT IN ('NEW', 'SENDING') "
                               "FOR UPDATE SKIP LOCKED").all()
        monkeypatch.setenv("TC_WRITE_TIMEOUT", "5")
        second = await start(_execute(db_url, sim.port, snapshot_id, "locked", client_id=2, lease_wait=LEASE_TTL * 3))
        monkeypatch.delenv("TC_WRITE_TIMEOUT")  # the last execute writes a whole run: the default wait
        await wait_until(lambda: _lease_holders(database) == {second.pid} or second.returncode is not None, LEASE_TTL * 3,
                         "the second execute to take the expired lease over")
        taker = await _finish(second, 300)
    finally:
        locker.rollback()  # the paused process's transaction ends with it
        locker.close()
        for proc in (first, second):  # the first never woken: SIGKILL reaches a stopped process
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert taker.code == 5, taker.err[-3000:]
    assert "internal_error" not in taker.out + taker.err
    assert "lock" in taker.err, taker.err[-3000:]
    assert taker.json["error"] == "database_lock_held", taker.json
    # what its writer could not write is kept for the next process (the commands' journal)
    assert (isolated_user_dirs / "data" / "writer-journal.jsonl").read_text().strip()
    # the next execute of the run finishes it: each order at the broker once, the record agrees
    again = await start(_execute(db_url, sim.port, snapshot_id, "locked", client_id=3, lease_wait=LEASE_TTL * 3))
    last = await _finish(again)
    assert last.code == 0, last.err[-3000:]
    assert len(sim.orders()) == ORDERS
    _assert_each_order_once(database, sim)
