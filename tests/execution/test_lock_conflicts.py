"""Two ``execute`` processes of one run on MariaDB: the second one's look for the run must not
lock rows the first one's writer holds. InnoDB's ON DUPLICATE KEY UPDATE locked the existing
project and run rows; while the sender's writer held the run's row and then touched a row
referencing the project, the two deadlocked and the second process exited 5 ("database error:
Deadlock found", seen in tests/execution/test_one_sender.py). Now the existing run is found by a
plain read, and a unit of work MariaDB still ends as a deadlock's victim runs again."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import OperationalError

from services.db import lock_conflicts
from services.db.lock_conflicts import InterruptibleWork, retry_lock_conflicts
from services.db.models import TradeOrder, TradeRun
from services.db.repositories import OrderRepository
from services.domain import Side, TradeMode
from services.execution.runs import TradeService
from tests.fixtures.locks import server_view_of, waits_for_a_row_lock
from tests.fixtures.waiting import wait_until_blocking

from .conftest import make_snapshot

MARIADB = [pytest.param("mysql", marks=pytest.mark.mysql)]
DEADLINE_S = 20  # the second creation returns at once now; before, it waited for the writer's lock (50 s)


def _service(database) -> TradeService:
    return TradeService(database, SimpleNamespace(mode="paper", client_id=2), writer=None, actor="tester")


def _create(service: TradeService, project: str, snapshot_id: int):
    return service._create_run(project, snapshot_id, TradeMode.PAPER, {}, False, ({"rounding": "floor"}, []))


@pytest.mark.parametrize("db_backend", MARIADB, indirect=True)
def test_finding_an_existing_run_takes_no_lock_that_the_senders_writer_holds(database):
    project_id, snapshot_id = make_snapshot(database, "locks", {"AAPL": "0.5", "MSFT": "0.4"})
    first = _create(_service(database), "locks", snapshot_id)
    with database.unit_of_work() as session:  # the first process is sending: its run has orders
        OrderRepository(session).create("locks-1", "AAPL", Side.BUY, 10, run_id=first.id, project_id=project_id)

    with database.engine.connect() as writer:  # the sender's writer, in the middle of a batch
        writer.execute(text("UPDATE trade_runs SET message = 'rolling up' WHERE id = :id"), {"id": first.id})
        found: list = []
        failed: list[BaseException] = []

        def second_process() -> None:
            try:
                found.append(_create(_service(database), "locks", snapshot_id))
            except BaseException as exc:  # reported below
                failed.append(exc)

        thread = threading.Thread(target=second_process, daemon=True)
        thread.start()
        thread.join(DEADLINE_S)
        blocked = thread.is_alive()
        if not blocked:  # the writer's batch goes on: a row referencing the project (its foreign key locks it)
            now = datetime.now(UTC)
            writer.execute(insert(TradeOrder.__table__).values(
                client_order_id="locks-2", symbol="MSFT", side="BUY", quantity=5, run_id=first.id,
                project_id=project_id, created_at=now, updated_at=now))
            writer.commit()
        else:
            writer.rollback()  # let the second one go, then fail
            thread.join(DEADLINE_S)
    assert not blocked, f"finding the existing run waited over {DEADLINE_S} s for the writer's lock on it"
    assert not failed, failed
    assert found[0].id == first.id and found[0].created is False
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(TradeRun)) == 1


@pytest.mark.parametrize("db_backend", MARIADB, indirect=True)
def test_processes_creating_one_new_run_at_once_get_it_once_and_none_fails(database):
    _, snapshot_id = make_snapshot(database, "together", {"AAPL": "0.5"})
    start = threading.Barrier(6)
    results: list = []
    failed: list[BaseException] = []

    def one_process() -> None:
        start.wait(DEADLINE_S)
        try:
            results.append(_create(_service(database), "together", snapshot_id))
        except BaseException as exc:  # reported below
            failed.append(exc)

    threads = [threading.Thread(target=one_process, daemon=True) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S)
    assert not [t for t in threads if t.is_alive()], f"a creation took over {DEADLINE_S} s"
    assert not failed, failed
    assert len({r.id for r in results}) == 1 and sorted(r.created for r in results) == [False] * 5 + [True]


def _error(code: int) -> OperationalError:
    orig = Exception(code, "from the server")
    return OperationalError("UPDATE ...", {}, orig)


def test_a_lock_conflict_runs_again_bounded_and_other_errors_do_not(monkeypatch):
    monkeypatch.setattr(lock_conflicts, "PAUSE_S", (0.0, 0.0))
    calls: list[int] = []

    @retry_lock_conflicts
    def twice_a_victim() -> str:
        calls.append(1)
        if len(calls) <= 2:
            raise _error(1213)
        return "done"

    assert twice_a_victim() == "done" and len(calls) == 3

    @retry_lock_conflicts
    def once_timed_out() -> str:
        calls.append(2)
        if calls.count(2) == 1:
            raise _error(1205)
        return "done"

    assert once_timed_out() == "done" and calls.count(2) == 2

    @retry_lock_conflicts
    def lock_wait_timeout() -> None:
        calls.append(3)
        raise _error(1205)

    with pytest.raises(OperationalError):
        lock_wait_timeout()
    # each attempt already waited the server's whole lock wait: a few, not ATTEMPTS
    assert calls.count(3) == lock_conflicts.LOCK_WAIT_ATTEMPTS < lock_conflicts.ATTEMPTS

    @retry_lock_conflicts
    def always_a_victim() -> None:
        calls.append(4)
        raise _error(1213)

    with pytest.raises(OperationalError):
        always_a_victim()
    assert calls.count(4) == lock_conflicts.ATTEMPTS

    @retry_lock_conflicts
    def server_gone() -> None:
        calls.append(5)
        raise _error(2013)

    with pytest.raises(OperationalError):
        server_gone()
    assert calls.count(5) == 1


@pytest.mark.parametrize("db_backend", MARIADB, indirect=True)
def test_interrupting_a_unit_of_work_ends_its_own_lock_wait_and_nothing_else(database):
    """A unit of work blocked on a row another transaction holds waits up to
    innodb_lock_wait_timeout (50 s): ``interrupt`` ends that wait at once (error 1317), the unit
    of work rolls back, the holder keeps its transaction and its lock."""
    with database.unit_of_work() as session:
        order_id = OrderRepository(session).create("K-1", "AAPL", Side.BUY, 10).id
    work = InterruptibleWork()
    failed: list[BaseException] = []

    def blocked() -> None:
        try:
            with database.unit_of_work() as session, work.running(session):
                session.execute(text("UPDATE trade_orders SET symbol = 'MSFT' WHERE id = :id"), {"id": order_id})
        except BaseException as exc:  # asserted below
            failed.append(exc)

    holder = database.engine.connect()
    thread = threading.Thread(target=blocked)
    try:
        holder.exec_driver_sql("BEGIN")
        holder.execute(text("SELECT id FROM trade_orders WHERE id = :id FOR UPDATE"), {"id": order_id}).all()
        thread.start()
        # SHOW ENGINE INNODB STATUS, not lock_blockers' INNODB_TRX: that view stays stale while polled
        wait_until_blocking(lambda: work.connection_id is not None and waits_for_a_row_lock(database, work.connection_id),
                            DEADLINE_S, lambda: "the unit of work to wait for the held row ("
                            + (server_view_of(database, work.connection_id) if work.connection_id else "no connection yet") + ")")
        assert work.interrupt(database) is True
        thread.join(DEADLINE_S)
        assert not thread.is_alive(), "the lock wait was not ended"
        assert len(failed) == 1 and isinstance(failed[0], OperationalError), failed
        assert failed[0].orig.args[0] == lock_conflicts.QUERY_INTERRUPTED
        assert holder.exec_driver_sql("SELECT @@in_transaction").scalar() == 1  # the holder's, untouched
    finally:
        holder.rollback()
        holder.close()
        thread.join(DEADLINE_S)
    with database.session() as session:
        assert session.get(TradeOrder, order_id).symbol == "AAPL"  # rolled back whole


@pytest.mark.parametrize("db_backend", MARIADB, indirect=True)
def test_an_interrupt_that_finds_no_statement_running_does_nothing(database):
    """The race: the statement ended on its own just before the KILL. KILL QUERY of a connection
    between statements does nothing, and once the unit of work is over its connection (back in
    the pool, perhaps someone else's) is never killed."""
    work = InterruptibleWork()
    with database.unit_of_work() as session, work.running(session):
        assert session.execute(text("SELECT 1")).scalar() == 1
        assert work.interrupt(database) is True  # the connection was idle: nothing ended
        OrderRepository(session).create("K-2", "AAPL", Side.BUY, 10)
        session.flush()
    assert work.interrupt(database) is False
    with database.session() as session:
        assert OrderRepository(session).get_by_client_id("K-2") is not None
