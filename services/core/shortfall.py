"""Implementation shortfall: what fills cost against the price their order was planned at.
One rule for the run's progress (services.run_progress: the fill-prices chart's slippage) and
for transaction cost analysis (services.backtest.tca: the ``tca`` command and the TCA view), so
the two never disagree. Positive is a cost: a buy above its reference, a sell below it."""

from __future__ import annotations

from decimal import Decimal

from services.domain import Side

BPS = Decimal(10_000)


def shortfall(side: Side, price: Decimal, reference: Decimal, quantity: Decimal) -> Decimal:
    """The cost of ``quantity`` filled at ``price`` against ``reference``, in the listing's currency."""
    return Side(side).sign * (price - reference) * quantity


def shortfall_bps(cost: Decimal, reference_notional: Decimal) -> Decimal | None:
    """``cost`` in basis points of the reference notional it was measured on (None: nothing to measure)."""
    return cost / reference_notional * BPS if reference_notional else None
