"""The GUI process's switch interval (app/gil_turns.py) is set and given back."""

from __future__ import annotations

import sys

from app.gil_turns import GUI_SWITCH_INTERVAL_S, prefer_gui_thread


def test_the_switch_interval_is_shortened_for_the_gui_and_restored():
    before = sys.getswitchinterval()
    restore = prefer_gui_thread()
    try:
        assert abs(sys.getswitchinterval() - GUI_SWITCH_INTERVAL_S) < 1e-9
        assert before > GUI_SWITCH_INTERVAL_S
    finally:
        restore()
    assert sys.getswitchinterval() == before
