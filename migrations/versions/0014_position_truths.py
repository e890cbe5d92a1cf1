"""The account positions reconciliation set to IB's figures: ``position_truths``.

Rebuilding an account's position from its fills (a late commission of an older fill, an
execution correction) books the last of them at its place, so that shares IB reported and no
fill explains are kept (docs/ib-average-cost.md).

Revision ID: 0014_position_truths
Revises: 0013_change_feed
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0014_position_truths"
down_revision: str | Sequence[str] | None = "0013_change_feed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # naive UTC
# services.db.types.ExactDecimal: scaled integers on SQLite
PRICE = sa.Numeric(20, 8).with_variant(sa.BigInteger(), "sqlite")
QUANTITY = sa.Numeric(20, 6).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "position_truths",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("average_cost", PRICE, nullable=False),
        sa.Column("after_fill_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position_truths")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("position_truths") as batch:
        batch.create_index("ix_position_truths_position", ["account", "symbol"], unique=False)


def downgrade() -> None:
    op.drop_table("position_truths")
