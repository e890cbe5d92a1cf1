"""The order preview: the trading core's frozen ``OrderDraft`` values, one row per order."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from PySide6.QtCore import Qt

from services.core.plans import OrderTotals, order_totals
from services.core.wording import percent

from .base import CENTER, RIGHT, CoalescingTableModel, Column, fmt_money, fmt_price, fmt_quantity
from .orders import SIDE_COLOURS
from .price_columns import SharedPricePlaces


class PreviewOrdersModel(SharedPricePlaces[Any], CoalescingTableModel[Any]):
    SYMBOL, SIDE, CURRENT, TARGET, QUANTITY, TYPE, LIMIT, REFERENCE, NOTIONAL, WEIGHT, CLIENT_ID = range(11)
    #: One number of places down each (SharedPricePlaces): 229.5 sat above 229.125.
    PRICE_COLUMNS = (LIMIT, REFERENCE)

    columns = (
        Column("Symbol", lambda d: d.symbol),
        Column("Side", lambda d: d.side, align=CENTER, foreground=lambda d: SIDE_COLOURS.get(str(d.side))),
        Column("Current", lambda d: d.current_quantity, align=RIGHT, fmt=fmt_quantity,
               header_tooltip="What the project holds, with its orders of other runs still working\n"
                              "or not sent yet counted as if they filled (listed under the table).\n"
                              "Order qty is the difference to the target."),
        Column("Target", lambda d: d.target_quantity, align=RIGHT, fmt=fmt_quantity),
        Column("Order qty", lambda d: d.quantity, align=RIGHT, fmt=fmt_quantity),
        Column("Type", lambda d: d.order_type, align=CENTER),
        Column("Limit", lambda d: d.limit_price, align=RIGHT, fmt=fmt_price),
        Column("Ref price", lambda d: d.reference_price, align=RIGHT, fmt=fmt_price),
        Column("Notional", lambda d: d.notional, align=RIGHT, fmt=fmt_money),
        Column("Weight", lambda d: d.target_weight, align=RIGHT, fmt=percent),
        # The id each order is sent with, as the blotter shows it once sent; text, last, it takes
        # the room the figures leave: with the Weight last, sized to their content, the table
        # ended in a third of the panel's width of nothing at 1366x768. Cut at the left as the
        # blotter's: its head (the installation) is the same on every row, its end tells them apart
        Column("Client order id", lambda d: d.client_order_id, tooltip=lambda d: d.client_order_id or None,
               elide=Qt.TextElideMode.ElideLeft, takes_room_left=True),
    )

    @staticmethod
    def key(record: Any) -> Hashable:
        return record.client_order_id or record.symbol

    def totals(self) -> OrderTotals:
        """The shown orders' totals, by the plans' one rule (``services.core.plans.order_totals``)."""
        return order_totals(self._rows)
