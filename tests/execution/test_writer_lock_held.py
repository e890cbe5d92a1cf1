"""The event writer kept waiting by row locks another connection holds in an open transaction (a
process paused inside it): a flush that times out says so, naming the connection that holds them,
as ``DatabaseLockHeld`` (a command's exit 5, ``database_lock_held``), not a bare TimeoutError; the
events are kept (the journal, at the writer's stop) and written by the next writer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.db.repositories import OrderRepository
from services.domain import OrderState, Side
from services.execution.errors import DatabaseLockHeld
from services.execution.events import OrderStatusEvent
from services.execution.writer import EventWriter

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)]


def _status(db) -> OrderState:
    with db.session() as session:
        return OrderRepository(session).get_by_client_id("W-1").status


async def test_a_flush_held_by_another_connection_s_row_lock_says_who_holds_it_and_loses_nothing(database, tmp_path):
    with database.unit_of_work() as session:
        OrderRepository(session).create("W-1", "AAPL", Side.BUY, Decimal(10), status=OrderState.ACCEPTED, account="DU1")
    journal = tmp_path / "writer-journal.jsonl"
    writer = EventWriter(database, journal_path=journal)
    writer.start()
    locker = database.engine.connect()
    try:
        locker.exec_driver_sql("BEGIN")
        locker.exec_driver_sql("SELECT id FROM trade_orders WHERE client_order_id = 'W-1' FOR UPDATE").all()
        holder = locker.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
        writer.submit(OrderStatusEvent(7, 5001, 1, "Filled", Decimal(10), Decimal(0), Decimal(99), Decimal(99), order_ref="W-1"))
        with pytest.raises(DatabaseLockHeld) as raised:
            await writer.flush(2)
        message = str(raised.value)
        assert raised.value.code == "database_lock_held" and raised.value.exit_code == 5
        assert f"connection {holder} from " in message, message
        assert "keeps locked" in message and "1 event of this process not written yet" in message, message
        assert "sent nothing more" in message and "execute the run again" in message, message
        await writer.stop(timeout=1)  # still held: the event goes to the journal
        assert journal.read_text().strip(), "the writer's event kept in its journal"
    finally:
        locker.rollback()
        locker.close()
    again = EventWriter(database, journal_path=journal)
    again.start()
    try:
        await again.flush(20)
    finally:
        await again.stop()
    assert _status(database) is OrderState.FILLED


async def test_a_commands_last_wait_for_its_writer_says_the_locks_not_a_database_away(database, tmp_path):
    """``written_or_kept`` (the last wait of execute, replace, order and recover): the row locks
    are said (``DatabaseLockHeld``); a plain timeout there is left to the writer's health, so the
    command ended as ``database_unreachable`` for a database that answered all along."""
    from services.execution.writer import written_or_kept

    with database.unit_of_work() as session:
        OrderRepository(session).create("W-2", "AAPL", Side.BUY, Decimal(10), status=OrderState.ACCEPTED, account="DU1")
    writer = EventWriter(database, journal_path=tmp_path / "writer-journal.jsonl")
    writer.start()
    locker = database.engine.connect()
    try:
        locker.exec_driver_sql("BEGIN")
        locker.exec_driver_sql("SELECT id FROM trade_orders WHERE client_order_id = 'W-2' FOR UPDATE").all()
        writer.submit(OrderStatusEvent(8, 5002, 1, "Filled", Decimal(10), Decimal(0), Decimal(99), Decimal(99), order_ref="W-2"))
        with pytest.raises(DatabaseLockHeld):
            await written_or_kept(writer, 2)
        await writer.stop(timeout=1)
    finally:
        locker.rollback()
        locker.close()
