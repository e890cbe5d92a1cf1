"""Two writers of an account's first exchange rates at once (a preview and the equity recorder,
or two processes): on MariaDB each read no row, the second insert failed on the account's key
once the first committed, and the preview or equity sample that wrote it failed with it. The
rates are stored by one upsert; the later writer's rates stand. (SQLite takes its write lock
before any read, so the race is MariaDB's.)"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import text

from services.db import Database
from services.db.repositories import EquityRepository
from tests.fixtures.locks import server_view_of, waits_for_a_row_lock
from tests.fixtures.waiting import wait_until_blocking


@pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)  # checked as every MariaDB test is
def test_two_writers_of_an_accounts_first_rates_both_succeed_and_the_later_stands(database):
    other = Database(database.url)
    failures: list[BaseException] = []
    second_connection: list[int] = []

    def second_writer() -> None:
        try:
            with other.unit_of_work() as session:
                second_connection.append(session.execute(text("SELECT CONNECTION_ID()")).scalar_one())
                EquityRepository(session).store_rates("DU9", "USD", {"EUR": Decimal("1.2")})
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    thread = threading.Thread(target=second_writer)
    try:
        with database.unit_of_work() as session:
            EquityRepository(session).store_rates("DU9", "USD", {"EUR": Decimal("1.1")})
            session.flush()  # the first row written, its key held until the commit
            thread.start()

            def second_waits_for_the_key() -> bool:
                if not thread.is_alive():  # it ended without waiting: its failure is the finding
                    return True
                # SHOW ENGINE INNODB STATUS, not INNODB_TRX: that view stays stale while polled
                return bool(second_connection) and waits_for_a_row_lock(database, second_connection[0])

            # a deadline, not a speed: a fresh clone's run (four workers on two cores) once saw no
            # wait within 10 s, with whatever ended the thread hidden behind the timeout
            wait_until_blocking(second_waits_for_the_key, 30, lambda: "the second writer waiting for the first one's "
                                f"row (its failures so far: {failures!r}; "
                                f"{server_view_of(database, second_connection[0]) if second_connection else 'no connection yet'})")
            assert failures == [], f"the second writer failed before it waited for the first one's row: {failures!r}"
        thread.join(10)
        assert not thread.is_alive(), "the second writer did not finish once the first committed"
        assert failures == []
        with database.session() as session:
            account, base, rates, _ = EquityRepository(session).rates_of("DU9")
        assert (account, base, rates) == ("DU9", "USD", {"EUR": Decimal("1.2")})
    finally:
        thread.join(10)
        other.dispose()
