"""Two machines share MariaDB; the first's link to it is cut (a TCP proxy the test cuts) while its
``execute`` sends a run of 120 orders; the second machine's ``execute`` of the run (another client
id, waiting for the lease) takes the lease over (once the first gave up and ended, or its lease
expired), reconciles and finishes the run; then the first's link comes back. Every order reaches the broker once, and the database agrees
with the broker."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from services.execution.lease import LEASE_TTL
from tests.fixtures.proxy import TcpProxy

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

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]  # two execute processes of 120 orders


@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)  # a link to a server: SQLite has none
async def test_the_first_machines_database_link_cut_mid_send_the_second_finishes_the_run_each_order_once(
        database, db_url, wide_simulator):  # noqa: F811 - the fixture imported above
    sim = wide_simulator
    snapshot_id = _prepare(database, "link-cut")
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        first = await start(_execute(proxied, sim.port, snapshot_id, "link-cut", client_id=1, lease_wait=0))
        await _until_orders_at_broker(sim, 10, first)
        await proxy.cut()  # mid-send: its claims, its submitted events and its heartbeat cut off
        at_cut = len(sim.orders())
        second = await start(_execute(db_url, sim.port, snapshot_id, "link-cut", client_id=2, lease_wait=LEASE_TTL * 3))
        finisher = await _finish(second)
        await proxy.restore()
        cut_off = await _finish(first)
    finally:
        await proxy.cut()
    assert at_cut < ORDERS
    assert finisher.code == 0, finisher.err[-3000:]
    assert cut_off.code != 0, cut_off.err[-3000:]  # it did not finish the run, and says so
    _assert_each_order_once(database, sim)
