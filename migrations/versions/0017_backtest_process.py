"""Who runs a backtest: ``backtests.host``, ``pid`` and ``process_key`` (boot id, pid namespace,
pid and start time, as a run lease's holder). A backtest whose process was killed (kill -9, a
reboot) stayed ``running`` forever; whoever looks at backtests now closes it as failed once
that process is known to be gone (services.backtest.closing).

Revision ID: 0017_backtest_process
Revises: 0016_cancel_all_marker
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_backtest_process"
down_revision: str | Sequence[str] | None = "0016_cancel_all_marker"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("backtests") as batch:
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("process_key", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backtests") as batch:
        batch.drop_column("process_key")
        batch.drop_column("pid")
        batch.drop_column("host")
