"""The event writer kept waiting by row locks another connection holds in an open transaction (a
process paused inside it): a flush that times out says so, naming the connection that holds them,
as ``DatabaseLockHeld`` (a command's exit 5, ``database_lock_held``), not a bare TimeoutError; the
events are kept (the journal, at the writer's stop) and written by the next writer."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from services.db.lock_conflicts import lock_blockers
from services.db.repositories import OrderRepository
from services.domain import OrderState, Side
from services.execution.errors import DatabaseLockHeld
from services.execution.events import OrderStatusEvent
from services.execution.writer import EventWriter

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)]


def _status(db, client_order_id: str = "W-1") -> OrderState:
    with db.session() as session:
        return OrderRepository(session).get_by_client_id(client_order_id).status


def _writer_and_a_held_order(database, journal, client_order_id: str):
    """(a started writer with ``journal``, a connection of another transaction holding the row
    of the order ``client_order_id``, made ACCEPTED here); the caller ends both."""
    with database.unit_of_work() as session:
        OrderRepository(session).create(client_order_id, "AAPL", Side.BUY, Decimal(10), status=OrderState.ACCEPTED,
                                        account="DU1")
    writer = EventWriter(database, journal_path=journal)
    writer.start()
    locker = database.engine.connect()
    locker.exec_driver_sql("BEGIN")
    locker.exec_driver_sql(f"SELECT id FROM trade_orders WHERE client_order_id = '{client_order_id}' FOR UPDATE").all()
    return writer, locker


async def test_a_flush_held_by_another_connection_s_row_lock_says_who_holds_it_and_loses_nothing(database, tmp_path):
    journal = tmp_path / "writer-journal.jsonl"
    writer, locker = _writer_and_a_held_order(database, journal, "W-1")
    try:
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


async def test_a_stop_ends_the_writer_s_own_lock_wait_at_once_and_loses_nothing(database, tmp_path):
    """The writer's attempt blocked on the held row waits up to innodb_lock_wait_timeout (50 s),
    and a process cannot end before its worker thread returns: a command that had said it gave
    up on the locks still hung that long. Its stop ends that wait (its own statement, never the
    holder's): the attempt is rolled back, its event kept in the journal for the next writer."""
    journal = tmp_path / "writer-journal.jsonl"
    writer, locker = _writer_and_a_held_order(database, journal, "W-3")
    try:
        writer.submit(OrderStatusEvent(9, 5003, 1, "Filled", Decimal(10), Decimal(0), Decimal(99), Decimal(99), order_ref="W-3"))
        with pytest.raises(DatabaseLockHeld):
            await writer.flush(2)
        waiter = writer.projection.connection_id
        assert waiter is not None and lock_blockers(database, waiter), "the writer's attempt waits for the row"
        # a stop's own wait (30 s) is not waited out for a lock the flush found held, nor the server's 50 s
        await asyncio.wait_for(writer.stop(timeout=30), 15)
        # (the server's processlist: its lock tables are a cache up to 0.1 s old)
        with database.core() as connection:
            command = connection.execute(text("SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = :id"),
                                         {"id": waiter}).scalar()
        assert command in (None, "Sleep"), f"the writer's attempt still runs in the server: {command}"
        assert journal.read_text().strip(), "the writer's event kept in its journal"
        # its last word says what stopped it and where the event is, not the driver's words of
        # its own KILL QUERY, nor a memory limit it never reached
        said = writer.health.describe()
        assert said.startswith("stopped while waiting for a row another connection keeps locked; 1 event kept in the "
                               "journal "), said
        assert "1317" not in said and "memory" not in said, said
        # the holder's transaction is untouched: it still holds the row
        assert locker.exec_driver_sql("SELECT @@in_transaction").scalar() == 1
        assert locker.exec_driver_sql("SELECT id FROM trade_orders WHERE client_order_id = 'W-3' FOR UPDATE").all()
    finally:
        locker.rollback()
        locker.close()
    assert _status(database, "W-3") is OrderState.ACCEPTED  # nothing of the interrupted batch was committed
    again = EventWriter(database, journal_path=journal)  # the same pool: the interrupted connection is fine
    again.start()
    try:
        await again.flush(20)
    finally:
        await again.stop()
    assert _status(database, "W-3") is OrderState.FILLED
    assert again.journal is not None and not again.journal.has_events()  # replayed, once


async def test_a_commands_last_wait_for_its_writer_says_the_locks_not_a_database_away(database, tmp_path):
    """``written_or_kept`` (the last wait of execute, replace, order and recover): the row locks
    are said (``DatabaseLockHeld``); a plain timeout there is left to the writer's health, so the
    command ended as ``database_unreachable`` for a database that answered all along."""
    from services.execution.writer import written_or_kept

    writer, locker = _writer_and_a_held_order(database, tmp_path / "writer-journal.jsonl", "W-2")
    try:
        writer.submit(OrderStatusEvent(8, 5002, 1, "Filled", Decimal(10), Decimal(0), Decimal(99), Decimal(99), order_ref="W-2"))
        with pytest.raises(DatabaseLockHeld):
            await written_or_kept(writer, 2)
        await writer.stop(timeout=1)
    finally:
        locker.rollback()
        locker.close()
