"""The decision trail's rows (``services.trail_queries.DecisionTrail``: JSON-ready dicts with
exact decimal text): why each symbol got an order or none, and every risk rule's verdict."""

from __future__ import annotations

from collections.abc import Hashable

from PySide6.QtGui import QColor

from .base import CENTER, RIGHT, CoalescingTableModel, Column
from .orders import SIDE_COLOURS
from .risk import BLOCK_COLOUR, PASS_COLOUR

SKIP_COLOUR = QColor("#c98a1b")


def _action_colour(row: dict) -> QColor | None:
    action = row.get("action") or ""
    if action == "skip":
        return SKIP_COLOUR
    return SIDE_COLOURS.get(action.upper())


class OrderDecisionsModel(CoalescingTableModel[dict]):
    """One row per symbol: the order it got (or why none), target against current."""

    SEQUENCE, SYMBOL, ACTION, REASON = range(4)

    columns = (
        Column("#", lambda d: d.get("sequence"), align=RIGHT, width=40),
        Column("Symbol", lambda d: d.get("symbol")),
        Column("Action", lambda d: (d.get("action") or "").upper(), align=CENTER, foreground=_action_colour, width=70),
        Column("Reason", lambda d: d.get("reason"), tooltip=lambda d: d.get("message"), width=170),
        Column("Weight", lambda d: d.get("target_weight"), align=RIGHT),
        Column("Unrounded", lambda d: d.get("raw_quantity"), align=RIGHT,
               tooltip=lambda _d: "weight × budget / (price × rate), before rounding to lots"),
        Column("Target", lambda d: d.get("target_quantity"), align=RIGHT),
        Column("Current", lambda d: d.get("current_quantity"), align=RIGHT),
        Column("Delta", lambda d: d.get("delta"), align=RIGHT),
        Column("Rounding", lambda d: d.get("rounding"), align=RIGHT, tooltip=lambda d: d.get("rounding_mode")),
        Column("Price", lambda d: d.get("price"), align=RIGHT),
        Column("Why", lambda d: d.get("message"), tooltip=lambda d: d.get("message"), width=320),
    )

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
        Column("Measured", lambda r: r.get("measured"), align=RIGHT),
        Column("Limit", lambda r: r.get("limit_value"), align=RIGHT),
        Column("Verdict", lambda r: (r.get("verdict") or "").upper(), align=CENTER,
               foreground=lambda r: BLOCK_COLOUR if r.get("verdict") == "block" else PASS_COLOUR,
               tooltip=lambda r: r.get("message") or None),
        Column("Message", lambda r: r.get("message"), tooltip=lambda r: r.get("message") or None, width=320),
    )

    @staticmethod
    def key(record: dict) -> Hashable:
        return (record.get("scope"), record.get("sequence"), record.get("rule"), record.get("symbol"))
