"""The watchlist's quotes: one row per watched listing, every tick coalesced (the base model's
buffer keeps only the newest quote per listing until the next flush)."""

from __future__ import annotations

from collections.abc import Hashable
from decimal import Decimal

from PySide6.QtGui import QColor

from services.domain import Quote

from .base import CENTER, RIGHT, CoalescingTableModel, Column, fmt_price, fmt_quantity
from .positions import pnl_colour
from .price_columns import SharedPricePlaces

# How the data arrives: live is plain, anything else is marked (a trader must see delayed data)
KIND_LABELS = {"live": "live", "frozen": "frozen", "delayed": "delayed", "delayed_frozen": "delayed frozen", "": "no data"}
KIND_COLOURS = {"frozen": QColor("#4a90d9"), "delayed": QColor("#d4a017"), "delayed_frozen": QColor("#d4a017"),
                "": QColor("#8a8f98")}
REFUSED = "refused"  # the listing's stream was refused (no market data line left): the tooltip says why
REFUSED_COLOUR = QColor("#d9534f")


def data_shown(quote: Quote) -> str:
    """The Data column's value: how the prices arrive, or that none can."""
    if quote.refused:
        return quote.refused_word or REFUSED  # "refused", "not subscribed", "no such listing", ...
    return quote.kind if quote.time is not None or quote.bid or quote.last else ""


def fmt_change(value: Decimal | None) -> str:
    return "" if value is None else f"{value:+,.2f}"


def fmt_change_pct(value: Decimal | None) -> str:
    return "" if value is None else f"{value:+.2f} %"


class QuotesModel(SharedPricePlaces[Quote], CoalescingTableModel[Quote]):
    SYMBOL, BID, ASK, LAST, CHANGE, CHANGE_PCT, VOLUME, DATA = range(8)
    #: One number of places down each (SharedPricePlaces), kept per tick without a scan.
    PRICE_COLUMNS = (BID, ASK, LAST)

    columns = (
        Column("Symbol", lambda q: q.key, mutable=False, width=68),
        Column("Bid", lambda q: q.bid, align=RIGHT, fmt=fmt_price, width=62),
        Column("Ask", lambda q: q.ask, align=RIGHT, fmt=fmt_price, width=62),
        Column("Last", lambda q: q.last, align=RIGHT, fmt=fmt_price, width=62),
        Column("Change", lambda q: q.change, align=RIGHT, fmt=fmt_change, foreground=lambda q: pnl_colour(q.change), width=68),  # its title whole ("hange" at 56 px)
        Column("%", lambda q: q.change_pct, align=RIGHT, fmt=fmt_change_pct, foreground=lambda q: pnl_colour(q.change), width=62),
        Column("Volume", lambda q: q.volume, align=RIGHT, fmt=fmt_quantity, width=84),
        Column("Data", data_shown, align=CENTER, fmt=lambda kind: KIND_LABELS.get(kind, kind),
               foreground=lambda q: REFUSED_COLOUR if q.refused else KIND_COLOURS.get(q.kind),
               tooltip=lambda q: q.refused, width=56),
    )

    @staticmethod
    def key(record: Quote) -> Hashable:
        return record.key

    def remove(self, key: str) -> None:
        """Drop a listing (and anything still buffered for it)."""
        self.flush()
        self.reset([q for q in self.records() if q.key != key])
