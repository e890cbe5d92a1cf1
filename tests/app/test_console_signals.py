"""A signal closes the console as its close button does (app.main.close_on_signals): a `kill`
(SIGTERM: a service manager's stop, the session ending, a script) or Ctrl+C in its terminal
(SIGINT). SIGTERM killed it where it stood (the layout never saved, the broker left without a
word, the writer's last events in its journal only), and Ctrl+C raised KeyboardInterrupt in
whatever Qt callback was running. The real console in its own process (offscreen), against its
demo simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# end to end: a real window in its own process against the simulator; left out by dev.py test --quick
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_closes_the_console_as_its_close_button_does(isolated_user_dirs, signum):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    console = subprocess.Popen([sys.executable, "-m", "app", "--demo", "--log-level", "INFO"], cwd=ROOT, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    said = []
    try:
        assert console.stderr is not None
        for line in console.stderr:  # ends when the process does: never a wait without an end
            said.append(line)
            if "connected from" in line:  # the window's stack is up: its broker (the demo simulator) connected
                break
        assert any("connected from" in line for line in said), "".join(said)
        console.send_signal(signum)
        rest = console.communicate(timeout=60)[1]
    finally:
        if console.poll() is None:
            console.kill()
            console.wait()
    log = "".join(said) + rest
    assert console.returncode == 0, log  # the run's own orderly end: not -15, not a KeyboardInterrupt
    assert "Traceback" not in log, log
    # the window's close saved its layout (MainWindow.closeEvent), as the close button's does
    assert (isolated_user_dirs / "data" / "ui-state.ini").exists(), sorted(p.name for p in (isolated_user_dirs / "data").iterdir())
