"""The account panel's figures: the account summary and the day's P&L, from the broker.

Qt-free: the window asks ``summary()`` every few seconds while connected (the provider keeps
IB's pushed account values, so asking costs no request; the P&L is one ``reqPnL`` per
connection). Amounts are in the account's base currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from .errors import NotConnected

# tag -> what the panel calls it, in the order shown (IB's account value tags)
SUMMARY_TAGS: tuple[tuple[str, str], ...] = (
    ("NetLiquidation", "Net liquidation"),
    ("TotalCashValue", "Cash"),
    ("BuyingPower", "Buying power"),
    ("AvailableFunds", "Available funds"),
    ("InitMarginReq", "Initial margin"),
    ("MaintMarginReq", "Maintenance margin"),
    ("GrossPositionValue", "Gross position value"),
)

# The P&L rows are IB's own figures, not the console's: their tooltips say what each holds and why
# the Positions panel's sums (the console's book at its marks) can differ by a few moments' prices
PNL_NOTES: dict[str, str] = {
    "Daily P&L": "IB's figure (reqPnL): the change of the account's value since IB's trading day began, commissions included.",
    "Unrealized P&L": ("IB's figure (reqPnL): every holding at IB's market price now, less its average cost with "
                       "commissions, as IB pushes it (read every 5 s). The Positions panel values the same holdings at "
                       "the marks it asks every 15 s and after fills: between marks the two differ by what the prices moved."),
    "Realized P&L": "IB's figure (reqPnL): what today's closing fills realized, net of their commissions.",
}


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account: str
    currency: str  # the base currency the amounts are in
    values: dict[str, Decimal]  # IB tag -> amount (only the tags IB reported)
    daily_pnl: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None
    time: datetime | None = None

    @property
    def net_liquidation(self) -> Decimal | None:
        return self.values.get("NetLiquidation")

    def as_of(self) -> str:
        """When the figures were read, ``14:03:05 UTC`` (the panel's "as of"; without a time of
        their own, now)."""
        return (self.time or datetime.now(UTC)).astimezone(UTC).strftime("%H:%M:%S UTC")

    def rows(self) -> list[tuple[str, Decimal | None]]:
        """(label, amount) in the panel's order; a tag IB did not report is None."""
        rows = [(label, self.values.get(tag)) for tag, label in SUMMARY_TAGS]
        rows += [("Daily P&L", self.daily_pnl), ("Unrealized P&L", self.unrealized_pnl), ("Realized P&L", self.realized_pnl)]
        return rows

    @staticmethod
    def notes() -> dict[str, str]:
        """label -> what the row holds, for the rows that need saying (``PNL_NOTES``)."""
        return dict(PNL_NOTES)


def _amount(text: str) -> Decimal | None:
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


class AccountService:
    def __init__(self, provider) -> None:
        self.provider = provider

    @property
    def available(self) -> bool:
        return hasattr(self.provider, "account_values")

    async def summary(self) -> AccountSummary:
        """The account's figures now (``NotConnected`` while not connected)."""
        if not self.provider.is_connected:
            raise NotConnected("not connected: no account figures")
        values = await self.provider.account_values()
        base = next((cur for (tag, cur) in values if tag == "NetLiquidation" and cur not in ("", "BASE")), "USD")
        amounts: dict[str, Decimal] = {}
        for tag, _label in SUMMARY_TAGS:
            text = values.get((tag, base))
            amount = None if text is None else _amount(text)
            if amount is not None:
                amounts[tag] = amount
        daily, unrealized, realized = await self.provider.daily_pnl()
        return AccountSummary(self.provider.account, base, amounts, daily, unrealized, realized, datetime.now(UTC))
