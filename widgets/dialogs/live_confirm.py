"""The LIVE confirmation: the only way a live run starts from the console."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from services.domain import LIVE_CONFIRM_WORD, is_live_token

from ..models.base import fmt_money


class LiveConfirmDialog(QDialog):
    def __init__(self, account: str, order_count: int, gross_notional: Decimal, parent: QWidget | None = None,
                 *, currency: str = "USD") -> None:
        super().__init__(parent)
        self.setWindowTitle("Send LIVE orders")
        self.setModal(True)
        self.setObjectName("LiveConfirmDialog")
        warning = QLabel(
            f"These orders go to a <b>LIVE</b> account with real money.<br>"
            f"Type <b>{LIVE_CONFIRM_WORD}</b> to confirm."
        )
        warning.setObjectName("liveWarning")
        warning.setTextFormat(Qt.TextFormat.RichText)
        warning.setWordWrap(True)
        self.account_label = QLabel(account)
        self.count_label = QLabel(str(order_count))
        self.notional_label = QLabel(f"{fmt_money(gross_notional)} {currency}")
        self.token_edit = QLineEdit()
        self.token_edit.setPlaceholderText(LIVE_CONFIRM_WORD)
        form = QFormLayout()
        form.addRow("Account", self.account_label)
        form.addRow("Orders", self.count_label)
        form.addRow("Gross notional", self.notional_label)
        form.addRow("Confirmation", self.token_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Send LIVE orders")
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

    def _on_token_changed(self, text: str) -> None:
        self.ok_button.setEnabled(is_live_token(text))

    def token(self) -> str:
        """What was typed; the service checks it again."""
        return self.token_edit.text()

    def accept(self) -> None:
        if not is_live_token(self.token_edit.text()):
            return
        super().accept()
