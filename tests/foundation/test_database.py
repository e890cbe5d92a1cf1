"""``Database``: sessions per unit of work, safe across threads, survives a dropped connection."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from services.db import Database
from services.db.models import TradeOrder
from services.db.repositories import Repositories

DEADLINE = 60


def test_threads_racing_on_one_client_order_id_store_one_order(database):
    threads = 6
    barrier = threading.Barrier(threads)
    outcomes: list[tuple[bool, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            barrier.wait(timeout=DEADLINE)
            for n in range(5):
                with database.unit_of_work() as s:
                    order, created = Repositories(s).orders.insert_once(f"race-{n}", "AAPL", "BUY", Decimal(1))
                    with lock:
                        outcomes.append((created, order.id))
        except BaseException as exc:  # asserted below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=DEADLINE)
    assert errors == []
    assert sum(created for created, _ in outcomes) == 5
    assert len(outcomes) == threads * 5
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(TradeOrder)) == 5


def test_orm_objects_stay_readable_after_the_unit_of_work(database):
    with database.unit_of_work() as s:
        order = Repositories(s).orders.create("c-1", "AAPL", "BUY", 3)
    # expire_on_commit=False: a caller may convert the row after the transaction ended.
    assert (order.client_order_id, order.quantity) == ("c-1", Decimal("3"))


@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)  # a server connection; SQLite has none
def test_a_killed_mysql_connection_is_replaced_transparently(db_backend, db_url):
    database = Database(db_url)
    try:
        with database.session() as s:
            connection_id = s.execute(text("SELECT CONNECTION_ID()")).scalar()
        killer = create_engine(db_url, poolclass=NullPool)  # the server drops our pooled connection
        with killer.connect() as other:
            other.exec_driver_sql(f"KILL {int(connection_id)}")
        killer.dispose()
        with database.unit_of_work() as s:
            Repositories(s).projects.create("after-kill")
            assert s.execute(text("SELECT CONNECTION_ID()")).scalar() != connection_id
        with database.session() as s:
            assert Repositories(s).projects.get_by_name("after-kill") is not None
    finally:
        database.dispose()


def test_in_memory_sqlite_works_for_quick_tools():
    from services.db.models import Base

    database = Database("sqlite://")
    try:
        Base.metadata.create_all(database.engine)
        with database.unit_of_work() as s:
            Repositories(s).projects.get_or_create("scratch")
        with database.session() as s:
            assert [p.name for p in Repositories(s).projects.list()] == ["scratch"]
    finally:
        database.dispose()
