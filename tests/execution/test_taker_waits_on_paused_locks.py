"""A real ``execute`` process paused (SIGSTOP) mid-send and left paused, while a second ``execute``
of the same run takes the expired lease over; the paused process still holds MariaDB row locks in
an open transaction (it is paused inside its writer's batch of the sent orders' events: the test
waits for such a moment, as a rows' look tells; the taker learns the same news of those orders
from the broker, and writes are needed for them; a row the database already has as the broker
says is written nothing). The taker's event writer waits on those locks; the taker must end saying so (what held it,
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
    # mid-send, inside its writer's transaction (not inside a claim of NEW orders: a fresh-clone
    # run's pause landed in one, and the taker's own claim waited for it, no event of its writer unwritten)
    await pause_outside_a_lease_renewal(first, database, inside_a_write_of_sent_orders=True)
    locker, second = database.engine.connect(), None
    try:
        locker.exec_driver_sql("BEGIN")
        # more of what the taker's writer may need: the rows of the other orders the database
        # records at the broker (those the paused writer locked itself are skipped: held already)
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
    assert "Traceback" not in taker.err, taker.err[-3000:]  # a known state, said in words
    assert "lock" in taker.err, taker.err[-3000:]
    assert taker.json["error"] == "database_lock_held", taker.json
    # what its writer could not write is kept for the next process (the commands' journal)
    journal = isolated_user_dirs / "data" / "writer-journal.jsonl"
    assert journal.exists() and journal.read_text().strip(), taker.err[-6000:]
    # the next execute of the run finishes it: each order at the broker once, the record agrees
    again = await start(_execute(db_url, sim.port, snapshot_id, "locked", client_id=3, lease_wait=LEASE_TTL * 3))
    last = await _finish(again)
    assert last.code == 0, last.err[-3000:]
    assert len(sim.orders()) == ORDERS
    _assert_each_order_once(database, sim)
