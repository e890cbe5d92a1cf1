"""A name the trader typed or a file gave is shown as written, wherever a dialog or a label says
it. A QMessageBox's or a QLabel's text is guessed to be rich text when it looks like markup
(Qt.mightBeRichText), and the paper confirmation went through ``QMessageBox.question``, which
always guesses: a project named ``<b>alpha</b> & co`` showed as a bold 'alpha & co', and one
holding an unknown tag lost it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGui
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QMessageBox

from services.domain import PositionRecord
from widgets.common import confirm, live_text_label, plain_label
from widgets.dialogs.errors import error_box
from widgets.dialogs.live_confirm import LiveConfirmDialog
from widgets.models.positions import PositionsModel
from widgets.models.snapshots import SnapshotItemsModel
from widgets.views.positions import PositionsView
from widgets.views.snapshots import SnapshotsView

NAME = "<b>alpha</b> & co <script>"
NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)


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
    assert shown(view.errors_label) == f"{NAME}.csv: 1 problem; nothing was stored"
    for label in (plain_label(NAME), live_text_label()):
        qtbot.addWidget(label)
        label.setText(NAME)
        assert shown(label) == NAME


def tooltip_shown(text: str | None) -> str:
    """What a tooltip puts on the screen: Qt shows it as rich text when Qt.mightBeRichText says it
    may be (QToolTip.showText), else as written."""
    if not text or not QtGui.mightBeRichText(text):
        return text or ""
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


# Tooltips guessed rich text too (QToolTip.showText): what the broker said, a file gave or a
# trader typed goes through widgets.plain_text.plain_tooltip, which leaves a text with nothing to
# escape as it is.


def test_the_blotters_tooltip_shows_what_the_broker_said_as_written(qtbot):
    from services.domain import OrderState
    from widgets.models.orders import OrderBlotterModel

    from .factories import order

    model = OrderBlotterModel()
    model.reset([replace(order(1, status=OrderState.REJECTED), rejected_reason=f"201: {NAME} refused")])
    tip = model.data(model.index(0, OrderBlotterModel.STATUS), Qt.ItemDataRole.ToolTipRole)
    assert tooltip_shown(tip) == f"201: {NAME} refused"


def test_the_snapshot_imports_problems_show_their_tooltips_as_written(qtbot):
    view = SnapshotsView(SnapshotItemsModel())
    qtbot.addWidget(view)
    view.show_import_errors(f"{NAME}.csv", [f"line 2: symbol {NAME} is not a symbol"])
    problem = view.errors_list.item(0)
    assert problem.text().endswith(f"line 2: symbol {NAME} is not a symbol")
    assert tooltip_shown(problem.toolTip()) == problem.text()
    assert tooltip_shown(view.errors_label.toolTip()) == f"{NAME}.csv: 1 problem; nothing was stored"


def test_a_live_text_labels_whole_text_tooltip_is_as_written(qtbot):
    from widgets.common import set_live_text
    from widgets.plain_text import plain_tooltip

    label = live_text_label()
    qtbot.addWidget(label)
    set_live_text(label, f"2 fills · {NAME}\nsecond line")
    assert (shown(label), tooltip_shown(label.toolTip())) == (f"2 fills · {NAME}\nsecond line",) * 2
    assert plain_tooltip("AAPL < 100 shares") == "AAPL < 100 shares"  # nothing Qt would take for markup


def test_the_positions_trees_project_row_and_the_status_bars_message_tooltips_are_as_written(qtbot):
    from widgets.views.status import ElidingStatusBar

    positions = PositionsView(PositionsModel(project_names={1: NAME}))
    qtbot.addWidget(positions)
    positions.model.reset([PositionRecord(1, "DU1", "AAPL", Decimal(10), Decimal(100), Decimal(0), NOW,
                                          market_price=Decimal(110))])
    rows = [positions.tree.topLevelItem(i) for i in range(positions.tree.topLevelItemCount())]
    [project] = [row for row in rows if row.text(0) == NAME]
    assert NAME in tooltip_shown(project.toolTip(0))

    bar = ElidingStatusBar()
    qtbot.addWidget(bar)
    bar.resize(120, 30)
    bar.show()
    message = f"Imported snapshot 3 of {NAME} with a long line that cannot fit"
    bar.showMessage(message)
    assert bar.toolTip() and tooltip_shown(bar.toolTip()) == message
