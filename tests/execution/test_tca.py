"""Transaction cost analysis of a paper run against its plan and the same day's backtest fill
(the simulator over a real socket; the command as a real process)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from services.backtest.prices import PriceBook
from services.backtest.tca import run_tca
from services.core.bars import Bar
from services.domain import Side, TradeMode

from .cli_helpers import cli_args, run
from .conftest import make_snapshot

pytestmark = pytest.mark.timeout(120)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_tca_shows_each_orders_shortfall_and_the_backtest_fill_beside_it(stack, db_url):
    _, snapshot_id = make_snapshot(stack.db, "tca", {"AAPL": "0.02", "MSFT": "0.01"})
    created = await stack.service.create_run("tca", snapshot_id, TradeMode.PAPER, {})
    await stack.service.execute(created.id, portfolio_value=Decimal(100_000))
    assert await stack.service.wait_done(created.id, 10) == []
    await stack.writer.flush()
    view = await stack.service.view(created.id)
    day = view.run.trade_date
    bars = [Bar(day, "AAPL", Decimal(230), Decimal(231), Decimal(229), Decimal("230.50")),
            Bar(day, "MSFT", Decimal(410), Decimal(420), Decimal(409), Decimal("412.00")),
            Bar(day + timedelta(days=1), "AAPL", Decimal(1), Decimal(1), Decimal(1), Decimal(1))]
    report = run_tca(stack.db, created.id, PriceBook(bars))
    assert {line.symbol for line in report.lines} == {"AAPL", "MSFT"}
    for line in report.lines:
        order = next(o for o in view.orders if o.symbol == line.symbol)
        assert line.fill_price == order.avg_fill_price and line.filled == order.filled_quantity > 0
        assert line.reference_price is not None and line.side is Side.BUY
        expected = ((line.fill_price - line.reference_price) / line.reference_price * 10_000).quantize(Decimal("0.01"))
        assert line.shortfall_bps == expected
        assert line.shortfall == (line.fill_price - line.reference_price) * line.filled
        assert line.backtest_price == {"AAPL": Decimal("230.50"), "MSFT": Decimal("412.00")}[line.symbol]
    assert report.shortfall == sum(line.shortfall for line in report.lines)

    result = await run(cli_args(db_url, 0, "tca", "--run", str(created.id), "--json", connection=False))
    assert result.code == 0, result.err
    assert result.json["run_id"] == created.id and len(result.json["orders"]) == 2
    assert result.json["totals"]["shortfall"] == str(report.shortfall)
    missing = await run(cli_args(db_url, 0, "tca", "--run", "999999", connection=False))
    assert missing.code == 2 and "run 999999 does not exist" in missing.err
