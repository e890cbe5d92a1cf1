"""The order ticket: one order typed by the trader (F2, the toolbar, a position's or a watched
symbol's context menu). Intent signals only: the controller checks the ticket with the services
(risk, market health) and shows the verdict here; Send is enabled only while the verdict shown is
the one of the fields as they are, and says what it sends.

The dialog is modeless and stays open between orders (a trader enters several); every edit
schedules a new check a moment later, so the verdict follows the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut, QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from services.core.replace_rules import stepped_price, suggested_stop_limit
from services.core.typed_numbers import NotANumber, exponent_said, typed_decimal

from ..common import SymbolKeys, number_keys, wheel_only_when_focused
from ..models.orders import SIDE_COLOURS

TYPE_AN_ORDER = "Type an order: the risk verdict shows here before anything is sent."
CHECKING = "Checking the risk of this order…"
ORDER_TYPES = ("MKT", "LMT", "STP", "STP LMT")
TIFS = ("DAY", "GTC", "IOC")
# the size's two kinds, each named by the word the services' messages name its field with
# ("quantity: must be a whole number: '2.5'", "notional: ..."), the `order` command's options too
# (--quantity, --notional); the chooser is the row's label: it said "Amount" beside "Shares",
# and no message said amount
QUANTITY, NOTIONAL = "Quantity", "Notional"
PLACEHOLDERS = {QUANTITY: "shares", NOTIONAL: "in the base currency"}
CHECK_DELAY_MS = 350  # after the last keystroke: one check per pause, not per character
PASS_COLOUR, BLOCK_COLOUR = "#2e9d55", "#d64545"


def _places(tick: Decimal) -> int:
    exponent = tick.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2


class PriceBox(QLineEdit):
    """A price as the trader types it, read by the services' one rule for typed numbers
    (``services.core.typed_numbers``): the text goes to the ticket's check as typed and a comma
    that does not group thousands is refused there, with the field named. Up and Down (Page Up
    and Page Down: ten) and the wheel step one tick of the listing's grid. It was a
    QDoubleSpinBox, which read the text by the desktop's locale: a limit typed 415,75 became
    41575 on an English desktop, and no price was read at all on a German one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tick = Decimal("0.01")
        self.setAlignment(Qt.AlignmentFlag.AlignRight)
        # what a number's keys are (the reading, and its refusal, is the service's: an exponent's
        # e is let through to be refused said, not swallowed into another price)
        self.setValidator(number_keys(self, 24, exponent=True))

    def set_tick(self, tick: Decimal) -> None:
        self.tick = tick

    def typed(self) -> str | None:
        """The text as typed (None: empty), what the ticket's check reads."""
        return self.text().strip() or None

    def price(self) -> Decimal | None:
        """The price typed, if it is a positive number (None otherwise)."""
        try:
            value = typed_decimal(self.text())
        except NotANumber:
            return None
        return value if value > 0 and exponent_said(self.text()) is None else None

    def set_price(self, value: Decimal | None) -> None:
        self.setText("" if value is None else format(value.quantize(Decimal(1).scaleb(-_places(self.tick))), "f"))

    def step_by(self, ticks: int) -> None:
        """``ticks`` up or down the listing's grid (services.core.replace_rules.stepped_price)."""
        price = self.price()
        stepped = None if price is None else stepped_price(price, self.tick, ticks)
        if stepped is not None:
            self.set_price(stepped)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_PageUp: 10, Qt.Key.Key_PageDown: -10}.get(Qt.Key(event.key()))
        if steps is None:
            super().keyPressEvent(event)
        else:
            self.step_by(steps)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus() and event.angleDelta().y():
            self.step_by(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
        else:
            super().wheelEvent(event)


class OrderTicketDialog(QDialog):
    check_requested = Signal(dict)  # the fields: the controller answers with show_check / show_problem
    send_requested = Signal(dict)  # the fields of the verdict shown
    symbol_changed = Signal(str)  # the controller shows the symbol's quote and tick

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("orderTicket")
        self.setWindowTitle("Order ticket")
        self.setModal(False)
        self._checked_fields: dict | None = None  # the fields the verdict shown belongs to
        self._quoted_symbol: str | None = None  # the symbol whose quote was asked last
        self._suggested_stops: dict[str, Decimal | None] = {}  # the stop suggested for each side
        # the limit suggested for each side and order type (LMT: the market; STP LMT: beyond the stop)
        self._suggested_limits: dict[tuple[str, str], Decimal | None] = {}
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self.request_check)

        self.symbol_edit = QLineEdit()
        self.symbol_edit.setPlaceholderText("AAPL, or SAP@IBIS:EUR")
        self.symbol_edit.setValidator(SymbolKeys(self.symbol_edit))
        # a bound method, not a lambda: Qt drops it with the dialog (editingFinished also fires
        # when the field loses its focus, as the window closes)
        self.symbol_edit.editingFinished.connect(self._on_symbol_edited)
        self.side_combo = QComboBox()
        self.side_combo.addItems(["BUY", "SELL"])
        # each side in its own colour in the open list, the blotter's and the preview's: the
        # closed box's colour (``_show_side``) reached the list's items, and SELL read green
        # under BUY. An item view's delegate draws an item's own colour; the combo's menu
        # delegate (Fusion's) drew every item in the box's stylesheet colour
        self.side_combo.setItemDelegate(QStyledItemDelegate(self.side_combo))
        for row in range(self.side_combo.count()):
            side = self.side_combo.itemText(row)
            self.side_combo.setItemData(row, SIDE_COLOURS[side], Qt.ItemDataRole.ForegroundRole)
        self.amount_kind = QComboBox()
        self.amount_kind.addItems([QUANTITY, NOTIONAL])
        self.amount_kind.setToolTip("Quantity: a number of shares; Notional: an amount in the base currency, "
                                    "turned into the whole shares it buys at the prices of the check")
        self.amount_edit = QLineEdit()
        self.amount_edit.setPlaceholderText(PLACEHOLDERS[QUANTITY])
        self.type_combo = QComboBox()
        self.type_combo.addItems(list(ORDER_TYPES))
        self.limit_box = PriceBox()
        self.stop_box = PriceBox()
        self.tif_combo = QComboBox()
        self.tif_combo.addItems(list(TIFS))
        self.outside_rth_check = QCheckBox("Fill outside regular trading hours (limit orders)")
        self.project_combo = QComboBox()
        self.project_combo.setEditable(True)
        self.project_combo.setToolTip("the project the order belongs to (its positions and P&L)")
        self.quote_label = QLabel("No quote")
        self.quote_label.setObjectName("ticketQuote")
        self.quote_label.setTextFormat(Qt.TextFormat.PlainText)
        self.quote_label.setWordWrap(True)
        # the room of a quote's three lines (the prices, how they were got, why they do not follow
        # the market: services.execution.manual.TicketQuote.describe) from the start, fixed: with
        # two, and the form free to lay the wrapped text out again, the first quote and verdict
        # pushed every field below down a line or two, as the trader reached for the quantity
        self._quote_room = self.quote_label.fontMetrics().lineSpacing() * 3 + 4
        self.quote_label.setFixedHeight(self._quote_room)
        self.verdict_label = QLabel(TYPE_AN_ORDER)
        self.verdict_label.setObjectName("ticketVerdict")
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextFormat(Qt.TextFormat.PlainText)
        self.verdict_label.setMinimumHeight(64)
        self.check_button = QPushButton("Check")
        self.check_button.clicked.connect(self.request_check)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("ticketSend")
        self.send_button.setEnabled(False)
        self.send_button.clicked.connect(self._on_send)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)
        # Enter checks (it never sends: sending is a click, or Ctrl+Enter once the verdict is shown)
        self.check_button.setDefault(True)
        send_shortcut = QShortcut(QKeySequence("Ctrl+Return"), self)
        send_shortcut.activated.connect(self._on_send)

        form = self.form = QFormLayout()
        form.addRow("Symbol", self.symbol_edit)
        form.addRow("", self.quote_label)
        form.addRow("Side", self.side_combo)
        form.addRow(self.amount_kind, self.amount_edit)
        form.addRow("Order type", self.type_combo)
        form.addRow("Limit price", self.limit_box)
        form.addRow("Stop price", self.stop_box)
        form.addRow("Time in force", self.tif_combo)
        form.addRow("", self.outside_rth_check)
        form.addRow("Project", self.project_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        buttons.addWidget(self.send_button)
        buttons.addWidget(close_button)
        layout = self._body = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.verdict_label)
        layout.addLayout(buttons)
        self.setMinimumWidth(420)

        for signal in (self.symbol_edit.textEdited, self.amount_edit.textEdited, self.side_combo.currentTextChanged,
                       self.amount_kind.currentTextChanged, self.type_combo.currentTextChanged,
                       self.limit_box.textChanged, self.stop_box.textChanged, self.tif_combo.currentTextChanged,
                       self.project_combo.currentTextChanged):
            signal.connect(self._on_edited)
        self.outside_rth_check.toggled.connect(self._on_edited)
        self.side_combo.currentTextChanged.connect(self._show_side)
        self.side_combo.currentTextChanged.connect(self._stop_follows_side)
        self.side_combo.currentTextChanged.connect(self._stop_limit_follows_stop)
        self.side_combo.currentTextChanged.connect(self._limit_follows)
        self.stop_box.textChanged.connect(self._stop_limit_follows_stop)
        self.type_combo.currentTextChanged.connect(self._limit_follows)
        self.type_combo.currentTextChanged.connect(self._show_price_fields)
        self.amount_kind.currentTextChanged.connect(lambda kind: self.amount_edit.setPlaceholderText(PLACEHOLDERS[kind]))
        self._show_side(self.side_combo.currentText())
        self._show_price_fields(self.type_combo.currentText())
        wheel_only_when_focused(self)  # a wheel over Side does not turn BUY to SELL unless it is in use

    # ------------------------------------------------------------------ the fields
    def _on_symbol_edited(self) -> None:
        self._ask_quote()

    def _ask_quote(self) -> None:
        self._quoted_symbol = self.symbol()
        self.symbol_changed.emit(self._quoted_symbol)

    def symbol(self) -> str:
        return self.symbol_edit.text().strip().upper()

    def fields(self) -> dict:
        """What the ticket says, as typed (the service parses and refuses with the field named)."""
        order_type = self.type_combo.currentText()
        amount = self.amount_edit.text().strip()
        return {
            "symbol": self.symbol(),
            "side": self.side_combo.currentText(),
            "quantity": amount if self.amount_kind.currentText() == QUANTITY else None,
            "notional": amount if self.amount_kind.currentText() == NOTIONAL else None,
            "order_type": order_type,
            "limit_price": self.limit_box.typed() if order_type in ("LMT", "STP LMT") else None,
            "stop_price": self.stop_box.typed() if order_type in ("STP", "STP LMT") else None,
            "tif": self.tif_combo.currentText(),
            "outside_rth": self.outside_rth_check.isChecked() and self.outside_rth_check.isEnabled(),
            "project": self.project_combo.currentText().strip() or None,
        }

    def prefill(self, *, symbol: str = "", side: str = "BUY", quantity: Decimal | None = None, project: str | None = None,
                order_type: str = "MKT") -> None:
        """Open on an order (Buy more, Sell more, Flatten, a watched symbol): the trader checks
        and sends; nothing goes by itself."""
        self.symbol_edit.setText(symbol)
        self.side_combo.setCurrentText(side)
        self.amount_kind.setCurrentText(QUANTITY)
        self.amount_edit.setText("" if quantity is None else format(quantity.normalize(), "f"))
        self.type_combo.setCurrentText(order_type)
        if project:
            self.project_combo.setCurrentText(project)
        self._ask_quote()
        self._on_edited()
        # kept for present() too: the controller brings up a ticket prefilled while open, which
        # must not take the typing back to the symbol
        starts = self._typing_starts = self.amount_edit if symbol else self.symbol_edit
        if self.isVisible():
            self._type_into(starts)

    # Where the typing goes when the ticket opens: never the button it was closed with (Send,
    # Close), where a symbol typed after F2 went nowhere and every Tab after it landed one field off
    _typing_starts: QLineEdit | None = None

    def present(self) -> None:
        """Shown, raised and given the keyboard (F2, a position's Buy more). Already open, the
        typing goes where an opening puts it: show() on a shown dialog is no showEvent, and F2
        left the focus where the trader had left it (Close, the order type), so the symbol typed
        next went elsewhere."""
        if self.isVisible():
            self._type_into(self._typing_starts or self.symbol_edit)
            self._typing_starts = None
        self.show()
        self.raise_()
        self.activateWindow()

    def _type_into(self, field: QLineEdit) -> None:
        field.setFocus(Qt.FocusReason.OtherFocusReason)
        field.selectAll()  # the first key replaces what the last order left there

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not event.spontaneous():  # opened by the console, not shown again by the window system (un-minimized)
            self._type_into(self._typing_starts or self.symbol_edit)
            self._typing_starts = None

    def set_projects(self, names: list[str], current: str | None = None) -> None:
        text = current or self.project_combo.currentText()
        self.project_combo.blockSignals(True)
        self.project_combo.clear()
        self.project_combo.addItems(names)
        self.project_combo.setCurrentText(text)
        self.project_combo.blockSignals(False)

    def _show_side(self, side: str) -> None:
        colour = SIDE_COLOURS[side].name()
        self.side_combo.setStyleSheet(f"QComboBox {{ color: {colour}; font-weight: bold; }}")

    def _show_price_fields(self, order_type: str) -> None:
        has_limit, has_stop = order_type in ("LMT", "STP LMT"), order_type in ("STP", "STP LMT")
        # hidden, not greyed: a price the order does not carry must not look like one it does
        self.form.setRowVisible(self.limit_box, has_limit)
        self.form.setRowVisible(self.stop_box, has_stop)
        self.limit_box.setEnabled(has_limit)
        self.stop_box.setEnabled(has_stop)
        self.outside_rth_check.setEnabled(has_limit)
        self.form.setRowVisible(self.outside_rth_check, has_limit)
        self._fit()

    def _on_edited(self, *_args) -> None:
        self._checked_fields = None
        self.send_button.setEnabled(False)
        self.send_button.setText("Send")
        self._check_timer.start()

    def request_check(self) -> None:
        self._check_timer.stop()
        fields = self.fields()
        if fields["symbol"] and fields["symbol"] != self._quoted_symbol:
            # a symbol typed and not left (no editingFinished yet): its verdict is about to
            # show, and the quote above it still named the symbol before
            self._ask_quote()
        if not fields["symbol"] or not (fields["quantity"] or fields["notional"]):
            size = self.amount_kind.currentText().lower()  # the field the trader is to fill, by its label's word
            self._show_verdict(f"Type a symbol and a {size}: the risk verdict shows here before anything is sent.", None)
            return
        self.check_requested.emit(fields)

    # ------------------------------------------------------------------ what the controller shows
    def show_quote(self, text: str, tick: Decimal | None = None) -> None:
        label = self.quote_label
        label.setText(text)
        if self.isVisible():  # more than three lines at this width (a long listing key): all of it shows
            label.setFixedHeight(max(self._quote_room, label.heightForWidth(label.width())))
        if tick is not None:
            self.limit_box.set_tick(tick)
            self.stop_box.set_tick(tick)

    def suggest_prices(self, price: Decimal | None, *, replace: bool = False,
                       stops: Mapping[str, Decimal | None] | None = None,
                       stop_limits: Mapping[str, Decimal | None] | None = None) -> None:
        """Start empty price fields at the market price (the trader moves them by ticks), the
        stop at ``stops``' price for the side (the services' suggestion: away from the market on
        the side a stop guards; at the market, a stop sent as suggested triggered at once), a
        STP LMT's limit at ``stop_limits``' (beyond that stop, away from the market: at the
        market, a SELL's limit sat above its stop and the triggered order waited for a climb
        back); each follows the side and the order type while the trader leaves it as suggested,
        and a STP LMT's limit the stop the trader moves (``_stop_limit_follows_stop``);
        ``replace``: every price field starts again there (empty without a price)."""
        if price is None and not replace:
            return
        if replace or self.stop_box.price() is None:  # what the stop field starts at now
            self._suggested_stops = dict(stops) if stops is not None else {}
        if replace or self.limit_box.price() is None:  # what the limit field starts at now
            self._suggested_limits = {(side, "LMT"): price for side in ("BUY", "SELL")}
            self._suggested_limits.update({(side, "STP LMT"): value for side, value in (stop_limits or {}).items()})
        side = self.side_combo.currentText()
        stop = stops.get(side, price) if stops is not None else price
        limit = self._suggested_limits.get(self._limit_key(), price) if stop_limits is not None else price
        for box, value in ((self.limit_box, limit), (self.stop_box, stop)):
            if replace:
                box.set_price(value)  # a price changed under a verdict: checked again (textChanged)
            elif box.price() is None:
                box.blockSignals(True)
                box.set_price(value)
                box.blockSignals(False)

    def _limit_key(self) -> tuple[str, str]:
        """Which suggestion the limit field shows: a STP LMT's (beyond its stop), else the
        market's (a LMT's, and where a MKT or STP ticket's hidden limit starts)."""
        kind = "STP LMT" if self.type_combo.currentText() == "STP LMT" else "LMT"
        return self.side_combo.currentText(), kind

    def _stop_follows_side(self, side: str) -> None:
        """A stop as suggested for the other side moves to this side's suggestion (a SELL's stop
        below the market, a BUY's above); a stop the trader typed stays."""
        _follow(self.stop_box, self._suggested_stops, side)

    def _stop_limit_follows_stop(self, *_args) -> None:
        """The STP LMT suggestion for this side is beyond the stop shown now (the services' rule,
        ``suggested_stop_limit``), not the one first suggested: a SELL's stop moved down below its
        limit left the limit above it, and the triggered order waited for a climb back. A STP LMT
        limit shown as suggested moves with it; a limit the trader typed stays. Nothing was
        suggested yet (no quote): nothing to follow."""
        key = (self.side_combo.currentText(), "STP LMT")
        was = self._suggested_limits.get(key)
        beyond = suggested_stop_limit(key[0], self.stop_box.price(), self.stop_box.tick)
        if was is None or beyond is None:  # no suggestion yet, or no stop to be beyond (being typed)
            return
        self._suggested_limits[key] = beyond
        if self.type_combo.currentText() == "STP LMT" and self.limit_box.price() == was:
            self.limit_box.set_price(beyond)

    def _limit_follows(self, *_args) -> None:
        """A limit as suggested for another side or order type moves to this one's suggestion
        (a STP LMT's beyond its stop, a LMT's at the market); a limit the trader typed stays."""
        _follow(self.limit_box, self._suggested_limits, self._limit_key())

    def show_check(self, fields: dict, may_send: bool, summary: str, reasons: list[str], action: str = "") -> None:
        """The verdict for ``fields``; ignored when the fields changed meanwhile (a newer check
        is on its way). ``action``: what Send does (``BUY 45 AAPL``), the check's own words."""
        if fields != self.fields():
            return
        if may_send:
            self._checked_fields = fields
            self._show_verdict(f"Risk: passed.\n{summary}", True)
            self.send_button.setText(f"Send {action}" if action else "Send")
            self.send_button.setEnabled(True)
            colour = SIDE_COLOURS[fields["side"]].name()
            self.send_button.setStyleSheet(f"QPushButton {{ background: {colour}; color: white; font-weight: bold; }}")
        else:
            self._checked_fields = None
            self.send_button.setEnabled(False)
            self.send_button.setStyleSheet("")
            self._show_verdict("Not sendable:\n" + "\n".join(f"• {r}" for r in reasons) + (f"\n{summary}" if summary else ""), False)

    def show_problem(self, fields: dict, text: str) -> None:
        if fields != self.fields():
            return
        self._checked_fields = None
        self.send_button.setEnabled(False)
        self.send_button.setStyleSheet("")
        self._show_verdict(text, False)

    def hideEvent(self, event) -> None:
        # a closed ticket asks for no verdict: its pause's check would come after the window (and,
        # at the end of a session, the loop that answers it) is gone
        self._check_timer.stop()
        super().hideEvent(event)

    def show_sent(self, text: str) -> None:
        """After a send: the outcome; the fields stay for the next order, Send waits for a new check."""
        self._checked_fields = None
        self.send_button.setEnabled(False)
        self.send_button.setStyleSheet("")
        self.send_button.setText("Send")
        self._show_verdict(text, True)
        self._shows_sent = True

    def forget_verdict(self, text: str) -> None:
        """The verdict shown no longer holds (``text`` says why, and when it is asked again):
        Send off until the next check, the fields as they are."""
        self._checked_fields = None
        self.send_button.setEnabled(False)
        self.send_button.setText("Send")
        self.send_button.setStyleSheet("")
        self._show_verdict(text, None)

    def forget_sent(self) -> None:
        """Reopened after a send: the last order's outcome is not this ticket's news any more (the
        activity log keeps it); the prompt again, until the next check."""
        if self._shows_sent:
            self._show_verdict(TYPE_AN_ORDER, None)

    _shows_sent = False

    def check_again(self) -> None:
        """Shown again on the fields it kept: their verdict is asked anew. It showed none when it
        was closed during the typing's pause, and one it showed may no longer hold (prices,
        positions, the risk settings moved while it was closed), and fields shown without one
        looked checked. After a send the amount is emptied instead: the order just sent is not
        offered again at one click (the symbol and the rest stay for the next order)."""
        if self._shows_sent:
            self.amount_edit.clear()
            self._show_verdict(TYPE_AN_ORDER, None)
        self._checked_fields = None
        self.send_button.setEnabled(False)
        self.send_button.setText("Send")
        self.send_button.setStyleSheet("")
        fields = self.fields()
        if fields["symbol"] and (fields["quantity"] or fields["notional"]):
            self._show_verdict(CHECKING, None)
            self.request_check()

    def _show_verdict(self, text: str, ok: bool | None) -> None:
        self._shows_sent = False
        colour = "" if ok is None else (PASS_COLOUR if ok else BLOCK_COLOUR)
        self.verdict_label.setStyleSheet(f"QLabel {{ color: {colour}; }}" if colour else "")
        self.verdict_label.setText(text)
        self._fit()  # a long verdict grows the dialog instead of squeezing the fields

    def _fit(self) -> None:
        """As tall as the contents need at the ticket's width, never wider once it is on screen:
        ``adjustSize()`` widened it to set a long verdict on fewer lines, and Send came to where
        Close had been a moment before, under the trader's pointer. Before it is shown, its own
        size (the fields' width, at least ``minimumWidth``)."""
        if not self.isVisible():
            self.adjustSize()
            return
        layout = self._body
        layout.activate()  # the rows shown or hidden, the verdict's new text: measured as they are now
        width = self.width()
        self.resize(width, max(layout.totalHeightForWidth(width), self.minimumSizeHint().height()))

    def _on_send(self) -> None:
        if self._checked_fields is None or self._checked_fields != self.fields():
            return
        self.send_button.setEnabled(False)
        self.send_requested.emit(dict(self._checked_fields))


def _follow(box: PriceBox, suggested: Mapping, key) -> None:
    """``box`` showing the suggestion of another key than ``key`` (another side, another order
    type) takes ``key``'s; a price the trader typed (no suggestion's) stays."""
    price, shown = suggested.get(key), box.price()
    if price is not None and shown is not None and shown != price and \
            shown in {v for k, v in suggested.items() if k != key}:
        box.set_price(price)
