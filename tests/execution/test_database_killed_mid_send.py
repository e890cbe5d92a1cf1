"""The database server killed (SIGKILL of a private mariadbd) while a real ``execute`` process
sends a run of 120 orders, started again a moment later; then a second ``execute`` of the run
(another client id, waiting for the lease) finishes it. Whatever the first had claimed or sent
when its database went away, every order reaches the broker once and the database agrees with
the broker."""

from __future__ import annotations

import asyncio

import pytest

from .cli_helpers import start
from .test_one_sender import (  # noqa: F401 - wide_simulator is a fixture
    ORDERS,
    _assert_each_order_once,
    _execute,
    _finish,
    _prepare,
    _until_orders_at_broker,
    wide_simulator,
)

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


@pytest.fixture
def private_database(private_mariadb_url):
    from services.db import Database

    db = Database(private_mariadb_url)
    yield db
    db.dispose()


async def test_database_killed_mid_send_then_another_execute_finishes_the_run_each_order_once(
        private_mariadb, private_mariadb_url, private_database, wide_simulator):  # noqa: F811 - the fixture imported above
    sim, database, url = wide_simulator, private_database, private_mariadb_url
    snapshot_id = _prepare(database, "db-killed")
    first = await start(_execute(url, sim.port, snapshot_id, "db-killed", client_id=1, lease_wait=0))
    await _until_orders_at_broker(sim, 20, first)
    await asyncio.to_thread(private_mariadb.kill)  # mid-send: claims and submitted events in flight
    at_kill = len(sim.orders())
    seen: list[str] = []
    try:
        async def until_reported() -> None:
            # the first's writer says the database is unreachable: it ran without it for a while
            while not any(line.startswith("trading-console: Event writer: database unreachable") for line in seen):
                line = await first.stderr.readline()
                if not line:
                    return  # it ended: whatever it did is checked below
                seen.append(line.decode())

        await asyncio.wait_for(until_reported(), 30)
    finally:
        await asyncio.to_thread(private_mariadb.start)  # InnoDB recovers; same data directory and port
    second = await start(_execute(url, sim.port, snapshot_id, "db-killed", client_id=2, lease_wait=90))
    dropped, finisher = await asyncio.gather(_finish(first), _finish(second))
    assert at_kill < ORDERS
    assert dropped.code in (0, 5), "".join(seen) + dropped.err[-3000:]
    assert finisher.code == 0, finisher.err[-3000:]
    _assert_each_order_once(database, sim)
