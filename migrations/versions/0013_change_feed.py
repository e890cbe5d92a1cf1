"""The change feed's watermarks: ``updated_at`` indexed on the tables whose rows change.

Monitor windows and ``trading-console watch`` (services.change_feed) read, every poll, the rows
of ``trade_orders``, ``trade_fills`` and ``positions`` updated since their watermark (minus a
short overlap): with these indexes that is a range read of the newest rows, not a table scan.
The append-only tables are followed by their primary key and need nothing.

Revision ID: 0013_change_feed
Revises: 0012_backtests
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_change_feed"
down_revision: str | Sequence[str] | None = "0012_backtests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("trade_orders", "ix_trade_orders_updated_at"),
    ("trade_fills", "ix_trade_fills_updated_at"),
    ("positions", "ix_positions_updated_at"),
)


def upgrade() -> None:
    for table, name in INDEXES:
        op.create_index(name, table, ["updated_at"], unique=False)


def downgrade() -> None:
    for table, name in reversed(INDEXES):
        op.drop_index(name, table_name=table)
