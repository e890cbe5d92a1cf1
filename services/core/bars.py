"""Daily (or intraday) price bars: the one value type the historical-price cache, the bar file
importer, the simulator's history and the backtest engine exchange. Pure: no database, no broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

# the broker's daily series the console caches and backtests on (IB's whatToShow), TRADES first:
# one list for the price cache, the commands and the window
WHAT_TO_SHOW = ("TRADES", "ADJUSTED_LAST", "MIDPOINT")
DEFAULT_WHAT_TO_SHOW = WHAT_TO_SHOW[0]


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of one listing. ``symbol`` is the listing key (a bare symbol for a US stock, as in
    ``services.core.contracts.ContractSpec.key``); prices and volume are Decimal."""

    day: date
    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
