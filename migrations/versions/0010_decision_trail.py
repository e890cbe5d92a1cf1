"""The decision trail: every preview's signals, order decisions and risk decisions, and the
projects' portfolio snapshots during a run (services.core.trail, services.db.repositories.trail).

Revision ID: 0010_trail
Revises: 0009_books
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0010_trail"
down_revision: str | Sequence[str] | None = "0009_books"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
QUANTITY = sa.Numeric(20, 6).with_variant(sa.BigInteger(), "sqlite")  # services.db.types.ExactDecimal
PRICE = sa.Numeric(20, 8).with_variant(sa.BigInteger(), "sqlite")
MONEY = sa.Numeric(24, 8).with_variant(sa.BigInteger(), "sqlite")
WEIGHT = sa.Numeric(20, 10).with_variant(sa.BigInteger(), "sqlite")
TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


def _links(table: str) -> list:
    return [
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("plan_id", BIG_ID, nullable=False),
        sa.Column("run_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["order_plans.id"], name=op.f(f"fk_{table}_plan_id_order_plans")),
        sa.ForeignKeyConstraint(["run_id"], ["trade_runs.id"], name=op.f(f"fk_{table}_run_id_trade_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "trail_signals", *_links("trail_signals"),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("weight", WEIGHT, nullable=False),
        sa.Column("score", PRICE, nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("snapshot_price", PRICE, nullable=True),
        sa.Column("price", PRICE, nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "trail_order_decisions", *_links("trail_order_decisions"),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("target_weight", WEIGHT, nullable=True),
        sa.Column("raw_quantity", QUANTITY, nullable=True),
        sa.Column("target_quantity", QUANTITY, nullable=True),
        sa.Column("current_quantity", QUANTITY, nullable=False),
        sa.Column("delta", QUANTITY, nullable=True),
        sa.Column("rounding", QUANTITY, nullable=True),
        sa.Column("rounding_mode", sa.String(length=16), nullable=True),
        sa.Column("price", PRICE, nullable=True),
        sa.Column("fx_rate", PRICE, nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "trail_risk_decisions", *_links("trail_risk_decisions"),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("measured", sa.String(length=64), nullable=True),
        sa.Column("limit_value", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=64), nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        **TABLE_OPTIONS,
    )
    for table in ("trail_signals", "trail_order_decisions", "trail_risk_decisions"):
        with op.batch_alter_table(table) as batch:
            batch.create_index(f"ix_{table}_plan", ["plan_id"], unique=False)
    op.create_table(
        "trail_portfolio_snapshots",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", BIG_ID, nullable=False),
        sa.Column("plan_id", BIG_ID, nullable=True),
        sa.Column("project_id", BIG_ID, nullable=True),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("time", UTC_DATETIME, nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("positions", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("market_value", MONEY, nullable=False),
        sa.Column("cash", MONEY, nullable=False),
        sa.Column("equity", MONEY, nullable=False),
        sa.Column("realized_pnl", MONEY, nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["trade_runs.id"], name=op.f("fk_trail_portfolio_snapshots_run_id_trade_runs")),
        sa.ForeignKeyConstraint(["plan_id"], ["order_plans.id"], name=op.f("fk_trail_portfolio_snapshots_plan_id_order_plans")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_trail_portfolio_snapshots_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trail_portfolio_snapshots")),
        **TABLE_OPTIONS,
    )
    with op.batch_alter_table("trail_portfolio_snapshots") as batch:
        batch.create_index("ix_trail_portfolio_snapshots_run", ["run_id", "time"], unique=False)


def downgrade() -> None:
    # each table's indexes go with it (MariaDB refuses to drop an FK's index first)
    for table in ("trail_portfolio_snapshots", "trail_risk_decisions", "trail_order_decisions", "trail_signals"):
        op.drop_table(table)
