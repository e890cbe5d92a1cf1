"""Transaction cost analysis rows (``services.backtest.tca.TcaReport.to_dict()["orders"]``: exact
decimal text): per order the plan's reference price, the fill, the implementation shortfall, and
the same day's backtest fill beside it. Prices show as the blotter and the fills show them
(two to four places, each column to its most precise price's: SharedPricePlaces), so one fill
reads the same in every panel; the CSV export keeps the record's exact text."""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal

from services.backtest.tca_text import commission_notes, order_state

from .base import (
    CENTER,
    RIGHT,
    CoalescingTableModel,
    Column,
    fmt_decimal,
    fmt_money,
    fmt_price,
    fmt_quantity,
    natural_key,
)
from .orders import SIDE_COLOURS
from .price_columns import SharedPricePlaces


def plain(text: str | None) -> str | None:
    """Exact decimal text without the database's trailing zeros (228.52000000 -> 228.52)."""
    if text is None:
        return None
    value = Decimal(text).normalize()
    return format(value, "f") if value else "0"


def decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def number_column(title: str, field: str, fmt, **options) -> Column:
    """A number of the record read as a Decimal (sorted as a number, not as its text), shown
    with ``fmt``, exported exactly."""
    return Column(title, lambda d: decimal(d.get(field)), align=RIGHT, fmt=fmt,
                  export=lambda d: plain(d.get(field)) or "", **options)


def price_column(title: str, field: str, **options) -> Column:
    """A price as every other panel shows prices; at least as wide as four places need (the
    columns are sized to the first rows, which may hold a partial fill's two-place price)."""
    return number_column(title, field, fmt_price, width=85, **options)


def bps(value: Decimal | None) -> str:
    """Basis points to the hundredth, grouped as the other panels' numbers."""
    return fmt_decimal(value, 2)


class TcaModel(SharedPricePlaces[dict], CoalescingTableModel[dict]):
    columns = (
        # a whole client order id ("TC6ETVQ4.1-12-B-GOOGL-9EAF5C"); its order numbers sort as numbers
        Column("Order", lambda d: d.get("client_order_id"), width=240,
               sort=lambda d: natural_key(d.get("client_order_id"))),
        Column("Symbol", lambda d: d.get("symbol")),
        Column("Side", lambda d: d.get("side"), align=CENTER, foreground=lambda d: SIDE_COLOURS.get(d.get("side") or ""),
               width=50),
        Column("Filled", lambda d: f"{fmt_quantity(decimal(d.get('filled')))} / {fmt_quantity(decimal(d.get('quantity')))}",
               align=RIGHT, width=90),
        # what became of every order: a filled one's blank read as a state not known, and an
        # unfilled one's blank fill is not a zero cost
        Column("State", order_state, tooltip=lambda _d: "the order's state: filled, or what became of what did not fill"),
        Column("Currency", lambda d: d.get("currency"), align=CENTER, width=60,
               tooltip=lambda _d: "the listing's: of its prices, shortfall and commission"),
        price_column("Reference", "reference_price", tooltip=lambda _d: "the plan's reference price"),
        price_column("Fill", "fill_price", tooltip=lambda _d: "the run's average fill price"),
        number_column("Shortfall bps", "shortfall_bps", bps,
                      tooltip=lambda _d: "(fill - reference) / reference, positive: a cost"),
        number_column("Shortfall", "shortfall", fmt_money,
                      tooltip=lambda _d: "in the listing's currency, for the filled quantity"),
        number_column("Commission", "commission", fmt_money,
                      tooltip=lambda d: "IB's commissions of the order's fills, not in the shortfall" + commission_notes(d)),
        # blank where the backtest would not have filled the order (its limit): the tooltip says why
        price_column("Backtest fill", "backtest_price",
                     tooltip=lambda d: d.get("backtest_not_filled")
                     or "the same day's backtest fill (the price cache's bar, after slippage)"),
        number_column("Backtest bps", "backtest_shortfall_bps", bps),
        number_column("Backtest shortfall", "backtest_shortfall", fmt_money),
    )

    #: Reference, Fill, Backtest fill: one number of places down each (229.5 sat above 229.125)
    PRICE_COLUMNS = tuple(i for i, c in enumerate(columns) if c.fmt is fmt_price)

    @staticmethod
    def key(record: dict) -> Hashable:
        return record.get("client_order_id")
