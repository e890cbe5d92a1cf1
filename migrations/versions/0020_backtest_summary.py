"""``backtests.summary``: what the list of backtests shows of one (its days, its final equities
per project and in total), written with its results when it closes (services.backtest.summary).
The list read every row's results (each project's daily equity: megabytes for a long
backtest) for a few numbers. NULL on rows closed before this revision: the list reads their
results, one row at a time.

Revision ID: 0020_backtest_summary
Revises: 0019_account_rates
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_backtest_summary"
down_revision: str | Sequence[str] | None = "0019_account_rates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("backtests") as batch:
        batch.add_column(sa.Column("summary", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backtests") as batch:
        batch.drop_column("summary")
