"""Cancel All reaches every process's sender: ``trade_settings.cancel_all_at`` (the last Cancel
All, a marker every sender reads where it reads the trading state) and, on ``run_leases``,
``sending_since`` / ``sending_mark`` (a sender at work and the marker it started under: a Cancel
All waits for the senders that started before it).

Revision ID: 0016_cancel_all_marker
Revises: 0015_history_requests
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0016_cancel_all_marker"
down_revision: str | Sequence[str] | None = "0015_history_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # naive UTC


def upgrade() -> None:
    with op.batch_alter_table("trade_settings") as batch:
        batch.add_column(sa.Column("cancel_all_at", UTC_DATETIME, nullable=True))
    with op.batch_alter_table("run_leases") as batch:
        batch.add_column(sa.Column("sending_since", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("sending_mark", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_leases") as batch:
        batch.drop_column("sending_mark")
        batch.drop_column("sending_since")
    with op.batch_alter_table("trade_settings") as batch:
        batch.drop_column("cancel_all_at")
