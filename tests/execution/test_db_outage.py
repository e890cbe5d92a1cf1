"""The database goes away in the middle of a stream of fills: events wait in memory (bounded,
with a visible warning) and are written when it returns. Nothing is lost.

Both MariaDB outages run on a private server the tests start for themselves
(``tests/fixtures/mariadb.py``: its own data directory, port and socket), never on the shared one:

* a network cut: the writer talks to the server through a TCP proxy the test cuts and restores;
* a crash: ``kill -9`` of the server, then a restart on the same data directory and port;
* SQLite: the file cannot go away, so a logic test makes the database object raise
  OperationalError while "down" (on both databases).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from services.db import Database
from services.domain import OrderState, OrderType, Side
from services.execution.writer import EventWriter, WriterHealth
from tests.fixtures.proxy import TcpProxy
from tests.fixtures.waiting import wait_until

from .conftest import build_stack
from .test_actions import _settle
from .test_pitfalls import assert_db_matches_ledger, db_fills

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def private_database(private_mariadb_url):
    db = Database(private_mariadb_url)
    yield db
    db.dispose()


def _swap_writer(stack, writer) -> None:
    stack.writer = stack.service.writer = stack.actions.writer = stack.reconciler.writer = writer


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_mariadb_outage_mid_stream_loses_nothing(private_database, private_mariadb_url, simulator):
    url = make_url(private_mariadb_url)
    proxy = TcpProxy(url.host, url.port)
    await proxy.start()
    proxied = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    stack = await build_stack(private_database, simulator)
    # the writer alone goes through the proxy
    await stack.writer.stop()
    writer = EventWriter(proxied, stack.provider.events, retry_initial=0.05, retry_max=0.2, account=stack.provider.account)
    _swap_writer(stack, writer)
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
        await wait_until(lambda: len(simulator.ledger()) == 6, 15, "six fills at the simulator")
        await wait_until(lambda: writer.health.degraded, 15, "the writer's warning")
        assert db_fills(private_database) == []
        assert writer.backlog > 0 and health[-1].degraded and "database unreachable" in health[-1].message
        await proxy.restore()
        await wait_until(lambda: not writer.health.degraded, 15, "the backlog written")
        await writer.flush()
        assert_db_matches_ledger(private_database, simulator)
        for i in ids:
            await _settle(stack, i, {OrderState.FILLED})
        assert [h.degraded for h in health] == [True, False]
    finally:
        await stack.close()
        proxied.dispose()
        await proxy.cut()


async def test_mariadb_killed_and_restarted_mid_stream_loses_nothing(private_mariadb, private_database, simulator):
    stack = await build_stack(private_database, simulator)
    stack.writer.retry_initial, stack.writer.retry_max = 0.1, 0.5
    health: list[WriterHealth] = []
    stack.writer.subscribe_health(health.append)
    try:
        simulator.faults.add_rule(symbols={"AAPL"}, fill_mode="partial")
        order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(30), OrderType.LMT, Decimal("225"))
        await _settle(stack, order.id, {OrderState.ACCEPTED})
        await asyncio.to_thread(private_mariadb.kill)  # SIGKILL: no clean shutdown
        simulator.set_price("AAPL", "224")
        await wait_until(lambda: len(simulator.ledger()) == 3, 15, "three fills at the simulator")
        await wait_until(lambda: stack.writer.health.degraded, 30, "the writer's warning")
        assert stack.writer.backlog > 0
        await asyncio.to_thread(private_mariadb.start)  # InnoDB recovers; same data directory and port
        await wait_until(lambda: not stack.writer.health.degraded, 60, "the backlog written after the restart")
        await stack.writer.flush()
        assert_db_matches_ledger(private_database, simulator)
        await _settle(stack, order.id, {OrderState.FILLED})
        assert [h.degraded for h in health] == [True, False]
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
    _swap_writer(stack, writer)
    health: list[WriterHealth] = []
    writer.subscribe_health(health.append)
    writer.start()
    try:
        order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(30), OrderType.LMT, Decimal("225"))
        await _settle(stack, order.id, {OrderState.ACCEPTED})
        flaky.down = True
        simulator.faults.add_rule(symbols={"AAPL"}, fill_mode="partial")
        simulator.set_price("AAPL", "224")
        await wait_until(lambda: len(simulator.ledger()) == 3, 15, "three fills")
        # The warning comes when the backlog (memory + the provider's queue) reaches the limit; the
        # memory fills up to the limit at the next retry. Both are waited for, never assumed at once.
        await wait_until(lambda: writer.health.overflow and len(writer._pending) == 4 and writer.backlog > 4, 15,
                         lambda: f"the buffer limit reached (memory {len(writer._pending)}, backlog {writer.backlog})")
        assert len(writer._pending) == 4  # bounded: the rest waits in the provider's queue
        assert health[-1].degraded and health[-1].overflow
        assert db_fills(database) == []
        flaky.down = False
        await wait_until(lambda: not writer.health.degraded, 15, "recovery")
        await writer.flush()
        assert_db_matches_ledger(database, simulator)
        await _settle(stack, order.id, {OrderState.FILLED})
        assert flaky.failures >= 2
    finally:
        await stack.close()


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_execute_command_exits_0_when_the_database_came_back_and_everything_was_written(
        private_database, private_mariadb_url, simulator, tmp_path, monkeypatch):
    """The headless command through a proxy the test cuts while the run's acknowledgement and
    fill are on their way: the outage is printed while it lasts, and the exit code is 0 because
    everything got written once the database returned."""
    from .cli_helpers import cli_args, start

    database = private_database
    url = make_url(private_mariadb_url)
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
        await wait_until(lambda: len(simulator.orders()) == 1, 60, "the order at the simulator")
        await proxy.cut()
        seen: list[str] = []

        async def until_reported() -> None:
            # the writer's health line (not the wait's log warning): it has events it cannot store
            while not any(line.startswith("trading-console: Event writer: database unreachable") for line in seen):
                line = await process.stderr.readline()
                if not line:
                    raise AssertionError(f"the command ended without reporting the outage: {seen}")
                seen.append(line.decode())

        await asyncio.wait_for(until_reported(), 30)
        await proxy.restore()
        out, err = await asyncio.wait_for(process.communicate(), 90)
        stderr = "".join(seen) + err.decode()
        assert process.returncode == 0, stderr
        # the window's words for it (WriterHealth.line): it said "database reachable again; every event written"
        assert "trading-console: Database reachable again: every event written" in stderr
        data = json.loads(out)
        assert [o["status"] for o in data["orders"]] == ["FILLED"]
        assert_db_matches_ledger(database, simulator)
        assert not env_journal.exists()
    finally:
        await proxy.cut()
