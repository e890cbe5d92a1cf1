"""A private MariaDB server in a folder of its own, for tests and tools that must stop, kill or
restart "the database" without touching anybody else's server.

    server = PrivateMariaDB(tmp_path / "mariadb")
    server.start()                 # initialise the data directory (first time), start, wait until it answers
    engine = create_engine(server.url)
    server.kill()                  # SIGKILL: a crash, InnoDB recovers at the next start
    server.start()                 # same data directory, same port
    server.stop()                  # clean shutdown (also at interpreter exit as a backstop)

Root logs in without a password over TCP on 127.0.0.1 (``--auth-root-authentication-method=
normal``); grant tables stay on. The server listens on a free loopback port chosen at the first
start and kept for restarts, and on a socket inside the folder. Its temporary files go to the
folder's ``tmp``, never /tmp, which the shared server uses. Nothing is read from the machine's
my.cnf (``--no-defaults``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB_NAMES = ("mariadb-install-db", "mysql_install_db")
DATABASE = "tc"
# Small InnoDB files: an initialised data directory is ~20 MB instead of ~110 MB.
SERVER_OPTIONS = ("--innodb-buffer-pool-size=32M", "--innodb-log-file-size=4M", "--skip-name-resolve",
                  "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin")
_POLL = 0.1  # seconds between connection attempts while the server starts


class MariaDBUnavailable(RuntimeError):
    """The MariaDB binaries are not installed here."""


class MariaDBStartError(RuntimeError):
    """The server did not start or did not accept connections in time."""


def missing_binaries(mariadbd: str = MARIADBD) -> str | None:
    """Why a private server cannot be started here, or None when it can."""
    if not (os.path.isfile(mariadbd) and os.access(mariadbd, os.X_OK)):
        return f"{mariadbd} is not installed (apt-get install mariadb-server)"
    if not any(shutil.which(name) for name in INSTALL_DB_NAMES):
        return f"none of {', '.join(INSTALL_DB_NAMES)} is on PATH (apt-get install mariadb-server)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateMariaDB:
    def __init__(self, folder: Path | str, *, mariadbd: str = MARIADBD, database: str = DATABASE,
                 start_timeout: float = 60.0) -> None:
        why = missing_binaries(mariadbd)
        if why:
            raise MariaDBUnavailable(why)
        self.folder = Path(folder).resolve()
        self.datadir = self.folder / "data"
        # AF_UNIX paths are limited to ~107 bytes; pytest's temporary folders can be longer.
        self.socket = self.folder / "mysqld.sock"
        if len(str(self.socket)) > 100:
            self.socket = Path("/tmp") / f"tc-mariadb-{os.getpid()}-{id(self):x}.sock"
        self.error_log = self.folder / "error.log"
        # A tmpdir of its own: mariadbd deletes every "#sql*" file of its tmpdir when it starts
        # (bootstrap included), and on the default, /tmp, those are the shared server's live
        # temporary tables.
        self.tmpdir = self.folder / "tmp"
        self.mariadbd = mariadbd
        self.database = database
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.starts = 0
        atexit.register(self._atexit)

    # ------------------------------------------------------------------ addresses
    @property
    def server_url(self) -> str:
        """SQLAlchemy URL of the server (no database selected)."""
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the private database ``self.database`` (created at the first start)."""
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{self.database}"

    def database_url(self, name: str) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{name}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # ------------------------------------------------------------------ life cycle
    def initialise(self) -> None:
        """Create the data directory (system tables, root without password) if it is missing."""
        if (self.datadir / "mysql").is_dir():
            return
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        install = next(shutil.which(n) for n in INSTALL_DB_NAMES if shutil.which(n))
        command = [install, "--no-defaults", f"--datadir={self.datadir}", "--auth-root-authentication-method=normal",
                   "--skip-test-db", f"--tmpdir={self.tmpdir}", *SERVER_OPTIONS]
        if os.geteuid() == 0:
            command.append("--user=root")
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise MariaDBStartError(f"{install} failed (exit {result.returncode}) for {self.datadir}:\n{tail}")

    def start(self) -> None:
        """Start the server (initialising the data directory the first time) and wait until it
        accepts connections; the first start also creates the database ``self.database``."""
        if self.running:
            return
        self.initialise()
        first = self.port is None
        for attempt in range(3):
            if first:
                self.port = free_port()
            try:
                self._spawn_and_wait()
                break
            except MariaDBStartError as exc:
                # Another process may have taken the "free" port between probe and bind.
                if first and attempt < 2 and "Address already in use" in str(exc):
                    continue
                raise
        self.starts += 1
        if first:
            self.execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")

    def _spawn_and_wait(self) -> None:
        offset = self.error_log.stat().st_size if self.error_log.exists() else 0
        self.tmpdir.mkdir(parents=True, exist_ok=True)  # a data directory initialised before it had one
        command = [self.mariadbd, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
                   "--bind-address=127.0.0.1", f"--socket={self.socket}", f"--pid-file={self.folder / 'mariadbd.pid'}",
                   f"--log-error={self.error_log}", f"--tmpdir={self.tmpdir}", *SERVER_OPTIONS]
        if os.geteuid() == 0:
            command.append("--user=root")  # mariadbd refuses to run as root without it
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        last_error = "no attempt yet"
        while True:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise MariaDBStartError(f"mariadbd exited with code {code} while starting on port {self.port}:\n"
                                        + self._log_tail(offset))
            ok, last_error = self._ping()
            if ok:
                return
            if time.monotonic() > deadline:
                self._terminate(signal.SIGKILL)
                raise MariaDBStartError(f"mariadbd did not accept connections on 127.0.0.1:{self.port} within "
                                        f"{self.start_timeout:.0f} s (last error: {last_error}):\n" + self._log_tail(offset))
            time.sleep(_POLL)  # the poll interval of a deadline-bounded wait

    def kill(self) -> None:
        """SIGKILL the server, like a crash or a power cut (no clean shutdown)."""
        self._terminate(signal.SIGKILL)

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown (SIGTERM); SIGKILL if it takes longer than ``timeout`` seconds."""
        self._terminate(signal.SIGTERM, timeout)

    def restart(self, *, crash: bool = True) -> None:
        """Kill (or stop cleanly) and start again on the same data directory and port."""
        self.kill() if crash else self.stop()
        self.start()

    def _terminate(self, sig: int, timeout: float = 30.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def _atexit(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def close(self) -> None:
        self.stop()
        atexit.unregister(self._atexit)
        if self.socket.parent != self.folder:
            self.socket.unlink(missing_ok=True)

    def __enter__(self) -> PrivateMariaDB:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers
    def _connect(self, database: str | None = None, timeout: int = 2):
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", database=database,
                               connect_timeout=timeout, autocommit=True)

    def _ping(self) -> tuple[bool, str]:
        try:
            connection = self._connect(timeout=1)
        except Exception as exc:  # noqa: BLE001 - refused, reset, or still initialising: keep waiting
            return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        connection.close()
        return True, ""

    def execute(self, sql: str, database: str | None = None) -> list[tuple]:
        """One statement as root; its rows."""
        connection = self._connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def _log_tail(self, offset: int, lines: int = 15) -> str:
        try:
            with open(self.error_log, "rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return f"(no error log at {self.error_log})"
        return "\n".join(text.strip().splitlines()[-lines:]) or f"(error log {self.error_log} is empty)"
