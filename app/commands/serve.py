"""`trading-console serve`: the headless trading service.

    trading-console serve [--recovery-interval S] [connection options]

The command builds the stack, installs the signal handlers and prints; the loop itself is the
engine's (``services.execution.headless.HeadlessService``). What a workstation runs when no one watches the window (and what the window's monitor mode
reads from): the stack the window builds (``app.composition.build_stack``: the execution data
source of the trade settings chooses TWS / IB Gateway or the built-in simulator), connected
with the window's retries and automatic reconnects. While it runs:

* every IB callback goes into the database through the one event writer;
* every (re)connect, and IB's 1101/1102, reconciles (the reconciler's resync hook);
* auto-recovery runs at once and then every ``--recovery-interval`` seconds;
* equity snapshots and position marks are stored while connected;
* its health goes to stdout (and the log file), one line per event: the connection (the trading
  window's Activity log's words, services.execution.connection_words, and each reconnect attempt),
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

from app.cli import EXIT_BROKER, EXIT_OK
from services.execution.headless import RECOVERY_INTERVAL_SECONDS, HeadlessService

log = logging.getLogger(__name__)

def register(subparsers) -> None:
    from app.commands import arguments
    from app.commands.execution import _connection_options

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
    parser.add_argument("--recovery-interval", dest="recovery_interval", type=arguments.seconds(positive=True),
                        default=RECOVERY_INTERVAL_SECONDS, metavar="S",  # the trading window's interval
                        help=f"seconds between two auto-recovery passes (default {RECOVERY_INTERVAL_SECONDS:g}, "
                             "as in the trading window)")
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


async def serve(args: argparse.Namespace, settings) -> int:
    from app.composition import build_stack, start_equity_recorder
    from services.execution.headless_run import refuse_live_without_word

    refuse_live_without_word(settings.mode, args.live_token)
    stop = _StopSignal()
    stop.install()
    try:
        stack = await build_stack(settings, demo=False, live_token=args.live_token, connect=False, record_equity=True,
                                  connect_timeout=args.connect_timeout, auto_reconnect=True, on_health=_writer_health)
        service = HeadlessService(stack, stop, recovery_interval=args.recovery_interval, say=say,
                                  start_recording=start_equity_recorder)
        unwritten = await service.run()
    finally:
        stop.uninstall()
    if unwritten:
        print(f"trading-console: {unwritten}", file=sys.stderr)
        return EXIT_BROKER
    say("stopped")
    return EXIT_OK


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


def _writer_health(health) -> None:
    say(health.line())  # the window's words and every command's (WriterHealth.line)
