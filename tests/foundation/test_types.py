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


def _two_steps(column_type, dialect):
    """What SQLAlchemy's own TypeDecorator processing binds: process_bind_param, then the
    stored type's processor (the one-step SQLite processors must give the same)."""
    impl = column_type.dialect_impl(dialect)
    inner = impl.impl_instance.bind_processor(dialect)
    return lambda value: (lambda bound: bound if inner is None else inner(bound))(impl.process_bind_param(value, dialect))


def test_the_sqlite_processors_bind_what_sqlalchemys_two_steps_bind():
    from zoneinfo import ZoneInfo

    from sqlalchemy.dialects import sqlite

    from services.db.types import Money, Quantity, UTCDateTime

    dialect = sqlite.dialect()
    times = [T0, T0.replace(microsecond=7), datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
             datetime(2026, 3, 2, 9, 30, 0, 250, tzinfo=ZoneInfo("America/New_York")), None]
    one_step = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    two_steps = _two_steps(UTCDateTime(), dialect)
    assert [one_step(t) for t in times] == [two_steps(t) for t in times]
    assert one_step(times[3]) == "2026-03-02 14:30:00.000250"  # New York's 09:30 in March is 14:30 UTC
    with pytest.raises(ValueError, match="naive datetime"):
        one_step(datetime(2026, 3, 2, 14, 30))
    for column_type in (Money(), Quantity()):
        one_step, two_steps = column_type.dialect_impl(dialect).bind_processor(dialect), _two_steps(column_type, dialect)
        values = [Decimal("12345678901.12345678"), Decimal("-0.0000005"), Decimal("0.0000005"), Decimal("-0"), 7, "2.5",
                  0.1, Decimal("1E+3"), None]
        assert [one_step(v) for v in values] == [two_steps(v) for v in values]
        for bad, message in ((Decimal("NaN"), "not a finite number"), (Decimal("1E+16"), "does not fit NUMERIC")):
            with pytest.raises(ValueError, match=message):
                one_step(bad)
            with pytest.raises(ValueError, match=message):
                two_steps(bad)
