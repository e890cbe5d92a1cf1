"""Keyboard only: the control Tab has reached shows that it has the focus, in both themes. In
the dark theme a combo box (Rounding, Order type), a check box (Sell holdings not in the
snapshot) and the buttons looked the same focused or not, so a trader tabbing through the
preview form lost track of where Enter or Space would land."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QPushButton, QVBoxLayout, QWidget

from widgets.theme import stylesheet

pytestmark = pytest.mark.timeout(60)


def _control(kind: str) -> QWidget:
    if kind == "combo":
        combo = QComboBox()
        combo.addItems(["nearest", "floor"])
        return combo
    if kind == "check":
        return QCheckBox("Sell holdings not in the snapshot")
    button = QPushButton({"button": "Preview", "executeButton": "Execute", "cancelAllButton": "Cancel All",
                          "haltButton": "Halt"}[kind])
    if kind != "button":
        button.setObjectName(kind)
    return button


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("kind", ["combo", "check", "button", "executeButton", "cancelAllButton", "haltButton"])
def test_a_focused_control_looks_different_from_the_same_control_unfocused(qtbot, theme, kind):
    form = QWidget()
    qtbot.addWidget(form)
    form.setStyleSheet(stylesheet(theme))
    layout = QVBoxLayout(form)
    other, control = QLineEdit(), _control(kind)
    layout.addWidget(other)
    layout.addWidget(control)
    with qtbot.waitActive(form):
        form.show()
        form.activateWindow()

    other.setFocus()
    qtbot.waitUntil(lambda: other.hasFocus() and not control.hasFocus())
    unfocused = control.grab().toImage()
    control.setFocus()
    qtbot.waitUntil(control.hasFocus)
    focused = control.grab().toImage()

    assert focused != unfocused, f"{kind} shows no focus in the {theme} theme"


def _frame_colours(image) -> set[int]:
    """The colours of a widget's outer frame (its first and last pixel rows and columns)."""
    w, h = image.width(), image.height()
    edge = [(x, 0) for x in range(w)] + [(x, h - 1) for x in range(w)] + [(0, y) for y in range(h)] + [(w - 1, y) for y in range(h)]
    return {image.pixel(x, y) & 0xFFFFFF for x, y in edge}


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("kind", ["table", "tree"])
def test_a_focused_table_shows_it_on_its_frame(qtbot, theme, kind):
    """Seen under Xvfb: Tab went from Halt into the blotter and the preview's table with no sign
    at all of where it was (the blotter's rows are painted by RecordTableView, without Qt's focus
    rectangle); the frame says it, whatever the rows hold."""
    from PySide6.QtGui import QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem

    from widgets.common import make_table

    form = QWidget()
    qtbot.addWidget(form)
    form.setStyleSheet(stylesheet(theme))
    layout = QVBoxLayout(form)
    if kind == "tree":
        control = QTreeWidget()
        control.addTopLevelItem(QTreeWidgetItem(["AAPL", "44"]))
    else:
        model = QStandardItemModel(0, 2)
        model.appendRow([QStandardItem("AAPL"), QStandardItem("44")])
        control = make_table(model)
    other = QLineEdit()
    layout.addWidget(other)
    layout.addWidget(control)
    with qtbot.waitActive(form):
        form.show()
        form.activateWindow()
    other.setFocus()
    qtbot.waitUntil(lambda: other.hasFocus() and not control.hasFocus())
    unfocused = _frame_colours(control.grab().toImage())
    control.setFocus()
    qtbot.waitUntil(control.hasFocus)
    focused = _frame_colours(control.grab().toImage())

    assert focused != unfocused, f"a focused {kind} looks the same as an unfocused one in the {theme} theme"
