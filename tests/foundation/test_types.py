"""Column types: exact decimals and UTC times behave the same on SQLite and MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from services.db.models import EquitySnapshot, Position
from services.db.repositories import Repositories

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def test_money_keeps_every_digit(database):
    # 19 significant digits: SQLite's own NUMERIC would return 12345678901.12345695.
    values = [Decimal("12345678901.12345678"), Decimal("-0.00000001"), Decimal("0"), Decimal("9999999999.99999999")]
    with database.unit_of_work() as s:
        for n, value in enumerate(values):
            Repositories(s).equity.append("DU1", cash=value, equity=value, time=T0.replace(second=n))
    with database.session() as s:
        stored = [e.cash for e in Repositories(s).equity.list(account="DU1")]
        total = s.scalar(select(func.sum(EquitySnapshot.cash)))
    assert stored == values
    assert all(v.as_tuple().exponent == -8 for v in stored)
    assert Decimal(total).quantize(Decimal("0.00000001")) == sum(values)


def test_values_round_half_up_to_the_column_scale(database):
    with database.unit_of_work() as s:
        Repositories(s).positions.upsert("DU1", "A", "1.0000005", "2.000000005")
        Repositories(s).positions.upsert("DU1", "B", "-1.0000005", "0.1")
    with database.session() as s:
        rows = {p.symbol: (p.quantity, p.average_cost) for p in Repositories(s).positions.list()}
    assert rows == {"A": (Decimal("1.000001"), Decimal("2.00000001")), "B": (Decimal("-1.000001"), Decimal("0.10000000"))}


def test_sql_comparisons_and_ordering_use_the_decimal_value(database):
    with database.unit_of_work() as s:
        for symbol, qty in (("A", "10"), ("B", "0"), ("C", "-2.5"), ("D", "0.000001")):
            Repositories(s).positions.upsert("DU1", symbol, qty, "1")
    with database.session() as s:
        ordered = s.scalars(select(Position.symbol).where(Position.quantity != 0).order_by(Position.quantity)).all()
        bigger = s.scalars(select(Position.symbol).where(Position.quantity > Decimal("0.5"))).all()
    assert ordered == ["C", "D", "A"]
    assert bigger == ["A"]


def test_a_value_that_does_not_fit_is_refused_not_mangled(database):
    with pytest.raises(StatementError, match="does not fit NUMERIC"), database.unit_of_work() as s:
        Repositories(s).positions.upsert("DU1", "A", "100000000000000", "1")  # 15 integer digits > 14
    if database.is_sqlite:  # a scaled 64-bit integer holds money up to about 92 billion
        with pytest.raises(StatementError, match="too large for exact storage on SQLite"), database.unit_of_work() as s:
            Repositories(s).equity.append("DU1", cash="99999999999.99999999", equity="1")
    with pytest.raises(StatementError, match="not a finite number"), database.unit_of_work() as s:
        Repositories(s).positions.upsert("DU1", "A", Decimal("NaN"), "1")


def test_floats_go_through_their_shortest_repr(database):
    with database.unit_of_work() as s:
        Repositories(s).positions.upsert("DU1", "A", 0.1, 187.12)
    with database.session() as s:
        position = Repositories(s).positions.get("DU1", "A")
    assert (position.quantity, position.average_cost) == (Decimal("0.100000"), Decimal("187.12000000"))
