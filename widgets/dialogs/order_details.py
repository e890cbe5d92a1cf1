"""One order's details: its fields, its fills and its event history (services.domain.OrderDetails, as read)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from services.core.wording import history_detail, order_kind
from services.domain import OrderDetails, OrderEventInfo

from ..common import make_table, plain_label
from ..models.base import csv_value, fmt_price, fmt_quantity, fmt_text, fmt_time
from ..models.fills import FillsModel
from ..models.orders import status_text

EVENT_TITLES = ("Time", "Event", "From", "To", "Source", "Detail")


def event_cells(event: OrderEventInfo) -> list[str]:
    """A row of the history: its message (a replace's with what it asked: history_detail), else
    what its payload holds."""
    detail = history_detail(event.event_type, event.message, event.payload)
    cells = [_cell(v) for v in (event.time, event.event_type, event.from_state, event.to_state, event.source,
                                detail if detail is not None else event.payload)]
    if event.flagged:
        # A transition the state machine recorded but flagged (e.g. a fill after CANCELED).
        cells[1] = f"{cells[1]} (flagged)"
    return cells


def _cell(value: Any) -> str:
    if hasattr(value, "tzinfo") and hasattr(value, "strftime"):
        return fmt_time(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={csv_value(v)}" for k, v in value.items())
    return fmt_text(value)


class OrderDetailsDialog(QDialog):
    @classmethod
    def open_on(cls, details: OrderDetails, parent: QWidget) -> OrderDetailsDialog:
        """The dialog of ``details`` (the values as read), shown window-modal by ``open()``: no
        nested event loop inside the task that read them; deleted once closed. The trading
        window's blotter and the monitor's open it so."""
        dialog = cls(details, parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.open()
        return dialog

    def __init__(self, details: OrderDetails, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        order, fills, events = details.order, details.fills, details.events
        self.setWindowTitle(f"Order {order.client_order_id}")
        self.resize(820, 520)
        summary = QFormLayout()
        summary.addRow("Client order id", plain_label(order.client_order_id))
        # its type and prices as the blotter's cancel question and the Replace dialog name them
        # (order_kind): a STP LMT read "STP LMT 219.50", its limit alone, as if it were the stop, a
        # STP its type bare (what filled is the row below)
        self.order_label = plain_label(f"{order.side.value} {fmt_quantity(order.quantity)} {order.symbol} "
                                       f"{order_kind(order.order_type.value, order.stop_price, order.limit_price)}")
        summary.addRow("Order", self.order_label)
        summary.addRow("Status", plain_label(status_text(order)))
        summary.addRow("Filled", QLabel(f"{fmt_quantity(order.filled_quantity)} @ {fmt_price(order.avg_fill_price) or '-'}"))
        summary.addRow("IB ids", QLabel(f"order {order.ib_order_id or '-'}, perm {order.ib_perm_id or '-'}"))
        if order.rejected_reason:
            summary.addRow("Reason", plain_label(order.rejected_reason))
        self.fills_model = FillsModel(self)
        self.fills_model.reset(fills)
        self.fills_table = make_table(self.fills_model, self)
        self.fills_table.hideColumn(FillsModel.CLIENT_ID)  # every row's is this order's, said above
        self.fills_table.resizeColumnsToContents()  # an order's few fills: the times whole, as the history's
        self.events_table = QTableWidget(len(events), len(EVENT_TITLES), self)
        self.events_table.setHorizontalHeaderLabels(list(EVENT_TITLES))
        self.events_table.verticalHeader().setVisible(False)
        self.events_table.horizontalHeader().setStretchLastSection(True)
        self.events_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, event in enumerate(events):
            for column, text in enumerate(event_cells(event)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)  # whole where the column cuts it
                self.events_table.setItem(row, column, item)
        self.events_table.resizeColumnsToContents()
        self.fit_history()
        tabs = QTabWidget(self)
        tabs.addTab(self.events_table, f"History ({len(events)})")
        tabs.addTab(self.fills_table, f"Fills ({len(fills)})")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(summary)
        layout.addWidget(tabs)
        layout.addWidget(buttons)

    def fit_history(self, room: int | None = None) -> None:
        """As wide as the history's columns need, within ``room`` (the screen's width less a
        margin): a replace's detail ("replace requested to 15 @ 226.50") was cut in 820 px."""
        table = self.events_table
        needed = (table.horizontalHeader().length() + table.verticalScrollBar().sizeHint().width()
                  + 2 * table.frameWidth() + 48)  # the tab's frame and the dialog's margins
        if room is None:
            screen = self.screen()
            room = screen.availableGeometry().width() - 40 if screen is not None else needed
        self.resize(max(self.width(), min(needed, room)), self.height())
