"""``halt`` from another process while a real ``execute`` process sends a run of 120 orders, then
``resume`` and a second ``execute`` of the run (another client id): the first stops within its
watch of the database and closes what it had not sent (CANCELED: a halt's unsent orders are never
sent automatically after the resume, services/execution/halt_unsent.py) and says so; the second
reconciles and sends nothing. Every order sent reaches the broker once, and the database agrees
with the broker."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.cli import EXIT_BROKER, EXIT_OK
from services.db.models import TradeOrder
from services.domain import OrderState

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
    # the orders the halt stopped were closed with it: executing the run again after the resume
    # sends none of them (the trader previews again, for the market as it is then)
    finisher = await _finish(await start(_execute(db_url, sim.port, snapshot_id, "halted", client_id=2, lease_wait=30)))
    assert finisher.code == EXIT_OK, finisher.err[-3000:]
    assert finisher.json["run"]["sent"] == []
    assert len(sim.orders()) == len(sent_first)
    with database.session() as session:
        unsent = session.execute(select(TradeOrder.status, TradeOrder.ib_order_id)
                                 .where(TradeOrder.client_order_id.not_in(sent_first))).all()
    assert len(unsent) == ORDERS - len(sent_first) and set(unsent) == {(OrderState.CANCELED, None)}
    # what the first sent reached the broker once and filled; the rest never did (CANCELED)
    _assert_each_order_once(database, sim, lost_in_flight=True)
