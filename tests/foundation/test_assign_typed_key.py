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


def test_the_windows_assign_reads_the_typed_figures_and_refuses_a_missing_cost_before_anything_moves(database):
    """BooksService.assign_typed: the Positions panel's Assign dialog's way to ``assign`` (the
    same assignment, audited), the quantity and the cost per share as typed. The cost is required
    (no default: the book holds the shares at it), a number in digits; each refusal a BooksError
    the dialog shows, nothing assigned."""
    import pytest
    from sqlalchemy import select

    from services.books import BooksError
    from services.db.models import AuditLog

    with database.unit_of_work() as session:
        project_id = ProjectRepository(session).create("A").id
        PositionRepository(session).upsert("DU111", "AAPL", Decimal(5), Decimal(200))
    books = BooksService(database, "tester")
    for quantity, project, cost, refusal in (
            ("3", "A", "", "cost per share: required: what each share cost"),
            ("3", "A", "  ", "cost per share: required"),
            ("3", "A", "1e2", "cost per share: must be a number in digits, without an exponent: '1e2'"),
            ("3", "A", "abc", "cost per share: not a number: 'abc'"),
            ("", "A", "228.5", "quantity: required"),
            ("3x", "A", "228.5", "quantity: not a number: '3x'"),
            ("3", " ", "228.5", "choose the project whose book takes the shares"),
            ("3", "A", "-1", "the cost must be a positive price per share, got -1"),
            ("6", "A", "228.5", "not enough unassigned AAPL on account DU111: 5 unassigned, 6 asked")):
        with pytest.raises(BooksError) as refused:
            books.assign_typed("AAPL", quantity, project, cost, "DU111")
        assert refusal in str(refused.value), (quantity, cost, str(refused.value))
    with database.session() as session:
        assert PositionRepository(session).get("DU111", "AAPL", project_id=project_id) is None
        assert not [e for e in session.scalars(select(AuditLog)) if e.action == "position.assign"]
    done = books.assign_typed("AAPL", " 3 ", "A", "228.50", "DU111")
    assert (done.quantity, done.cost, done.position, done.unassigned_left) == (Decimal(3), Decimal("228.50"), Decimal(3), Decimal(2))
    with database.session() as session:
        [entry] = [e for e in session.scalars(select(AuditLog)) if e.action == "position.assign"]
        assert (entry.actor, entry.payload["quantity"], entry.payload["cost"]) == ("tester", "3", "228.50")
