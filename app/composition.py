"""Builds the service stack from the settings: database, audit log, broker adapter, event
writer, reconciler, trade service, order actions, and, in demo mode or when the trade settings'
``execution_data_source`` is ``simulator``, the built-in IB Gateway simulator on a free loopback
port. Used by the window and by the headless commands; the one place where these parts are
constructed and wired, and torn down in reverse order.

Its monitor variant (``build_monitor_stack``: ``gui --monitor``, ``watch``) is the database
opened read-only, the audit log and the change feed: no broker, no engine, nothing that writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from services.domain import TradeMode
from services.execution.timings import STOP_TIMEOUT

if TYPE_CHECKING:
    from app.settings import Settings
    from services.audit import AuditLog
    from services.change_feed import ChangeFeed
    from services.db import Database
    from services.execution.actions import OrderActions
    from services.execution.engine import ExecutionEngine
    from services.execution.equity import EquityRecorder
    from services.execution.ib_provider import IbExecutionProvider
    from services.execution.reconcile import Reconciler
    from services.execution.recovery import AutoRecovery
    from services.execution.runs import TradeService
    from services.execution.writer import EventWriter
    from services.ibsim.server import IBGatewaySimulator
    from services.trade_settings import TradeSettingsService

log = logging.getLogger(__name__)

DEMO_PROJECT = "Demo momentum"
EQUITY_SAMPLE_SECONDS = 30.0  # account value and position marks; market data shares IB's ~45 msg/s
SAMPLES_DIR = Path(__file__).resolve().parents[1] / "resources" / "samples"
DEMO_SNAPSHOTS = ("momentum_2026-11-20.csv", "momentum_2026-11-21.json")


@dataclass
class ServiceStack:
    """The execution engine plus what the window needs beside it: the database, the audit log
    and, in demo mode or with the ``simulator`` data source, the simulator."""

    settings: Settings
    db: Database
    audit: AuditLog
    engine: ExecutionEngine
    simulator: IBGatewaySimulator | None = None
    mode: TradeMode = TradeMode.PAPER
    profile: str = "demo"
    data_source: str = "ib"  # the execution data source the provider was chosen by
    equity: EquityRecorder | None = None  # started with the engine
    unsubscribe_health: Callable[[], None] | None = field(default=None, repr=False)  # a command's health printer
    _closed: bool = field(default=False, repr=False)

    @property
    def provider(self) -> IbExecutionProvider:
        # assemble_stack builds the engine with ExecutionEngine.for_ib: its provider is the IB one
        return cast("IbExecutionProvider", self.engine.provider)

    @property
    def writer(self) -> EventWriter:
        return self.engine.writer

    @property
    def reconciler(self) -> Reconciler:
        return self.engine.reconciler

    @property
    def trade(self) -> TradeService:
        return self.engine.service

    @property
    def service(self) -> TradeService:  # the commands' name for it
        return self.engine.service

    @property
    def actions(self) -> OrderActions:
        return self.engine.actions

    @property
    def recovery(self) -> AutoRecovery:
        return self.engine.recovery

    @property
    def trade_settings(self) -> TradeSettingsService:
        from services.trade_settings import TradeSettingsService

        return TradeSettingsService(self.db, self.trade.actor)

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.provider.host, self.provider.port

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.equity is not None:
            await self.equity.stop()
        try:
            # at most STOP_TIMEOUT (a window closed during an outage), less when the setting says so
            await self.engine.stop(timeout=min(STOP_TIMEOUT, self.settings.write_timeout))
        except Exception:
            log.exception("execution engine did not stop cleanly")
        if self.unsubscribe_health is not None:
            self.unsubscribe_health()
        if self.simulator is not None:
            await self.simulator.stop()
        await asyncio.to_thread(self.db.dispose)


@dataclass
class MonitorStack:
    """A monitor's stack: the shared database opened read-only (the server refuses writes), the
    audit log for reading and the change feed. No broker connection, no engine: nothing here can
    trade, and ``read_only`` says so to every caller."""

    settings: Settings
    db: Database
    audit: AuditLog
    feed: ChangeFeed
    read_only: bool = True
    _closed: bool = field(default=False, repr=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self.db.dispose)


def open_read_only_database(url: str) -> Database:
    """``url`` opened read-only, at the schema this code ships, or SchemaNotCurrent: a monitor
    never migrates (the trading side does) and never creates an SQLite file (run it off the GUI
    thread)."""
    from services.db import Database, migrate
    from services.db.errors import DatabaseLocationError, sqlite_path

    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise DatabaseLocationError(f"there is no database at {path}: a monitor follows an existing database")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    migrate.check_schema(url)
    return Database(url, read_only=True)


def open_existing_database(url: str) -> Database:
    """The database of a command that works on what is stored (``positions``, ``tca``, ``trail``,
    ``audit``, ``bars show``, ``backtests``): ``NoSchema`` for a missing SQLite file (a reader
    never creates one) or a database never migrated; otherwise opened as every command opens
    one (``ensure_schema``: an SQLite file upgrades itself, MySQL/MariaDB must be at the head
    revision, else ``SchemaNotCurrent``)."""
    from services.db import Database, migrate
    from services.db.errors import NoSchema, sqlite_path
    from services.urls import redact_url

    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise NoSchema(redact_url(url))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if migrate.is_mysql_url(url):
        migrate.check_schema(url)  # behind, ahead or empty: SchemaNotCurrent, said as the operator's decision
    elif migrate.current(url) is None:
        raise NoSchema(redact_url(url))
    else:
        migrate.ensure_schema(url)
    return Database(url)


def monitor_db_url(settings: Settings, demo: bool = False) -> str:
    return demo_db_url(settings) if demo else settings.effective_db_url


async def build_monitor_stack(settings: Settings, *, demo: bool = False) -> MonitorStack:
    """The monitor variant of ``build_stack``: the settings' database (the demo one with ``demo``)
    read-only, the audit log and a change feed primed at now."""
    from services.audit import AuditLog
    from services.change_feed import ChangeFeed

    db = await asyncio.to_thread(open_read_only_database, monitor_db_url(settings, demo))
    feed = ChangeFeed(db)
    try:
        await asyncio.to_thread(feed.prime)
    except BaseException:
        await asyncio.to_thread(db.dispose)
        raise
    return MonitorStack(settings, db, AuditLog(db), feed)


def demo_db_url(settings: Settings) -> str:
    """The demo window's database (Settings.demo_db_url): demo.sqlite3 unless one was named. A
    command given the demo profile opens it too (Settings.effective_db_url)."""
    return settings.demo_db_url


async def connect_broker_alone(settings: Settings, *, live_token: str | None = None,
                               connect_timeout: float | None = None) -> IbExecutionProvider:
    """The broker connection of the settings alone, without a database (a command's Cancel All
    while the database does not answer: services.execution.broker_alone), connected: the
    account guard runs as for every connection (a paper session refuses a live account). The
    trade settings' data source cannot be read: the settings' TWS / IB Gateway is the broker."""
    from services.execution.ib_provider import IbExecutionProvider

    if settings.demo_given:
        refuse_demo_broker()
    provider = IbExecutionProvider(host=settings.ib.host, port=settings.ib.port, client_id=settings.ib.client_id,
                                   account=settings.ib.account, mode=TradeMode(settings.mode), live_token=live_token,
                                   connect_timeout=connect_timeout or settings.ib.connect_timeout, auto_reconnect=False)
    await provider.connect()
    return provider


def refuse_demo_broker() -> None:
    """A command given the demo profile opens the demo window's database (Settings.demo_given),
    whose orders went to that window's built-in simulator, which no other process reaches: sent
    through TWS / IB Gateway instead, a real paper account's orders would land among the demo's
    (README: simulated orders never mix with real ones). Refused before anything is opened."""
    from services.execution.errors import BadInput

    raise BadInput("--demo (or --profile demo) trades only in the demo window, against its built-in simulator: "
                   "a command given it reads the demo window's database and sends nothing; leave it out (or give "
                   "--profile paper) to trade through TWS / IB Gateway", code="demo_sends_nothing")


def runs_profile(settings: Settings, url: str) -> str | None:
    """The profile whose words a command reading the database at ``url`` says its runs' mode in
    (services.core.wording.mode_word), as a window of that profile says them; None: as stored.
    A paper or live profile is the settings'. Demo is everyone's default, the `execute` users' of
    TWS too, and the demo window writes only its own database (``demo_db_url``: the one named,
    else demo.sqlite3, never the commands' console.sqlite3): its words only when the command was
    given the demo profile (``--profile demo``, ``--demo``: ``Settings.demo_given``) and reads
    that database."""
    if settings.profile != "demo":
        return settings.profile
    return "demo" if settings.demo_given and url == demo_db_url(settings) else None


def open_database(settings: Settings, url: str | None = None) -> Database:
    """The settings' database (or ``url``), upgraded to the current schema (run it off the GUI
    thread)."""
    from services.db import Database

    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(url or settings.effective_db_url)
    db.ensure_schema()
    ensure_settings_row(db)
    return db


def ensure_settings_row(db: Database) -> None:
    """The settings row, created here when missing so that the concurrent reads of start-up never
    have to upgrade to a write (SQLite refuses such an upgrade at once while another connection
    writes). Looked for with a plain read first: the write lock, which a writer frozen in its
    transaction can hold for as long as it likes, is asked for only by the first start, so that
    a reading command (``orders``, ``trade-settings``) answers behind such a writer."""
    from services.db.repositories.settings import SettingsRepository

    with db.session() as session:
        if SettingsRepository(session).exists():
            return
    with db.unit_of_work() as session:
        SettingsRepository(session).get()  # insert_once: a row another process created meanwhile is kept


DEMO_CAPITAL = "100000"
DEMO_ACTOR = "demo"  # the audit log's author of the demo's sample data


def seed_demo_data(db: Database) -> int:
    """A sample project (capital 100,000) with two sample snapshots, once. Returns how many were
    imported."""
    from services.console_queries import import_snapshot, projects_and_snapshots

    projects, snapshots = projects_and_snapshots(db)
    if any(p.name == DEMO_PROJECT for p in projects) and snapshots:
        return 0
    imported = 0
    for name in DEMO_SNAPSHOTS:  # audited as every stored snapshot, by the demo as its capital below
        outcome = import_snapshot(db, SAMPLES_DIR / name, DEMO_PROJECT, note="sample data", actor=DEMO_ACTOR)
        if not outcome.ok:  # shipped data must be valid: a bug, not a user error
            raise RuntimeError(f"sample snapshot {name} is invalid: {outcome.parsed.errors[:3]}")
        imported += int(outcome.created)
    if imported:
        # the demo project trades 100,000 of the simulator's 1,000,000 (docs/project-books.md):
        # its previews' default portfolio value, changeable in Settings
        from services.books import BooksService

        if BooksService(db, DEMO_ACTOR).capitals().get(DEMO_PROJECT) is None:
            BooksService(db, DEMO_ACTOR).set_capitals({DEMO_PROJECT: DEMO_CAPITAL})
    return imported


def configured_data_source(db: Database) -> str:
    """The trade settings' ``execution_data_source``, checked: a value stored before it was
    validated (or written around the service) stops the start with one line naming it."""
    from services.db.repositories.settings import SettingsRepository
    from services.execution.errors import BadInput
    from services.trade_settings import TradeSettingsError, check_data_source

    with db.session() as session:
        stored = SettingsRepository(session).execution_data_source()
    try:
        return check_data_source(stored)
    except TradeSettingsError as exc:
        raise BadInput(f"{exc} (stored in the database's trade settings); change it in Settings or with "
                       f"`trading-console trade-settings set execution_data_source=ib`", code="bad_data_source") from None


async def start_builtin_simulator(settings: Settings, name: str, **overrides: object) -> IBGatewaySimulator:
    """The simulator in this process on a free loopback port; its state and ledger files are
    ``<name>-state.json`` / ``<name>-ledger.json`` in the data folder, so that its account
    survives a restart like a real one (demo mode keeps its own)."""
    from services.ibsim.config import SimConfig
    from services.ibsim.server import IBGatewaySimulator

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = SimConfig(
        seed=7,
        state_file=settings.data_dir / f"{name}-state.json",
        ledger_file=settings.data_dir / f"{name}-ledger.json",
        fill_mode="partial",
        partial_fills=3,
        fill_interval=0.15,
        walk_interval=1.0,
        # the account summary and updates pushed every 10 s rather than IB's 3 minutes, so that the
        # equity recorder's samples (EQUITY_SAMPLE_SECONDS) follow the walking prices
        account_interval=10.0,
    )
    for option, value in overrides.items():
        setattr(config, option, value)
    simulator = IBGatewaySimulator(config)
    await simulator.start("127.0.0.1", 0)
    return simulator


async def build_stack(settings: Settings, *, demo: bool, live_token: str | None = None, connect: bool = True,
                      simulator_options: dict | None = None, record_equity: bool = True,
                      connect_timeout: float | None = None, auto_reconnect: bool = True,
                      on_health: Callable[..., None] | None = None) -> ServiceStack:
    """Construct and wire everything, then connect to the broker (or the built-in simulator: demo
    mode, or the ``simulator`` execution data source): the one place the window and every
    command get their stack from. A command passes ``auto_reconnect=False`` (it reports a lost
    connection instead of waiting it out) and ``on_health`` (it prints the writer's health as it
    changes)."""
    stack = await assemble_stack(settings, demo=demo, live_token=live_token, simulator_options=simulator_options,
                                 connect_timeout=connect_timeout, auto_reconnect=auto_reconnect)
    if on_health is not None:
        stack.unsubscribe_health = stack.engine.subscribe_health(on_health)
    try:
        await stack.engine.start(connect=connect)
    except BaseException:
        await stack.close()
        raise
    if record_equity and connect:
        start_equity_recorder(stack)
    return stack


def start_equity_recorder(stack: ServiceStack) -> None:
    """Equity snapshots and position marks, stored every EQUITY_SAMPLE_SECONDS while connected
    (stopped by ``stack.close``)."""
    from services.execution.equity import EquityRecorder

    if stack.equity is None:
        stack.equity = EquityRecorder(stack.db, stack.engine.provider, interval=EQUITY_SAMPLE_SECONDS)
        stack.equity.start()


async def assemble_stack(settings: Settings, *, demo: bool, live_token: str | None = None, simulator_options: dict | None = None,
                         connect_timeout: float | None = None, auto_reconnect: bool = True) -> ServiceStack:
    from services.audit import AuditLog
    from services.execution.engine import ExecutionEngine

    if settings.demo_given and not demo:
        refuse_demo_broker()
    db_url = demo_db_url(settings) if demo else None
    db = await asyncio.to_thread(open_database, settings, db_url)
    simulator = None
    mode = TradeMode.PAPER if demo else TradeMode(settings.mode)
    host, port, account = settings.ib.host, settings.ib.port, settings.ib.account
    try:
        # the provider switch: demo mode always runs the simulator; otherwise the trade settings say
        source = "simulator" if demo else await asyncio.to_thread(configured_data_source, db)
        if demo:
            await asyncio.to_thread(seed_demo_data, db)
        if source == "simulator":
            name = "demo-simulator" if demo else "simulator"
            simulator = await start_builtin_simulator(settings, name, **(simulator_options or {}))
            host, port, account = "127.0.0.1", simulator.port, simulator.config.account
            log.info("execution data source: built-in simulator on port %d", simulator.port)
        engine = ExecutionEngine.for_ib(
            db,
            host=host,
            port=port,
            client_id=settings.ib.client_id,
            account=account,
            mode=mode,
            live_token=live_token,
            connect_timeout=connect_timeout or settings.ib.connect_timeout,
            market_data_type="live" if simulator is not None else settings.ib.market_data_type,
            market_data_lines=settings.ib.market_data_lines,
            journal_path=settings.writer_journal_for(db_url),
            auto_reconnect=auto_reconnect,
            lease_ttl=settings.lease_ttl,
            write_timeout=settings.write_timeout,
            # its audit entries say a run's mode as the window does: "demo" in demo mode (its paper
            # runs go to the built-in simulator); every other session's as stored (a command of
            # the default demo profile trades through TWS: paper)
            profile="demo" if demo else None,
        )
    except BaseException:
        if simulator is not None:
            await simulator.stop()
        await asyncio.to_thread(db.dispose)
        raise
    return ServiceStack(settings, db, AuditLog(db), engine, simulator, mode, "demo" if demo else settings.profile,
                        data_source=source)
