"""``trade_runs.backtest_id`` and ``ix_trade_runs_backtest``: the backtest a rebalance run belongs
to, as a column. It was only a key of the run's params (``{"backtest": ID}``), so the closer of a
dead backtest (services.backtest.closing) found its last rebalance by reading the params of every
backtest run newer than it, all of them for one that died before its first rebalance; now one
seek of the index. Existing backtest runs get theirs from that key; other runs stay NULL.
Downgraded, the key is written back into the params of runs that have the column set.

Revision ID: 0022_run_backtest
Revises: 0021_snapshot_rates
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_run_backtest"
down_revision: str | Sequence[str] | None = "0021_snapshot_rates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # services.db.models.BigId
TAG = "$.backtest"  # the params key the runs were tagged with (services.backtest before this revision)


def upgrade() -> None:
    with op.batch_alter_table("trade_runs") as batch:
        batch.add_column(sa.Column("backtest_id", BIG_ID, nullable=True))
        batch.create_index("ix_trade_runs_backtest", ["backtest_id"], unique=False)
    bind = op.get_bind()
    # SQLite's json_extract gives the number itself; MariaDB's JSON_VALUE its text, cast
    tagged = (f"json_extract(params, '{TAG}')" if bind.dialect.name == "sqlite"
              else f"CAST(JSON_VALUE(params, '{TAG}') AS SIGNED)")
    bind.execute(sa.text(f"UPDATE trade_runs SET backtest_id = {tagged} WHERE mode = 'backtest' AND params IS NOT NULL"))


def downgrade() -> None:
    op.get_bind().execute(sa.text(f"UPDATE trade_runs SET params = JSON_SET(COALESCE(params, '{{}}'), '{TAG}', backtest_id) "
                                  "WHERE backtest_id IS NOT NULL"))
    with op.batch_alter_table("trade_runs") as batch:
        batch.drop_index("ix_trade_runs_backtest")
        batch.drop_column("backtest_id")
