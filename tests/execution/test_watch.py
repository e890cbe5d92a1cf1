"""`trading-console watch --json` as a real subprocess while another process (`execute`) runs a
paper run against the simulator, on SQLite and MariaDB: it prints every order's final status as
stored, each within a second of it landing (the feed's own timestamps), its fills and positions,
and exits 0 on SIGTERM; it never writes. Also its bad input and a database without schema."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from services.db.models import TradeFill

from .cli_helpers import run, start
from .monitor_helpers import (
    REJECTED,
    SYMBOLS,
    LandingRecorder,
    paper_run_args,
    prepare_run,
    stored_orders,
    table_fingerprint,
)

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

LATENCY = timedelta(seconds=1)


class Watcher:
    """A running ``watch --json`` and the objects it printed so far."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict] = []
        self.stderr: list[str] = []
        self._readers = [asyncio.ensure_future(self._read_out()), asyncio.ensure_future(self._read_err())]

    @classmethod
    async def start(cls, db_url: str, *extra: str) -> Watcher:
        args = [sys.executable, "-m", "app", "--db-url", db_url, "--log-level", "WARNING", "watch", "--json", *extra]
        proc = await start(args)
        watcher = cls(proc)
        from tests.fixtures.waiting import wait_until

        await wait_until(lambda: any("watching" in line for line in watcher.stderr) or proc.returncode is not None, 60,
                         lambda: f"watch to start: {watcher.stderr}")
        assert proc.returncode is None, watcher.stderr
        return watcher

    async def _read_out(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(json.loads(raw))

    async def _read_err(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.stderr.append(raw.decode())

    def last_status(self) -> dict[int, str]:
        return {line["id"]: line["status"] for line in self.lines if line["kind"] == "order"}

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 30)
        await asyncio.gather(*self._readers)
        return code


async def test_watch_json_prints_every_orders_final_status_of_a_run_executed_by_another_process(
        database, db_url, simulator):
    snapshot_id = prepare_run(database, simulator, "watched")
    watcher = await Watcher.start(db_url)
    landings = LandingRecorder(database)
    try:
        result = await run(paper_run_args(db_url, simulator.port, snapshot_id, "watched"), timeout=120)
    finally:
        landings.stop()
    assert result.code in (0, 5), result.err  # 5: the rejected order was not sent
    final = stored_orders(database)
    assert len(final) == len(SYMBOLS)
    assert {o.symbol for o in final.values() if str(o.status) == "REJECTED"} == {REJECTED}

    from tests.fixtures.waiting import wait_until

    await wait_until(lambda: watcher.last_status() == {i: str(o.status) for i, o in final.items()}, 10,
                     lambda: f"watch to print every final status: {watcher.last_status()} vs "
                             f"{ {i: str(o.status) for i, o in final.items()} }")
    # each final status printed within a second of landing (committed: first seen by a reader)
    for order in final.values():
        line = next(line for line in watcher.lines if line["kind"] == "order" and line["id"] == order.id
                    and line["status"] == str(order.status))
        landed, seen = landings.first_seen[(order.id, str(order.status))], datetime.fromisoformat(line["observed_at"])
        assert datetime.fromisoformat(line["updated_at"]) <= seen and seen - landed < LATENCY, (order.symbol, landed, seen)
    with database.session() as session:
        exec_ids = set(session.scalars(select(TradeFill.exec_id)))
    await wait_until(lambda: {line["exec_id"] for line in watcher.lines if line["kind"] == "fill"} == exec_ids, 10,
                     "every fill printed")
    assert {line["symbol"] for line in watcher.lines if line["kind"] == "position"} == set(SYMBOLS) - {REJECTED}
    # a project's book by its name, as `positions` and the window say it ("project 1" before); the
    # account's own row (every project together) by none
    assert {line["project"] for line in watcher.lines if line["kind"] == "position"} == {None, "watched"}
    before = table_fingerprint(database)
    assert await watcher.stop() == 0, watcher.stderr
    assert table_fingerprint(database) == before
    assert not [line for line in watcher.stderr if "Traceback" in line], watcher.stderr


async def test_watch_refuses_bad_input_and_a_database_without_schema(db_url, tmp_path):
    bad = await run([sys.executable, "-m", "app", "--db-url", db_url, "watch", "--interval", "0"])
    assert bad.code == 2 and "--interval" in bad.err
    missing = await run([sys.executable, "-m", "app", "--db-url", f"sqlite:///{tmp_path / 'none.db'}", "watch"])
    assert missing.code == 2 and "no database" in missing.err
    assert not (tmp_path / "none.db").exists()


async def test_watch_follows_the_database_orders_fills_and_positions_read(tmp_path):
    """Without --db-url, ``orders``, ``fills`` and ``positions`` read the console's database
    (console.sqlite3: README's "default database ... of the commands") in the default profile, but
    ``watch`` followed the monitor window's, demo.sqlite3 in the default demo profile: a trader
    who ran ``orders`` and ``watch`` saw two databases. Given the demo profile every command,
    ``watch`` too, opens the demo window's demo.sqlite3 (Settings.demo_given). The data folder is
    the test's own (TC_DATA_DIR)."""
    import os
    from pathlib import Path

    data = Path(os.environ["TC_DATA_DIR"])
    console = f"{data.as_posix()}/console.sqlite3"
    for profile, named in (([], console), (["--profile", "paper"], console),
                           (["--profile", "demo"], f"{data.as_posix()}/demo.sqlite3")):
        missing = await run([sys.executable, "-m", "app", *profile, "watch"])
        assert missing.code == 2 and f"no database at {named}" in missing.err, (profile, missing.err)
    for command in ("orders", "fills", "positions"):  # the commands' database, made at its schema by the first
        listed = await run([sys.executable, "-m", "app", command])
        assert listed.code == 0, (command, listed.err)
    assert (data / "console.sqlite3").exists() and not (data / "demo.sqlite3").exists()
    proc = await start([sys.executable, "-m", "app", "watch"])
    assert proc.stderr is not None
    started = ""
    while not started.startswith("watching") and not proc.stderr.at_eof():  # past any log line
        started = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.communicate(), 30)
    assert started.startswith(f"watching sqlite:///{console} read-only"), started
    assert proc.returncode == 0
