"""One object the composition root (the GUI's ``app/`` or a headless command) builds: the broker
provider, the one writer, reconciliation, trade runs and order actions, started and stopped
together. Subscriptions are plain callbacks (the GUI adapts them to Qt signals):

    engine = ExecutionEngine.for_ib(db, host=..., port=..., client_id=..., mode=TradeMode.PAPER)
    engine.subscribe_changes(on_change_set)        # ChangeSet after every commit
    engine.subscribe_connection(on_connection)     # ConnectionEvent (connecting ... disconnected)
    engine.subscribe_health(on_writer_health)      # WriterHealth (database unreachable, backlog, journal, parked)
    engine.subscribe_market_health(on_market)      # HealthReport (connected, 1100, data farms)
    await engine.start()                           # connect + reconcile
    run = await engine.service.create_run(...); await engine.service.execute(run.id, token)
    await engine.actions.cancel(order_id)
    await engine.recovery.run_once()               # auto-recovery of stuck orders (plan 003)
    await engine.stop()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from services.db.repositories.portfolio_snapshots import CashBook
from services.domain import ChangeSet, TradeMode

from .account import AccountService
from .actions import OrderActions
from .dbcall import runs_inline
from .errors import NotConnected
from .events import BrokerReport, ConnectionEvent
from .ib_connection import backoff_delays
from .lease import LeaseManager
from .manual import ManualOrders
from .market_health import HealthReport, MarketHealth
from .paced import MARKET_DATA_LINES
from .provider import ExecutionProvider
from .quotes import QuoteBook
from .reconcile import Reconciler
from .recovery import AutoRecovery
from .runs import TradeService
from .timings import LEASE_TTL, WRITE_TIMEOUT
from .writer import EventWriter, WriterHealth


async def _sleep_then_go_on(delay: float) -> bool:
    await asyncio.sleep(delay)  # the backoff between attempts, not synchronisation
    return False


class ExecutionEngine:
    def __init__(self, db, provider: ExecutionProvider, *, actor: str | None = None, ack_timeout: float = 10.0,
                 reconcile_grace: float = 2.0, journal_path=None, clock: Callable[[], datetime] | None = None,
                 lease_ttl: float = LEASE_TTL, write_timeout: float = WRITE_TIMEOUT, profile: str | None = None) -> None:
        self.db = db
        self.provider = provider
        if getattr(provider, "contract_store", False) is None:
            from .contracts import DbContractStore

            # only a provider that keeps qualified contracts has the attribute (checked above)
            cast(Any, provider).contract_store = DbContractStore(db)
        history_pacing = getattr(provider, "history_pacing", None)
        if history_pacing is not None and history_pacing.shared is None:
            from .history_log import DbHistoryLog, gateway_key

            # IB paces historical data per gateway: every process's requests count (history_pacing.py)
            history_pacing.shared = DbHistoryLog(db, gateway_key(provider.host, provider.port))  # type: ignore[attr-defined]
        # journal_path: where the writer keeps events the database cannot take (outage, stop)
        # write_timeout: how long an action waits for its events to be written (services.execution.timings)
        self.writer = EventWriter(db, provider.events, journal_path=journal_path, flush_timeout=write_timeout)
        # one lease manager: reconciliation must know which run leases this process holds
        self.leases = LeaseManager(db, client_id=getattr(provider, "client_id", None), ttl=lease_ttl)
        # a backtest's engine calls the database inline, not in worker threads (services.execution.dbcall)
        self.writer.inline_db = self.leases.inline_db = runs_inline(provider)
        if runs_inline(provider):  # a backtest's account is its own: its snapshots' cash is carried (CashBook)
            self.writer.projection.cash_book = CashBook()
        self.reconciler = Reconciler(db, provider, self.writer, grace_seconds=reconcile_grace, leases=self.leases)
        self.reconciler.install()
        # the market-health gate needs the broker's data-farm notices: a provider without them (a
        # test double) is not gated
        if clock is not None and hasattr(provider, "clock"):
            provider.clock = clock  # one clock for when a price was seen and for the price-age rule
        self.health = MarketHealth(provider, clock=clock) if hasattr(provider, "subscribe_notices") else None
        # profile: "demo" for the demo window's engine, whose audit entries say its runs' mode as
        # the window does (RunServiceBase.mode_said); None: as stored
        self.service = TradeService(db, provider, self.writer, self.reconciler, actor=actor, ack_timeout=ack_timeout,
                                    leases=self.leases, clock=clock, health=self.health, profile=profile)
        self.actions = OrderActions(db, provider, self.writer, self.service, actor=actor, health=self.health)
        # the desk: watched quotes, the account's figures and the order ticket (services.execution.manual)
        self.quotes = QuoteBook(provider)
        self.account = AccountService(provider)
        self.manual = ManualOrders(self.service, self.quotes)
        # the session's LIVE word (given at connect) is what lets recovery send in live mode; the
        # market's regular session comes from the health gate (the broker's hours, else the calendar)
        self.recovery = AutoRecovery(db, provider, self.writer, self.reconciler, self.leases, actor=actor,
                                     live_token=getattr(provider, "live_token", None), busy_runs=self.service.executing_runs,
                                     **({"session_open": self.health.session_open} if self.health is not None else {}))

    @classmethod
    def for_ib(cls, db, *, host: str = "127.0.0.1", port: int = 7497, client_id: int = 1, account: str = "",
               mode: TradeMode = TradeMode.PAPER, live_token: str | None = None, connect_timeout: float = 10.0,
               market_data_type: str = "delayed", market_data_lines: int = MARKET_DATA_LINES,
               auto_reconnect: bool = True, actor: str | None = None,
               ack_timeout: float = 10.0, journal_path=None, lease_ttl: float = LEASE_TTL,
               write_timeout: float = WRITE_TIMEOUT, profile: str | None = None) -> ExecutionEngine:
        from .ib_provider import IbExecutionProvider

        provider = IbExecutionProvider(host=host, port=port, client_id=client_id, account=account, mode=mode,
                                       live_token=live_token, connect_timeout=connect_timeout,
                                       market_data_type=market_data_type, market_data_lines=market_data_lines,
                                       auto_reconnect=auto_reconnect)
        return cls(db, provider, actor=actor, ack_timeout=ack_timeout, journal_path=journal_path, lease_ttl=lease_ttl,
                   write_timeout=write_timeout, profile=profile)

    def subscribe_changes(self, callback: Callable[[ChangeSet], None]) -> Callable[[], None]:
        return self.writer.subscribe(callback)

    def subscribe_connection(self, callback: Callable[[ConnectionEvent], None]) -> Callable[[], None]:
        return self.provider.subscribe(callback)

    def subscribe_health(self, callback: Callable[[WriterHealth], None]) -> Callable[[], None]:
        return self.writer.subscribe_health(callback)

    def subscribe_unrecorded(self, callback: Callable[[tuple[BrokerReport, ...]], None]) -> Callable[[], None]:
        """The broker's order statuses and executions waiting for the database
        (EventWriter.subscribe_unrecorded)."""
        return self.writer.subscribe_unrecorded(callback)

    def subscribe_market_health(self, callback: Callable[[HealthReport], None]) -> Callable[[], None]:
        """The market-health gate's state (connection, 1100, data farms) after every change."""
        if self.health is None:
            return lambda: None
        return self.health.subscribe(callback)

    async def start(self, *, connect: bool = True) -> None:
        """Start the writer; connect (the account guard runs) and reconcile."""
        self.writer.start()
        if connect:
            await self.provider.connect()
            self.writer.account = self.provider.account or None

    async def connect_with_backoff(self, on_retry: Callable[[NotConnected, float], None],
                                   wait: Callable[[float], Awaitable[bool]] = _sleep_then_go_on) -> bool:
        """Connect (the account guard, then reconciliation), retrying after each failure with the
        adapter's backoff (1 s doubling to 60 s) until connected: True. ``on_retry(error,
        delay)`` tells the user; ``wait(delay)`` waits and returns True to give up (a stop
        request): False. The account guard's refusal (``Refused``) is final and raised. The window
        and ``serve`` connect through this."""
        delays = backoff_delays()
        while True:
            try:
                await self.provider.connect()
            except NotConnected as exc:
                delay = next(delays)
                on_retry(exc, delay)
                if await wait(delay):
                    return False
                continue
            self.writer.account = self.provider.account or None
            return True

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Write what is queued, then disconnect (a halt or Cancel All the database did not
        answer and still unwritten is said in the log: services.execution.unrecorded)."""
        try:
            await self.service.unrecorded.stop()
            await self.writer.stop(drain=True, timeout=timeout)
        finally:
            await self.provider.disconnect()
