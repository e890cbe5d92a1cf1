"""The historical-data requests sent to each IB gateway, shared by every process of the console:
``history_gateways`` (one row per gateway, locked while a request takes its place) and
``history_requests`` (when each was sent). IB counts its historical-data pacing per gateway
session (docs/ib-pacing.md, "Historical data").

Revision ID: 0015_history_requests
Revises: 0014_position_truths
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_history_requests"
down_revision: str | Sequence[str] | None = "0014_position_truths"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}


def upgrade() -> None:
    op.create_table(
        "history_gateways",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("gateway", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_gateways")),
        sa.UniqueConstraint("gateway", name=op.f("uq_history_gateways_gateway")),
        **MYSQL_OPTIONS,
    )
    op.create_table(
        "history_requests",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("gateway", sa.String(length=128), nullable=False),
        sa.Column("sent_at", sa.Double(), nullable=False),
        sa.Column("contract", sa.String(length=128), nullable=False),
        sa.Column("request", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_requests")),
        **MYSQL_OPTIONS,
    )
    with op.batch_alter_table("history_requests") as batch:
        batch.create_index("ix_history_requests_gateway_sent_at", ["gateway", "sent_at"], unique=False)


def downgrade() -> None:
    op.drop_table("history_requests")
    op.drop_table("history_gateways")
