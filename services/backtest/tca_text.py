"""A run's transaction cost analysis (``services.backtest.tca.TcaReport.to_dict()``) in words:
one line per order and the run's totals, its numbers as every panel shows numbers
(services.core.wording). The window's TCA view and the ``tca`` command say them alike; free of
Qt and of the database, so the view can."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from services.core.wording import counted, grouped, money
from services.core.wording import price as price_text

from .costs import FillAt


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def order_text(line: Mapping[str, Any]) -> str:
    """One order of ``TcaReport.to_dict()["orders"]`` in a line, its numbers as the window's TCA
    table shows them (services.core.wording: quantities as they are, prices at two to four
    places, money to the cent): ``BUY  44/44 AAPL: reference 228.93, fill 229.34, shortfall
    17.91 bps (18.04)``."""
    fill, bps, cost = _number(line["fill_price"]), _number(line["shortfall_bps"]), _number(line["shortfall"])
    if fill is None:
        measured = "not filled"
    elif cost is None:
        measured = f"fill {price_text(fill)}, no reference price to measure it against"
    else:
        measured = f"fill {price_text(fill)}, shortfall {grouped(bps, 2)} bps ({money(cost)})"
    backtest, backtest_bps = _number(line["backtest_price"]), _number(line["backtest_shortfall_bps"])
    return (f"{line['side']:4} {grouped(_number(line['filled']))}/{grouped(_number(line['quantity']))} {line['symbol']}: "
            f"reference {price_text(_number(line['reference_price'])) or 'none'}, {measured}"
            + (f", backtest {price_text(backtest)} ({grouped(backtest_bps, 2)} bps)" if backtest is not None and backtest_bps is not None else ""))


def totals_text(report: Mapping[str, Any], fill: FillAt | str, bars: str = "the price cache") -> str:
    """The run's totals (``TcaReport.to_dict()``) in a line, the window's TCA view's and ``tca``'s
    alike: its shortfall, and the backtest's on the orders both priced, or what the backtest
    waits for (``bars``: where its bars come from: the price cache, or the file given)."""
    totals = report["totals"]
    text = f"shortfall {money(_number(totals['shortfall']))}"
    if totals.get("shortfall_bps") is not None:
        text += f" ({grouped(_number(totals['shortfall_bps']), 2)} bps)"
    if totals.get("backtest_shortfall") is not None:  # beside the run's shortfall on the same orders, not the whole run's
        orders, left_out = totals["orders_compared"], totals["orders_without_bar"]
        text += (f" · on the {counted(orders, 'order')} with a bar: run {money(_number(totals['compared_shortfall']))}"
                 f" · backtest {money(_number(totals['backtest_shortfall']))}")
        if left_out:
            text += f" ({counted(left_out, 'filled order')} without a bar left out)"
    else:  # said with what it waits for: a paper run's backtest is known once its day's bar is
        wanted = report["trade_date"] if str(fill) == str(FillAt.CLOSE) else f"the session after {report['trade_date']}"
        text += f" · backtest: {bars} has no bar for {wanted}" + (
            " yet (bars download, after the close)" if bars == "the price cache" else "")
    return text
