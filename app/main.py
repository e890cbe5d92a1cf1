"""Composition root of the window: one QApplication, one qasync loop, the service stack, the
main window and its controller; shut down in reverse order when the window closes.

``--monitor`` opens a read-only monitor window instead: the composition root's monitor stack (the
shared database read-only, the change feed, no broker) and its controller (app/controllers/monitor.py).

``--screenshot FILE`` runs the demo flow (import a sample snapshot, preview, execute a paper
run against the built-in simulator, wait for the fills), renders the window and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.composition import ServiceStack
    from app.controller import ConsoleController
    from app.controllers.monitor import MonitorController
    from app.main_window import MainWindow
    from app.settings import Settings

log = logging.getLogger(__name__)

SCREENSHOT_SIZE = (1600, 1000)
MONITOR_START_RETRY_SECONDS = 2.0  # a monitor started with the database server away asks again this often
DEMO_PORTFOLIO_VALUE = Decimal("150000")  # every demo order stays under the default 25,000 notional limit
DEMO_SAMPLES = ("momentum_2026-11-21.json", "momentum_2026-11-20.csv")  # the screenshot's snapshot, newest first


def run_console(args: argparse.Namespace, settings: Settings) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("IB Trading Console")
    app.setOrganizationName("ib-trading-console")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    from app.gc_guard import MainThreadGarbageCollector

    collector = MainThreadGarbageCollector(app)  # Qt objects are finalized on the GUI thread only
    from app.gil_turns import background_executor, prefer_gui_thread

    restore_switch_interval = prefer_gui_thread()  # the GUI thread waits less for the database threads
    loop.set_default_executor(background_executor())  # ... and the OS runs it first when the cores are busy
    console = Console(settings, demo=is_demo(args, settings), screenshot=getattr(args, "screenshot", None),
                      monitor=bool(getattr(args, "monitor", False)))
    restore_signals = close_on_signals(loop, console.request_close)
    try:
        with loop:
            return loop.run_until_complete(console.run())
    finally:
        restore_signals()
        collector.stop()
        restore_switch_interval()
        asyncio.set_event_loop(None)


def close_on_signals(loop: asyncio.AbstractEventLoop, close: Callable[[], None]) -> Callable[[], None]:
    """SIGTERM (a ``kill``, a service manager's stop, the session ending) and SIGINT (Ctrl+C in
    the terminal) close the window as its close button does: the layout saved, the broker left,
    the writer's events written, the database closed (``Console._shutdown``). SIGTERM killed the
    process where it stood, and SIGINT raised KeyboardInterrupt in whatever Qt callback ran. A
    second signal is the default's again: a console that does not close can still be stopped.
    The handler runs when the GUI thread next runs Python (the collector's 20 ms timer at the
    latest: app.gc_guard); it only schedules the close on the loop. Returns the restorer."""
    signals = (signal.SIGTERM, signal.SIGINT)
    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in signals}

    def received(signum: int, _frame) -> None:
        signal.signal(signum, previous[signum])  # the next one as before
        loop.call_soon_threadsafe(close)

    for signum in signals:
        signal.signal(signum, received)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def is_demo(args: argparse.Namespace, settings: Settings) -> bool:
    """Demo unless a paper or live profile was asked for; a screenshot is always the demo."""
    if getattr(args, "screenshot", None) or getattr(args, "demo", False):
        return True
    return settings.profile == "demo"


class Console:
    def __init__(self, settings: Settings, *, demo: bool, screenshot: str | None = None, monitor: bool = False) -> None:
        self.settings = settings
        self.demo = demo
        self.screenshot = screenshot
        self.monitor = monitor and not screenshot
        self.window: MainWindow | None = None
        self.stack: ServiceStack | None = None
        self.controller: ConsoleController | None = None
        self._closed = asyncio.Event()
        self._live_word: str | None = None
        self.monitor_controller: MonitorController | None = None

    def request_close(self) -> None:
        """Close as the window's close button does (a signal: ``close_on_signals``); before the
        window exists, the run ends as soon as start-up has."""
        if self.window is not None:
            self.window.close()  # saves the layout, then ``closing`` ends the run (its shutdown)
        else:
            self._closed.set()

    async def run(self) -> int:
        from PySide6.QtWidgets import QApplication

        from app.composition import demo_db_url
        from app.main_window import MainWindow
        from app.settings import save_settings
        from services.domain import is_live_token
        from services.urls import redact_url
        from widgets.dialogs.errors import error_box
        from widgets.theme import apply_theme

        app = QApplication.instance()
        assert isinstance(app, QApplication)  # made by run_console (or the tests) before the loop
        # The loop ends when run() returns (after an orderly shutdown), not when Qt sees the last
        # window close: that would stop the asyncio loop under our feet.
        app.setQuitOnLastWindowClosed(False)
        apply_theme(app, self.settings.ui.theme if self.settings.ui.theme in ("dark", "light") else "dark")
        if self.monitor:
            return await self._run_monitor()
        mode = "demo" if self.demo else str(self.settings.mode)
        ui_state = None if self.screenshot else self.settings.data_dir / "ui-state.ini"
        self.window = window = MainWindow(mode=mode, ui_state_file=ui_state)
        window.closing.connect(self._closed.set)
        window.open_monitor_requested.connect(self._open_monitor)
        window.connection_status.set_database(redact_url(demo_db_url(self.settings)) if self.demo
                                              else self.settings.redacted_db_url)
        window.connection_status.set_connection_state("connecting")
        if self.screenshot:
            window.resize(*SCREENSHOT_SIZE)
        window.show()
        try:
            self.stack = stack = await self._build_stack()
        except Exception as exc:  # noqa: BLE001 - logged (_log_startup_failure) and said in a box
            code = _log_startup_failure("start-up failed", exc, self.settings, said=bool(self.screenshot))
            if self.screenshot:
                print(f"trading-console: start-up failed: {_startup_message(exc, self.settings)}", file=sys.stderr)
                return code
            box = error_box(window, "Start-up failed", _startup_message(exc, self.settings))
            box.open()  # not exec(): we are inside the loop's main task
            window.connection_status.set_connection_state("disconnected")
            await self._closed.wait()
            return code
        from app.controller import ConsoleController

        self.controller = controller = ConsoleController(window, stack, settings=self.settings,
                                                         save_settings=None if self.screenshot else save_settings)
        if not self.screenshot:
            window.connect_requested.connect(self._on_connect_requested)
        if self._is_live and not is_live_token(self._live_word):
            window.connection_status.set_connection_state("disconnected — LIVE not confirmed")
            controller.ctx.status("Offline: LIVE was not confirmed. Trading -> Connect to IB… connects later.", 0)
        elif not self.demo:
            controller.arm_live_word(self._live_word)
            controller.runner.run(self._connect_with_retry(), what="Connect to IB")
        try:
            await controller.load_initial()
            # What start-up built lives as long as the window: keep it out of the collector's
            # full passes, which otherwise stall the GUI thread for tens of milliseconds.
            gc.freeze()
            if self.screenshot:
                return await self._screenshot_flow()
            await self._closed.wait()
            return 0
        finally:
            await self._shutdown()

    async def _run_monitor(self) -> int:
        """A read-only window on the shared database: no broker, no engine, no writes."""
        from app.composition import build_monitor_stack, monitor_db_url
        from app.controllers.monitor import MonitorController, show_not_read, show_reach
        from app.main_window import MainWindow
        from services.db.errors import is_server_unreachable
        from widgets.dialogs.errors import error_box

        mode = "demo" if self.demo else str(self.settings.mode)
        self.window = window = MainWindow(mode=mode, monitor=True,
                                          ui_state_file=self.settings.data_dir / "ui-state-monitor.ini")
        window.closing.connect(self._closed.set)
        window.open_monitor_requested.connect(self._open_monitor)
        window.show()
        show_not_read(window, True)  # until the controller has read the database
        lost_at: datetime | None = None
        while True:
            try:
                stack = await build_monitor_stack(self.settings, demo=self.demo)
                break
            except Exception as exc:  # noqa: BLE001 - logged (_log_startup_failure) and said
                if not is_server_unreachable(exc):
                    code = _log_startup_failure("monitor start-up failed", exc, self.settings)
                    box = error_box(window, "Monitor start-up failed", _startup_message(exc, self.settings))
                    box.open()
                    await self._closed.wait()
                    return code
                # a server away (restarting): a read-only window can wait for it, said as a loss
                # while following is; it gave up with a box over empty panels, "No run yet",
                # and stayed so with the database back
                if lost_at is None:
                    lost_at = datetime.now(UTC)
                    code = _log_startup_failure("monitor start-up: waiting for the database", exc, self.settings)
                    show_reach(window, exc, monitor_db_url(self.settings, self.demo), lost_at)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), MONITOR_START_RETRY_SECONDS)
                if self._closed.is_set():
                    return code  # the database never answered: its exit code, as the box's
        self.monitor_controller = controller = MonitorController(window, stack)
        if lost_at is not None:
            show_reach(window, None, stack.db.url)
        try:
            await controller.load_initial()
            controller.start()
            gc.freeze()
            await self._closed.wait()
            return 0
        finally:
            controller.close()
            await controller.runner.drain(timeout=5)
            await stack.close()

    def _open_monitor(self) -> None:
        """File -> Open as monitor: a monitor window in its own process on this database."""
        from app.composition import monitor_db_url
        from app.controllers.monitor import open_monitor_process

        open_monitor_process(monitor_db_url(self.settings, self.demo), profile="demo" if self.demo else self.settings.profile)
        if self.window is not None:
            self.window.statusBar().showMessage("Opening a read-only monitor window on this database…", 10_000)

    async def _build_stack(self):
        from app.composition import build_stack

        self._live_word = await self.ask_live_word() if self._is_live else None
        # The simulator is local and instant; TWS / Gateway may be down: the window opens on the
        # database and connects in the background (_connect_with_retry).
        return await build_stack(self.settings, demo=self.demo, connect=self.demo, live_token=self._live_word)

    @property
    def _is_live(self) -> bool:
        from services.domain import TradeMode

        return not self.demo and TradeMode(self.settings.mode) is TradeMode.LIVE

    async def ask_live_word(self) -> str | None:
        """A live session connects only after the trader typed LIVE (the adapter's account guard
        checks the word again); without it the window stays offline."""
        from PySide6.QtWidgets import QDialog

        from app.tasks import dialog_result

        dialog = self._live_session_dialog()
        if await dialog_result(dialog) != QDialog.DialogCode.Accepted:
            return None
        return dialog.token()

    def _live_session_dialog(self):
        from widgets.dialogs.live_confirm import LiveConfirmDialog

        account = self.settings.ib.account or "(the account TWS reports)"
        ib = self.settings.ib
        return LiveConfirmDialog(account, 0, Decimal(0), self.window, action="Start LIVE session", subject=[
            ("Connect to", f"TWS / IB Gateway at {ib.host}:{ib.port} (client id {ib.client_id})"),
            ("This session", "previews and cancels reuse the word; sending a run or a replace asks again"),
        ])

    def _on_connect_requested(self) -> None:
        """Trading -> Connect: after declining the word at start (or a refused connection), connect
        without a restart. A slot: the LIVE dialog's nested loop runs outside any task."""
        from PySide6.QtWidgets import QDialog

        from services.domain import is_live_token

        controller, stack, window = self.controller, self.stack, self.window
        if controller is None or stack is None or window is None:
            return
        if stack.provider.is_connected or "Connect to IB" in controller.runner.running():
            controller.ctx.status("Already connected" if stack.provider.is_connected else "Connecting…")
            return
        if self._is_live and not is_live_token(self._live_word):
            dialog = self._live_session_dialog()
            accepted = dialog.exec() == QDialog.DialogCode.Accepted
            token = dialog.token() if accepted else None
            dialog.deleteLater()
            if not is_live_token(token):
                return
            self._live_word = token
            stack.provider.arm_live_token(token)
            controller.arm_live_word(token)
        window.connection_status.set_connection_state("connecting")
        controller.runner.run(self._connect_with_retry(), what="Connect to IB")

    async def _connect_with_retry(self) -> None:
        """Connect, retrying with the adapter's backoff while the trader sees the countdown
        (``ExecutionEngine.connect_with_backoff``); the account guard's refusal is final and shown."""
        from app.composition import start_equity_recorder
        from services.execution.errors import Refused

        assert self.stack is not None and self.window is not None  # built before connecting
        status = self.window.connection_status

        def retrying(exc: Exception, delay: float) -> None:
            log.warning("%s; retrying in %s s", exc, delay)
            status.set_connection_state("disconnected", reconnect_in=delay)

        try:
            await self.stack.engine.connect_with_backoff(retrying)
        except Refused as exc:
            raise Refused(f"connection refused: {exc}") from exc
        status.set_account(self.stack.provider.account or None)
        # the duties of a connected stack, as serve starts them once connected: a paper or live
        # window connects here, after build_stack, so it recorded no equity and no marks at all
        start_equity_recorder(self.stack)

    async def _shutdown(self) -> None:
        if self.controller is not None:
            self.controller.close()
            await self.controller.runner.drain(timeout=5)
        if self.stack is not None:
            await self.stack.close()

    async def _screenshot_flow(self) -> int:
        """Import, preview, execute a paper run, wait for its fills, render the window."""
        from app.composition import SAMPLES_DIR

        controller, window, stack = self.controller, self.window, self.stack
        assert controller is not None and window is not None and stack is not None  # start-up built them
        controller.quiet_errors = True
        # The book follows the sample it previews, the other sample's names sold (else a switch
        # from one sample to the other holds both, over the gross-exposure limit)
        demo_params = {"portfolio_value": DEMO_PORTFOLIO_VALUE, "liquidate_unlisted": True}
        params = {**window.preview_view.params(), **demo_params}
        window.preview_view.set_params(demo_params)
        # Each start previews in a new run (the day's run of a sample was sent by an earlier
        # screenshot in this data folder, and a sent run refuses a second plan: PlanRefused).
        # A rerun finds the demo book already holding the newest sample: then the other sample,
        # whose targets differ, so that every screenshot shows a run being filled.
        for sample in DEMO_SAMPLES:
            outcome = await controller.import_snapshot(str(SAMPLES_DIR / sample), "Demo momentum")
            if not outcome.ok:
                print(f"trading-console: sample snapshot {sample} invalid: {outcome.parsed.errors}", file=sys.stderr)
                return 2
            preview = await controller.preview(params, new_run=True)
            if preview.blocked or preview.drafts:
                break
        run_id = controller.current_run_id  # the run the last preview made
        if preview.blocked or run_id is None:
            print(f"trading-console: demo preview not executable (blocked={preview.blocked}, "
                  f"orders={len(preview.drafts)})", file=sys.stderr)
        elif not preview.drafts:
            print(f"trading-console: run {run_id} has nothing to trade", file=sys.stderr)
        else:
            await controller.execute(run_id)
            await stack.trade.wait_done(run_id, timeout=30)
        await stack.writer.flush()
        await controller.refresh_now()
        return self._write_screenshot()

    def _write_screenshot(self) -> int:
        from PySide6.QtWidgets import QApplication

        assert self.screenshot is not None and self.window is not None  # a screenshot run with its window
        QApplication.processEvents()
        path = Path(self.screenshot).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        image = self.window.grab()
        if not image.save(str(path), "PNG"):
            print(f"trading-console: could not write {path}", file=sys.stderr)
            return 5
        print(str(path))
        return 0


def _log_startup_failure(what: str, exc: BaseException, settings, *, said: bool = False) -> int:
    """Log a failed start; returns the exit code. A database failure the commands know
    (``app.commands.db.database_failure``: a place this user cannot use, a schema not upgraded
    yet, a server away) is the environment or the operator's decision, not a fault: one line in
    the log and the commands' exit code for it (a traceback on the terminal read as a crash;
    ``said``: the caller prints the line itself, the log file only). Anything else is logged with
    its traceback, exit 5."""
    from app.commands.db import database_failure

    known = database_failure(exc, settings.effective_db_url)
    if known is not None:
        log.error("%s: %s", what, _startup_message(exc, settings), extra={"tc_file_only": said})
        return known[2]
    log.exception(what)
    return 5


def _startup_message(exc: BaseException, settings) -> str:
    """One clear line for a failed start: a database problem says what to do (create the
    database, start the server, run db upgrade), never SQLAlchemy's documentation link."""
    from sqlalchemy.exc import SQLAlchemyError

    from services.db.errors import DatabaseLocationError, describe_db_error
    from services.db.migrate import SchemaNotCurrent

    if isinstance(exc, (SQLAlchemyError, SchemaNotCurrent, DatabaseLocationError)):
        return describe_db_error(exc, settings.effective_db_url)
    from services.urls import redact_text

    return redact_text(str(exc))
