"""Dark and light themes: a Fusion base, a palette, and the QSS in ``resources/styles``."""

from __future__ import annotations

import weakref
from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

STYLES_DIR = Path(__file__).resolve().parents[1] / "resources" / "styles"
THEMES = ("dark", "light")


def stylesheet(name: str) -> str:
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(THEMES)}")
    return (STYLES_DIR / f"{name}.qss").read_text(encoding="utf-8")


def _palette(name: str) -> QPalette:
    palette = QPalette()
    if name == "dark":
        colours = {
            QPalette.ColorRole.Window: "#1e2127", QPalette.ColorRole.WindowText: "#d7dae0",
            QPalette.ColorRole.Base: "#1a1d22", QPalette.ColorRole.AlternateBase: "#20242a",
            QPalette.ColorRole.Text: "#d7dae0", QPalette.ColorRole.Button: "#2b3038",
            QPalette.ColorRole.ButtonText: "#d7dae0", QPalette.ColorRole.Highlight: "#2f5d8a",
            QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2b3038",
            QPalette.ColorRole.ToolTipText: "#e6e8ec", QPalette.ColorRole.PlaceholderText: "#6b717c",
        }
    else:
        colours = {
            QPalette.ColorRole.Window: "#f6f7f9", QPalette.ColorRole.WindowText: "#1f2329",
            QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.AlternateBase: "#f3f5f8",
            QPalette.ColorRole.Text: "#1f2329", QPalette.ColorRole.Button: "#ffffff",
            QPalette.ColorRole.ButtonText: "#1f2329", QPalette.ColorRole.Highlight: "#cfe2fb",
            QPalette.ColorRole.HighlightedText: "#0b1a2e", QPalette.ColorRole.ToolTipBase: "#ffffe0",
            QPalette.ColorRole.ToolTipText: "#1f2329", QPalette.ColorRole.PlaceholderText: "#9aa0aa",
        }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    return palette


_FOLLOWERS: weakref.WeakSet = weakref.WeakSet()


def follow_theme(widget) -> None:
    """``widget.apply_theme_colours(name)`` is called by every ``apply_theme`` from now on, as
    long as the widget lives."""
    _FOLLOWERS.add(widget)


def apply_theme(app: QApplication, name: str) -> None:
    """Apply ``dark`` or ``light`` to the whole application (and pyqtgraph if loaded)."""
    qss = stylesheet(name)
    app.setStyle("Fusion")
    app.setPalette(_palette(name))
    app.setStyleSheet(qss)
    app.setProperty("tc_theme", name)
    import sys

    pg = sys.modules.get("pyqtgraph")
    if pg is not None:
        pg.setConfigOptions(background="#1a1d22" if name == "dark" else "w",
                            foreground="#d7dae0" if name == "dark" else "#1f2329")
    # Widgets that paint their own colours (the pyqtgraph charts) follow the theme too: the
    # ones that asked to (``follow_theme``), not a walk over ``app.allWidgets()``, which wraps
    # every widget of the process and crashed (a segmentation fault inside that call) when a
    # widget of an earlier window was half torn down.
    for widget in list(_FOLLOWERS):
        try:
            widget.apply_theme_colours(name)
        except RuntimeError:  # its C++ widget is gone (PySide says so): nothing to recolour
            _FOLLOWERS.discard(widget)
