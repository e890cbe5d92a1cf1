"""Transaction cost analysis rows (``services.backtest.tca.TcaReport.to_dict()["orders"]``: exact
decimal text): per order the plan's reference price, the fill, the implementation shortfall, and
the same day's backtest fill beside it."""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal

from .base import CENTER, RIGHT, CoalescingTableModel, Column
from .orders import SIDE_COLOURS


def plain(text: str | None) -> str | None:
    """Exact decimal text without the database's trailing zeros (228.52000000 -> 228.52)."""
    if text is None:
        return None
    value = Decimal(text).normalize()
    return format(value, "f") if value else "0"


def money(text: str | None) -> str | None:
    """A currency amount to the cent for reading (the record keeps it exact)."""
    return None if text is None else f"{Decimal(text):,.2f}"


class TcaModel(CoalescingTableModel[dict]):
    columns = (
        Column("Order", lambda d: d.get("client_order_id"), width=150),
        Column("Symbol", lambda d: d.get("symbol")),
        Column("Side", lambda d: d.get("side"), align=CENTER, foreground=lambda d: SIDE_COLOURS.get(d.get("side") or ""),
               width=50),
        Column("Filled", lambda d: f"{plain(d.get('filled'))} / {plain(d.get('quantity'))}", align=RIGHT, width=90),
        Column("Reference", lambda d: plain(d.get("reference_price")), align=RIGHT,
               tooltip=lambda _d: "the plan's reference price"),
        Column("Fill", lambda d: plain(d.get("fill_price")), align=RIGHT, tooltip=lambda _d: "the run's average fill price"),
        Column("Shortfall bps", lambda d: d.get("shortfall_bps"), align=RIGHT,
               tooltip=lambda _d: "(fill - reference) / reference, positive: a cost"),
        Column("Shortfall", lambda d: money(d.get("shortfall")), align=RIGHT,
               tooltip=lambda _d: "in the listing's currency, for the filled quantity"),
        Column("Backtest fill", lambda d: plain(d.get("backtest_price")), align=RIGHT,
               tooltip=lambda _d: "the same day's backtest fill (the price cache's bar, after slippage)"),
        Column("Backtest bps", lambda d: d.get("backtest_shortfall_bps"), align=RIGHT),
        Column("Backtest shortfall", lambda d: money(d.get("backtest_shortfall")), align=RIGHT),
    )

    @staticmethod
    def key(record: dict) -> Hashable:
        return record.get("client_order_id")
