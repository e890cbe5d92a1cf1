"""Which rows are the broker's (paper or live) and which a backtest's: one predicate for every
query that must never mix them (services.domain.BACKTEST_ACCOUNT_PREFIX)."""

from __future__ import annotations

from sqlalchemy import or_

from services.domain import BACKTEST_ACCOUNT_PREFIX


def not_backtest(account_column):
    """Rows of a real account (or of none): a backtest's orders, fills and positions carry a
    ``BACKTEST-`` account."""
    return or_(account_column.is_(None), ~account_column.startswith(BACKTEST_ACCOUNT_PREFIX, autoescape=True))


def of_backtest(account_column):
    return account_column.startswith(BACKTEST_ACCOUNT_PREFIX, autoescape=True)
