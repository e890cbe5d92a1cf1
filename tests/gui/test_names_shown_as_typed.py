"""A name the trader typed or a file gave is shown as written, wherever a dialog or a label says
it. A QMessageBox's or a QLabel's text is guessed to be rich text when it looks like markup
(Qt.mightBeRichText), and the paper confirmation went through ``QMessageBox.question``, which
always guesses: a project named ``<b>alpha</b> & co`` showed as a bold 'alpha & co', and one
holding an unknown tag lost it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGui
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QMessageBox

from widgets.common import confirm, live_text_label, plain_label
from widgets.dialogs.errors import error_box
from widgets.dialogs.live_confirm import LiveConfirmDialog
from widgets.models.snapshots import SnapshotItemsModel
from widgets.views.snapshots import SnapshotsView

NAME = "<b>alpha</b> & co <script>"


def shown(label: QLabel) -> str:
    """The text a label puts on the screen: its text, or what its markup renders to."""
    fmt = label.textFormat()
    if fmt == Qt.TextFormat.PlainText or (fmt == Qt.TextFormat.AutoText and not QtGui.mightBeRichText(label.text())):
        return label.text()
    document = QTextDocument()
    document.setHtml(label.text())
    return document.toPlainText()


def _message_label(box: QMessageBox) -> QLabel:
    return box.findChild(QLabel, "qt_msgbox_label")


@pytest.mark.parametrize("button", [QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No])
def test_the_paper_confirmation_shows_the_project_name_as_typed(qtbot, monkeypatch, button):
    question = f"Send plan 7: 2 orders, gross notional 1,000.00 USD, to the paper account DU1?\n\nProject: {NAME}"
    seen = []

    def exec_(box):
        seen.append(shown(_message_label(box)))
        box.button(button).click()
        return button

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    assert confirm(None, "Execute paper run", question) is (button == QMessageBox.StandardButton.Yes)
    assert seen == [question]


def test_the_live_confirmation_and_an_error_show_names_as_typed(qtbot):
    dialog = LiveConfirmDialog("DU1", 2, Decimal("1000"), about=[("Project", NAME)])
    qtbot.addWidget(dialog)
    assert [shown(label) for label in dialog.about_labels] == [NAME]
    dialog = LiveConfirmDialog("DU1", 0, Decimal(0), subject=[("Order", f"BUY 1 AAPL · {NAME}")])
    qtbot.addWidget(dialog)
    assert [shown(label) for label in dialog.subject_labels] == [f"BUY 1 AAPL · {NAME}"]
    box = error_box(None, "Import failed", f"project {NAME}: no such snapshot")
    qtbot.addWidget(box)
    assert shown(_message_label(box)) == f"project {NAME}: no such snapshot"


def test_a_panels_label_shows_a_file_name_as_typed(qtbot):
    view = SnapshotsView(SnapshotItemsModel())
    qtbot.addWidget(view)
    view.show_import_errors(f"{NAME}.csv", ["line 2: weight is not a number"])
    assert shown(view.errors_label) == f"{NAME}.csv: 1 problem, nothing imported"
    for label in (plain_label(NAME), live_text_label()):
        qtbot.addWidget(label)
        label.setText(NAME)
        assert shown(label) == NAME
