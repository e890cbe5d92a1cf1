"""The account panel: net liquidation, cash, buying power, margin and the day's P&L, refreshed by
the controller while connected (the figures come from services.execution.account). The header
says when each group was pushed (the summary's values and the P&L arrive at different moments),
in the service's words (``AccountSummary.as_of``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from ..common import plain_label
from ..models.base import fmt_money
from ..models.positions import pnl_colour

PNL_LABELS = ("Daily P&L", "Unrealized P&L", "Realized P&L")


class AccountView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header_label = plain_label("Not connected")
        self.header_label.setObjectName("accountHeader")
        # the two moments make a long line: it wraps in the narrow right column rather than
        # widening the panel into a sideways scroll
        self.header_label.setWordWrap(True)
        self.form = QFormLayout()
        self.values: dict[str, QLabel] = {}  # label -> its value label (tests read them)
        # eleven figures in a panel that shares the right column on a laptop: they scroll there,
        # never squeezed onto each other below their height
        content = QWidget()
        inner = QVBoxLayout(content)
        inner.setContentsMargins(6, 6, 6, 6)
        inner.addWidget(self.header_label)
        inner.addLayout(self.form)
        inner.addStretch(1)
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidget(content)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll_area)

    def show_summary(self, account: str, currency: str, rows: list[tuple[str, Decimal | None]], moments: str,
                     notes: Mapping[str, str] | None = None) -> None:
        """``moments``: when each group of figures is from (``summary as of 14:03:12 · P&L as of
        14:03:40 UTC``); ``notes``: label -> the row's tooltip (what the figure is, as the service says it)."""
        self.header_label.setText(f"{account} · {currency} · {moments}")
        for label, amount in rows:
            value = self.values.get(label)
            if value is None:
                value = self.values[label] = plain_label()
                value.setObjectName(f"account_{label}")
                value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                value.setMinimumWidth(120)
                # a QLabel of its own: the form's label would read the "&" of "P&L" as a mnemonic
                name = QLabel(label)
                note = (notes or {}).get(label)
                if note:
                    name.setToolTip(note)
                    value.setToolTip(note)
                self.form.addRow(name, value)
            value.setText("—" if amount is None else fmt_money(amount))
            colour = pnl_colour(amount) if label in PNL_LABELS else None
            value.setStyleSheet(f"QLabel {{ color: {colour.name()}; }}" if colour is not None else "")

    def show_offline(self, text: str) -> None:
        self.header_label.setText(text)

    def value(self, label: str) -> str:
        widget = self.values.get(label)
        return "" if widget is None else widget.text()
