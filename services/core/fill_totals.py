"""What a set of fills adds up to: bought and sold quantities and notionals, commissions, the
net cash they moved, per currency. Kept incrementally (``FillTally``: a fill added, removed or replaced by its
correction), so a stream of thousands never sums again from the start. Pure: the fills panel's
totals line reads it; a superseded revision (corrected by a later one) counts for nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.domain import FillRecord, Side

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FillTotals:
    count: int = 0
    bought_quantity: Decimal = ZERO
    bought_notional: Decimal = ZERO
    sold_quantity: Decimal = ZERO
    sold_notional: Decimal = ZERO
    commission: Decimal = ZERO
    currency: str = "USD"  # the fills' (prices and commissions in it)

    @property
    def gross_notional(self) -> Decimal:
        return self.bought_notional + self.sold_notional

    @property
    def net_cash(self) -> Decimal:
        """Cash in (+) or out (-) from the fills, after commissions."""
        return self.sold_notional - self.bought_notional - self.commission


class FillTally:
    """``FillTotals`` per currency kept as fills come and go: ``add(fill, 1)``, ``add(fill, -1)``,
    ``totals()``. A fill's price and commission are in its listing's currency (docs/currencies.md),
    so fills of a EUR listing and of a USD one are never added at face value: each currency has
    its own sums."""

    __slots__ = ("_sums",)

    def __init__(self) -> None:
        self._sums: dict[str, list] = {}  # currency -> [count, bought q, bought n, sold q, sold n, commission]

    def add(self, fill: FillRecord, sign: int) -> None:
        if fill.superseded:  # a corrected revision no longer counts
            return
        sums = self._sums.get(fill.currency)
        if sums is None:
            sums = self._sums[fill.currency] = [0, ZERO, ZERO, ZERO, ZERO, ZERO]
        sums[0] += sign
        side = 1 if fill.side is Side.BUY else 3
        sums[side] += sign * fill.quantity
        sums[side + 1] += sign * fill.quantity * fill.price
        if fill.commission is not None:
            sums[5] += sign * fill.commission
        if sums[0] == 0:  # every fill of this currency gone again (removed or superseded)
            del self._sums[fill.currency]

    def totals(self) -> tuple[FillTotals, ...]:
        """One ``FillTotals`` per currency that has fills, in the currencies' alphabetical order."""
        return tuple(FillTotals(s[0], s[1], s[2], s[3], s[4], s[5], currency) for currency, s in sorted(self._sums.items()))

    @property
    def count(self) -> int:
        return sum(sums[0] for sums in self._sums.values())
