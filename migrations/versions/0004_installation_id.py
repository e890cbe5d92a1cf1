"""Installation id: generated once per database, part of every new client order id.

Revision ID: 0004_input
Revises: 0003_lease
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_input"
down_revision: str | Sequence[str] | None = "0003_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose (see 0001): the same alphabet as services.db.repositories.settings.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def upgrade() -> None:
    with op.batch_alter_table("trade_settings") as batch:
        batch.add_column(sa.Column("installation_id", sa.String(length=16), nullable=True))
    # An existing settings row gets its id now; a new database gets it with the row.
    value = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    op.execute(sa.text("UPDATE trade_settings SET installation_id = :value WHERE installation_id IS NULL")
               .bindparams(value=value))


def downgrade() -> None:
    with op.batch_alter_table("trade_settings") as batch:
        batch.drop_column("installation_id")
