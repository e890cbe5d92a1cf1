"""Column types that behave the same on SQLite and MariaDB/MySQL.

* ``UTCDateTime``: stores naive UTC (DATETIME(6) on MySQL, so microseconds survive) and hands
  back timezone-aware UTC; a naive value is refused rather than guessed at.
* ``Money`` / ``Quantity`` / ``Price``: ``Numeric`` returning ``Decimal`` at a fixed scale.
  SQLite has no decimal type: it keeps 15 significant digits, enough for quantities and prices,
  MariaDB keeps the declared precision exactly.
* ``EnumText``: a short string column that only accepts the members of one ``StrEnum`` and
  returns that enum, so a typo in a status never reaches the database.
* ``JSONDoc``: JSON on both databases (LONGTEXT + JSON_VALID on MariaDB).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Numeric, String
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator

UTC = timezone.utc


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
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: times are timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def Quantity() -> Numeric:  # noqa: N802 - reads like a type
    return Numeric(20, 6, asdecimal=True)


def Price() -> Numeric:  # noqa: N802
    return Numeric(20, 8, asdecimal=True)


def Money() -> Numeric:  # noqa: N802
    return Numeric(24, 8, asdecimal=True)


def Weight() -> Numeric:  # noqa: N802
    return Numeric(20, 10, asdecimal=True)


class EnumText(TypeDecorator[StrEnum]):
    """A ``StrEnum`` stored as its value in a VARCHAR (no database ENUM: adding a member must
    not need a table rebuild)."""

    impl = String
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum], length: int = 32):
        super().__init__(length)
        self.enum_cls = enum_cls

    def process_bind_param(self, value: Any, dialect) -> str | None:
        if value is None:
            return None
        try:
            return str(self.enum_cls(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a valid {self.enum_cls.__name__}") from None

    def process_result_value(self, value: str | None, dialect) -> StrEnum | None:
        if value is None:
            return None
        return self.enum_cls(value)

    @property
    def python_type(self) -> type:
        return self.enum_cls


def JSONDoc() -> JSON:  # noqa: N802
    return JSON(none_as_null=True)


def as_decimal(value: Any) -> Decimal | None:
    """Exact Decimal from int/str/Decimal (floats go through ``str`` to avoid binary noise)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)
