"""Column types that behave the same on SQLite and MariaDB/MySQL.

* ``UTCDateTime``: stores naive UTC (DATETIME(6) on MySQL, so microseconds survive) and hands
  back timezone-aware UTC; a naive value is refused rather than guessed at.
* ``Money`` / ``Quantity`` / ``Price`` / ``Weight``: ``ExactDecimal``, returning ``Decimal`` at
  a fixed scale, exact on both databases (NUMERIC on MySQL, a scaled 64-bit integer on SQLite,
  which has no exact decimal type).
* ``EnumText``: a short string column that only accepts the members of one ``StrEnum`` and
  returns that enum, so a typo in a status never reaches the database.
* ``JSONDoc``: JSON on both databases (LONGTEXT + JSON_VALID on MariaDB).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, cast, overload

from sqlalchemy import JSON, BigInteger, DateTime, Numeric, String
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.__class__ is datetime and value.tzinfo is UTC:  # the common case (``utcnow``), same result
            return value.replace(tzinfo=None)
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: times are timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def bind_processor(self, dialect):
        """On SQLite, ``process_bind_param`` and the dialect's DATETIME text in one step: the
        text SQLite's DATETIME writes (``_SQLITE_DATETIME``, the same: tests/foundation/test_types.py)
        of the naive UTC value, without a naive copy of every aware one and the dialect's
        formatting through a dict (together nearly three times the cost; a backtest binds tens of
        thousands). Elsewhere SQLAlchemy's two steps."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        naive = self.process_bind_param

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            moment = value
            if value.__class__ is not datetime or value.tzinfo is not UTC:
                moment = cast(datetime, naive(value, dialect))  # its checks, and other zones converted to UTC
            return _SQLITE_DATETIME % (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
                                       moment.microsecond)

        return process

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @overload
    def stored(self, value: None) -> None: ...
    @overload
    def stored(self, value: datetime) -> datetime: ...
    def stored(self, value: datetime | None) -> datetime | None:
        """What reading the column back gives for ``value`` once written to it (both databases
        keep the microseconds): a record of a written row without reading it back."""
        return self.process_result_value(self.process_bind_param(value, None), None)


# SQLAlchemy's SQLite DATETIME storage format (sqlalchemy.dialects.sqlite.DATETIME), by position
_SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


class ExactDecimal(TypeDecorator[Decimal]):
    """A fixed-point decimal, exact on both databases.

    MySQL/MariaDB: ``NUMERIC(precision, scale)``. SQLite has no exact decimal (its NUMERIC keeps
    15 significant digits, so 12345678.12345678 comes back with wrong last digits); there the
    value is stored as a 64-bit integer of ``value * 10**scale`` -- exact, and comparing,
    ordering and summing in SQL still work on one column. Raw SQL on SQLite sees the scaled
    integer. Values are rounded half-up to ``scale`` (as MySQL does); a value that does not fit
    raises ``ValueError`` instead of being stored wrong.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        self._limit = Decimal(10) ** (precision - scale)
        self._scaled_limit = 10**precision  # the same limit on the value times 10**scale

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect) -> Decimal | int | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return self._scaled(value)
        number = self._rounded(value)
        if abs(number) >= self._limit:
            raise ValueError(f"{value} does not fit NUMERIC({self.precision},{self.scale})")
        return number

    def bind_processor(self, dialect):
        """On SQLite, ``process_bind_param`` without SQLAlchemy's wrapper around it and its
        question of the dialect per value (BIGINT, the stored type there, converts nothing): the
        same scaled integer and the same errors. Elsewhere SQLAlchemy's."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        scaled = self._scaled

        def process(value: Any) -> int | None:
            return None if value is None else scaled(value)

        return process

    def _scaled(self, value: Any) -> int:
        """SQLite's stored integer of ``value``: rounded to the scale, times ``10**scale``; the
        limits checked on the exact integer (one int comparison, not a Decimal's)."""
        scaled = int(self._rounded(value).scaleb(self.scale))
        if abs(scaled) >= self._scaled_limit:
            raise ValueError(f"{value} does not fit NUMERIC({self.precision},{self.scale})")
        if abs(scaled) > _INT64_MAX:
            raise ValueError(f"{value} is too large for exact storage on SQLite")
        return scaled

    def process_result_value(self, value: Any, dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(value if value.__class__ is int else int(value)).scaleb(-self.scale)
        return value if isinstance(value, Decimal) else as_decimal(value).quantize(self._quantum)

    @overload
    def stored(self, value: None) -> None: ...
    @overload
    def stored(self, value: Decimal | int | str) -> Decimal: ...
    def stored(self, value: Decimal | int | str | None) -> Decimal | None:
        """What reading the column back gives for ``value`` once written to it (the write checked
        that it fits): a record of a written row without reading it back. The same digits on both
        databases: SQLite's scaled integer and MySQL's DECIMAL both come back at the column's
        scale, and neither has a negative zero."""
        if value is None:
            return None
        number = self._rounded(value)
        return number if number else number.copy_abs()

    def _rounded(self, value: Any) -> Decimal:
        """``value`` rounded half-up to the scale (as MySQL rounds), refused if not finite."""
        number = value if value.__class__ is Decimal else as_decimal(value)
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return number.quantize(self._quantum, ROUND_HALF_UP)  # by position: cheaper than as a keyword

    @property
    def python_type(self) -> type:
        return Decimal


_INT64_MAX = 2**63 - 1


def Quantity() -> ExactDecimal:  # capitalised: reads like a type
    return ExactDecimal(20, 6)


def Price() -> ExactDecimal:
    return ExactDecimal(20, 8)


def Money() -> ExactDecimal:
    return ExactDecimal(24, 8)


def Weight() -> ExactDecimal:
    return ExactDecimal(20, 10)


class EnumText(TypeDecorator[StrEnum]):
    """A ``StrEnum`` stored as its value in a VARCHAR (no database ENUM: adding a member must
    not need a table rebuild)."""

    impl = String
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum], length: int = 32):
        super().__init__(length)
        self.enum_cls = enum_cls
        # the members by value: a dict lookup where calling the enum class went through its
        # metaclass (every status read); anything else still goes to the class (its errors)
        self._members = {member.value: member for member in enum_cls}

    def process_bind_param(self, value: Any, dialect) -> str | None:
        if value is None:
            return None
        if value.__class__ is self.enum_cls:  # a member: its value, as str() gives it
            return value._value_
        try:
            return str(self.enum_cls(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a valid {self.enum_cls.__name__}") from None

    def process_result_value(self, value: str | None, dialect) -> StrEnum | None:
        if value is None:
            return None
        member = self._members.get(value)
        return member if member is not None else self.enum_cls(value)

    @property
    def python_type(self) -> type:
        return self.enum_cls


def JSONDoc() -> JSON:
    return JSON(none_as_null=True)


@overload
def as_decimal(value: None) -> None: ...
@overload
def as_decimal(value: Decimal | int | str | float) -> Decimal: ...
@overload
def as_decimal(value: Any) -> Decimal | None: ...
def as_decimal(value: Any) -> Decimal | None:
    """Exact Decimal from int/str/Decimal (floats go through ``str`` to avoid binary noise)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)
