"""Frozen order plans; execution settings (plan age and price-move limits).

Revision ID: 0002_plans
Revises: 0001_initial
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002_plans"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MONEY = sa.Numeric(24, 8).with_variant(sa.BigInteger(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "order_plans",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", BIG_ID, nullable=False),
        sa.Column("project_id", BIG_ID, nullable=False),
        sa.Column("snapshot_id", BIG_ID, nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("portfolio_value", MONEY, nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("prices", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("positions", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("orders", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("skipped", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("risk", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["trade_runs.id"], name=op.f("fk_order_plans_run_id_trade_runs")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_order_plans_project_id_projects")),
        sa.ForeignKeyConstraint(["snapshot_id"], ["decision_snapshots.id"],
                                name=op.f("fk_order_plans_snapshot_id_decision_snapshots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_plans")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("order_plans", schema=None) as batch_op:
        batch_op.create_index("ix_order_plans_run", ["run_id"], unique=False)
    with op.batch_alter_table("trade_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("execution", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trade_settings", schema=None) as batch_op:
        batch_op.drop_column("execution")
    op.drop_table("order_plans")  # its index goes with it (MariaDB refuses to drop an FK's index first)
