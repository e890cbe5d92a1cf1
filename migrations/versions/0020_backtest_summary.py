"""``backtests.summary``: what the list of backtests shows of one (its days, its final equities
per project and in total), written with its results when it closes (services.backtest.summary).
The list read every row's results (each project's daily equity: megabytes for a long
backtest) for a few numbers. NULL on rows closed before this revision: the list reads their
results, one row at a time.

``ix_trade_runs_status_mode`` in place of ``ix_trade_runs_status`` (its prefix: every look by
status alone still has it): a backtest's closer looks for the open runs of mode ``backtest``
(``mode = 'backtest' AND status IN ('queued', 'running')``, services.backtest.closing), which the
status index alone answered among the open runs of every mode. Status first: with mode first,
the closer's "runs of mode backtest, newest first" (its last rebalance) took that index and
sorted every backtest run instead of scanning back by id and stopping at the first of its own.

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
    with op.batch_alter_table("trade_runs") as batch:
        batch.create_index("ix_trade_runs_status_mode", ["status", "mode"], unique=False)
        batch.drop_index("ix_trade_runs_status")


def downgrade() -> None:
    with op.batch_alter_table("trade_runs") as batch:
        batch.create_index("ix_trade_runs_status", ["status"], unique=False)
        batch.drop_index("ix_trade_runs_status_mode")
    with op.batch_alter_table("backtests") as batch:
        batch.drop_column("summary")
