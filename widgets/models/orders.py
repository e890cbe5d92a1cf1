"""The order blotter's model: one row per order, keyed by order id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from services.domain import OrderRecord, OrderState

from .base import (
    CENTER,
    RIGHT,
    Column,
    fmt_day_seconds,
    fmt_price,
    fmt_quantity,
    fmt_seconds,
    fmt_time,
)
from .paged import PagedTableModel
from .price_columns import SharedPricePlaces

# Colours chosen to read on both the dark and the light theme.
STATUS_COLOURS: dict[OrderState, QColor] = {
    OrderState.NEW: QColor("#8a8f98"),
    OrderState.SENDING: QColor("#6f9fd8"),
    OrderState.SUBMITTED: QColor("#4f8fd6"),
    OrderState.ACCEPTED: QColor("#2f7fd1"),
    OrderState.PARTIALLY_FILLED: QColor("#d08a1c"),
    OrderState.FILLED: QColor("#2e9d55"),
    OrderState.CANCEL_REQUESTED: QColor("#b07ad6"),
    OrderState.CANCELED: QColor("#8a8f98"),
    OrderState.REPLACE_REQUESTED: QColor("#b07ad6"),
    OrderState.REJECTED: QColor("#d64545"),
    OrderState.BLOCKED: QColor("#d64545"),
    OrderState.EXPIRED: QColor("#8a8f98"),
}
SIDE_COLOURS = {"BUY": QColor("#2e9d55"), "SELL": QColor("#d64545")}


#: A row showing the broker's report the database has not taken (OrderRecord.unrecorded_since)
NOT_RECORDED = " (not recorded)"
UNRECORDED_TIP = ("The broker reported this at {time} UTC; not recorded yet: the database does not answer. "
                  "It is written, and this row read back from it, as soon as the database answers.")


def status_text(order: OrderRecord) -> str:
    """PARTIALLY_FILLED says how much: a partial fill must never look like a plain working order."""
    if order.status is OrderState.PARTIALLY_FILLED:
        text = f"PARTIALLY_FILLED {fmt_quantity(order.filled_quantity)}/{fmt_quantity(order.quantity)}"
    else:
        text = str(order.status.value)
    return text + NOT_RECORDED if order.unrecorded_since is not None else text


def status_tooltip(order: OrderRecord) -> str | None:
    said = []
    if order.rejected_reason:
        said.append(order.rejected_reason)
    elif order.status is OrderState.PARTIALLY_FILLED:
        said.append(f"filled {order.filled_quantity} of {order.quantity}")
    if order.unrecorded_since is not None:
        said.append(UNRECORDED_TIP.format(time=fmt_seconds(order.unrecorded_since)))
    return "\n".join(said) or None


#: An order recorded from the broker's reports, not placed through this database (OrderRecord.external):
#: its Time is no placing time, which IB never reports; a reconciliation after the database was replaced
#: brought this console's own orders back so, and their Time read as if placed then
RECORDED_FROM_BROKER = ("{time}: recorded from the broker's report, not placed through this database (in TWS, "
                        "by another client, or before the database was replaced). IB gives no time an order was "
                        "placed: this is its first execution's time, or, with none reported, when the broker's "
                        "report of it was read (a reconciliation)")


def time_tooltip(order: OrderRecord) -> str:
    """The whole time; for an order recorded from the broker's report, what that time is (to the
    second: an execution's time from IB has no fraction, ".000" would claim one)."""
    if order.external:
        return RECORDED_FROM_BROKER.format(time=fmt_seconds(order.created_at))
    return fmt_time(order.created_at)


class OrderBlotterModel(SharedPricePlaces[OrderRecord], PagedTableModel[OrderRecord]):
    # (Stop came last, that a layout saved before it keeps its columns: shown after Limit)
    TIME, CLIENT_ID, SYMBOL, SIDE, QUANTITY, FILLED, AVG_PRICE, STATUS, TYPE, LIMIT, RUN, STOP = range(12)

    columns = (
        # to the second without the year (the whole time to the millisecond in its tooltip, the
        # export's as before, the same second's orders in their order by the sort): with the year
        # and the milliseconds its 165 px left no room for the Stop column at 1366x768
        Column("Time", lambda o: o.created_at, fmt=fmt_day_seconds, mutable=False, width=100,
               tooltip=time_tooltip),
        # Its end tells the orders apart (sequence, side, symbol, digest), its head is the same
        # on every row (TC, the installation, the run): cut at the left, whole in its tooltip,
        # in the room the columns before it leave (at least about "…MSFT-C43F52")
        Column("Client order id", lambda o: o.client_order_id, mutable=False, width=90,
               tooltip=lambda o: o.client_order_id, elide=Qt.TextElideMode.ElideLeft, takes_room_left=True),
        Column("Symbol", lambda o: o.symbol, mutable=False, width=60),
        Column("Side", lambda o: o.side, align=CENTER, mutable=False, width=45,
               foreground=lambda o: SIDE_COLOURS.get(o.side.value)),
        Column("Quantity", lambda o: o.quantity, align=RIGHT, fmt=fmt_quantity, width=65),
        Column("Filled", lambda o: o.filled_quantity, align=RIGHT, fmt=fmt_quantity, width=50),
        Column("Avg price", lambda o: o.avg_fill_price, align=RIGHT, fmt=fmt_price, width=75),
        # each plain state whole (REPLACE_REQUESTED the longest), and widened as rows change to
        # "PARTIALLY_FILLED 40/100" or "CANCELED (not recorded)" whole, into what the client order
        # id can spare: sized to its content once, it went past the table's edge at 1366x768
        Column("Status", lambda o: o, fmt=status_text,
               foreground=lambda o: STATUS_COLOURS.get(o.status), tooltip=status_tooltip, width=145,
               grows_into_room_left=True, sort=lambda o: o.status.value, export=lambda o: o.status.value),
        # These three widen as rows come that need it ("STP LMT", a price of more places) rather
        # than keeping room for them from the start: at 1366x768 the 45 px they held empty on a
        # run of MKT orders were what a canceled order's "CANCELED (not recorded)" lacked
        Column("Type", lambda o: o.order_type, align=CENTER, width=46, grows_into_room_left=True),
        Column("Limit", lambda o: o.limit_price, align=RIGHT, fmt=fmt_price, width=48, grows_into_room_left=True),
        Column("Run", lambda o: o.run_id, align=RIGHT, mutable=False),
        # a stop order's trigger (a STP LMT's beside its Limit): a SELL 5 PG STP 166.00 read no price
        Column("Stop", lambda o: o.stop_price, align=RIGHT, fmt=fmt_price, width=48, grows_into_room_left=True),
    )

    #: Newest first by creation time, kept by the model (ties: the later arrival on top).
    order_key = staticmethod(lambda o: o.created_at)

    def records_from(self, change_set: Any) -> Iterable[OrderRecord]:
        return change_set.orders

    #: Its price columns read to one number of places each (SharedPricePlaces): an average
    #: fill of 165.2431 sat above 229.34.
    PRICE_COLUMNS = (AVG_PRICE, LIMIT, STOP)

    def __init__(self, parent=None, **kwargs) -> None:
        self._run_ids: set[int] = set()
        super().__init__(parent, **kwargs)

    def _on_record_added(self, record: OrderRecord) -> None:
        super()._on_record_added(record)
        if record.run_id is not None:
            self._run_ids.add(record.run_id)

    def _on_reset(self) -> None:
        super()._on_reset()
        self._run_ids = set()

    def run_ids(self) -> list[int]:
        """Every run seen, kept as rows arrive (no scan of the table)."""
        return sorted(self._run_ids)

    def run_count(self) -> int:
        return len(self._run_ids)
