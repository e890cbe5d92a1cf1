"""Market marks for the held positions, so the positions panel can show unrealized P&L (Qt-free).

Which symbols are marked is decided from the positions the database holds, not from a table's
rows; market data shares IB's message budget, hence the cap on symbols per refresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal

from services.domain import PositionRecord

MAX_MARKED_SYMBOLS = 40


class PositionMarks:
    def __init__(self, max_symbols: int = MAX_MARKED_SYMBOLS) -> None:
        self.max_symbols = max_symbols
        self._marks: dict[str, Decimal] = {}  # last market price per held symbol

    def symbols_to_mark(self, positions: Iterable[PositionRecord]) -> list[str]:
        return sorted({p.symbol for p in positions if p.quantity})[: self.max_symbols]

    def apply(self, positions: Iterable[PositionRecord]) -> list[PositionRecord]:
        """The positions with the last known market price of their symbol."""
        return [p if p.symbol not in self._marks else replace(p, market_price=self._marks[p.symbol])
                for p in positions]

    async def refresh(self, provider, positions: Iterable[PositionRecord]) -> list[PositionRecord]:
        """Ask the broker for the held symbols' prices; returns the held positions, marked."""
        held = [p for p in positions if p.quantity]
        symbols = self.symbols_to_mark(held)
        if not symbols:
            return []
        prices = await provider.market_prices(symbols)
        self._marks.update({s: p for s, p in prices.items() if p is not None})
        return self.apply(held)
