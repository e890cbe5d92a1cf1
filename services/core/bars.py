"""Daily (or intraday) price bars: the one value type the historical-price cache, the bar file
importer, the simulator's history and the backtest engine exchange. Pure: no database, no broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


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
