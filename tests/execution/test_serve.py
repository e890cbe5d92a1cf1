"""`trading-console serve` as a real subprocess against the simulator over a real socket, on
SQLite and MariaDB: it streams what happens at the broker into the database, loses nothing
under SIGTERM, reconciles after a dropped connection; and the provider switch
(``execution_data_source``): an unknown value refused, ``simulator`` running the built-in
simulator in the command's own process."""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.commands import serve as serve_command
from app.composition import SAMPLES_DIR
from services.db.models import EquitySnapshot
from services.db.repositories.settings import SettingsRepository
from tests.fixtures.proxy import TcpProxy
from tests.fixtures.waiting import wait_until

from .cli_helpers import Result, cli_args, run, start
from .test_pitfalls import assert_db_matches_ledger, db_fills

pytestmark = pytest.mark.timeout(120)

MASTER_CLIENT = 0  # sees every client's orders and executions (the simulator's default master id)


class ServeProcess:
    """A running ``serve``: its stdout lines as they come (the health lines), stderr kept."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.err: list[str] = []
        self._readers = [asyncio.ensure_future(self._read(proc.stdout, self.lines)),
                         asyncio.ensure_future(self._read(proc.stderr, self.err))]

    @classmethod
    async def start(cls, db_url: str, port: int, *extra: str, client_id: int = MASTER_CLIENT) -> ServeProcess:
        return cls(await start(cli_args(db_url, port, "serve", "--recovery-interval", "1", *extra, client_id=client_id)))

    @staticmethod
    async def _read(stream, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode().rstrip("\n"))

    def seen(self, text: str, after: int = 0) -> int:
        """How many lines from ``after`` on contain ``text``."""
        return sum(text in line for line in self.lines[after:])

    async def wait_line(self, text: str, timeout: float = 30, after: int = 0) -> None:
        await wait_until(lambda: self.seen(text, after) or self.proc.returncode is not None, timeout,
                         lambda: f"serve to print {text!r}; it printed {self.lines} {self.err}")
        assert self.seen(text, after), f"serve ended ({self.proc.returncode}) before {text!r}: {self.lines} {self.err}"

    async def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> Result:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.gather(*self._readers)
        return Result(self.proc.returncode or 0, "\n".join(self.lines), "\n".join(self.err))


def _equity_accounts(database) -> set[str]:
    with database.session() as session:
        return set(session.scalars(select(EquitySnapshot.account)))


def _stock_order(ib, symbol: str, quantity: int, ref: str):
    from ib_async import MarketOrder, Stock

    return ib.placeOrder(Stock(symbol, "SMART", "USD"), MarketOrder("BUY", quantity, orderRef=ref))


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_serve_streams_a_manual_order_and_loses_nothing_under_sigterm(database, db_url, make_simulator, ib_client):
    """A trader's order from another client fills in five parts; serve (the master client)
    streams them into the database and is stopped mid-stream: exit 0, every execution it
    received written. Restarted after the order filled, it reconciles the rest: the database
    equals the simulator's ledger."""
    sim = await make_simulator(fill_mode="partial", partial_fills=5, fill_interval=0.05)
    sent_while_connected: list[str] = []  # exec ids the simulator sent while serve was connected
    serve_gone: list[bool] = []

    def watch(event: str, details: dict) -> None:
        if event == "fill" and not serve_gone:
            sent_while_connected.append(details["execId"])
        elif event == "disconnected" and details.get("client_id") == MASTER_CLIENT:
            serve_gone.append(True)

    sim.listeners.append(watch)
    serve = await ServeProcess.start(db_url, sim.port)
    await serve.wait_line("running")
    trader = await ib_client(client_id=2, sim=sim)
    sim.hold_partial_fills()  # the first part fills, the rest waits until serve is stopped
    trade = _stock_order(trader, "AAPL", 50, "by-hand-1")
    # serve is streaming: a first fill is in the database, the last one has not happened yet
    await wait_until(lambda: db_fills(database), 15, "a first fill written by serve")
    assert len(sim.executions()) < 5, "the SIGTERM must land mid-stream"
    # and the equity recorder's first sample, which serve takes beside the stream once connected:
    # a child forked ready-imported (tests/fixtures/forked_app.py) could be stopped before it landed
    await wait_until(lambda: _equity_accounts(database), 15, "the equity recorder's first sample written by serve")
    before_stop = {e.exec_id for e in sim.executions()}
    stopped = await serve.stop()
    assert stopped.code == 0, stopped.err
    assert "SIGTERM received; stopping" in stopped.out and stopped.out.rstrip().endswith("serve: stopped")

    assert _equity_accounts(database) == {sim.config.account}  # the equity recorder sampled the account at the start
    written = {f.exec_id: f for f in db_fills(database)}
    assert before_stop <= set(written) <= set(sent_while_connected)  # everything received is written, nothing else
    ledger = {e.exec_id: e for e in sim.executions()}
    for exec_id, fill in written.items():
        assert (fill.order_ref, fill.symbol, fill.quantity, fill.price) == (
            "by-hand-1", "AAPL", ledger[exec_id].shares, ledger[exec_id].price)

    sim.release_partial_fills()
    await wait_until(lambda: trade.orderStatus.status == "Filled", 15, "the trader's order filled at the broker")
    assert len(sim.executions()) == 5 and len(written) < 5  # fills happened while serve was down
    again = await ServeProcess.start(db_url, sim.port)
    await again.wait_line("Reconciled at ")
    await again.wait_line("running")
    result = await again.stop()
    assert result.code == 0, result.err
    assert_db_matches_ledger(database, sim)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_serve_reconciles_after_a_dropped_connection(database, db_url, simulator, ib_client, ib_log_guard):
    """The line to the gateway dropped and held down while a trader's order fills: serve
    reconnects by itself and reconciles the execution it never saw."""
    ib_log_guard.allow(r"Peer closed connection")
    proxy = TcpProxy("127.0.0.1", simulator.port)
    await proxy.start()
    serve = await ServeProcess.start(db_url, proxy.port)
    try:
        await serve.wait_line("running")
        mark = len(serve.lines)
        await proxy.cut()  # the connection drops; reconnect attempts are refused for now
        simulator.drop_connections()
        # the trading window's activity log's words (services.execution.connection_words)
        await serve.wait_line("Connection to IB lost at ", after=mark)
        trader = await ib_client(client_id=2)
        trade = _stock_order(trader, "MSFT", 7, "while-away")
        await wait_until(lambda: trade.orderStatus.status == "Filled", 10, "the order filled while serve was away")
        assert db_fills(database) == []
        await proxy.restore()
        await serve.wait_line("Reconciled at ", after=mark, timeout=60)
        assert serve.seen("Connection to IB restored at ", mark) == 1 and serve.seen(" s down (", mark) == 1, \
            serve.lines[mark:]
        assert serve.seen("Reconnecting to IB: next attempt in ", mark), serve.lines[mark:]
        assert not serve.seen("connection disconnected", mark), serve.lines[mark:]  # its own words before
        assert serve.seen("1 missing fill taken in", mark), serve.lines[mark:]
        assert_db_matches_ledger(database, simulator)
    finally:
        result = await serve.stop()
        await proxy.cut()
    assert result.code == 0, result.err


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_an_unknown_execution_data_source_is_refused_at_start_up_and_by_trade_settings_set(database, db_url, simulator):
    from services.execution.audit import os_user
    from services.trade_settings import TradeSettingsError, TradeSettingsService

    refused = await run(cli_args(db_url, simulator.port, "trade-settings", "set", "execution_data_source=foo", connection=False))
    assert refused.code == 2 and "execution_data_source: 'foo' is not one of ib, simulator" in refused.err
    # the Settings dialog's path (TradeSettingsService.update) refuses it too, and stores nothing
    with pytest.raises(TradeSettingsError, match="'bloomberg' is not one of ib, simulator"):
        TradeSettingsService(database, os_user()).update({"execution_data_source": "bloomberg"})
    with database.session() as session:
        assert SettingsRepository(session).execution_data_source() == "ib"

    # a value stored before validation existed: every start refuses it, in one line
    with database.unit_of_work() as session:
        SettingsRepository(session).set_execution_data_source("bloomberg")
    for command in ("serve", "reconcile"):
        result = await run(cli_args(db_url, simulator.port, command))
        lines = result.err.strip().splitlines()
        assert result.code == 2, (command, result.err)
        assert len(lines) == 1 and "execution_data_source: 'bloomberg' is not one of ib, simulator" in lines[0], result.err
    assert simulator.connected_client_ids() == [] and simulator.orders() == []
    shown = await run(cli_args(db_url, simulator.port, "trade-settings", connection=False))
    assert shown.code == 0 and ("execution_data_source = bloomberg  (unknown: not one of ib, simulator; every start "
                                "refuses it)") in shown.out


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_the_simulator_source_runs_the_built_in_simulator_for_a_command(database, db_url):
    """``execution_data_source=simulator``: no gateway anywhere; the command starts the built-in
    simulator in its own process, connects to it and previews against its prices."""
    changed = await run(cli_args(db_url, 0, "trade-settings", "set", "execution_data_source=simulator", "--json",
                                 connection=False))
    assert changed.code == 0, changed.err
    assert changed.json["execution_data_source"] == "simulator"
    preview = await run(cli_args(db_url, 0, "preview", "--snapshot", str(SAMPLES_DIR / "momentum_2026-11-20.csv"),
                                 "--project", "sim-source", "--portfolio-value", "100000", "--save", "--json",
                                 connection=False))
    assert preview.code == 0, preview.err
    plan = preview.json
    assert plan["account"] == "DU1234567" and plan["plan_id"]
    assert plan["prices_source"].startswith("broker (") and plan["orders"]
    assert all(Decimal(ref["price"]) > 0 for ref in plan["prices"].values())
    with database.session() as session:
        assert SettingsRepository(session).execution_data_source() == "simulator"
    audit = await run(cli_args(db_url, 0, "audit", "list", "--action", "settings.trade", "--json", connection=False))
    assert [e["payload"] for e in json.loads(audit.out)] == [{"execution_data_source": "simulator"}]


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_serve_waits_for_the_gateway_and_a_sigint_stops_it_during_the_wait(database, db_url):
    import socket

    with socket.socket() as probe:  # a port nobody listens on: the gateway is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = await ServeProcess.start(db_url, port)
    await serve.wait_line("retrying in 1 s")
    result = await serve.stop(signal.SIGINT, timeout=15)
    assert result.code == 0, result.err
    assert "SIGINT received; stopping" in result.out and result.out.rstrip().endswith("serve: stopped")
    assert "serve: running" not in result.out


async def test_recovery_runs_at_once_then_every_interval_while_connected_and_ends_with_the_stop(monkeypatch, capsys):
    from types import SimpleNamespace

    passes: list[bool] = []
    provider = SimpleNamespace(is_connected=True)

    async def one_pass(stack) -> str:
        passes.append(stack.provider.is_connected)
        return "recovery: 1 stuck order handled: X-1" if len(passes) == 1 else ""

    stop = serve_command._StopSignal()
    service = serve_command.HeadlessService(SimpleNamespace(provider=provider), stop, recovery_interval=0.05,  # type: ignore[arg-type]
                                            say=serve_command.say)
    service.one_pass = one_pass  # type: ignore[assignment]
    task = asyncio.ensure_future(service._recover_periodically())
    await wait_until(lambda: len(passes) >= 2, 5, "two recovery passes")
    provider.is_connected = False  # no pass while disconnected
    count = len(passes)
    stop.event.set()
    await asyncio.wait_for(task, 5)
    assert passes[:2] == [True, True] and len(passes) == count
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[1] for line in printed] == ["serve: recovery: 1 stuck order handled: X-1"]


@pytest.mark.slow  # the stop waits out the writer's timeout while the database is away
async def test_serve_stopped_during_a_database_outage_keeps_every_event_in_the_journal(
        private_mariadb_url, simulator, ib_client, tmp_path, monkeypatch):
    """The database (a private MariaDB behind a proxy) goes away while a trader's order fills:
    serve says so, keeps the events, and under SIGTERM puts them in the writer's journal (exit 5,
    naming it); the next start writes them: the database equals the ledger."""
    from sqlalchemy.engine import make_url

    from services.db import Database

    url = make_url(private_mariadb_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv("TC_WRITER_JOURNAL", str(journal))  # the child inherits it
    database = Database(private_mariadb_url)
    try:
        serve = await ServeProcess.start(proxied, simulator.port)
        await serve.wait_line("running")
        await proxy.cut()
        trader = await ib_client(client_id=2)
        trade = _stock_order(trader, "IBM", 4, "during-outage")
        await wait_until(lambda: trade.orderStatus.status == "Filled", 10, "the order filled during the outage")
        await serve.wait_line("serve: Event writer: database unreachable")  # the window's words: it said "database writer: ..."
        stopped = await serve.stop()
        assert stopped.code == 5, stopped.err
        assert "journal" in stopped.err and str(journal) in stopped.err
        assert journal.exists() and db_fills(database) == []

        await proxy.restore()
        again = await ServeProcess.start(proxied, simulator.port)
        await again.wait_line("running")
        await wait_until(lambda: len(db_fills(database)) == 1, 20, "the journal's fill written at the next start")
        result = await again.stop()
        assert result.code == 0, result.err
        assert_db_matches_ledger(database, simulator)
        assert not journal.exists()  # replayed and emptied
    finally:
        await proxy.cut()
        database.dispose()


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
async def test_serve_sends_an_order_a_crash_left_stored_but_unsent(database, db_url, simulator):
    """Issue 12: a run's order stored NEW when its process died before sending it is sent by the
    headless service's auto-recovery, once, and fills."""
    from services.db.models import TradeOrder
    from services.domain import OrderState, TradeMode

    from .conftest import build_stack, make_snapshot

    stack = await build_stack(database, simulator, client_id=5)
    try:
        _, snapshot_id = make_snapshot(database, "crashed", {"MSFT": "0.01"})
        run_ = await stack.service.create_run("crashed", snapshot_id, TradeMode.PAPER, {})
        preview = await stack.service.preview(run_.id, Decimal("100000"))
        await stack.service._db(stack.service._insert_orders, run_.id, preview.plan)  # ... and died here
    finally:
        await stack.close()
    with database.unit_of_work() as session:
        [order] = session.scalars(select(TradeOrder).where(TradeOrder.run_id == run_.id))
        order.created_at = order.created_at.replace(year=order.created_at.year - 1)  # long past the timeout
        ref = order.client_order_id
    assert simulator.orders() == []

    serve = await ServeProcess.start(db_url, simulator.port)
    try:
        # the window's words (RecoveryResult.headline): it said "recovery: ..."
        await serve.wait_line("serve: Auto-recovery: considered 1, canceled 0, sent 1 (BUY ", timeout=60)
        assert serve.seen(f" MSFT MKT, {ref}), re-placed 0, skipped 0"), serve.lines  # which order was sent

        def status() -> str:
            with database.session() as session:
                return str(session.scalar(select(TradeOrder.status).where(TradeOrder.client_order_id == ref)))

        await wait_until(lambda: status() == OrderState.FILLED.value, 30, lambda: f"the order filled (now {status()})")
        assert [o.order_ref for o in simulator.orders()] == [ref]  # sent once
    finally:
        result = await serve.stop()
    assert result.code == 0, result.err
    assert_db_matches_ledger(database, simulator)
