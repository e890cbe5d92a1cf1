"""Replace an order's quantity, limit and stop (a STP / STP LMT order's); validates before the
request leaves the dialog."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from services.core.replace_rules import NOTHING_CHANGED, replace_problem, state_problem
from services.core.typed_numbers import NotANumber, typed_decimal
from services.core.wording import as_sentence, describe_order, order_prices
from services.domain import OrderRecord

from ..common import plain_label
from ..models.base import fmt_price, fmt_quantity

#: Shown, not as an error, while the fields still say what the order is: Replace waits for a change.
UNCHANGED_HINT = "Type a new quantity or price to replace the order."


def parse_decimal(text: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return typed_decimal(text)
    except NotANumber:
        return None


def validate_replace(order: OrderRecord, quantity_text: str, limit_text: str,
                     stop_text: str = "") -> tuple[Decimal | None, Decimal | None, str]:
    """(quantity, limit, error message or ""): the fields read as numbers, then the order actions'
    own rule (``services.core.replace_rules``), so the dialog never accepts what the service
    refuses. A limit or stop field cleared is asked for, not read as "unchanged". A stop order's
    stop (``stop_text``) is read by ``stop_of``."""
    quantity = parse_decimal(quantity_text)
    if quantity is None:
        return None, None, "Quantity must be a number."
    limit = parse_decimal(limit_text)
    if limit_text.strip() and limit is None:
        return None, None, "Limit must be a number."
    if order.order_type.has_limit and limit is None:
        return None, None, "A limit order needs a limit price."
    stop = stop_of(order, stop_text)
    if order.order_type.has_stop and stop is None:
        return None, None, "Stop must be a number." if stop_text.strip() else "A stop order needs a stop price."
    problem = replace_problem(order, quantity, limit, stop_price=stop)
    if problem is not None:
        return None, None, as_sentence(problem)
    return quantity, limit, ""


def stop_of(order: OrderRecord, stop_text: str) -> Decimal | None:
    """The Stop field read: a stop order's new stop; None for an order without one."""
    return parse_decimal(stop_text) if order.order_type.has_stop else None


def describe_replacement(order: OrderRecord, quantity: Decimal, limit: Decimal | None, stop: Decimal | None = None) -> str:
    """What Replace sends, once the fields hold a replace the rule allows: the order as it will
    stand (its quantity is the new total, filled shares included; its prices named as the
    blotter names them) and what is left to fill."""
    new_limit = limit if limit is not None else order.limit_price
    new_stop = stop if stop is not None else order.stop_price
    if order.order_type.has_stop:
        price = order_prices(order.order_type.value, new_stop, new_limit)
    else:
        price = f" {fmt_price(new_limit)}" if new_limit is not None else ""
    return (f"Replace sends: {order.side.value} {fmt_quantity(quantity)} {order.symbol} {order.order_type.value}{price} "
            f"in all ({fmt_quantity(order.filled_quantity)} filled, {fmt_quantity(quantity - order.filled_quantity)} "
            f"left to fill), after the risk check.")


class ReplaceDialog(QDialog):
    def __init__(self, order: OrderRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.order = order
        self.setWindowTitle(f"Replace {order.symbol} order {order.client_order_id}")
        # formatted as the blotter shows them (grouped, no trailing zeros); parse_decimal reads them back
        self.quantity_edit = QLineEdit(fmt_quantity(order.quantity))
        self.limit_edit = QLineEdit(fmt_price(order.limit_price))
        self.limit_edit.setEnabled(order.order_type.has_limit)
        # a stop order's trigger, shown for a STP / STP LMT order only (another has none to replace)
        self.stop_edit = QLineEdit(fmt_price(order.stop_price))
        self.stop_edit.setVisible(order.order_type.has_stop)
        self.error_label = plain_label()
        self.error_label.setObjectName("errorLabel")
        self.hint_label = QLabel()  # neutral: nothing is wrong before the trader changed something
        # Walked under Xvfb: unwrapped, the dialog grew as wide as "Replace sends: ..." once a new
        # limit was typed, and Replace moved from under the pointer. Wide enough from the start for
        # what Replace would send at the order's own figures; a longer text (a bigger quantity) wraps.
        for label in (self.hint_label, self.error_label):
            label.setWordWrap(True)
        self.hint_label.setMinimumWidth(self.hint_label.fontMetrics().horizontalAdvance(
            describe_replacement(order, order.quantity, order.limit_price, order.stop_price)) + 2)
        form = QFormLayout()
        self.order_label = plain_label(describe_order(order, with_id=False))  # its id has a row below
        self.client_id_label = plain_label(order.client_order_id)
        form.addRow("Order", self.order_label)
        form.addRow("Client order id", self.client_id_label)
        form.addRow("Quantity", self.quantity_edit)
        form.addRow("Limit", self.limit_edit)
        if order.order_type.has_stop:
            form.addRow("Stop", self.stop_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Replace")
        # "Cancel" with a red cross read as "cancel the order": this one closes the dialog and
        # leaves the order as it is
        self.close_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.close_button.setText("Close")
        self.close_button.setIcon(QIcon())
        self.close_button.setToolTip("close without replacing: the order stays as it is")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.hint_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.quantity_edit.textChanged.connect(self._validate)
        self.limit_edit.textChanged.connect(self._validate)
        self.stop_edit.textChanged.connect(self._validate)
        self._validate()
        # the first figure typed replaces the quantity (as Tab selects the limit): with the cursor
        # after it, a 5 typed for an order of 3 asked for 35
        self.quantity_edit.selectAll()

    def show_order(self, order: OrderRecord) -> None:
        """The order's newer state while the dialog is open (it filled or was canceled meanwhile):
        Replace follows the order actions' rule for it, the fields stay as typed."""
        self.order = order
        self.order_label.setText(f"{describe_order(order, with_id=False)} · {order.status}")
        self._validate()

    def _validate(self) -> None:
        quantity, limit, error = self._read()
        state = state_problem(self.order)  # filled or canceled meanwhile: said whatever the fields say
        if state is not None:
            error = as_sentence(state)
        unchanged = error == as_sentence(NOTHING_CHANGED)
        # walked under Xvfb: once a new quantity was typed the dialog said nothing of what Replace
        # would send; now the order as it will stand, read from the fields as values() reads them
        hint = UNCHANGED_HINT if unchanged else (
            describe_replacement(self.order, quantity, limit, stop_of(self.order, self.stop_edit.text()))
            if not error and quantity is not None else "")
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self.error_label.setText("" if unchanged else error)
        self.error_label.setVisible(bool(error) and not unchanged)
        self.ok_button.setEnabled(not error)

    def _read(self) -> tuple[Decimal | None, Decimal | None, str]:
        return validate_replace(self.order, self.quantity_edit.text(), self.limit_edit.text(), self.stop_edit.text())

    def values(self) -> tuple[Decimal, Decimal | None, Decimal | None]:
        """(quantity, limit, stop): the stop None for an order without one."""
        quantity, limit, error = self._read()
        if error or quantity is None:
            raise ValueError(error)
        return quantity, limit, stop_of(self.order, self.stop_edit.text())

    def accept(self) -> None:
        if self._read()[2]:
            return
        super().accept()
