"""The headless trading service's loop (``trading-console serve``): connect with the window's
backoff, keep the database in step with IB (the reconciler's resync hook), run auto-recovery at
once and then every interval while connected, record equity, and stop in order.

Qt-free and free of the command line: ``app/commands/serve.py`` builds the stack, installs the
signal handlers and prints; this module decides. What it needs of the stack is the
:class:`HeadlessStack` protocol (the composition root's ``ServiceStack`` is one), and every
health line goes through ``say``.

Stopping in order: no new work (a recovery pass or a connect under way finishes, bounded by
``stop_grace``), no more broker input (disconnect), every event received written (or kept in the
writer's journal when the database is away), leases released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from .connection_words import ConnectionStory, refused_line
from .reconcile_words import ResyncSaid

log = logging.getLogger(__name__)

# Seconds between two auto-recovery passes, in the trading window and in `serve` alike (`serve
# --recovery-interval` overrides it): short next to auto_recovery.new_timeout_seconds (45 by
# default), so a stuck order is taken up soon after its timeout wherever the console runs. Here,
# not in .recovery, because `serve`'s parser reads it and must not load the database layer.
RECOVERY_INTERVAL_SECONDS = 10.0
STOP_GRACE = 20.0  # seconds a recovery pass (or a connect and its reconciliation) under way may take at shutdown


class StopSignal(Protocol):
    event: asyncio.Event

    def is_set(self) -> bool: ...

    async def wait(self, timeout: float | None = None) -> bool: ...


class HeadlessStack(Protocol):
    """What the loop uses of the composition root's stack (read-only)."""

    @property
    def engine(self) -> Any: ...
    @property
    def provider(self) -> Any: ...
    @property
    def reconciler(self) -> Any: ...
    @property
    def recovery(self) -> Any: ...
    @property
    def writer(self) -> Any: ...
    @property
    def equity(self) -> Any: ...
    @property
    def simulator(self) -> Any: ...
    @property
    def mode(self) -> Any: ...
    @property
    def settings(self) -> Any: ...

    async def close(self) -> None: ...


async def recovery_pass(stack: HeadlessStack) -> str:
    """One auto-recovery pass; what it did, in one line ("" when there was nothing to do)."""
    result = await stack.recovery.run_once()
    if not (result.canceled or result.sent or result.replaced or result.skipped):
        return ""
    return result.headline()  # the window's and `recover`'s words


class HeadlessService:
    """``run()`` until ``stop`` is set; returns what was left unwritten at the end ("" when
    everything received was written)."""

    def __init__(self, stack: HeadlessStack, stop: StopSignal, *, recovery_interval: float, say: Callable[[str], None],
                 start_recording: Callable[[Any], None] = lambda _stack: None,
                 stop_grace: float = STOP_GRACE) -> None:
        self.stack = stack
        self.stop = stop
        self.recovery_interval = recovery_interval
        self.say = say
        self.start_recording = start_recording
        self.stop_grace = stop_grace
        self.one_pass = recovery_pass
        self._recovery_task: asyncio.Task | None = None
        self._resync = ResyncSaid()  # the reconciliation reports printed
        self._connection = ConnectionStory()  # the connection's lines, the window's activity log's words

    async def run(self) -> str:
        stack = self.stack
        unsubscribe = stack.engine.subscribe_connection(self._connection_line)
        stack.provider.add_resync_hook(self._reconciled)  # after the reconciler's own hook
        source = f"built-in simulator (port {stack.simulator.port})" if stack.simulator else \
            f"IB at {stack.provider.host}:{stack.provider.port}"
        self.say(f"starting: {stack.mode} mode, {source}, client id {stack.provider.client_id}, "
                 f"database {stack.settings.redacted_db_url}")
        try:
            if await self._connect():
                self.start_recording(stack)
                self._recovery_task = asyncio.get_running_loop().create_task(self._recover_periodically(),
                                                                             name="serve-recovery")
                self.say("running")
                await self.stop.wait()
        finally:
            unwritten = await self._shutdown()
            unsubscribe()
        return unwritten

    async def _connect(self) -> bool:
        """Connect (the account guard, then reconciliation), retrying with the window's backoff
        until connected or stopped; a refusal (account guard) is final. False when stopped."""

        def retrying(exc: Exception, delay: float) -> None:
            self.say(f"{exc}; retrying in {delay:g} s")

        connecting = asyncio.ensure_future(self.stack.engine.connect_with_backoff(retrying, self.stop.wait))
        stopping = asyncio.ensure_future(self.stop.event.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():  # stopped while connecting or reconciling: let it end, bounded
            await self._finish_or_cancel(connecting, "connecting")
            return False
        return connecting.result()

    async def _reconciled(self, _state) -> None:
        self.say(self._resync.say(self.stack.reconciler.last_report)[0])  # the window's and `reconcile`'s words

    async def _recover_periodically(self) -> None:
        while not self.stop.is_set():
            if self.stack.provider.is_connected:
                try:
                    outcome = await self.one_pass(self.stack)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a failed pass is reported; the next one runs
                    log.exception("auto-recovery failed")
                    self.say(f"recovery failed: {exc}")
                else:
                    if outcome:
                        self.say(outcome)
            if await self.stop.wait(self.recovery_interval):
                return

    async def _shutdown(self) -> str:
        """No new work, no more input, everything received written; returns what was left
        unwritten ("" when nothing)."""
        stack = self.stack
        self.stop.event.set()  # also when leaving on an error: no new recovery pass
        if self._recovery_task is not None:
            await self._finish_or_cancel(self._recovery_task, "recovery pass")
        if stack.equity is not None:
            await stack.equity.stop()
        await self._release_leases()
        # the broker's input stops first: whatever arrived is queued, and written by close()
        # (what the database does not take within its timeout goes to the writer's journal)
        await stack.provider.disconnect()
        await stack.close()
        health = stack.writer.health
        return health.describe() if health.problem else ""

    async def _release_leases(self) -> None:
        leases = self.stack.engine.leases
        for lease in list(leases.held.values()):
            try:
                await asyncio.to_thread(leases.release, lease)
            except Exception as exc:  # noqa: BLE001 - it expires by itself
                self.say(f"run {lease.run_id}: lease not released ({exc}); it expires in at most {lease.ttl:g} s")

    async def _finish_or_cancel(self, task: asyncio.Future, what: str) -> None:
        """Let work under way end by itself (a pass half done is worse than a late stop); cancel
        it after the grace. Its errors were reported where they happened."""
        try:
            await asyncio.wait_for(asyncio.shield(task), self.stop_grace)
        except TimeoutError:
            self.say(f"{what} still running after {self.stop_grace:g} s; canceled")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except Exception:  # reported where it happened; stopping goes on
            log.debug("%s ended with an error", what, exc_info=True)

    def _connection_line(self, event) -> None:
        """The connection's events in the trading window's activity log's words (connected, lost,
        restored after how long, IB's own 1100 / 1101-1102, this session's disconnect, a refusal):
        `serve` said them its own way ("connection disconnected: connection lost"); and, with no
        label counting down here, each reconnect attempt."""
        if event.refused:
            self._connection.line(event)  # it is down now
            self.say(refused_line(event))
            return
        line = self._connection.line(event)
        if line is not None:
            self.say(line.text)
        attempt = self._connection.attempt_line(event)
        if attempt is not None:
            self.say(attempt)
