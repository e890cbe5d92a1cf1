"""Showing a widget in a GUI test as the trader would see it."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QWidget

W = TypeVar("W", bound=QWidget)


def shown(qtbot, widget: W, size: tuple[int, int] | None = None) -> W:
    """``widget`` owned by the test (closed after it), resized to ``size`` and shown, once its
    window is exposed. pytest-qt's ``waitExposed`` is a context manager around the ``show``:
    called on its own after it, it waits for nothing."""
    qtbot.addWidget(widget)
    if size is not None:
        widget.resize(*size)
    with qtbot.waitExposed(widget):
        widget.show()
    return widget
