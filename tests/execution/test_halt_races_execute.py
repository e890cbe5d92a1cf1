"""``halt`` from another process while a real ``execute`` process sends a run of 120 orders, then
``resume`` and a second ``execute`` of the run (another client id): the first stops within its
watch of the database, gives back what it had claimed and says so; the second reconciles (the
first's orders are IB's already, by their order refs) and sends only what IB never saw. Every
order reaches the broker once, and the database agrees with the broker."""

from __future__ import annotations

import pytest

from app.cli import EXIT_BROKER, EXIT_OK

from .cli_helpers import cli_args, run, start
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


async def test_halt_of_another_process_stops_an_execute_mid_send_and_the_resumed_run_sends_each_order_once(
        database, db_url, wide_simulator):  # noqa: F811 - the fixture imported above
    sim = wide_simulator
    snapshot_id = _prepare(database, "halted")
    first = await start(_execute(db_url, sim.port, snapshot_id, "halted", client_id=1, lease_wait=0))
    await _until_orders_at_broker(sim, 10, first)
    halt = await run(cli_args(db_url, sim.port, "halt", "--json", connection=False))
    assert halt.code == EXIT_OK, halt.err
    stopped = await _finish(first)
    assert stopped.code == EXIT_BROKER, stopped.err[-3000:]
    assert stopped.json["run"]["stopped"] == "trading HALTED", stopped.json["run"]
    sent_first = set(stopped.json["run"]["sent"])
    assert 10 <= len(sent_first) < ORDERS and len(sim.orders()) == len(sent_first)
    resume = await run(cli_args(db_url, sim.port, "resume", "--json", connection=False))
    assert resume.code == EXIT_OK, resume.err
    finisher = await _finish(await start(_execute(db_url, sim.port, snapshot_id, "halted", client_id=2, lease_wait=30)))
    assert finisher.code == EXIT_OK, finisher.err[-3000:]
    sent_second = set(finisher.json["run"]["sent"])
    assert not sent_first & sent_second and len(sent_first | sent_second) == ORDERS
    _assert_each_order_once(database, sim)
