"""``python3 dev.py test``: how it starts pytest."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dev():
    spec = importlib.util.spec_from_file_location("dev_entry_point", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_suite_writes_bytecode_caches_whatever_the_environment_says(monkeypatch):
    """PYTHONDONTWRITEBYTECODE=1 (set on this project's machines) made each `python -m app` child
    of the suite compile every module it imports again, and each worker its test modules."""
    dev = _dev()
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(dev, "ensure_mysql", lambda env: None)
    monkeypatch.setattr(dev, "ensure_screen", lambda env: None)
    started: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(dev.subprocess, "call", lambda command, cwd, env: started.append((command, env)) or 0)
    assert dev.run_tests(["--quick"]) == 0
    [(command, env)] = started
    assert command[1:3] == ["-m", "pytest"] and command[-2:] == ["-m", "not slow"]
    assert "PYTHONDONTWRITEBYTECODE" not in env


class _Machine:
    """What ``ensure_screen`` asks of the machine, answered as told, and what it ran."""

    def __init__(self, monkeypatch, dev, *, xvfb: bool, libraries: str, root: bool, installs: list[int]):
        self.ran: list[list[str]] = []
        self.installs = list(installs)
        monkeypatch.setattr(dev.shutil, "which", lambda name: None if name == "Xvfb" and not xvfb else f"/usr/bin/{name}")
        monkeypatch.setattr(dev.os, "geteuid", lambda: 0 if root else 1000)
        monkeypatch.setattr(dev.subprocess, "run", lambda *a, **k: type("Done", (), {"stdout": libraries + "\n"})())
        monkeypatch.setattr(dev.subprocess, "call", self.call)

    def call(self, command, env=None):
        self.ran.append(command)
        return self.installs.pop(0) if command[1] == "install" else 0


def test_under_ci_what_the_x_display_tests_lack_is_installed_and_nothing_when_they_lack_nothing(monkeypatch):
    """A fresh machine without Xvfb failed the X display tests under CI ("Xvfb is not installed");
    `dev.py test` starts MariaDB there, and installs what those tests need the same way."""
    dev = _dev()
    machine = _Machine(monkeypatch, dev, xvfb=False, libraries="libxcb-icccm4 libxcb-keysyms1", root=True, installs=[0])
    dev.ensure_screen({"CI": "true"})
    assert machine.ran == [["apt-get", "install", "-y", "-q", "xvfb", "libxcb-icccm4", "libxcb-keysyms1"]]
    # old package lists: updated, then once more
    machine = _Machine(monkeypatch, dev, xvfb=False, libraries="", root=True, installs=[100, 0])
    dev.ensure_screen({"CI": "true"})
    assert machine.ran == [["apt-get", "install", "-y", "-q", "xvfb"], ["apt-get", "update", "-q"],
                           ["apt-get", "install", "-y", "-q", "xvfb"]]
    for env, xvfb, root in (({"CI": "true"}, True, True), ({}, False, True), ({"CI": "true"}, False, False)):
        machine = _Machine(monkeypatch, dev, xvfb=xvfb, libraries="", root=root, installs=[])
        dev.ensure_screen(env)  # nothing lacking; outside CI; not root: nothing installed
        assert machine.ran == [], (env, xvfb, root)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="exec replaces the launcher on POSIX; /proc tells its command")
def test_a_signal_to_the_launcher_reaches_the_command_itself():
    """`dev.py console` / `dev.py run` become the command (exec): a kill of the launcher reached
    it alone before, and the console it had started ran on, orphaned, writing to its database
    (seen: five windows left on one screen by `kill <dev.py pid>`). The launcher's pid is the
    command's; SIGTERM stops it (the simulator's own orderly stop) and its exit is the launcher's."""
    launcher = subprocess.Popen([sys.executable, str(ROOT / "dev.py"), "run", "sim", "--port", "0"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        said = ""
        for line in launcher.stdout:  # ends when the process does: no wait without an end
            said += line
            if "listening on" in line:
                break
        assert "listening on" in said, said
        command = (Path("/proc") / str(launcher.pid) / "cmdline").read_bytes().split(b"\0")
        assert b"-m" in command and b"app" in command, command  # the launcher's pid runs the command itself
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 0  # the simulator's orderly stop, said by the launcher's exit
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
