"""``assign`` reads the listing key and the account as typed: ``aapl`` is AAPL (as the order
ticket, the snapshot import and every other command read a symbol). Typed in lower case it was
refused with "not enough unassigned aapl: 0 unassigned" while `positions` showed 50 unassigned
AAPL (SQLite and MariaDB)."""

from __future__ import annotations

from decimal import Decimal

from services.books import BooksService
from services.db.repositories import PositionRepository, ProjectRepository


def test_a_symbol_and_account_typed_in_lower_case_are_the_listing_and_account_held(database):
    with database.unit_of_work() as session:
        project_id = ProjectRepository(session).create("A").id
        PositionRepository(session).upsert("DU111", "SAP@IBIS:EUR", Decimal(4), Decimal(200))
        PositionRepository(session).upsert("DU111", "AAPL", Decimal(5), Decimal(200))
    books = BooksService(database, "tester")
    done = books.assign(" aapl ", Decimal(3), "A", Decimal("228.50"))
    assert (done.symbol, done.account, done.position, done.unassigned_left) == ("AAPL", "DU111", Decimal(3), Decimal(2))
    listed = books.assign("sap@ibis:eur", Decimal(4), "A", Decimal(120), account="du111")
    assert (listed.symbol, listed.account, listed.unassigned_left) == ("SAP@IBIS:EUR", "DU111", Decimal(0))
    with database.session() as session:
        positions = PositionRepository(session)
        assert positions.get("DU111", "AAPL", project_id=project_id).quantity == 3
        assert positions.get("DU111", "SAP@IBIS:EUR", project_id=project_id).quantity == 4
