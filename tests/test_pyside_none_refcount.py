"""Regression guard for the PySide6 6.12.0 bug on CPython < 3.12: every void Qt call dropped a
reference to None, and the process aborted with "Fatal Python error: none_dealloc" after a few
thousand calls. pyproject pins an unaffected PySide6; this proves the installed one is fine."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

CALLS = 100_000


@pytest.mark.slow  # 100,000 Qt calls in a fresh interpreter
def test_many_void_qt_calls_exit_cleanly():
    script = textwrap.dedent(
        f"""
        import sys
        from PySide6.QtWidgets import QApplication, QLabel, QTableWidget, QTableWidgetItem
        app = QApplication([])
        label = QLabel()
        table = QTableWidget(4, 4)
        before = sys.getrefcount(None)
        for i in range({CALLS}):
            label.setText(str(i & 1023))      # void setter
            label.resize(100 + (i & 7), 20)   # void, two ints
            if i % 10 == 0:
                table.setItem(i & 3, (i >> 2) & 3, QTableWidgetItem("x"))
        after = sys.getrefcount(None)
        print("calls-done", before, after, flush=True)
        """
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, env=env, timeout=240)
    assert "none_dealloc" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    line = next(out for out in result.stdout.splitlines() if out.startswith("calls-done"))
    _, before, after = line.split()
    if sys.version_info < (3, 12):
        # None is not immortal before 3.12: a leak would show as a count that fell by ~CALLS.
        assert int(before) - int(after) < 1000, f"None refcount fell from {before} to {after}"
