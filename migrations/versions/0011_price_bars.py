"""Price bars: the daily historical-price cache (downloaded from the broker, or imported from
CSV / Parquet files), one bar per listing, data type and day.

Revision ID: 0011_price_bars
Revises: 0010_trail
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0011_price_bars"
down_revision: str | Sequence[str] | None = "0010_trail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # naive UTC
PRICE = sa.Numeric(20, 8).with_variant(sa.BigInteger(), "sqlite")  # services.db.types.ExactDecimal
QUANTITY = sa.Numeric(20, 6).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "price_bars",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("what_to_show", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("open", PRICE, nullable=False),
        sa.Column("high", PRICE, nullable=False),
        sa.Column("low", PRICE, nullable=False),
        sa.Column("close", PRICE, nullable=False),
        sa.Column("volume", QUANTITY, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("stored_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_bars")),
        sa.UniqueConstraint("symbol", "what_to_show", "day", name=op.f("uq_price_bars_symbol_what_to_show_day")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("price_bars")
