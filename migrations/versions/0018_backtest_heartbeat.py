"""``backtests.heartbeat_at``: when the process running a backtest last said it was alive (every
few seconds of wall time, ``services.backtest.heartbeat``). A backtest of another machine
could not be told dead (its process is not visible from here) and stayed ``running`` forever;
whoever looks at backtests now closes it as failed once its heartbeat is older than a stated
bound (services.backtest.closing). NULL on rows older than this revision (left as they are).

Revision ID: 0018_backtest_heartbeat
Revises: 0017_backtest_process
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0018_backtest_heartbeat"
down_revision: str | Sequence[str] | None = "0017_backtest_process"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # naive UTC


def upgrade() -> None:
    with op.batch_alter_table("backtests") as batch:
        batch.add_column(sa.Column("heartbeat_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backtests") as batch:
        batch.drop_column("heartbeat_at")
