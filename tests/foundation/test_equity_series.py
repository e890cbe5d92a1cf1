"""The equity chart's series is one account's (services.console_queries.equity_history): a paper
and a live account in the same database, their snapshots interleaved, drew one zig-zag line in
the monitor (which asked for every account's rows), its P&L measured across both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal


def test_the_equity_series_never_mixes_two_accounts(database):
    from services import console_queries as queries
    from services.db.models import EquitySnapshot

    t0 = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    with database.unit_of_work() as session:
        for minute in range(6):
            account, equity = ("DU111111", 100_000 + 50 * minute) if minute % 2 == 0 else ("U2222222", 2_500_000 + 250 * minute)
            session.add(EquitySnapshot(time=t0 + timedelta(minutes=minute), account=account, cash=Decimal(0),
                                       equity=Decimal(equity)))
    newest = queries.equity_history(database)  # a monitor: the account of the newest snapshot
    assert [e for _, e in newest] == [Decimal(2_500_250), Decimal(2_500_750), Decimal(2_501_250)]
    paper = queries.equity_history(database, "DU111111")  # the trading window: its connected account
    assert [e for _, e in paper] == [Decimal(100_000), Decimal(100_100), Decimal(100_200)]
