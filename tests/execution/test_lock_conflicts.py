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
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import TradeOrder, TradeRun
from services.db.repositories import OrderRepository
from services.domain import Side, TradeMode
from services.execution.runs import TradeService

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
