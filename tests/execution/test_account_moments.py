"""The account panel's two groups of figures come from IB at different moments: the summary's
values (reqAccountUpdates) after fills and on IB's own clock, the P&L (reqPnL) as prices move.
One "as of" over both made net liquidation minus the day's start disagree with the P&L beside
it with nothing to say why; each group now carries the moment IB pushed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from ib_async import MarketOrder, Stock

from services.execution.account import AccountService, AccountSummary
from services.execution.ib_provider import IbExecutionProvider
from tests.fixtures.ib import wait_for

pytestmark = pytest.mark.timeout(30)


async def test_a_price_move_renews_the_pnl_moment_and_leaves_the_summary_s(simulator, ib_client):
    simulator.set_price("AAPL", "100")
    trader = await ib_client(client_id=1)
    [aapl] = await trader.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    provider = IbExecutionProvider(port=simulator.port, client_id=9, connect_timeout=5)
    await provider.connect()
    service = AccountService(provider)
    try:
        async def answered() -> bool:  # both subscriptions asked and answered once
            figures = await service.summary()
            return figures.summary_time is not None and figures.daily_pnl is not None

        await wait_for(answered, 10, "the account's values and its first P&L")
        trade = trader.placeOrder(aapl, MarketOrder("BUY", 100))  # fills at 100.02, commission 1

        async def fill_pushed() -> bool:
            figures = await service.summary()
            return trade.isDone() and figures.daily_pnl == Decimal(-3) and figures.net_liquidation == Decimal(999_997)

        await wait_for(fill_pushed, 10, "the fill in the values and the P&L")
        after_fill = await service.summary()
        assert after_fill.summary_time is not None and after_fill.pnl_time is not None

        simulator.set_price("AAPL", "101")  # a price move: IB pushes the P&L, not the account's values

        async def pnl_moved() -> bool:
            return (await service.summary()).daily_pnl == Decimal(97)

        await wait_for(pnl_moved, 10, "the P&L after the price move")
        now = await service.summary()
        assert now.pnl_time > after_fill.pnl_time
        assert now.summary_time == after_fill.summary_time  # still the values of the fill, and said so
        assert now.net_liquidation == after_fill.net_liquidation == Decimal(999_997)
        assert now.as_of() == f"summary as of {now.summary_time:%H:%M:%S} · P&L as of {now.pnl_time:%H:%M:%S} UTC"
    finally:
        await provider.disconnect()


def test_each_group_says_its_own_moment_or_that_ib_has_not_pushed_it():
    fill = datetime(2026, 12, 1, 14, 3, 12, 900_000, tzinfo=UTC)
    tick = datetime(2026, 12, 1, 16, 3, 40, tzinfo=timezone(timedelta(hours=1)))  # said in UTC
    figures = AccountSummary("DU1", "USD", {}, summary_time=fill, pnl_time=tick)
    assert figures.as_of() == "summary as of 14:03:12 · P&L as of 15:03:40 UTC"
    assert AccountSummary("DU1", "USD", {}, summary_time=fill).as_of() == "summary as of 14:03:12 UTC · P&L not yet received"
    assert AccountSummary("DU1", "USD", {}, pnl_time=tick).as_of() == "summary not yet received · P&L as of 15:03:40 UTC"
    # never the time of asking: a figure without a moment says so
    assert AccountSummary("DU1", "USD", {}).as_of() == "summary not yet received · P&L not yet received"
