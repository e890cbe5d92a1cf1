"""IB Pro commissions for US stocks, exact in ``Decimal``.

Numbers from docs/ib-notes.md (IBKR Pro, US stocks):

* Fixed: USD 0.005 per share, minimum USD 1.00 per order, maximum 1 % of trade value.
  Exchange and regulatory fees are included in the fixed rate.
* Tiered: per-share rate by the month's volume so far (<= 300,000 shares: 0.0035;
  <= 3,000,000: 0.0020; <= 20,000,000: 0.0015; <= 100,000,000: 0.0010; above: 0.0005),
  minimum USD 0.35 and maximum 1 % of trade value on IB's own part, PLUS pass-through fees
  that are not capped: clearing (0.0002/share), exchange fees and regulatory fees.

When 1 % of the trade value is below the minimum, IB charges the 1 % (IB: "in the event the
calculated maximum per order is less than the minimum per order, the maximum per order will be
assessed"), so the order of the clamps is ``min(max(raw, minimum), cap)``.

Pass-through fee model of ``TieredCommission`` (documented, each a parameter):

* exchange fee: a flat per-share rate, default 0.0030 (what the main US venues charge for
  removing liquidity; marketable orders and MKT orders remove). Set it to 0 for a maker model.
* regulatory fees, on sales only (needs ``side=Side.SELL``): SEC section 31 fee as a rate on the
  sale value (default 0.0000278, i.e. USD 27.80 per million) and the FINRA trading activity
  fee per share sold (default 0.000166, capped at USD 8.30 per trade).

Amounts are exact products of the inputs; nothing is rounded (IB reports commissions with more
than two decimals too). ``quantity`` may be signed; its magnitude is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from services.domain import Side

ZERO = Decimal(0)


@runtime_checkable
class CommissionModel(Protocol):
    def commission(
        self, quantity: Decimal, price: Decimal, *, monthly_volume: Decimal = ZERO, side: Side | None = None
    ) -> Decimal:
        """Total charge for one order (one execution, for the simulator) in USD."""


@dataclass(frozen=True, slots=True)
class CommissionBreakdown:
    commission: Decimal  # IB's own part, after minimum and cap
    clearing: Decimal
    exchange: Decimal
    regulatory: Decimal

    @property
    def total(self) -> Decimal:
        return self.commission + self.clearing + self.exchange + self.regulatory


def _clamp(raw: Decimal, minimum: Decimal, cap: Decimal) -> Decimal:
    return min(max(raw, minimum), cap)


@dataclass(frozen=True, slots=True)
class FixedCommission:
    per_share: Decimal = Decimal("0.005")
    minimum: Decimal = Decimal("1.00")
    max_ratio: Decimal = Decimal("0.01")

    def breakdown(
        self, quantity: Decimal, price: Decimal, *, monthly_volume: Decimal = ZERO, side: Side | None = None
    ) -> CommissionBreakdown:
        shares = abs(Decimal(quantity))
        if shares == 0:
            return CommissionBreakdown(ZERO, ZERO, ZERO, ZERO)
        value = shares * Decimal(price)
        commission = _clamp(shares * self.per_share, self.minimum, value * self.max_ratio)
        return CommissionBreakdown(commission, ZERO, ZERO, ZERO)

    def commission(
        self, quantity: Decimal, price: Decimal, *, monthly_volume: Decimal = ZERO, side: Side | None = None
    ) -> Decimal:
        return self.breakdown(quantity, price, monthly_volume=monthly_volume, side=side).total


# (upper bound of monthly shares inclusive, rate per share); the last bound is open.
DEFAULT_TIERS: tuple[tuple[Decimal | None, Decimal], ...] = (
    (Decimal(300_000), Decimal("0.0035")),
    (Decimal(3_000_000), Decimal("0.0020")),
    (Decimal(20_000_000), Decimal("0.0015")),
    (Decimal(100_000_000), Decimal("0.0010")),
    (None, Decimal("0.0005")),
)


@dataclass(frozen=True, slots=True)
class TieredCommission:
    tiers: tuple[tuple[Decimal | None, Decimal], ...] = DEFAULT_TIERS
    minimum: Decimal = Decimal("0.35")
    max_ratio: Decimal = Decimal("0.01")
    clearing_per_share: Decimal = Decimal("0.0002")
    exchange_per_share: Decimal = Decimal("0.0030")
    sec_fee_rate: Decimal = Decimal("0.0000278")
    finra_taf_per_share: Decimal = Decimal("0.000166")
    finra_taf_max: Decimal = Decimal("8.30")

    def rate(self, monthly_volume: Decimal = ZERO) -> Decimal:
        """Per-share rate of the tier the month's volume so far falls into."""
        volume = Decimal(monthly_volume)
        for bound, rate in self.tiers:
            if bound is None or volume <= bound:
                return rate
        return self.tiers[-1][1]

    def breakdown(
        self, quantity: Decimal, price: Decimal, *, monthly_volume: Decimal = ZERO, side: Side | None = None
    ) -> CommissionBreakdown:
        shares = abs(Decimal(quantity))
        if shares == 0:
            return CommissionBreakdown(ZERO, ZERO, ZERO, ZERO)
        value = shares * Decimal(price)
        commission = _clamp(shares * self.rate(monthly_volume), self.minimum, value * self.max_ratio)
        regulatory = ZERO
        if side is Side.SELL:
            regulatory = value * self.sec_fee_rate + min(shares * self.finra_taf_per_share, self.finra_taf_max)
        return CommissionBreakdown(
            commission=commission,
            clearing=shares * self.clearing_per_share,
            exchange=shares * self.exchange_per_share,
            regulatory=regulatory,
        )

    def commission(
        self, quantity: Decimal, price: Decimal, *, monthly_volume: Decimal = ZERO, side: Side | None = None
    ) -> Decimal:
        return self.breakdown(quantity, price, monthly_volume=monthly_volume, side=side).total
