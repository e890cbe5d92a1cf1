"""What a set of fills adds up to: bought and sold quantities and notionals, commissions, the
net cash they moved. Kept incrementally (``FillTally``: a fill added, removed or replaced by its
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

    @property
    def gross_notional(self) -> Decimal:
        return self.bought_notional + self.sold_notional

    @property
    def net_cash(self) -> Decimal:
        """Cash in (+) or out (-) from the fills, after commissions."""
        return self.sold_notional - self.bought_notional - self.commission


class FillTally:
    """``FillTotals`` kept as fills come and go: ``add(fill, 1)``, ``add(fill, -1)``, ``totals()``."""

    __slots__ = ("bought_notional", "bought_quantity", "commission", "count", "sold_notional", "sold_quantity")

    def __init__(self) -> None:
        self.count = 0
        self.bought_quantity = self.bought_notional = self.sold_quantity = self.sold_notional = self.commission = ZERO

    def add(self, fill: FillRecord, sign: int) -> None:
        if fill.superseded:  # a corrected revision no longer counts
            return
        notional = fill.quantity * fill.price
        self.count += sign
        if fill.side is Side.BUY:
            self.bought_quantity += sign * fill.quantity
            self.bought_notional += sign * notional
        else:
            self.sold_quantity += sign * fill.quantity
            self.sold_notional += sign * notional
        if fill.commission is not None:
            self.commission += sign * fill.commission

    def totals(self) -> FillTotals:
        return FillTotals(self.count, self.bought_quantity, self.bought_notional, self.sold_quantity, self.sold_notional,
                          self.commission)
