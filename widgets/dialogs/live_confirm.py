"""The LIVE confirmation: the only way a live run starts from the console.

It says what is being confirmed: a run's order count and gross notional, or (``subject``) the
lines of whatever else asks for the word (starting a live session, a replace, a cancel). Only
typing the word and clicking the button accepts: Enter does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from services.core.wording import counted
from services.domain import LIVE_CONFIRM_WORD, is_live_token

from ..common import plain_label
from ..models.base import fmt_money


class LiveConfirmDialog(QDialog):
    def __init__(self, account: str, order_count: int, gross_notional: Decimal, parent: QWidget | None = None,
                 *, currency: str | None = "USD", subject: Sequence[tuple[str, str]] | None = None,
                 action: str = "Send LIVE orders", about: Sequence[tuple[str, str]] = ()) -> None:
        """``subject``: (label, text) rows shown instead of the order count and gross notional,
        for what is not a run; ``about``: (label, text) rows above the orders saying whose they
        are (the project and its snapshot); ``currency``: the gross notional's (None: not known,
        none said); ``action``: the accept button's text (what it does)."""
        super().__init__(parent)
        self.setWindowTitle(action)
        self.setModal(True)
        self.setObjectName("LiveConfirmDialog")
        self.setMinimumWidth(500)  # what is confirmed reads on one or two lines, not a narrow column
        warning = QLabel(
            ("These orders go to" if subject is None else "This acts on")
            + " a <b>LIVE</b> account with real money.<br>"
            f"Type <b>{LIVE_CONFIRM_WORD}</b> to confirm."
        )
        warning.setObjectName("liveWarning")
        warning.setTextFormat(Qt.TextFormat.RichText)
        warning.setWordWrap(True)
        self.account_label = plain_label(account)
        self.order_count = order_count
        self.count_label = QLabel(str(order_count))
        self.notional_label = QLabel(fmt_money(gross_notional) + (f" {currency}" if currency else ""))
        self.token_edit = QLineEdit()
        self.token_edit.setPlaceholderText(LIVE_CONFIRM_WORD)
        form = QFormLayout()
        form.addRow("Account", self.account_label)
        self.about_labels: list[QLabel] = []
        for label, text in about:
            value = plain_label(text)
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setObjectName(f"about{label}")
            form.addRow(label, value)
            self.about_labels.append(value)
        self.subject_labels: list[QLabel] = []
        if subject is None:
            form.addRow("Orders", self.count_label)
            form.addRow("Gross notional", self.notional_label)
        else:
            for label, text in subject:
                value = plain_label(text)
                value.setWordWrap(True)
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                form.addRow(label, value)
                self.subject_labels.append(value)
        form.addRow("Confirmation", self.token_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(action)
        self.ok_button.setEnabled(False)
        # Enter must not accept by default: the user has to reach the button deliberately.
        self.ok_button.setAutoDefault(False)
        self.ok_button.setDefault(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.token_edit.textChanged.connect(self._on_token_changed)
        layout = QVBoxLayout(self)
        layout.addWidget(warning)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

    def subject_text(self) -> str:
        """What the dialog confirms, as the trader reads it."""
        if not self.subject_labels:
            whose = "".join(f"{label.text()} · " for label in self.about_labels)
            return f"{whose}{counted(self.order_count, 'order')}, gross {self.notional_label.text()}"
        return " · ".join(label.text() for label in self.subject_labels)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Enter (in the word's field or anywhere) accepts nothing: the trader clicks the button.
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return
        super().keyPressEvent(event)

    def _on_token_changed(self, text: str) -> None:
        self.ok_button.setEnabled(is_live_token(text))

    def token(self) -> str:
        """What was typed; the service checks it again."""
        return self.token_edit.text()

    def accept(self) -> None:
        if not is_live_token(self.token_edit.text()):
            return
        super().accept()
