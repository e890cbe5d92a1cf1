"""``account_rates``: the exchange rates each account last reported (base currency, rates), stored
by the equity recorder so that the ``positions`` command, which has no broker, converts a
project's foreign listings as the window does (docs/currencies.md, "Totals").

Revision ID: 0019_account_rates
Revises: 0018_backtest_heartbeat
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0019_account_rates"
down_revision: str | Sequence[str] | None = "0018_backtest_heartbeat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # naive UTC
MYSQL_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    op.create_table(
        "account_rates",
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("base", sa.String(length=8), nullable=False),
        sa.Column("rates", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("rated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_account_rates")),
        **MYSQL_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("account_rates")
