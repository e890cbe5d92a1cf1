"""Listings: the primary exchange travels with snapshot rows and orders; positions say which
listing (currency, venue) they hold.

Revision ID: 0007_contracts
Revises: 0006_audit
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_contracts"
down_revision: str | Sequence[str] | None = "0006_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Nullable on purpose: existing rows are US stocks (no primary exchange named, USD).
COLUMNS = (
    ("decision_snapshot_items", "primary_exchange", 32),
    ("trade_orders", "primary_exchange", 32),
    ("positions", "currency", 8),
    ("positions", "exchange", 32),
)


def upgrade() -> None:
    for table, column, length in COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.String(length), nullable=True))


def downgrade() -> None:
    for table, column, _length in reversed(COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
