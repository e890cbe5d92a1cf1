"""``trail_portfolio_snapshots.rates``, and its money columns nullable: a real account's snapshot
is in the account's base currency at the rates the console stored for it (``rates``: the
currency of the figures, the base, the rates used and when they were stored, the currencies
without a rate); with a rate missing the figures are NULL rather than a face-value sum of
several currencies (docs/currencies.md, "Decision trail"). Rows written before keep their
figures and have ``rates`` NULL (summed at face value, as a backtest's single-currency rows are).

Revision ID: 0021_snapshot_rates
Revises: 0020_backtest_summary
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_snapshot_rates"
down_revision: str | Sequence[str] | None = "0020_backtest_summary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Self-contained on purpose: a migration must not change when the models change later.
MONEY = sa.Numeric(24, 8).with_variant(sa.BigInteger(), "sqlite")  # services.db.types.ExactDecimal
MONEY_COLUMNS = ("market_value", "cash", "equity", "realized_pnl")


def upgrade() -> None:
    with op.batch_alter_table("trail_portfolio_snapshots") as batch:
        for column in MONEY_COLUMNS:
            batch.alter_column(column, existing_type=MONEY, nullable=True)
        batch.add_column(sa.Column("rates", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    # a snapshot without figures (a rate was missing) has no number the old schema could hold
    # that is not made up: refused, saying which, rather than deleted or zeroed
    unconverted = op.get_bind().execute(sa.text(
        "SELECT COUNT(*) FROM trail_portfolio_snapshots WHERE market_value IS NULL OR cash IS NULL "
        "OR equity IS NULL OR realized_pnl IS NULL")).scalar_one()
    if unconverted:
        raise RuntimeError(f"{unconverted} portfolio snapshots have no money figures (a rate was missing): "
                           "delete them from trail_portfolio_snapshots before downgrading below 0021")
    with op.batch_alter_table("trail_portfolio_snapshots") as batch:
        batch.drop_column("rates")
        for column in MONEY_COLUMNS:
            batch.alter_column(column, existing_type=MONEY, nullable=False)
