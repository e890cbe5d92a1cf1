"""Clear error dialogs: a one-line message the user can act on, details folded away."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from services.urls import redact_text


def error_box(parent: QWidget | None, title: str, message: str, details: str | None = None) -> QMessageBox:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    # Messages can quote connection URLs (a database error): never show a password.
    box.setText(redact_text(message))
    box.setTextFormat(Qt.TextFormat.PlainText)  # a message quoting a name with '<' or '&' shows it as written
    if details:
        box.setDetailedText(redact_text(details))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    return box


def show_error(parent: QWidget | None, title: str, message: str, details: str | None = None) -> None:
    error_box(parent, title, message, details).exec()
