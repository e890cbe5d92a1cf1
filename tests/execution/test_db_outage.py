"""The database goes away in the middle of a stream of fills: events wait in memory (bounded,
with a visible warning) and are written when it returns. Nothing is lost.

* MariaDB: the writer talks to the server through a TCP proxy the test cuts and restores (a real
  outage for the client, without disturbing anyone else using the shared server);
* one true server restart (``mysqladmin shutdown`` + start), marked ``slow`` and run only under CI
  or with ``TC_TEST_MARIADB_RESTART=1`` (it would break other people's tests on a shared server);
* SQLite: the file cannot go away, so a logic test makes the database object raise
  OperationalError while "down".
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from decimal import Decimal

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from services.db import Database
from services.domain import OrderState, OrderType, Side
from services.execution.writer import EventWriter, WriterHealth

from .conftest import build_stack
from .test_actions import _settle
from .test_pitfalls import assert_db_matches_ledger, db_fills

pytestmark = pytest.mark.timeout(120)


class TcpProxy:
    """127.0.0.1:<port> -> target; ``cut()`` closes everything and refuses; ``restore()`` listens again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        self._server.close()
        await self._server.wait_closed()
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()


# These two are about a MariaDB server going away, so they run on MariaDB only (SQLite, a file,
# cannot go away; its buffering logic is covered by the last test, on both databases).
mariadb_only = pytest.mark.parametrize("db_backend", ["mysql"], indirect=True)


@pytest.fixture
def mysql_db_url(db_url):
    assert db_url.startswith("mysql"), db_url
    return db_url


async def _wait(predicate, timeout=15.0, what="condition"):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@mariadb_only
async def test_mariadb_outage_mid_stream_loses_nothing(database, mysql_db_url, simulator):
    url = make_url(mysql_db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)
    await proxy.start()
    proxied = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    stack = await build_stack(database, simulator)
    # the writer alone goes through the proxy
    await stack.writer.stop()
    writer = EventWriter(proxied, stack.provider.events, retry_initial=0.05, retry_max=0.2, account=stack.provider.account)
    stack.writer = stack.service.writer = stack.actions.writer = stack.reconciler.writer = writer
    health: list[WriterHealth] = []
    writer.subscribe_health(health.append)
    writer.start()
    try:
        simulator.faults.add_rule(symbols={"AAPL", "MSFT"}, fill_mode="partial")
        ids = [(await stack.actions.manual_order(s, Side.BUY, Decimal(30), OrderType.LMT, Decimal(p))).id
               for s, p in (("AAPL", "225"), ("MSFT", "410"))]
        for i in ids:
            await _settle(stack, i, {OrderState.ACCEPTED})
        await proxy.cut()
        simulator.set_price("AAPL", "224")
        simulator.set_price("MSFT", "409")
        await _wait(lambda: len(simulator.ledger()) == 6, what="six fills at the simulator")
        await _wait(lambda: writer.health.degraded, what="the writer's warning")
        assert db_fills(database) == []
        assert writer.backlog > 0 and health[-1].degraded and "database unreachable" in health[-1].message
        await proxy.restore()
        await _wait(lambda: not writer.health.degraded, what="the backlog written")
        await writer.flush()
        assert_db_matches_ledger(database, simulator)
        for i in ids:
            await _settle(stack, i, {OrderState.FILLED})
        assert [h.degraded for h in health] == [True, False]
    finally:
        await stack.close()
        proxied.dispose()
        await proxy.cut()


def _restart_allowed() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("TC_TEST_MARIADB_RESTART") == "1"


@pytest.mark.slow
@mariadb_only
@pytest.mark.skipif(not _restart_allowed(), reason="restarts the shared MariaDB server: only under CI or TC_TEST_MARIADB_RESTART=1")
async def test_mariadb_server_restart_mid_stream_loses_nothing(database, mysql_db_url, simulator):
    stack = await build_stack(database, simulator)
    stack.writer.retry_initial, stack.writer.retry_max = 0.1, 1.0
    try:
        simulator.faults.add_rule(symbols={"AAPL"}, fill_mode="partial")
        order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(30), OrderType.LMT, Decimal("225"))
        await _settle(stack, order.id, {OrderState.ACCEPTED})
        await asyncio.to_thread(subprocess.run, ["mysqladmin", "-uroot", "shutdown"], check=True, timeout=60)
        simulator.set_price("AAPL", "224")
        await _wait(lambda: len(simulator.ledger()) == 3, what="three fills at the simulator")
        await _wait(lambda: stack.writer.health.degraded, what="the writer's warning", timeout=30)
        await asyncio.to_thread(subprocess.run, ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"],
                                check=True, timeout=60)
        await _wait(lambda: not stack.writer.health.degraded, what="the backlog written", timeout=90)
        await stack.writer.flush()
        assert_db_matches_ledger(database, simulator)
        await _settle(stack, order.id, {OrderState.FILLED})
    finally:
        await stack.close()


class FlakyDatabase:
    """The real database, but ``unit_of_work`` raises OperationalError while ``down``."""

    def __init__(self, db) -> None:
        self.db = db
        self.down = False
        self.failures = 0

    def unit_of_work(self):
        if self.down:
            self.failures += 1
            raise OperationalError("BEGIN", {}, Exception("database is unreachable (test)"))
        return self.db.unit_of_work()

    def __getattr__(self, name):
        return getattr(self.db, name)


async def test_writer_buffers_while_the_database_is_down_bounded_and_visible(database, simulator):
    stack = await build_stack(database, simulator)
    await stack.writer.stop()
    flaky = FlakyDatabase(database)
    writer = EventWriter(flaky, stack.provider.events, retry_initial=0.02, retry_max=0.05, buffer_limit=4,
                         account=stack.provider.account)
    stack.writer = stack.service.writer = stack.actions.writer = stack.reconciler.writer = writer
    health: list[WriterHealth] = []
    writer.subscribe_health(health.append)
    writer.start()
    try:
        order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(30), OrderType.LMT, Decimal("225"))
        await _settle(stack, order.id, {OrderState.ACCEPTED})
        flaky.down = True
        simulator.faults.add_rule(symbols={"AAPL"}, fill_mode="partial")
        simulator.set_price("AAPL", "224")
        await _wait(lambda: len(simulator.ledger()) == 3, what="three fills")
        await _wait(lambda: writer.health.overflow, what="the buffer limit reached")
        assert len(writer._pending) == 4 and writer.backlog > 4  # the rest waits in the provider's queue
        assert health[-1].degraded and health[-1].overflow
        assert db_fills(database) == []
        flaky.down = False
        await _wait(lambda: not writer.health.degraded, what="recovery")
        await writer.flush()
        assert_db_matches_ledger(database, simulator)
        await _settle(stack, order.id, {OrderState.FILLED})
        assert flaky.failures >= 2
    finally:
        await stack.close()


@mariadb_only
async def test_execute_command_exits_0_when_the_database_came_back_and_everything_was_written(
        database, mysql_db_url, simulator, tmp_path, monkeypatch):
    """The headless command through a proxy the test cuts while the run's acknowledgement and
    fill are on their way: the outage is printed while it lasts, and the exit code is 0 because
    everything got written once the database returned."""
    from .cli_helpers import cli_args, start

    url = make_url(mysql_db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)
    await proxy.start()
    proxied_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    snapshot = tmp_path / "snap.csv"
    snapshot.write_text("symbol,weight\nAAPL,0.01\n")
    # the broker answers 2 s after the order arrives: long after the cut below (same loop, next step)
    simulator.faults.add_rule(symbols={"AAPL"}, ack_delay=2.0)
    args = cli_args(proxied_url, simulator.port, "execute", "--snapshot", str(snapshot), "--project", "outage",
                    "--mode", "paper", "--portfolio-value", "100000", "--wait-seconds", "60", "--json")
    env_journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv("TC_WRITER_JOURNAL", str(env_journal))  # the child inherits it (cli_helpers.child_env)
    try:
        process = await start(args)
        await _wait(lambda: len(simulator.orders()) == 1, timeout=60, what="the order at the simulator")
        await proxy.cut()
        seen: list[str] = []

        async def until_reported() -> None:
            # the writer's health line (not the wait's log warning): it has events it cannot store
            while not any(line.startswith("trading-console: database unreachable") for line in seen):
                line = await process.stderr.readline()
                if not line:
                    raise AssertionError(f"the command ended without reporting the outage: {seen}")
                seen.append(line.decode())

        await asyncio.wait_for(until_reported(), 30)
        await proxy.restore()
        out, err = await asyncio.wait_for(process.communicate(), 90)
        stderr = "".join(seen) + err.decode()
        assert process.returncode == 0, stderr
        assert "database reachable again; every event written" in stderr
        data = json.loads(out)
        assert [o["status"] for o in data["orders"]] == ["FILLED"]
        assert_db_matches_ledger(database, simulator)
        assert not env_journal.exists()
    finally:
        await proxy.cut()
