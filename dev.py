#!/usr/bin/env python3
"""Self-contained developer entry point: needs only Python 3.11+ and git.

    python3 dev.py console [ARGS...]   open the console (demo mode by default)
    python3 dev.py test [PYTEST ARGS]  run the whole test suite
    python3 dev.py test --quick [...]  everything not marked slow (-m "not slow")
                                       (tests run in 4 workers; TC_TEST_WORKERS=N or -n 0 to change)
    python3 dev.py soak [--minutes N] [--mysql]   the soak test (see devtools/soak.py)
    python3 dev.py bench [NAME ...]    run the benchmarks (see README; `bench --help` lists them
                                       with their options)
    python3 dev.py run ARGS...         any `trading-console` command inside the environment

Each command creates `.venv` beside this file and installs the project with its test extra
when the environment is missing or `pyproject.toml` changed since the last install.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".tc-install-stamp"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def install_fingerprint() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python starts it, before the venv
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    fingerprint = install_fingerprint()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return
    if not PYTHON.exists():
        say(f"creating a virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    say("installing the project and its test tools (first run only; a few minutes)")
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-q", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(fingerprint)


def mysql_reachable(url: str) -> tuple[bool, str]:
    probe = (
        "import sys, sqlalchemy as sa\n"
        "e = sa.create_engine(sys.argv[1], pool_pre_ping=True, connect_args={'connect_timeout': 3})\n"
        "c = e.connect(); c.exec_driver_sql('select 1'); c.close()\n"
    )
    result = subprocess.run([str(PYTHON), "-c", probe, url], check=False, capture_output=True, text=True)
    last_line = (result.stderr.strip().splitlines() or [""])[-1]
    return result.returncode == 0, last_line


def ensure_mysql(env: dict[str, str]) -> None:
    """Under CI the MariaDB tests must run: start the server if needed, fail if we cannot."""
    url = env.setdefault("TC_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)
    in_ci = env.get("CI", "").lower() == "true"
    ok, why = mysql_reachable(url)
    if ok:
        env["TC_TEST_MYSQL"] = "required" if in_ci else "available"
        return
    if in_ci:
        say("MariaDB is not reachable; starting it")
        subprocess.run(
            ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"],
            check=False,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ok, why = mysql_reachable(url)
            if ok:
                env["TC_TEST_MYSQL"] = "required"
                return
            time.sleep(1)
        sys.exit(f"[dev] MariaDB is still unreachable at {url} under CI: {why}")
    env["TC_TEST_MYSQL"] = "unavailable"
    env["TC_TEST_MYSQL_WHY"] = why or "connection refused"
    say(f"MariaDB is not reachable ({why}); its tests will be SKIPPED, SQLite only")


# what Qt's xcb plugin needs is named by app.qt_deps (the console's own check before it opens)
_MISSING_XCB = ("from app.qt_deps import missing_libraries, packages_for; "
                "print(' '.join(packages_for(missing_libraries())))")


def ensure_screen(env: dict[str, str]) -> None:
    """Under CI the tests that open a real X display (an Xvfb of their own, Qt's xcb platform:
    tests/gui/test_desk_widgets.py) must run, as the MariaDB ones: on Linux, as root with
    apt-get, what they lack is installed (Xvfb, the xcb libraries); otherwise it is said, and
    those tests fail naming it. A machine that has them installs nothing."""
    if env.get("CI", "").lower() != "true" or not sys.platform.startswith("linux"):
        return
    found = subprocess.run([str(PYTHON), "-c", _MISSING_XCB], cwd=ROOT, capture_output=True, text=True, check=False)
    packages = (["xvfb"] if shutil.which("Xvfb") is None else []) + found.stdout.split()
    if not packages:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        say(f"the X display tests need {' '.join(packages)}, which this user cannot install: they will fail")
        return
    say(f"installing what the X display tests need: {' '.join(packages)}")
    apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", *packages]
    if subprocess.call(install, env=apt) != 0:  # a machine whose package lists are old: once more, fresh
        subprocess.call(["apt-get", "update", "-q"], env=apt)
        if subprocess.call(install, env=apt) != 0:
            say(f"apt-get could not install {' '.join(packages)}: the X display tests will fail")


def run_tests(extra: list[str]) -> int:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Bytecode caches are written (git ignores them) even where the environment says not to:
    # without them each of the suite's hundreds of `python -m app` children compiled every
    # module it imports again (0.1-0.2 s of CPU each), and each worker the 250 test modules
    # (collection 10 s instead of 4.5 s per worker).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    ensure_mysql(env)
    ensure_screen(env)
    if "--quick" in extra:
        # The slow tests (crash, soak, multi-process, benchmark smoke) are left out.
        extra = [a for a in extra if a != "--quick"] + ["-m", "not slow"]
    if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in extra):
        # Most of the suite waits on sockets, subprocesses and IB's pacing rather than the CPU:
        # three workers on a 2-core machine took the whole suite from ~18 to ~6 minutes, and four
        # the quick subset from 3:05 to 2:40 (2,375 tests, idle, one after the other, 2026-12-06).
        # `-n 0` runs everything in this one process (for a debugger or -s output).
        extra = ["-n", os.environ.get("TC_TEST_WORKERS", "4"), "--dist", "worksteal", *extra]
    command = [str(PYTHON), "-m", "pytest", *extra]
    say("running: " + " ".join(command[2:]))
    return subprocess.call(command, cwd=ROOT, env=env)


def become(command: list[str]) -> int:
    """Run ``command`` in this process's place (POSIX: exec; the exit code is its own): a signal
    sent to the launcher reaches the console itself. Started as a child, a ``kill`` of
    ``dev.py console`` (a service manager's stop, a script's) ended the launcher alone and left
    the window running, orphaned, still writing to its database. Elsewhere a child, as before."""
    if os.name != "posix":
        return subprocess.call(command, cwd=ROOT)
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(ROOT)  # where the child ran before: relative paths read as they did
    os.execv(command[0], command)
    return 0  # not reached


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    ensure_environment()
    if command == "console":
        # Qt aborts without a usable message when the xcb plugin's system libraries are missing:
        # name the packages first (printed by app.qt_deps; the console still starts).
        subprocess.call([str(PYTHON), "-m", "app.qt_deps"], cwd=ROOT)
        return become([str(PYTHON), "-m", "app", *rest])
    if command == "run":
        return become([str(PYTHON), "-m", "app", *rest])
    if command == "test":
        return run_tests(rest)
    if command == "soak":
        return subprocess.call([str(PYTHON), "-m", "devtools.soak", *rest], cwd=ROOT)
    if command == "bench":
        env = dict(os.environ)
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        return subprocess.call([str(PYTHON), "-m", "benchmarks", *rest], cwd=ROOT, env=env)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
