"""The first start on a fresh Linux desktop names the missing system packages of Qt's xcb
plugin instead of Qt's abort message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app import qt_deps

ROOT = Path(__file__).resolve().parents[2]

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
\tlibEGL.so.1 => not found
"""


def test_ldd_not_found_lines_become_debian_packages():
    libraries = qt_deps.not_found_in_ldd(LDD_OUTPUT) | {"libxcb-cursor.so.0"}
    assert libraries == {"libxcb-icccm.so.4", "libxkbcommon-x11.so.0", "libEGL.so.1", "libxcb-cursor.so.0"}
    packages = qt_deps.packages_for(libraries)
    assert packages == ["libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libegl1"]
    text = qt_deps.message(packages)
    assert "sudo apt-get install libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libegl1" in text


def test_an_unknown_library_is_named_as_itself():
    assert qt_deps.packages_for({"libweird.so.3"}) == ["libweird.so.3"]


def test_only_the_xcb_platform_is_checked():
    if not sys.platform.startswith("linux"):
        assert qt_deps.uses_xcb({}) is False
        return
    assert qt_deps.uses_xcb({}) is True
    assert qt_deps.uses_xcb({"QT_QPA_PLATFORM": "xcb"}) is True
    assert qt_deps.uses_xcb({"QT_QPA_PLATFORM": "offscreen"}) is False
    assert qt_deps.uses_xcb({"WAYLAND_DISPLAY": "wayland-0"}) is False


def test_the_plugin_files_are_found_in_the_installed_pyside():
    if sys.platform.startswith("linux"):
        assert any(path.name == "libqxcb.so" for path in qt_deps.qt_xcb_files())


def test_the_check_names_what_this_machine_lacks_or_stays_silent():
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "app.qt_deps"], check=False, env=env, capture_output=True, text=True, timeout=60)
    expected = qt_deps.packages_for(qt_deps.missing_libraries()) if qt_deps.uses_xcb(env) else []
    if expected:
        assert result.returncode == 1 and "sudo apt-get install " + " ".join(expected) in result.stderr
    else:
        assert (result.returncode, result.stderr) == (0, "")
    offscreen = subprocess.run([sys.executable, "-m", "app.qt_deps"], check=False, env={**env, "QT_QPA_PLATFORM": "offscreen"},
                               capture_output=True, text=True, timeout=60)
    assert (offscreen.returncode, offscreen.stderr) == (0, "")


def test_without_a_display_the_console_says_so_and_how_to_run_it_headless(tmp_path):
    """On a machine with no desktop session (no DISPLAY) Qt aborted with "could not connect to
    display ... Reinstalling the application may fix this problem": the console now says what
    is missing and how to open it anyway, and exits 2 before Qt starts."""
    if not sys.platform.startswith("linux"):
        return
    assert "DISPLAY" in qt_deps.no_display({})
    assert qt_deps.no_display({"DISPLAY": ":0"}) is None
    assert qt_deps.no_display({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert qt_deps.no_display({"QT_QPA_PLATFORM": "offscreen"}) is None
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DISPLAY")}
    env.update(PYTHONPATH=str(ROOT), HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "app", "--demo"], check=False, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "no display to open the window on" in result.stderr and "xvfb-run -a" in result.stderr
    assert "Reinstalling" not in result.stderr
