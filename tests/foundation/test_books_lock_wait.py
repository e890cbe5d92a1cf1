"""An assignment of unassigned shares (``trading-console assign``) and a change of the projects'
capital (``BooksService.set_capitals``: the demo's start, the Settings dialog through
``trade-settings``) that meet a lock another connection keeps (another console's writer frozen in
its transaction, holding the audit chain) wait it out (SQLite and MariaDB).

Before, each failed with the lock wait's error (MariaDB's 1205, SQLite's "database is locked"),
and ``assign`` had already written the assignment and the project's position in its transaction
when its audit entry waited: each is one unit of work of the database alone, now run again from
scratch, and written once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from services.audit import AuditLog
from services.books import BooksService
from services.db.models import PositionAssignment
from services.db.repositories import PositionRepository, ProjectRepository
from tests.fixtures.locks import FrozenWriter, outlast_blocking, short_lock_waits

pytestmark = pytest.mark.timeout(60)
ACCOUNT = "DU111"


def _account_holding(database, symbol: str, quantity: int) -> int:
    """A project, and ``quantity`` shares on the account that no project owns."""
    with database.unit_of_work() as session:
        project = ProjectRepository(session).create("A")
        PositionRepository(session).upsert(ACCOUNT, symbol, Decimal(quantity), Decimal(200))
        return project.id


def test_an_assignment_while_a_frozen_writer_holds_the_audit_chain_is_written_once(database, caplog):
    project_id = _account_holding(database, "AAPL", 5)
    books = BooksService(database, "tester")
    short_lock_waits(database, 1)
    frozen = FrozenWriter(database.url)
    try:
        done = outlast_blocking(frozen, lambda: books.assign("AAPL", Decimal(3), "A", Decimal("228.50")), caplog)
    finally:
        frozen.close()
    assert (done.position, done.unassigned_left) == (Decimal(3), Decimal(2))
    with database.session() as session:
        assert [(a.quantity, a.cost) for a in session.scalars(select(PositionAssignment))] == [(Decimal(3), Decimal("228.50"))]
        assert PositionRepository(session).get(ACCOUNT, "AAPL", project_id=project_id).quantity == 3  # not 6
    assert [e.payload["quantity"] for e in AuditLog(database).list(action="position.assign")] == ["3"]
    assert AuditLog(database).verify(full=True).ok


def test_a_capital_change_while_a_frozen_writer_holds_the_audit_chain_is_stored_and_audited_once(database, caplog):
    _account_holding(database, "AAPL", 5)
    books = BooksService(database, "tester")
    short_lock_waits(database, 1)
    frozen = FrozenWriter(database.url)
    try:
        capitals = outlast_blocking(frozen, lambda: books.set_capitals({"A": "250000"}), caplog)
    finally:
        frozen.close()
    assert capitals == {"A": Decimal(250000)} == books.capitals()
    assert [e.payload for e in AuditLog(database).list(action="project.capital")] == [{"capital": {"A": "250000"}}]
    assert AuditLog(database).verify(full=True).ok


@pytest.mark.slow  # over 3 s a case: out of --quick (README), in the whole suite
def test_assign_through_a_lock_never_released_says_so_and_writes_nothing(database, db_url, capsys, monkeypatch):
    """The frozen writer never goes on: ``assign`` gives up after its lock waits with the one
    line that says so (exit 5, as for any database failure), and nothing of it is stored."""
    from app import composition
    from app.cli import main

    _account_holding(database, "AAPL", 5)
    opened = composition.open_database
    frozen: list[FrozenWriter] = []

    def frozen_once_open(settings):
        """The command's database, opened; then another console's writer freezes (opening it
        takes SQLite's write lock for the settings' row: behind a writer frozen already, it waits
        out the 30 s busy timeout, and is no part of this test)."""
        db = opened(settings)
        short_lock_waits(db, 1)
        frozen.append(FrozenWriter(database.url))
        return db

    monkeypatch.setattr(composition, "open_database", frozen_once_open)
    try:
        code = main(["--db-url", db_url, "assign", "--symbol", "AAPL", "--quantity", "3", "--project", "A", "--cost", "228.5"])
    finally:
        for writer in frozen:
            writer.close()
    err = capsys.readouterr().err
    said = ("the SQLite database stayed locked by another process for too long" if database.is_sqlite
            else "the database kept a row locked by another connection for too long")
    assert len(frozen) == 1 and "given up" in err  # it waited for the frozen writer through every attempt
    assert code == 5 and err.splitlines()[-1].startswith(f"trading-console: {said}"), err
    with database.session() as session:
        assert list(session.scalars(select(PositionAssignment))) == []
    assert AuditLog(database).list(action="position.assign") == []
