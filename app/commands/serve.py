"""`trading-console serve`: the headless trading service.

    trading-console serve [--recovery-interval S] [connection options]

What a workstation runs when no one watches the window (and what the window's monitor mode
reads from): the stack the window builds (``app.composition.build_stack``: the execution data
source of the trade settings chooses TWS / IB Gateway or the built-in simulator), connected
with the window's retries and automatic reconnects. While it runs:

* every IB callback goes into the database through the one event writer;
* every (re)connect, and IB's 1101/1102, reconciles (the reconciler's resync hook);
* auto-recovery runs at once and then every ``--recovery-interval`` seconds;
* equity snapshots and position marks are stored while connected;
* its health goes to stdout (and the log file), one line per event: connection state,
  reconciliation, recovery, the writer's health (database away, backlog, journal).

SIGTERM or SIGINT stops it in order: no new work (a recovery pass under way finishes, bounded),
no more broker input (disconnect), every event received written (or kept in the writer's
journal when the database is away), leases released; exit 0. Exit 4 when the connection is
refused (account guard, live mode without ``--live-token LIVE``), 2 for bad input (an unknown
execution data source), 5 when events were left unwritten at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.cli import EXIT_BROKER, EXIT_OK

if TYPE_CHECKING:
    from app.composition import ServiceStack
    from services.execution.reconcile import ReconcileReport

log = logging.getLogger(__name__)

DEFAULT_RECOVERY_INTERVAL = 30.0
STOP_GRACE = 20.0  # seconds a recovery pass (or a connect and its reconciliation) under way may take at shutdown


def register(subparsers) -> None:
    from app.commands.execution import _connection_options, _seconds

    parser = subparsers.add_parser(
        "serve", help="the headless trading service: stream IB into the database, reconcile, recover (until stopped)",
        description=(
            "Connect like the window does and keep the database in step with IB until stopped: every "
            "order status, execution and commission report is written; every (re)connect reconciles; "
            "auto-recovery runs every --recovery-interval seconds; equity snapshots are stored; the "
            "health (connection, reconciliation, recovery, database writer) is printed one line per "
            "event. The execution data source of the trade settings (`trade-settings set "
            "execution_data_source=ib|simulator`) chooses TWS / IB Gateway or the built-in simulator. "
            "SIGTERM or SIGINT: orderly shutdown (every received event written, leases released, "
            "disconnected), exit 0."),
        epilog="Exit codes: 0 stopped in order, 2 bad input (e.g. an unknown execution data source), "
               "4 refused (account guard, live without --live-token LIVE), 5 events left unwritten "
               "(kept in the writer's journal) or a database error.")
    parser.add_argument("--recovery-interval", dest="recovery_interval", type=_seconds(positive=True),
                        default=DEFAULT_RECOVERY_INTERVAL, metavar="S",
                        help=f"seconds between two auto-recovery passes (default {DEFAULT_RECOVERY_INTERVAL:g})")
    _connection_options(parser)
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace, settings) -> int:
    from app.commands.execution import _run

    return _run(serve, args, settings)


def say(text: str) -> None:
    """One health line: stdout (the service's own output, timestamped) and the log file."""
    from services.urls import redact_text

    line = redact_text(text)
    print(f"{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} serve: {line}", flush=True)
    log.info("serve: %s", line, extra={"tc_file_only": True})


async def _run_recovery(stack: ServiceStack) -> str:
    """One auto-recovery pass; what it did, in one line ("" when there was nothing to do)."""
    result = await stack.recovery.run_once()
    if not (result.canceled or result.sent or result.replaced or result.skipped):
        return ""
    return f"recovery: {result.describe()}"


async def serve(args: argparse.Namespace, settings) -> int:
    from app.composition import build_stack
    from services.domain import TradeMode, is_live_token
    from services.execution.errors import LiveConfirmRequired

    if TradeMode(settings.mode) is TradeMode.LIVE and not is_live_token(args.live_token):
        raise LiveConfirmRequired("live_confirm_required: live mode needs --live-token LIVE")
    stop = _StopSignal()
    stop.install()
    try:
        stack = await build_stack(settings, demo=False, live_token=args.live_token, connect=False, record_equity=True,
                                  connect_timeout=args.connect_timeout, auto_reconnect=True, on_health=_writer_health)
        service = HeadlessService(stack, stop, recovery_interval=args.recovery_interval)
        return await service.run()
    finally:
        stop.uninstall()


class _StopSignal:
    """SIGTERM / SIGINT set an event on the loop (no KeyboardInterrupt in the middle of a write)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            loop.add_signal_handler(sig, self._received, sig)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self.SIGNALS:
            loop.remove_signal_handler(sig)

    def _received(self, sig: signal.Signals) -> None:
        if self.event.is_set():
            say(f"{sig.name} received; already stopping")
            return
        say(f"{sig.name} received; stopping")
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    async def wait(self, timeout: float | None = None) -> bool:
        """True when stopped, False when ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        return True


class HeadlessService:
    def __init__(self, stack: ServiceStack, stop: _StopSignal, *, recovery_interval: float) -> None:
        self.stack = stack
        self.stop = stop
        self.recovery_interval = recovery_interval
        self._recovery_task: asyncio.Task | None = None
        self._reported: ReconcileReport | None = None  # the last reconciliation report printed

    async def run(self) -> int:
        stack = self.stack
        unsubscribe = stack.engine.subscribe_connection(_connection_line)
        stack.provider.add_resync_hook(self._reconciled)  # after the reconciler's own hook
        source = f"built-in simulator (port {stack.simulator.port})" if stack.simulator else \
            f"IB at {stack.provider.host}:{stack.provider.port}"
        say(f"starting: {stack.mode} mode, {source}, client id {stack.provider.client_id}, "
            f"database {stack.settings.redacted_db_url}")
        try:
            if await self._connect():
                from app.composition import start_equity_recorder

                start_equity_recorder(stack)
                self._recovery_task = asyncio.get_running_loop().create_task(self._recover_periodically(),
                                                                             name="serve-recovery")
                say("running")
                await self.stop.wait()
        finally:
            unwritten = await self._shutdown()
            unsubscribe()
        if unwritten:
            print(f"trading-console: {unwritten}", file=sys.stderr)
            return EXIT_BROKER
        say("stopped")
        return EXIT_OK

    async def _connect(self) -> bool:
        """Connect (the account guard, then reconciliation), retrying with the window's backoff
        until connected or stopped; a refusal (account guard) is final. False when stopped."""

        def retrying(exc: Exception, delay: float) -> None:
            say(f"{exc}; retrying in {delay:g} s")

        connecting = asyncio.ensure_future(self.stack.engine.connect_with_backoff(retrying, self.stop.wait))
        stopping = asyncio.ensure_future(self.stop.event.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():  # stopped while connecting or reconciling: let it end, bounded
            await _finish_or_cancel(connecting, STOP_GRACE, "connecting")
            return False
        return connecting.result()

    async def _reconciled(self, _state) -> None:
        report = self.stack.reconciler.last_report
        if report is None or report is self._reported:
            say("reconciliation did not complete (retried at the next connect)")
            return
        self._reported = report
        say(f"reconciled: {report.open_orders} open, {report.completed_orders} completed, {report.executions} "
            f"executions; missing fills {len(report.missing_fills)}, corrected {len(report.corrected)}, "
            f"external {len(report.external)}, unknown resolved {len(report.resolved_unknown)}, "
            f"positions {len(report.positions_corrected)}")

    async def _recover_periodically(self) -> None:
        while not self.stop.is_set():
            if self.stack.provider.is_connected:
                try:
                    outcome = await _run_recovery(self.stack)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a failed pass is reported; the next one runs
                    log.exception("auto-recovery failed")
                    say(f"recovery failed: {exc}")
                else:
                    if outcome:
                        say(outcome)
            if await self.stop.wait(self.recovery_interval):
                return

    async def _shutdown(self) -> str:
        """No new work, no more input, everything received written; returns what was left
        unwritten ("" when nothing)."""
        stack = self.stack
        self.stop.event.set()  # also when leaving on an error: no new recovery pass
        if self._recovery_task is not None:
            await _finish_or_cancel(self._recovery_task, STOP_GRACE, "recovery pass")
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
                say(f"run {lease.run_id}: lease not released ({exc}); it expires in at most {lease.ttl:g} s")


async def _finish_or_cancel(task: asyncio.Future, grace: float, what: str) -> None:
    """Let work under way end by itself (a pass half done is worse than a late stop); cancel it
    after ``grace`` seconds. Its errors were reported where they happened."""
    try:
        await asyncio.wait_for(asyncio.shield(task), grace)
    except TimeoutError:
        say(f"{what} still running after {grace:g} s; canceled")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    except Exception:  # reported where it happened; stopping goes on
        log.debug("%s ended with an error", what, exc_info=True)


def _connection_line(event) -> None:
    retry = f" (retry in {event.retry_in:g} s)" if event.retry_in else ""
    say(f"connection {event.state}" + (f": {event.detail}" if event.detail else "") + retry)


def _writer_health(health) -> None:
    say(f"database writer: {health.describe()}" if health.problem else "database writer: every event written")
