"""Every item of every menu of the main window has an Alt shortcut (a mnemonic) of its own in its
menu: File and Trading had them, the View menu's panels, theme and sound items had none, so the
keyboard reached them only by the arrows. A layout the trader named is numbered (&1, &2: a name
is not ours to mark), its "&" shown as typed (a layout named "R&D" read "RD", Alt+D its key)."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QMenu

# Qt's rule: a single "&" marks the next character; "&&" is an ampersand
MNEMONIC = re.compile(r"&(.)")


def _mnemonic(text: str) -> str | None:
    keys = [m[1] for m in MNEMONIC.finditer(text) if m[1] != "&"]
    return keys[0].lower() if len(keys) == 1 else None


def _menus(menu: QMenu):
    yield menu
    for action in menu.actions():
        if action.menu() is not None:
            yield from _menus(action.menu())


def _problems(window) -> list[str]:
    bar = window.menuBar()
    groups = [("the menu bar", bar.actions())]
    groups += [(menu.title(), menu.actions()) for top in bar.actions() for menu in _menus(top.menu())]
    problems = []
    for title, actions in groups:
        seen: dict[str, str] = {}
        for action in actions:
            if action.isSeparator() or not action.isVisible() or not action.isEnabled():
                continue  # a disabled placeholder ("(no saved layouts)") is not chosen
            text, key = action.text(), _mnemonic(action.text())
            where = f"{title!r}: {text!r}"
            if key is None:
                problems.append(f"{where} has no mnemonic")
            elif key in seen:
                problems.append(f"{where} shares its mnemonic {key!r} with {seen[key]!r}")
            else:
                seen[key] = text
    return problems


def test_every_item_of_every_menu_has_a_mnemonic_of_its_own(qtbot, tmp_path):
    from app.main_window import MainWindow

    window = MainWindow(mode="demo", ui_state_file=tmp_path / "ui-state.ini")
    qtbot.addWidget(window)
    window.save_layout_as("R&D")
    window.save_layout_as("Trading")
    layouts = window._fill_layouts_menu()  # as View -> Layouts fills itself when it opens
    assert _problems(window) == []
    names = [a.text() for a in layouts.actions() if not a.isSeparator() and a.menu() is None]
    assert names == ["&1 R&&D", "&2 Trading"]  # shown "1 R&D", "2 Trading"
    panels = window.panel_actions
    assert panels["positions"].text().replace("&&", "").count("&") == 1 and "P&&L" in panels["positions"].text()


def test_a_monitors_menus_have_a_mnemonic_each_too(qtbot, tmp_path):
    from app.main_window import MainWindow

    window = MainWindow(mode="paper", ui_state_file=tmp_path / "ui-state.ini", monitor=True)
    qtbot.addWidget(window)
    assert _problems(window) == []
