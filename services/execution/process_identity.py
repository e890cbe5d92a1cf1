"""Who a process is, and whether it still lives: the key a run lease's holder, an order's placer
and a backtest's runner are recorded under, and the judgement of a recorded key.

A key is this boot of the machine, the pid namespace, the pid and the process's start time
(Linux's /proc): a pid reused after a SIGKILL has another start time, so a dead holder is told
from a live one without waiting for any expiry. Elsewhere (another machine or container, no
/proc) nothing can be told and the callers fall back on expiries. Apart from the run lease
(services.execution.lease) it is read by the order claims (services.execution.order_claims: is
an order's placer alive?) and by the backtests (services.backtest: is a run's process alive?),
which need it without the lease; ``Holder`` is a lease row as read back, judged by it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime

from services.db.models import RunLease


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _machine_key() -> str | None:
    """This boot of this machine and this pid namespace (Linux); None elsewhere."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = None
    return f"{boot}/{namespace}" if boot and namespace else None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None
    when there is no such process or it is a zombie (killed, not yet reaped)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may contain spaces
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19] if len(fields) > 19 else None


def process_key(pid: int | None = None) -> str | None:
    if pid is None or pid == os.getpid():
        return _own_key()
    machine, started = _machine_key(), _start_time(pid)
    return f"{machine}/{pid}/{started}" if machine and started else None


_OWN_KEY: tuple[int, str | None] | None = None  # (pid, its key): read from /proc once per process


def _own_key() -> str | None:
    """This process's key: its boot, pid namespace and start time never change while it lives (a
    forked child has another pid and reads its own); three /proc reads per lease taken were a
    backtest's lease cost."""
    global _OWN_KEY
    pid = os.getpid()
    if _OWN_KEY is None or _OWN_KEY[0] != pid:
        machine, started = _machine_key(), _start_time(pid)
        key = f"{machine}/{pid}/{started}" if machine and started else None
        if key is None:
            return None  # not cached: told again next time
        _OWN_KEY = (pid, key)
    return _OWN_KEY[1]


def holder_alive(key: str | None) -> bool | None:
    """True / False for a holder on this machine (same boot, same pid namespace); None when that
    cannot be told here (another machine or container): then only the expiry decides."""
    machine = _machine_key()
    if not key or not machine or not key.startswith(machine + "/"):
        return None
    try:
        pid_text, started = key[len(machine) + 1:].split("/", 1)
        pid = int(pid_text)
    except ValueError:
        return None
    return _start_time(pid) == started


def holder_gone(host: str | None, key: str | None) -> bool:
    """Whether the process ``key`` names has certainly ended: it ran on this machine and is not
    running (``holder_alive``), or it ran on a machine of this host name in another boot (the
    machine rebooted since: no process of an earlier boot lives). False when that cannot be
    told here (another machine or container, no key): only a holder with an expiry can then be
    called dead."""
    alive = holder_alive(key)
    if alive is not None:
        return not alive
    boot = _read("/proc/sys/kernel/random/boot_id")
    return bool(key and boot and host == socket.gethostname() and key.split("/", 1)[0] != boot)


def own_process() -> dict:
    """This process as a holder's columns: ``host``, ``pid``, ``process_key``."""
    return {"host": socket.gethostname()[:255], "pid": os.getpid(), "process_key": process_key()}


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or held) a run's lease."""

    run_id: int
    token: str
    host: str
    pid: int
    client_id: int | None
    process_key: str | None
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime

    def stale(self, now: datetime) -> bool:
        """Expired at ``now`` (the database's clock, which stamped ``expires_at``), or its process
        on this machine is gone."""
        if self.expires_at <= now:
            return True
        return holder_alive(self.process_key) is False

    def describe(self) -> str:
        client = f"client id {self.client_id}" if self.client_id is not None else "no broker client id"
        return (f"host {self.host}, process {self.pid}, {client}, since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(last heartbeat {self.heartbeat_at:%H:%M:%S} UTC)")


def _holder(row: RunLease) -> Holder:
    return Holder(row.run_id, row.token, row.host, row.pid, row.client_id, row.process_key, row.acquired_at,
                  row.heartbeat_at, row.expires_at)
