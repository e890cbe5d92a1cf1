"""The account panel's figures: the account summary and the day's P&L, from the broker.

Qt-free: the window asks ``summary()`` every few seconds while connected (the provider keeps
IB's pushed account values, so asking costs no request; the P&L is one ``reqPnL`` per
connection). Amounts are in the account's base currency.

The two groups are pushed at different moments: the summary's values after fills and on IB's
own clock (every 3 minutes), the P&L as prices move. Each carries its own time, and the panel
says both: under one "as of" a net liquidation of the last fill beside a P&L of the last tick
did not add up, and nothing said which figure was older.
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
    summary_time: datetime | None = None  # when IB last pushed the account's values (None: not yet)
    pnl_time: datetime | None = None  # when IB last pushed the reqPnL figures (None: not yet)

    @property
    def net_liquidation(self) -> Decimal | None:
        return self.values.get("NetLiquidation")

    def as_of(self) -> str:
        """Each group's own moment, in UTC: ``summary as of 14:03:12 · P&L as of 14:03:40 UTC``;
        a group IB has not pushed yet says so (``P&L not yet received``), never the time of asking."""
        moments = [("summary", self.summary_time), ("P&L", self.pnl_time)]
        last_timed = max((i for i, (_group, time) in enumerate(moments) if time is not None), default=None)
        return " · ".join(f"{group} not yet received" if time is None
                          else f"{group} as of {time.astimezone(UTC):%H:%M:%S}" + (" UTC" if i == last_timed else "")
                          for i, (group, time) in enumerate(moments))

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
        return AccountSummary(self.provider.account, base, amounts, daily, unrealized, realized,
                              summary_time=self.provider.account_values_time(), pnl_time=self.provider.pnl_time())
