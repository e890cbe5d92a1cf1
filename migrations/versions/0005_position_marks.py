"""Positions keep their last market price (the equity recorder's mark).

Revision ID: 0005_book
Revises: 0004_input
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005_book"
down_revision: str | Sequence[str] | None = "0004_input"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # naive UTC
PRICE = sa.Numeric(20, 8).with_variant(sa.BigInteger(), "sqlite")  # services.db.types.ExactDecimal


def upgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.add_column(sa.Column("market_price", PRICE, nullable=True))
        batch.add_column(sa.Column("marked_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.drop_column("marked_at")
        batch.drop_column("market_price")
