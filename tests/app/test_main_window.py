"""The main window on its own: every panel docked, the layout saved on close and restored at
the next start, "reset layout" brings the default back, the mode always visible."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.gui.showing import shown


@pytest.mark.parametrize("mode", ["demo", "paper", "live"])
def test_mode_badge_and_title(qtbot, mode):
    from app.main_window import MainWindow

    window = MainWindow(mode=mode)
    qtbot.addWidget(window)
    assert window.mode_badge.text() == mode.upper()
    assert window.windowTitle().endswith(mode.upper())
    assert ("#d62828" in window.mode_badge.styleSheet()) == (mode == "live")


def test_layout_is_saved_on_close_restored_and_reset(qtbot, tmp_path):
    from app.main_window import MainWindow

    state_file = tmp_path / "ui-state.ini"
    first = MainWindow(mode="demo", ui_state_file=state_file)
    qtbot.addWidget(first)
    first.show()
    assert set(first.docks) == {"snapshots", "preview", "risk", "fills", "positions", "watchlist", "account", "charts", "audit",
                                "decisions", "backtest", "activity"}
    first.docks["audit"].hide()
    first.removeDockWidget(first.docks["fills"])
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, first.docks["fills"])
    first.docks["fills"].show()
    first.close()
    assert state_file.exists()

    second = MainWindow(mode="demo", ui_state_file=state_file)
    qtbot.addWidget(second)
    second.show()
    assert second.dockWidgetArea(second.docks["fills"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert second.docks["audit"].isHidden()

    second.reset_layout()
    assert second.dockWidgetArea(second.docks["fills"]) == Qt.DockWidgetArea.RightDockWidgetArea
    assert not second.docks["audit"].isHidden()


def test_without_a_state_file_nothing_is_written(qtbot, tmp_path, monkeypatch):
    from app.main_window import MainWindow

    monkeypatch.chdir(tmp_path)
    window = MainWindow(mode="demo", ui_state_file=None)
    qtbot.addWidget(window)
    window.close()
    assert list(tmp_path.iterdir()) == []


def test_a_panel_floated_out_of_the_short_bottom_strip_gets_room_and_a_saved_one_keeps_its_place(qtbot, tmp_path):
    """The Backtest panel docked in the bottom strip is a few rows high; floated out (its title's
    float button, a double-click, a drag) it gets at least 3/4 of the window's width and 2/3 of
    its height, inside the screen. Floating and placed by the trader, it comes back there."""
    from app.main_window import MainWindow

    state_file = tmp_path / "ui-state.ini"
    window = shown(qtbot, MainWindow(mode="demo", ui_state_file=state_file, compact=True))
    available = window.screen().availableGeometry()
    window.setGeometry(available.adjusted(0, 0, -available.width() // 10, -available.height() // 10))
    dock = window.docks["backtest"]
    dock.raise_()
    assert dock.height() < window.height() * 0.4  # the strip: too short to read a backtest's charts
    dock.setFloating(True)
    assert dock.isFloating()
    assert dock.width() >= int(window.width() * 0.75) and dock.height() >= int(window.height() * 0.65)
    screen = dock.screen().availableGeometry()
    assert screen.contains(dock.geometry()), (screen, dock.geometry())

    placed = dock.geometry().adjusted(10, 10, -200, -100)  # the trader's own place and size
    dock.setGeometry(placed)
    window.close()
    again = MainWindow(mode="demo", ui_state_file=state_file, compact=True)
    qtbot.addWidget(again)
    again.show()
    restored = again.docks["backtest"]
    assert restored.isFloating() and restored.size() == placed.size()


def test_the_theme_menu_checks_the_theme_shown_and_follows_every_change(qtbot):
    """View > Theme marked no theme: its entries are one exclusive group, the theme applied
    before the window was built comes checked, and every change (the menu's, the settings
    dialog's through MainWindow.apply_theme, another window's through widgets.theme.apply_theme)
    moves the check."""
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from widgets.theme import apply_theme

    app = QApplication.instance()
    before = app.styleSheet(), app.palette(), app.property("tc_theme")
    try:
        apply_theme(app, "light")
        window = MainWindow(mode="demo")
        qtbot.addWidget(window)
        actions = window.theme_actions
        assert set(actions) == {"dark", "light"}
        assert all(a.isCheckable() and a.actionGroup() is window.theme_group for a in actions.values())
        assert window.theme_group.isExclusive()

        def checked():
            return [name for name, action in actions.items() if action.isChecked()]

        assert checked() == ["light"]
        asked: list[str] = []
        window.theme_requested.connect(asked.append)
        actions["dark"].trigger()
        assert asked == ["dark"]
        window.apply_theme("dark")  # what the settings controller does with the request
        assert checked() == ["dark"]
        apply_theme(app, "light")  # another window of the process (a monitor) changed it
        assert checked() == ["light"]
    finally:
        app.setStyleSheet(before[0])
        app.setPalette(before[1])
        app.setProperty("tc_theme", before[2])
