"""The risk engine's per-order results (``services.core.risk.RiskReport.orders``: each an
``OrderRisk`` with the draft and the blocking ``RuleResult``s)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from PySide6.QtGui import QColor

from .base import CENTER, RIGHT, CoalescingTableModel, Column, fmt_money, fmt_quantity
from .orders import SIDE_COLOURS

PASS_COLOUR = QColor("#2e9d55")
BLOCK_COLOUR = QColor("#d64545")


def _blocks(result: Any) -> tuple:
    return tuple(getattr(result, "blocks", ()) or ())


def result_text(result: Any) -> str:
    return "BLOCK" if _blocks(result) else "PASS"


def reasons_text(result: Any) -> str:
    """Each block in its rule's words, its code after them, as `preview` prints it: the code
    alone ("max_order_notional") said nothing a trader could act on without the tooltip (a
    trader's walk), while the ticket's check wrote the whole sentence."""
    return "; ".join(b.said for b in _blocks(result))  # services.core.risk_base.block_said


def reasons_tooltip(result: Any) -> str | None:
    blocks = _blocks(result)
    if not blocks:
        return None
    return "\n".join(b.said for b in blocks)


class RiskResultsModel(CoalescingTableModel[Any]):
    SYMBOL, SIDE, QUANTITY, NOTIONAL, RESULT, REASONS = range(6)

    columns = (
        Column("Symbol", lambda r: r.order.symbol),
        Column("Side", lambda r: r.order.side, align=CENTER,
               foreground=lambda r: SIDE_COLOURS.get(str(r.order.side))),
        Column("Quantity", lambda r: r.order.quantity, align=RIGHT, fmt=fmt_quantity),
        Column("Notional", lambda r: r.order.notional, align=RIGHT, fmt=fmt_money),
        Column("Result", result_text, align=CENTER,
               foreground=lambda r: BLOCK_COLOUR if _blocks(r) else PASS_COLOUR, tooltip=reasons_tooltip),
        Column("Reasons", reasons_text, tooltip=reasons_tooltip, width=360),
    )

    @staticmethod
    def key(record: Any) -> Hashable:
        return record.order.client_order_id
