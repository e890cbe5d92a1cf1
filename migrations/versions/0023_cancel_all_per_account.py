"""A Cancel All's marker per account: ``cancel_all_marks`` (the last Cancel All of each account it
acted on; ``*``: one whose account is unknown, which concerns every account) and, on
``run_leases``, ``sending_account`` (the account a sender sends for). A Cancel All of account A
stopped every account's senders (one marker for the whole installation) and made them cancel at
the broker the orders they had written, although it told the trader that other accounts' orders
were left as they are.

The marker stored so far becomes the mark of the account the last Cancel All's audit entry
names (``trading.cancel_all``, its ``account``), or of every account when it names none: what
recovery made of it until now.

Revision ID: 0023_cancel_all_per_account
Revises: 0022_run_backtest
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0023_cancel_all_per_account"
down_revision: str | Sequence[str] | None = "0022_run_backtest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # naive UTC
MYSQL_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
EVERY_ACCOUNT = "*"


def upgrade() -> None:
    op.create_table(
        "cancel_all_marks",
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("marked_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_cancel_all_marks")),
        **MYSQL_OPTIONS,
    )
    with op.batch_alter_table("run_leases") as batch:
        batch.add_column(sa.Column("sending_account", sa.String(length=32), nullable=True))
    # one statement, so that the SQL a DBA applies by hand (``db sql``) seeds it too
    account = ("JSON_VALUE(payload, '$.account')" if op.get_context().dialect.name in ("mysql", "mariadb")
               else "json_extract(payload, '$.account')")
    op.execute(
        "INSERT INTO cancel_all_marks (account, marked_at) "
        f"SELECT COALESCE(NULLIF((SELECT {account} FROM audit_logs WHERE id = (SELECT MAX(id) FROM audit_logs "
        f"WHERE action = 'trading.cancel_all')), ''), '{EVERY_ACCOUNT}'), cancel_all_at "
        "FROM trade_settings WHERE cancel_all_at IS NOT NULL")


def downgrade() -> None:
    # the markers of every account stay summed up in trade_settings.cancel_all_at (the last one)
    with op.batch_alter_table("run_leases") as batch:
        batch.drop_column("sending_account")
    op.drop_table("cancel_all_marks")
