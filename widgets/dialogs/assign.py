"""Assign unassigned shares to a project's book, from the Positions panel's unassigned line: the
window's way to what the ``assign`` command does (services.books.BooksService.assign, audited).
Built from the line it shows (its symbol, account and unassigned quantity) and the project names
the positions model holds; no database here. Intent signal only: ``assign_requested`` with the
fields as typed; the controller answers with ``show_refusal`` (the service's words) or
``assigned`` (the dialog closes)."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from services.core.books import UNASSIGNED
from services.core.typed_numbers import plain
from services.domain import PositionRecord

from ..common import plain_label, wheel_only_when_focused
from .order_ticket import BLOCK_COLOUR

CHOOSE_PROJECT = "Choose a project"
COST_HINT = "required: what each share cost"


class AssignDialog(QDialog):
    # {"symbol", "account", "project", "quantity", "cost"}: the quantity and cost as typed
    assign_requested = Signal(dict)

    def __init__(self, line: PositionRecord, projects: Iterable[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line = line
        self.setObjectName("assignDialog")
        self.setWindowTitle(f"Assign {line.symbol} to a project")
        self.setModal(True)
        self.project_combo = QComboBox()
        names = sorted({name for name in projects if name and name != UNASSIGNED}, key=str.casefold)
        # no project chosen for the trader: the first in the list is not a default anyone meant
        self.project_combo.addItem(CHOOSE_PROJECT)
        self.project_combo.addItems(names)
        self.quantity_edit = QLineEdit(plain(line.quantity))
        self.cost_edit = QLineEdit()
        self.cost_edit.setPlaceholderText(COST_HINT)
        self.cost_edit.setToolTip("The price per share the project's book holds them at (its average cost and P&L); "
                                  "the assignment is audited at it")
        self.about_label = plain_label(f"{plain(line.quantity)} {line.symbol} on account {line.account} are in no "
                                       f"project's book: assigned, the project's book holds them at the cost stated "
                                       f"(audited; as `assign` does).")
        self.about_label.setWordWrap(True)
        self.error_label = plain_label()
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"QLabel {{ color: {BLOCK_COLOUR}; }}")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.assign_button = self.buttons.addButton("Assign", QDialogButtonBox.ButtonRole.AcceptRole)
        self.assign_button.setObjectName("assignButton")
        # Enter assigns, also after a refusal: disabling the button while the service answered
        # moved the focus to Cancel (seen under Xvfb), and Cancel, the button box's first button,
        # was the default as the dialog opened: Enter in the cost field closed the dialog
        self.assign_button.setDefault(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAutoDefault(False)  # else Enter cancelled
        self._asking = False  # a request is with the controller: another click is not a second one
        self.buttons.accepted.connect(self.request_assign)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Project", self.project_combo)
        form.addRow("Quantity", self.quantity_edit)
        form.addRow("Cost per share", self.cost_edit)
        layout = QVBoxLayout(self)
        layout.addWidget(self.about_label)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(380)
        for signal in (self.project_combo.currentTextChanged, self.quantity_edit.textEdited, self.cost_edit.textEdited):
            signal.connect(lambda *_args: self.error_label.clear())
        wheel_only_when_focused(self)  # a wheel over a choice does not turn it unless it is in use

    def project(self) -> str:
        return "" if self.project_combo.currentIndex() <= 0 else self.project_combo.currentText()

    def fields(self) -> dict:
        """What the dialog says, as typed (the service reads the numbers and refuses with the field named)."""
        return {"symbol": self.line.symbol, "account": self.line.account, "project": self.project(),
                "quantity": self.quantity_edit.text().strip(), "cost": self.cost_edit.text().strip()}

    def request_assign(self) -> None:
        """Assign clicked (or Enter): the intent, nothing done here. The dialog stays open until
        the controller says the assignment was made."""
        if self._asking:
            return  # one request at a time; the answer ends it
        self.error_label.clear()
        self._asking = True
        self.assign_requested.emit(self.fields())

    def show_refusal(self, text: str) -> None:
        """The service's refusal (not enough unassigned, a cost not a price, no project): the
        dialog stays open for the trader to put it right."""
        self._asking = False
        self.error_label.setText(text)

    def assigned(self) -> None:
        self.accept()
