"""A book per project: its capital, and unassigned shares assigned into it.

``projects.capital`` is what a project trades with (its previews' default portfolio value);
``position_assignments`` records shares the account held that no project owned, moved into a
project's book at a stated cost (docs/project-books.md).

Revision ID: 0009_books
Revises: 0008_retries
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0009_books"
down_revision: str | Sequence[str] | None = "0008_retries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # naive UTC
# services.db.types.ExactDecimal: scaled integers on SQLite
MONEY = sa.Numeric(24, 8).with_variant(sa.BigInteger(), "sqlite")
PRICE = sa.Numeric(20, 8).with_variant(sa.BigInteger(), "sqlite")
QUANTITY = sa.Numeric(20, 6).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("capital", MONEY, nullable=True))
    op.create_table(
        "position_assignments",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("project_id", BIG_ID, nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("cost", PRICE, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_position_assignments_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position_assignments")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("position_assignments") as batch:
        batch.create_index("ix_position_assignments_book", ["project_id", "account", "symbol"], unique=False)


def downgrade() -> None:
    op.drop_table("position_assignments")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("capital")
