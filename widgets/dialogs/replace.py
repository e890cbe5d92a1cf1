"""Replace an order's quantity, limit and stop (a STP / STP LMT order's); validates before the
request leaves the dialog. Intent signals only, as the order ticket: after a pause in the typing
it asks for the replace's risk verdict (``check_requested``), the controller answers with
``show_check`` / ``show_problem``, and Replace is enabled only while the verdict shown passes and
is the one of the fields as they are (the replace checks again when it goes: prices move)."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from services.core.replace_rules import (
    NOTHING_CHANGED,
    TypedReplace,
    replaced_order,
    state_problem,
    typed_replace,
)
from services.core.wording import as_sentence, describe_order, order_kind
from services.domain import OrderRecord

from ..common import plain_label
from ..models.base import fmt_price, fmt_quantity
from .order_ticket import BLOCK_COLOUR, CHECK_DELAY_MS, PASS_COLOUR

#: Shown, not as an error, while the fields still say what the order is: Replace waits for a change.
UNCHANGED_HINT = "Type a new quantity or price to replace the order."
CHECKING_REPLACE = "Checking the risk of this replace…"
#: Lines kept for the risk verdict under the fields: "Not replaceable:" and two reasons of two
#: lines each (a quantity mistyped tenfold met four, nine lines, under Xvfb: the dialog grows)
VERDICT_LINES = 5

#: (quantity, limit, stop) as typed: what a verdict is for, and what Replace sends
Typed = tuple[Decimal, Decimal | None, Decimal | None]


def validate_replace(order: OrderRecord, quantity_text: str, limit_text: str,
                     stop_text: str = "") -> tuple[Decimal | None, Decimal | None, str]:
    """(quantity, limit, error sentence or ""): the fields read and checked by the order actions'
    own rule (``services.core.replace_rules.typed_replace``), so the dialog never accepts what
    the service refuses, and says a refusal in the service's words."""
    typed = typed_replace(order, quantity_text, limit_text, stop_text)
    return typed.quantity, typed.limit_price, as_sentence(typed.problem) if typed.problem else ""


def describe_replacement(order: OrderRecord, quantity: Decimal, limit: Decimal | None, stop: Decimal | None = None) -> str:
    """What Replace sends, once the fields hold a replace the rule allows: the order as it will
    stand (its quantity is the new total, filled shares included; its prices named as the
    blotter names them) and what is left to fill."""
    new = replaced_order(order, quantity, limit, stop)  # the order actions' own rule for what it becomes
    kind = order_kind(order.order_type.value, new.stop_price, new.limit_price)
    return (f"Replace sends: {order.side.value} {fmt_quantity(new.quantity)} {order.symbol} {kind} "
            f"in all ({fmt_quantity(order.filled_quantity)} filled, {fmt_quantity(new.quantity - order.filled_quantity)} "
            f"left to fill), after the risk check.")


class ReplaceDialog(QDialog):
    # the fields as typed (quantity, limit, stop): the controller answers with show_check / show_problem
    check_requested = Signal(object, object, object)

    def __init__(self, order: OrderRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.order = order
        self._passed: Typed | None = None  # the fields the verdict shown passed (Replace sends them)
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_DELAY_MS)  # one check per pause in the typing, as the ticket's
        self._check_timer.timeout.connect(self.request_check)
        self.setWindowTitle(f"Replace {order.symbol} order {order.client_order_id}")
        # formatted as the blotter shows them (grouped, no trailing zeros); typed_replace reads them back
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
        # the risk verdict of the replace as typed, before the click (it came only after, in an error box)
        self.verdict_label = QLabel()
        self.verdict_label.setObjectName("replaceVerdict")
        for label in (self.hint_label, self.error_label, self.verdict_label):
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
        # Walked under Xvfb: each verdict resized the dialog to its lines ("Checking…", one
        # reason, "Risk: passed."), and Replace and Close moved up and down under the pointer
        # as the trader typed. The what-Replace-sends line, a refusal and the verdict share one
        # block with room reserved for the usual texts (the line on two, the verdict on
        # VERDICT_LINES), top-aligned: the buttons stay where they are. A longer verdict grows
        # the dialog once, and it does not shrink back (``_fit``).
        self.messages = QWidget()
        messages = self._messages = QVBoxLayout(self.messages)
        messages.setContentsMargins(0, 0, 0, 0)
        messages.addWidget(self.hint_label)
        messages.addWidget(self.error_label)
        messages.addWidget(self.verdict_label)
        messages.addStretch(1)
        line = self.fontMetrics().lineSpacing()
        self.messages.setMinimumHeight((2 + VERDICT_LINES) * line + messages.spacing())
        layout = self._body = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.messages)
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
        read = self._read()
        error = as_sentence(read.problem) if read.problem else ""
        state = state_problem(self.order)  # filled or canceled meanwhile: said whatever the fields say
        if state is not None:
            error = as_sentence(state)
        unchanged = error == as_sentence(NOTHING_CHANGED)
        # walked under Xvfb: once a new quantity was typed the dialog said nothing of what Replace
        # would send; now the order as it will stand, read from the fields as values() reads them
        hint = UNCHANGED_HINT if unchanged else (
            describe_replacement(self.order, read.quantity, read.limit_price, read.stop_price)
            if not error and read.quantity is not None else "")
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self.error_label.setText("" if unchanged else error)
        self.error_label.setVisible(bool(error) and not unchanged)
        # whatever changed, the verdict shown was not of these fields: Replace waits for theirs
        self._passed = None
        self.ok_button.setEnabled(False)
        if error:
            self._check_timer.stop()
            self._show_verdict("", None)
        else:
            self._show_verdict(CHECKING_REPLACE, None)
            self._check_timer.start()

    def typed(self) -> Typed | None:
        """(quantity, limit, stop) as the fields read, or None while they hold no replace the
        order's rule allows."""
        read = self._read()
        if read.problem or read.quantity is None or state_problem(self.order) is not None:
            return None
        return read.quantity, read.limit_price, read.stop_price

    def request_check(self) -> None:
        self._check_timer.stop()
        typed = self.typed()
        if typed is not None:
            self.check_requested.emit(*typed)

    def show_check(self, typed: Typed, may_replace: bool, reasons: list[str]) -> None:
        """The verdict for ``typed``; ignored when the fields changed meanwhile (a newer check is
        on its way)."""
        if typed != self.typed():
            return
        if may_replace:
            self._passed = typed
            self._show_verdict("Risk: passed.", True)
        else:
            self._show_verdict("Not replaceable:\n" + "\n".join(f"• {r}" for r in reasons), False)
        self.ok_button.setEnabled(may_replace)

    def show_problem(self, typed: Typed, text: str) -> None:
        """A refusal other than risk's (a price off the tick grid, trading halted meanwhile)."""
        if typed != self.typed():
            return
        self._passed = None
        self.ok_button.setEnabled(False)
        self._show_verdict(f"Not replaceable: {text}", False)

    def _show_verdict(self, text: str, ok: bool | None) -> None:
        colour = "" if ok is None else (PASS_COLOUR if ok else BLOCK_COLOUR)
        self.verdict_label.setStyleSheet(f"QLabel {{ color: {colour}; }}" if colour else "")
        self.verdict_label.setText(text)
        self.verdict_label.setVisible(bool(text))
        self._fit()

    def _fit(self) -> None:
        """As tall as the contents need at the dialog's width, as the ticket fits its verdict:
        walked under Xvfb, three blocks squeezed the Quantity and Limit fields to slivers and cut
        the last line off. Never wider once shown, nor shorter: a shorter verdict after a long
        one moved Replace and Close back up under the pointer."""
        if not self.isVisible():
            return
        # the block of messages first: its labels' new texts measured before the dialog asks it
        self._messages.activate()
        layout = self._body
        layout.activate()
        width = self.width()
        self.resize(width, max(layout.totalHeightForWidth(width), self.minimumSizeHint().height(), self.height()))

    def hideEvent(self, event) -> None:
        # a closed dialog asks for no verdict
        self._check_timer.stop()
        super().hideEvent(event)

    def _read(self) -> TypedReplace:
        return typed_replace(self.order, self.quantity_edit.text(), self.limit_edit.text(), self.stop_edit.text())

    def values(self) -> tuple[Decimal, Decimal | None, Decimal | None]:
        """(quantity, limit, stop): the stop None for an order without one."""
        read = self._read()
        if read.problem or read.quantity is None:
            raise ValueError(as_sentence(read.problem))
        return read.quantity, read.limit_price, read.stop_price

    def accept(self) -> None:
        # only what the verdict shown passed (Enter in a field while the check is on its way did not wait for it)
        if self._read().problem or self._passed is None or self._passed != self.typed():
            return
        super().accept()
