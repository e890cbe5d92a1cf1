"""Exactly-once inserts: a repeated client_order_id or exec_id is a no-op returning the stored
row, in one process and across processes racing on the same keys (SQLite and MariaDB)."""

from __future__ import annotations

import multiprocessing
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from services.db.models import TradeFill, TradeOrder
from services.db.repositories import Repositories
from services.domain import OrderState, Side
from tests.fixtures.waiting import wait_until_blocking
from tests.foundation import _workers
from tests.foundation._workers import T0

SPAWN = multiprocessing.get_context("spawn")
DEADLINE = 60


def _order(database) -> int:
    with database.unit_of_work() as s:
        return Repositories(s).orders.create("c-1", "AAPL", Side.BUY, 100).id


def test_second_order_with_same_client_order_id_returns_the_first(database):
    with database.unit_of_work() as s:
        orders = Repositories(s).orders
        first, created = orders.insert_once("c-1", "AAPL", Side.BUY, 10, limit_price="1.5")
        again, created_again = orders.insert_once("c-1", "MSFT", Side.SELL, 99)
        other, created_other = orders.insert_once("C-1", "AAPL", Side.BUY, 10)  # case matters
    assert (created, created_again, created_other) == (True, False, True)
    assert again.id == first.id and other.id != first.id
    assert (again.symbol, again.side, again.quantity) == ("AAPL", "BUY", Decimal("10"))
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(TradeOrder)) == 2


def test_second_order_in_a_later_transaction_returns_the_stored_row(database):
    with database.unit_of_work() as s:
        first, _ = Repositories(s).orders.insert_once("c-1", "AAPL", Side.BUY, 10)
        Repositories(s).orders.update_status(first.id, OrderState.FILLED, filled_quantity=10)
    with database.unit_of_work() as s:
        again, created = Repositories(s).orders.insert_once("c-1", "AAPL", Side.BUY, 10)
    assert created is False and again.id == first.id and again.status == OrderState.FILLED


def test_second_fill_with_same_exec_id_is_a_no_op(database):
    order_id = _order(database)
    with database.unit_of_work() as s:
        fills = Repositories(s).fills
        first, created = fills.insert_once("e.1.01", order_id, "AAPL", Side.BUY, 10, "100.25", T0)
        again, created_again = fills.insert_once("e.1.01", order_id, "AAPL", Side.BUY, 999, "1", T0)
    assert (created, created_again) == (True, False)
    assert again.id == first.id and again.quantity == Decimal("10") and again.price == Decimal("100.25")
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(TradeFill)) == 1


def _collect(results, count: int) -> list:
    collected = []
    for _ in range(count):
        status, value = results.get(timeout=DEADLINE)
        assert status == "ok", value
        collected.append(value)
    return collected


@pytest.mark.slow  # spawns three interpreters
def test_processes_racing_on_the_same_exec_ids_store_each_once(database, db_url):
    order_id = _order(database)
    exec_ids = [f"0001f4e8.race{n:04d}.01.01" for n in range(15)]
    racers = 3
    barrier = SPAWN.Barrier(racers)
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=_workers.insert_fills, args=(db_url, order_id, exec_ids, barrier, results)) for _ in range(racers)]
    for p in processes:
        p.start()
    try:
        outcomes = _collect(results, racers)
    finally:
        for p in processes:
            p.join(timeout=DEADLINE)
    assert [p.exitcode for p in processes] == [0] * racers
    by_exec: dict[str, list[tuple[bool, int]]] = {}
    for out in outcomes:
        for exec_id, created, fill_id in out:
            by_exec.setdefault(exec_id, []).append((created, fill_id))
    assert sorted(by_exec) == exec_ids
    for exec_id, seen in by_exec.items():
        assert sum(created for created, _ in seen) == 1, exec_id  # exactly one creator
        assert len({fill_id for _, fill_id in seen}) == 1, exec_id  # everybody got that row
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(TradeFill)) == len(exec_ids)


@pytest.mark.slow  # spawns an interpreter
def test_insert_waiting_on_an_uncommitted_duplicate_gets_the_row_without_error(database, db_url, db_backend):
    """The hardest interleaving: another process inserts the exec_id while ours holds it
    uncommitted. The other must wait, then see a duplicate: one row, no error, created=False."""
    order_id = _order(database)
    results = SPAWN.Queue()
    started = SPAWN.Event()
    with database.unit_of_work() as s:
        mine, created = Repositories(s).fills.insert_once("e.held.01", order_id, "AAPL", Side.BUY, 1, "100.5", T0)
        assert created is True
        child = SPAWN.Process(target=_workers.insert_one_fill, args=(db_url, order_id, "e.held.01", started, results))
        child.start()
        assert started.wait(DEADLINE)
        if db_backend == "mysql":
            # Commit only once the child's INSERT is running (i.e. blocked on our uncommitted row).
            def child_is_waiting() -> bool:
                with database.engine.connect() as c:
                    query = text(
                        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE db = DATABASE() "
                        "AND id <> CONNECTION_ID() AND command = 'Query' AND info LIKE '%e.held.01%'"
                    )
                    return bool(c.execute(query).scalar())

            wait_until_blocking(child_is_waiting, DEADLINE, "the child's INSERT to wait on our lock")
        # On SQLite the child cannot even begin while we hold the write lock (BEGIN IMMEDIATE):
        # it waits on busy_timeout and runs after our commit.
        mine_id = mine.id
    try:
        status, value = results.get(timeout=DEADLINE)
    finally:
        child.join(timeout=DEADLINE)
    assert status == "ok", value
    assert value == (False, mine_id)
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(TradeFill)) == 1
