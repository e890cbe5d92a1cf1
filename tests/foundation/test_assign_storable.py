"""``assign`` refuses a quantity or a cost its columns cannot keep, before anything is written
and alike on SQLite and MariaDB: a seventh decimal of a share was stored rounded (0.0000004
shares: an assignment row of 0 while its audit entry said 0.0000004), a cost's ninth decimal
likewise, and a cost of 1e11 was a ValueError from the SQLite column type (no
``BooksError``) while MariaDB stored it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.books import BooksError, BooksService
from services.db.models import AuditLog, PositionAssignment
from services.db.repositories import PositionRepository, ProjectRepository


@pytest.mark.parametrize(("quantity", "cost", "said"), [
    ("0.0000004", "228.5", "quantity 0.0000004 is below 1e-6, the smallest the database keeps (it would be stored as 0)"),
    ("0.1234567", "228.5", "quantity 0.1234567 has more than 6 decimal places (it would be stored rounded)"),
    ("0.5", "228.123456789", "cost 228.123456789 has more than 8 decimal places (it would be stored rounded)"),
    ("0.5", "100000000000", "cost 100000000000 is too large: the database keeps values below 1e10"),
])
def test_a_quantity_or_cost_the_database_cannot_keep_is_refused_before_anything_is_written(database, quantity, cost, said):
    with database.unit_of_work() as session:
        ProjectRepository(session).create("A")
        PositionRepository(session).upsert("DU111", "AAPL", Decimal("0.5"), Decimal(200))  # IB's fractional shares
    with pytest.raises(BooksError) as refused:
        BooksService(database, "tester").assign("AAPL", Decimal(quantity), "A", Decimal(cost))
    assert str(refused.value) == said
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(PositionAssignment)) == 0
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 0
