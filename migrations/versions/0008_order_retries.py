"""Order retries: auto-recovery links a re-placed order to the one it replaces.

``trade_orders.replaces_order_id`` and ``trade_orders.retry_count`` exist since 0001 (the manual
cancel-and-new replace fills the first). Auto-recovery (services.execution.recovery) asks, for
every stuck order, whether it was re-placed already and how many retries its chain has used; this
revision indexes that question. On MySQL / MariaDB the index also serves the self-referencing
foreign key, which therefore has to be dropped and recreated around the index on downgrade.

Revision ID: 0008_retries
Revises: 0007_contracts
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_retries"
down_revision: str | Sequence[str] | None = "0007_contracts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_trade_orders_replaces"
FOREIGN_KEY = "fk_trade_orders_replaces_order_id_trade_orders"


def upgrade() -> None:
    with op.batch_alter_table("trade_orders") as batch:
        batch.create_index(INDEX, ["replaces_order_id", "retry_count"], unique=False)


def downgrade() -> None:
    mysql = op.get_context().dialect.name in ("mysql", "mariadb")
    if mysql:
        # MySQL dropped the foreign key's implicit index when this one could serve it: the key
        # goes first, and coming back creates its own index again.
        op.drop_constraint(FOREIGN_KEY, "trade_orders", type_="foreignkey")
    with op.batch_alter_table("trade_orders") as batch:
        batch.drop_index(INDEX)
    if mysql:
        op.create_foreign_key(FOREIGN_KEY, "trade_orders", "trade_orders", ["replaces_order_id"], ["id"])
