"""Which system packages the Qt window needs and are missing (Linux, the xcb platform plugin).

Qt aborts the whole process when its platform plugin cannot load ("Could not load the Qt
platform plugin xcb ... xcb-cursor0 or libxcb-cursor0 is needed"), before Python can catch
anything. So the libraries the plugin links are checked first (``ldd`` on the plugin and its Qt
libraries, plus the ``xcb-cursor`` library Qt opens at run time) and the missing ones named as
Debian/Ubuntu packages. ``python -m app.qt_deps`` prints them (exit 1) or nothing (exit 0).
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# Shared library -> the Debian/Ubuntu package that ships it.
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
# What a fresh desktop usually lacks (README): named in this order.
TYPICAL = ("libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0",
           "libxcb-render-util0", "libxcb-randr0", "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1", "libegl1")

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def uses_xcb(env: Mapping[str, str] | None = None) -> bool:
    """Whether Qt would load the xcb platform plugin (Linux, no other platform chosen)."""
    if env is None:
        env = os.environ
    if not sys.platform.startswith("linux"):
        return False
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if not platform and env.get("WAYLAND_DISPLAY"):
        return False  # a Wayland session: Qt may use its wayland plugin
    return platform in ("", "xcb")


def no_display(env: Mapping[str, str] | None = None) -> str | None:
    """Why the window cannot open here (Qt's xcb plugin and no X display to connect to: a
    server, a container, an SSH session without forwarding), with how to open it anyway; None
    when there is a display (or another platform is chosen). Qt itself aborts with "could not
    connect to display ... Reinstalling the application may fix this problem"."""
    if env is None:
        env = os.environ
    if not uses_xcb(env) or env.get("DISPLAY"):
        return None
    return ("no display to open the window on: DISPLAY is not set (no desktop session here)\n"
            "  on a machine without a screen, run it in a virtual one: xvfb-run -a python3 dev.py console\n"
            "  (Debian/Ubuntu: sudo apt-get install xvfb); the headless commands need no display")


def qt_xcb_files() -> list[Path]:
    """The xcb platform plugin and the Qt libraries it loads (those that exist)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(next(iter(spec.submodule_search_locations))) / "Qt"
    candidates = [qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6",
                  qt / "lib" / "libQt6Gui.so.6"]
    return [path for path in candidates if path.is_file()]


def not_found_in_ldd(output: str) -> set[str]:
    """The libraries ``ldd`` reports as ``not found``."""
    return set(_NOT_FOUND.findall(output))


def missing_libraries() -> set[str]:
    missing: set[str] = set()
    ldd = shutil.which("ldd")
    if ldd:
        for path in qt_xcb_files():
            result = subprocess.run([ldd, str(path)], check=False, capture_output=True, text=True, timeout=30)
            missing |= not_found_in_ldd(result.stdout)
    if ctypes.util.find_library("xcb-cursor") is None:  # opened at run time (Qt 6.5+), not linked
        missing.add("libxcb-cursor.so.0")
    return missing


def packages_for(libraries: set[str]) -> list[str]:
    """Package names for ``libraries``, the usual ones first, each once."""
    names = {PACKAGES.get(library, library) for library in libraries}
    ordered = [name for name in TYPICAL if name in names]
    return ordered + sorted(names - set(ordered))


def message(packages: list[str]) -> str:
    return (f"the console window needs system packages that are missing: {', '.join(packages)}\n"
            f"  install them with: sudo apt-get install {' '.join(packages)}\n"
            "  (or run the headless commands / QT_QPA_PLATFORM=offscreen, which need none)")


def main() -> int:
    if not uses_xcb():
        return 0
    packages = packages_for(missing_libraries())
    if not packages:
        return 0
    print(message(packages), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
