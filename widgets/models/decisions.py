"""The decision trail's rows (``services.trail_queries.DecisionTrail``: JSON-ready dicts with
exact decimal text): why each symbol got an order or none, and every risk rule's verdict.

Numbers read as the preview and the risk panel show the same ones (a weight "10.00%", a quantity
"1,000", a price "228.50", a position ratio "21.06%"), so that a trader reading both panels sees
one number one way; the exact stored text stays on the cell's tooltip (and in the model's CSV
rows), the record's in ``trail --json``."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from decimal import Decimal
from typing import Any

from PySide6.QtGui import QColor

from services.core.risk_measures import is_block, trail_figure
from services.core.wording import percent

from .base import CENTER, RIGHT, CoalescingTableModel, Column, fmt_price, fmt_quantity
from .orders import SIDE_COLOURS
from .price_columns import SharedPricePlaces
from .risk import BLOCK_COLOUR, PASS_COLOUR

SKIP_COLOUR = QColor("#c98a1b")


def _action_colour(row: dict) -> QColor | None:
    action = row.get("action") or ""
    if action == "skip":
        return SKIP_COLOUR
    return SIDE_COLOURS.get(action.upper())


def _number(name: str) -> Callable[[dict], Decimal | None]:
    """The row's exact text of ``name`` as a Decimal: the formatter's input, a numeric sort key
    and the exact CSV text."""
    return lambda row: None if row.get(name) is None else Decimal(row[name])


def _exact(name: str, label: str) -> Callable[[dict], str | None]:
    """The tooltip with the stored value, where the shown text is rounded (an auditor's figure)."""
    return lambda row: None if row.get(name) is None else f"{label} {row[name]} exactly"


def _figure(name: str) -> Callable[[dict], Any]:
    # one wording: the trail command's too
    return lambda row: trail_figure(row, name)


def _figure_exact(name: str, label: str) -> Callable[[dict], str | None]:
    """The stored value on the tooltip of a figure shown otherwise (a ratio as a percent)."""
    exact, shown = _exact(name, label), _figure(name)
    return lambda row: exact(row) if shown(row) != row.get(name) else None


def _raw(name: str) -> Callable[[dict], str]:
    return lambda row: row.get(name) or ""


class OrderDecisionsModel(SharedPricePlaces[dict], CoalescingTableModel[dict]):
    """One row per symbol: the order it got (or why none), target against current."""

    SEQUENCE, SYMBOL, ACTION, REASON = range(4)

    columns = (
        Column("#", lambda d: d.get("sequence"), align=RIGHT, width=40),
        Column("Symbol", lambda d: d.get("symbol")),
        Column("Action", lambda d: (d.get("action") or "").upper(), align=CENTER, foreground=_action_colour, width=70),
        Column("Reason", lambda d: d.get("reason"), tooltip=lambda d: d.get("message"), width=170),
        Column("Weight", _number("target_weight"), align=RIGHT, fmt=percent, tooltip=_exact("target_weight", "weight")),
        Column("Unrounded", _number("raw_quantity"), align=RIGHT, fmt=fmt_quantity,
               tooltip=lambda _d: "weight × budget / (price × rate), before rounding to lots"),
        Column("Target", _number("target_quantity"), align=RIGHT, fmt=fmt_quantity),
        Column("Current", _number("current_quantity"), align=RIGHT, fmt=fmt_quantity),
        Column("Delta", _number("delta"), align=RIGHT, fmt=fmt_quantity),
        Column("Rounding", _number("rounding"), align=RIGHT, fmt=fmt_quantity, tooltip=lambda d: d.get("rounding_mode")),
        Column("Price", _number("price"), align=RIGHT, fmt=fmt_price, tooltip=_exact("price", "price")),
        Column("Why", lambda d: d.get("message"), tooltip=lambda d: d.get("message"), width=320),
    )
    #: Price: one number of places down the column (SharedPricePlaces)
    PRICE_COLUMNS = tuple(i for i, c in enumerate(columns) if c.fmt is fmt_price)

    @staticmethod
    def key(record: dict) -> Hashable:
        return record.get("symbol")


class RuleVerdictsModel(CoalescingTableModel[dict]):
    """Every rule's answer: per order (with its sequence) and for the account."""

    SCOPE, SEQUENCE, SYMBOL, RULE, MEASURED, LIMIT, VERDICT = range(7)

    columns = (
        Column("Scope", lambda r: r.get("scope"), width=70),
        Column("#", lambda r: r.get("sequence"), align=RIGHT, width=40),
        Column("Symbol", lambda r: r.get("symbol")),
        Column("Rule", lambda r: r.get("rule"), width=160),
        Column("Measured", _figure("measured"), align=RIGHT, tooltip=_figure_exact("measured", "measured"), export=_raw("measured")),
        Column("Limit", _figure("limit_value"), align=RIGHT, tooltip=_figure_exact("limit_value", "limit"), export=_raw("limit_value")),
        Column("Verdict", lambda r: (r.get("verdict") or "").upper(), align=CENTER,
               foreground=lambda r: BLOCK_COLOUR if is_block(r) else PASS_COLOUR,
               tooltip=lambda r: r.get("message") or None),
        Column("Message", lambda r: r.get("message"), tooltip=lambda r: r.get("message") or None, width=320),
    )

    @staticmethod
    def key(record: dict) -> Hashable:
        return (record.get("scope"), record.get("sequence"), record.get("rule"), record.get("symbol"))
