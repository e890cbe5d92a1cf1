"""Monitor mode: read-only windows (offscreen, in this process) follow a paper run that ANOTHER
PROCESS (`trading-console execute`) sends to the simulator, on SQLite and MariaDB, and two
monitors with one trader on one MariaDB. The blotter shows every order's final status within a
second of it landing in the database (timestamps: the row's ``updated_at`` and the moment the
blotter's model flushed it), fills, positions, the audit entries and the run-progress chart
follow, every trading action is absent or refused, and nothing is ever written."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from services.db.models import AuditLog, TradeFill
from tests.execution.cli_helpers import ROOT, child_env
from tests.execution.monitor_helpers import (
    REJECTED,
    SYMBOLS,
    LandingRecorder,
    paper_run_args,
    prepare_run,
    stored_orders,
    table_fingerprint,
)
from tests.fixtures.forked_app import run_sync
from tests.fixtures.menus import shown_text
from tests.fixtures.waiting import wait_until

from .conftest import run, until_console

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

LATENCY = timedelta(seconds=1)
DISPLAY_BUDGET = timedelta(seconds=3)


class Monitor:
    """One monitor window, its stack and controller, and when the blotter showed each status."""

    def __init__(self, window, stack, controller) -> None:
        self.window, self.stack, self.controller = window, stack, controller
        # order id -> (status, when the blotter showed it, the controller's batch number then)
        self.displayed: dict[int, list[tuple[str, datetime, int]]] = {}
        window.orders_model.flushed.connect(self._on_flushed)

    def _on_flushed(self, *_args) -> None:
        from widgets.models.base import RecordRole

        now = datetime.now(UTC)
        model = self.window.orders_model
        for row in range(model.rowCount()):
            record = model.data(model.index(row, 0), RecordRole)
            history = self.displayed.setdefault(record.id, [])
            if not history or history[-1][0] != str(record.status):
                history.append((str(record.status), now, self.controller.batches))

    def status_of(self, order_id: int) -> str | None:
        record = self.window.orders_model.get(order_id)
        return None if record is None else str(record.status)

    async def close(self) -> None:
        self.controller.close()
        await self.controller.runner.drain(timeout=5)
        await self.stack.close()
        # the window is closed by qtbot after the loop: closing the last window here would quit
        # the application's loop under the scenario


async def open_monitor(qtbot, settings) -> Monitor:
    from app.composition import build_monitor_stack
    from app.controllers.monitor import MonitorController
    from app.main_window import MainWindow

    stack = await build_monitor_stack(settings)
    window = MainWindow(mode="paper", monitor=True)
    qtbot.addWidget(window)
    window.show()
    controller = MonitorController(window, stack)
    await controller.load_initial()
    controller.start()
    return Monitor(window, stack, controller)


def _session_is_read_only(monitor: Monitor) -> bool:
    with monitor.stack.db.session() as session:
        if monitor.stack.db.is_sqlite:
            return session.execute(text("PRAGMA query_only")).scalar() == 1
        return session.execute(text("SELECT @@session.tx_read_only")).scalar() == 1


def _exercise_every_trading_intent(monitor: Monitor, order_id: int) -> None:
    """What a user could still reach in the window: each is refused, none writes."""
    w = monitor.window
    assert w.trading_actions_enabled() == []
    menu = w.blotter_view.context_menu_for(w.orders_model.get(order_id))
    assert {shown_text(a.text()): a.isEnabled() for a in menu.actions()
            if shown_text(a.text()).startswith(("Cancel", "Replace"))} == {
        "Cancel (read-only monitor)": False, "Replace… (read-only monitor)": False}
    blotter, preview = w.blotter_view, w.preview_view
    blotter.cancel_requested.emit(order_id)
    blotter.replace_requested.emit(order_id, None, None, None)
    blotter.cancel_all_clicked.emit()
    blotter.halt_requested.emit()
    preview.execute_requested.emit()
    w.snapshots_view.import_requested.emit("/nonexistent.csv", "")
    w.settings_requested.emit()
    w.reconcile_requested.emit()
    assert monitor.controller.refused == ["cancel", "replace", "cancel all", "halt", "execute", "import", "settings",
                                          "reconcile"]
    assert "read-only" in w.statusBar().currentMessage(), [(e.text, e.timeout_ms) for e in w.activity_log.entries()][-4:]


def _writes_are_refused_below_the_window(monitor: Monitor) -> None:
    """The service layer refuses too: the monitor's database takes no unit of work, and the
    server refuses a write that goes around it."""
    from services.audit import AuditLog as Audit
    from services.db import ReadOnlyDatabase
    from services.trade_settings import TradeSettingsService

    with pytest.raises(ReadOnlyDatabase):
        Audit(monitor.stack.db).append("monitor", "order.cancel", "trade_order", "1", {})
    with pytest.raises(ReadOnlyDatabase):
        TradeSettingsService(monitor.stack.db, "monitor").set(["risk.max_order_notional=1"])
    with pytest.raises(Exception, match=r"(?i)read"), monitor.stack.db.session() as session:
        session.add(AuditLog(time=datetime.now(UTC), actor="x", action="y", prev_hash="0", hash="1"))


def _scenario(qtbot, database, db_url, sim_config, console_settings, monitors: int, feed_budget: timedelta | None = LATENCY):
    async def scenario():
        from services.ibsim import IBGatewaySimulator

        sim = IBGatewaySimulator(sim_config(fill_interval=0.05))
        await sim.start(host="127.0.0.1", port=0)
        opened: list[Monitor] = []
        try:
            snapshot_id = prepare_run(database, sim, "monitored")
            settings = replace(console_settings, db_url=db_url, profile="paper")
            for _ in range(monitors):
                opened.append(await open_monitor(qtbot, settings))
            assert all(_session_is_read_only(m) for m in opened)
            assert all("MONITOR" in m.window.windowTitle() and m.window.mode_badge.text() == "MONITOR" for m in opened)
            # the trader: another process sends the run to the simulator
            landings = LandingRecorder(database)
            try:
                trader = await asyncio.to_thread(run_sync, paper_run_args(db_url, sim.port, snapshot_id, "monitored"),
                                                 cwd=ROOT, env=child_env(), timeout=150)
            finally:
                landings.stop()
            assert trader.returncode in (0, 5), trader.stderr  # 5: the rejected order was not sent
            final = stored_orders(database)
            assert len(final) == len(SYMBOLS)
            assert {o.symbol for o in final.values() if str(o.status) == "REJECTED"} == {REJECTED}
            for monitor in opened:
                await wait_until(lambda m=monitor: all(m.status_of(i) == str(o.status) for i, o in final.items()), 10,
                                 lambda m=monitor: f"the blotter to show the final statuses: "
                                                   f"{ {i: m.status_of(i) for i in final} }")
                for order in final.values():
                    status, observed, handed, handed_in = monitor.controller.shown[order.id]
                    assert status == str(order.status)
                    shown_at, shown_in = next((t, n) for s, t, n in monitor.displayed[order.id] if s == str(order.status))
                    landed = landings.first_seen[(order.id, str(order.status))]
                    timing = (f"{order.symbol}: updated_at {order.updated_at:%H:%M:%S.%f}, landed {landed:%H:%M:%S.%f}, "
                              f"observed {observed:%H:%M:%S.%f}, handed {handed:%H:%M:%S.%f}, shown {shown_at:%H:%M:%S.%f}; "
                              f"slowest apply {monitor.controller.slowest_apply:.3f} s")
                    assert order.updated_at <= observed, timing
                    # the feed's timestamps: seen within a second of landing
                    if feed_budget is not None:
                        assert observed - landed < feed_budget, timing
                    # shown by the end of the batch that handed it to the blotter (no coalescing tick,
                    # no reload; an earlier batch may have shown it first); told by the batch's
                    # number, not by a clock (a starved process took 0.2 s between the two)
                    assert shown_in <= handed_in, f"shown in batch {shown_in}, handed in batch {handed_in}; {timing}"
                    # end to end, with the GUI thread's turn after the poll's worker thread: with
                    # 8 test sessions on 2 cores, that turn alone took up to 1.3 s (two offscreen
                    # windows painting in one starved process); on its own machine it is a frame
                    if feed_budget is not None:
                        assert shown_at - landed < DISPLAY_BUDGET, timing
            with database.session() as session:
                exec_ids = set(session.scalars(select(TradeFill.exec_id)))
                audit_ids = set(session.scalars(select(AuditLog.id)))
            for monitor in opened:
                w = monitor.window
                await wait_until(lambda w=w: {w.fills_model.get(f.id).exec_id for f in _fills(database)
                                              if w.fills_model.get(f.id) is not None} == exec_ids, 10, "every fill shown")
                await wait_until(lambda w=w: all(w.audit_model.get(i) is not None for i in audit_ids), 10,
                                 "every audit entry shown")
                assert {p.symbol for p in _positions(w)} == set(SYMBOLS) - {REJECTED}
                # the run-progress chart followed the fills (drawn at most once per CHART_MS)
                await wait_until(lambda w=w: _chart_points(w) > 0, 10, "the run-progress chart to show the fills")
                assert monitor.controller.progress.run_id == next(iter(final.values())).run_id
                assert monitor.controller.last_error is None
            before = table_fingerprint(database)
            for monitor in opened:
                _exercise_every_trading_intent(monitor, next(iter(final)))
                _writes_are_refused_below_the_window(monitor)
                verified = await monitor.controller.verify_audit(full=True)  # read-only: no checkpoint moved
                assert verified.ok and verified.checked == len(audit_ids)
                await monitor.controller.poll_once()
            for monitor in opened:
                await monitor.close()
            opened.clear()
            assert table_fingerprint(database) == before
        finally:
            for monitor in opened:
                await monitor.close()
            await sim.stop()

    return scenario()


def _chart_points(window) -> int:
    xs, _ys = window.charts_view.filled_curve.getData()
    return 0 if xs is None else len(xs)


def _fills(database):
    with database.session() as session:
        return list(session.scalars(select(TradeFill)))


def _positions(window):
    from widgets.models.base import RecordRole

    model = window.positions_model
    model.flush()
    return [model.data(model.index(row, 0), RecordRole) for row in range(model.rowCount())]


def test_a_monitor_follows_a_run_executed_by_another_process_within_a_second_and_never_writes(
        qloop, qtbot, database, db_url, sim_config, console_settings):
    run(qloop, _scenario(qtbot, database, db_url, sim_config, console_settings, monitors=1), timeout=240)


@pytest.mark.parametrize("db_backend", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
def test_two_monitors_and_one_trader_on_one_mariadb(qloop, qtbot, db_backend, database, db_url, sim_config,
                                                    console_settings):
    # Two windows in ONE test process (on separate workstations each has its own): their poll
    # threads and offscreen painting share one GIL in a process that gets a fraction of a core
    # here (8 test sessions on 2 cores), where a poll alone was seen to take up to 1.9 s. The
    # one-second bound is asserted by the test above, one window per process as deployed; here
    # every window must show every final status, handed to the blotter and shown in one step.
    run(qloop, _scenario(qtbot, database, db_url, sim_config, console_settings, monitors=2,
                         feed_budget=None), timeout=240)


def test_open_as_monitor_starts_a_monitor_process_with_the_url_in_its_environment():
    from app.controllers.monitor import open_monitor_process

    calls = []
    open_monitor_process("mysql+pymysql://u:secret@db/x", profile="paper",
                         spawn=lambda args, **kwargs: calls.append((args, kwargs)))
    (args, kwargs), = calls
    assert args[-5:] == ["app", "--profile", "paper", "gui", "--monitor"]
    assert "secret" not in " ".join(args) and kwargs["env"]["TC_DB_URL"] == "mysql+pymysql://u:secret@db/x"


def test_gui_monitor_opens_a_read_only_window_without_a_broker(qloop, database, db_url, console_settings, monkeypatch):
    import app.controllers.monitor as monitor_module
    from app.cli import build_parser
    from app.main import Console

    spawned = []
    monkeypatch.setattr(monitor_module, "open_monitor_process", lambda url, **kw: spawned.append((url, kw)))

    assert build_parser().parse_args(["gui", "--monitor"]).monitor is True
    assert build_parser().parse_args(["--monitor"]).monitor is True

    async def scenario():
        console = Console(replace(console_settings, db_url=db_url, profile="paper"), demo=False, monitor=True)
        running = asyncio.ensure_future(console.run())
        try:
            await until_console(running, lambda: console.monitor_controller is not None
                                and console.monitor_controller.batches == 0
                                and console.monitor_controller.stack.feed.polls > 0, 60, "the monitor following the feed")
            w = console.window
            assert "MONITOR" in w.windowTitle() and w.mode_badge.text() == "MONITOR"
            assert console.stack is None and console.controller is None  # no engine, no broker
            assert w.trading_actions_enabled() == []
            # nothing that only trades is on screen: the ticket's button stayed on the toolbar,
            # greyed, where a click did nothing (a toolbar shows its widgets by their actions)
            assert not w.ticket_button.isVisible()
            assert "no broker" in w.connection_status.state_label.text()
            assert not any(w.docks[name].isVisible() for name in ("snapshots", "preview", "risk"))
            w.open_monitor_action.trigger()  # File -> Open as monitor: another monitor process on this database
            assert spawned == [(db_url, {"profile": "paper"})]
        finally:
            console.window.close()
            assert await asyncio.wait_for(running, 20) == 0

    before = table_fingerprint(database)
    run(qloop, scenario(), timeout=90)
    assert table_fingerprint(database) == before


def test_a_monitor_shows_the_trading_state_another_process_sets(qloop, qtbot, database, db_url, console_settings):
    """``trading-console halt`` before the monitor opens, then resume and halt while it is open:
    its badge and blotter show HALTED as the trader's window does, read from the database."""
    from services.db.repositories.settings import SettingsRepository
    from services.domain import TradingState

    def set_state(state: TradingState) -> None:
        with database.unit_of_work() as session:
            SettingsRepository(session).set_trading_state(state)

    def shown(w) -> tuple[str, bool, TradingState]:
        return w.trading_state_badge.state, w.trading_state_action.isVisible(), w.blotter_view.trading_state

    async def scenario():
        set_state(TradingState.HALTED)
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        try:
            w = monitor.window
            assert shown(w) == ("HALTED", True, TradingState.HALTED)
            await asyncio.to_thread(set_state, TradingState.ACTIVE)
            await wait_until(lambda: shown(w) == ("ACTIVE", False, TradingState.ACTIVE), 10,
                             lambda: f"the monitor to show ACTIVE: {shown(w)}")
            await asyncio.to_thread(set_state, TradingState.HALTED)
            await wait_until(lambda: shown(w) == ("HALTED", True, TradingState.HALTED), 10,
                             lambda: f"the monitor to show HALTED: {shown(w)}")
            assert monitor.controller.last_error is None
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)


def _run_with_an_order(database, project: str, ref: str) -> int:
    """Another process's run of ``project`` (created if new) with one working order ``ref``."""
    from services.db.repositories import OrderRepository, ProjectRepository, RunRepository
    from services.domain import OrderState, Side, TradeMode

    with database.unit_of_work() as session:
        project_id = ProjectRepository(session).get_or_create(project).id
        run_id = RunRepository(session).create(project_id, mode=TradeMode.PAPER).id
        OrderRepository(session).create(ref, "AAPL", Side.BUY, Decimal(1), status=OrderState.ACCEPTED, account="DU1",
                                        project_id=project_id, run_id=run_id)
        return run_id


def tab(w) -> str:
    """The run-progress chart's tab: whose run it follows."""
    charts = w.charts_view
    return charts.tabs.tabText(charts.tabs.indexOf(charts.progress_plot))


def test_a_monitor_says_whose_run_its_progress_chart_follows(qloop, qtbot, database, db_url, console_settings):
    """A monitor has no project selection (no snapshots panel): it follows the newest run of any
    project, and its run-progress tab says whose. Before, a run of beta sent after alpha's
    replaced alpha's in the chart with nothing to tell them apart."""
    from services.db.repositories import OrderRepository, RunRepository
    from services.domain import OrderState, Side
    from widgets.dialogs.order_details import OrderDetailsDialog

    def run_with_an_order(project: str, ref: str) -> int:
        return _run_with_an_order(database, project, ref)

    def another_order(run_id: int, ref: str) -> None:
        with database.unit_of_work() as session:
            project_id = RunRepository(session).get(run_id).project_id
            OrderRepository(session).create(ref, "AAPL", Side.BUY, Decimal(1), status=OrderState.ACCEPTED, account="DU1",
                                            project_id=project_id, run_id=run_id)

    async def scenario():
        alpha_run = run_with_an_order("alpha", "M-1")
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        try:
            w = monitor.window
            assert tab(w) == f"Run progress · alpha, run {alpha_run}"
            beta_run = await asyncio.to_thread(run_with_an_order, "beta", "M-2")
            await wait_until(lambda: tab(w) == f"Run progress · beta, run {beta_run}", 10,
                             lambda: f"the monitor to follow beta's run: {tab(w)!r}")
            assert monitor.controller.progress.run_id == beta_run and monitor.controller.last_error is None
            # an order of alpha's older run, seen after: the chart stays on the newest run
            # (RunProgress.newer_run, the one choice of the start's read and of each batch)
            await asyncio.to_thread(another_order, alpha_run, "M-3")
            await wait_until(lambda: any(o.client_order_id == "M-3" for o in w.orders_model.records()), 10,
                             "the blotter to show alpha's new order")
            assert tab(w) == f"Run progress · beta, run {beta_run}" and monitor.controller.progress.run_id == beta_run
            # an order's details, as the blotter's double-click opens them: the order as read
            [m3] = [o for o in w.orders_model.records() if o.client_order_id == "M-3"]
            w.blotter_view.details_requested.emit(m3.id)
            await wait_until(lambda: w.findChildren(OrderDetailsDialog), 10, "the order's details")
            [details] = w.findChildren(OrderDetailsDialog)
            assert details.windowTitle() == "Order M-3" and monitor.controller.last_error is None
            details.close()
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)


def test_a_monitor_whose_batch_fails_says_so_and_follows_the_database_on(qloop, qtbot, database, db_url,
                                                                          console_settings, monkeypatch):
    """A batch's handling makes reads of its own after the poll (the newest run's plan, the
    equity): one that failed (the server restarting between the two) ended the monitor's
    following of the database for good, its panels left as they were with a status message for
    15 s. Now the failure is said and the next change is shown (app/controllers/feed.py)."""
    import app.controllers.monitor as monitor_module

    real_run_plan = monitor_module.run_plan
    failed: list[int] = []

    def run_plan_failing_once(db, run_id):
        if not failed:
            failed.append(run_id)
            raise RuntimeError("the server went away")
        return real_run_plan(db, run_id)

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        w = monitor.window
        try:
            monkeypatch.setattr(monitor_module, "run_plan", run_plan_failing_once)
            alpha_run = await asyncio.to_thread(_run_with_an_order, database, "alpha", "M-1")
            await wait_until(lambda: monitor.controller.last_error is not None, 10, "the failed batch said")
            assert monitor.controller.last_error == ("Follow the database", "the server went away")
            assert failed == [alpha_run]
            beta_run = await asyncio.to_thread(_run_with_an_order, database, "beta", "M-2")
            await wait_until(lambda: tab(w) == f"Run progress · beta, run {beta_run}", 10,
                             lambda: f"the monitor to follow beta's run after the failure: {tab(w)!r}")
            assert {o.client_order_id for o in w.orders_model.records()} >= {"M-1", "M-2"}
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)


def test_a_monitor_started_with_the_server_away_waits_for_it(qloop, database, db_url, console_settings, monkeypatch):
    """Walked under Xvfb: a monitor opened while the database server was away (restarting) put
    "database server unreachable ... (Connection refused)" in a box over empty panels ("No run
    yet", "0 fills") and stayed so after the server was back: a risk manager read an account
    that had traded nothing. It waits now, saying so where a lost database is said, and follows
    the database once it answers."""
    import pymysql
    from PySide6.QtWidgets import QMessageBox
    from sqlalchemy.exc import OperationalError

    import app.composition as composition
    import app.main as main_module
    from app.main import Console

    real = composition.build_monitor_stack
    asked: list[tuple[str, bool]] = []  # the state shown, and whether a box was open, at each ask
    console = Console(replace(console_settings, db_url=db_url, profile="paper"), demo=False, monitor=True)

    async def away_twice(settings, *, demo=False):
        if console.window is not None:
            status = console.window.connection_status.state_label.text()
            asked.append((status, any(box.isVisible() for box in console.window.findChildren(QMessageBox))))
        if len(asked) <= 2:
            raise OperationalError("SELECT 1", {}, pymysql.err.OperationalError(
                2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)"))
        return await real(settings, demo=demo)

    monkeypatch.setattr(composition, "build_monitor_stack", away_twice)
    monkeypatch.setattr(main_module, "MONITOR_START_RETRY_SECONDS", 0.05, raising=False)

    async def scenario():
        running = asyncio.ensure_future(console.run())
        try:
            await until_console(running, lambda: console.monitor_controller is not None
                                and console.monitor_controller.stack.feed.polls > 0, 30, "the monitor following the feed")
            return console.window.connection_status.state_label.text(), console.window.statusBar().currentMessage()
        finally:
            console.window.close()
            assert await asyncio.wait_for(running, 20) == 0

    state, message = run(qloop, scenario(), timeout=60)
    assert len(asked) == 3
    for shown, boxed in asked[1:]:  # while it waited: said in the bar, no box
        assert shown.startswith("● disconnected — database unreachable since ") and not boxed, asked
    assert state == "● monitor — no broker connection" and message == "Database reachable again"


def test_a_monitor_waiting_for_its_database_does_not_say_it_is_empty(qloop, database, db_url, console_settings,
                                                                       monkeypatch):
    """Walked under Xvfb: while a monitor waited for its database server, its empty panels said
    "No run yet: ..." and "0 fills", as though nothing had traded. Until the database is read
    they say it is not reached yet (services.change_feed.NOT_READ_YET); read, they say what it
    holds (here: nothing)."""
    import pymysql
    from sqlalchemy.exc import OperationalError

    import app.composition as composition
    import app.main as main_module
    from app.main import Console
    from services.change_feed import NOT_READ_YET
    from widgets.views.charts import NO_RUN

    real = composition.build_monitor_stack
    shown: list[tuple[str, str]] = []  # the chart's placeholder and the fills' totals at each ask
    console = Console(replace(console_settings, db_url=db_url, profile="paper"), demo=False, monitor=True)

    def panels() -> tuple[str, str]:
        w = console.window
        return w.charts_view.no_run_label.textItem.toPlainText(), w.fills_view.totals_label.text()

    async def away_twice(settings, *, demo=False):
        shown.append(panels())
        if len(shown) <= 2:
            raise OperationalError("SELECT 1", {}, pymysql.err.OperationalError(
                2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)"))
        return await real(settings, demo=demo)

    monkeypatch.setattr(composition, "build_monitor_stack", away_twice)
    monkeypatch.setattr(main_module, "MONITOR_START_RETRY_SECONDS", 0.05, raising=False)

    async def scenario():
        running = asyncio.ensure_future(console.run())
        try:
            await until_console(running, lambda: console.monitor_controller is not None
                                and console.monitor_controller.stack.feed.polls > 0, 30, "the monitor following the feed")
            return panels()
        finally:
            console.window.close()
            assert await asyncio.wait_for(running, 20) == 0

    read = run(qloop, scenario(), timeout=60)
    assert shown == [(NOT_READ_YET, NOT_READ_YET)] * 3
    assert read == (NO_RUN, "0 fills")


def test_a_monitors_last_event_is_an_order_fill_or_position_change_as_the_trading_windows(
        qloop, qtbot, database, db_url, console_settings):
    """Both windows say "last event HH:MM:SS UTC"; the trading window's moves on an order, fill
    or position change, the monitor's moved on anything its feed read (an audit entry, an equity
    sample, a snapshot), where the label's tip says orders, fills and positions."""
    from services.audit import AuditLog

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        w = monitor.window
        status = w.connection_status
        moved: list[datetime] = []
        status.set_last_event_time = moved.append  # what the label is told, each time
        try:
            await asyncio.to_thread(AuditLog(database).append, "cli", "trading.halt", "trade_settings", 1, {})
            await wait_until(lambda: any(r.actor == "cli" for r in w.audit_model.records()), 10,
                             "the other process's audit entry in the monitor")
            assert moved == []
            await asyncio.to_thread(_run_with_an_order, database, "alpha", "M-9")
            await wait_until(lambda: any(o.client_order_id == "M-9" for o in w.orders_model.records()), 10,
                             "the other process's order in the monitor")
            assert len(moved) == 1 and monitor.controller.last_error is None
            # its tip says so, no broker connection in it (imported here: the behaviour above is what fails before)
            from services.change_feed import MONITOR_LAST_EVENT_TIP

            assert status.last_event_label.toolTip() == MONITOR_LAST_EVENT_TIP
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)


def test_a_monitors_last_event_stays_through_the_trading_windows_re_marks_of_its_positions(
        qloop, qtbot, database, db_url, console_settings):
    """A trading window's equity recorder re-marks every held position each 30 s (its price and
    time, so its row's updated_at): a monitor's "last event" followed those marks, and after a
    `trading-console halt` that changed no order, fill or position it read as the halt's time.
    A mark alone is no position change; a new quantity is."""
    from services.db.repositories.portfolio import PositionRepository
    from services.db.repositories.settings import SettingsRepository
    from services.domain import TradingState

    def write(do) -> None:
        with database.unit_of_work() as session:
            do(session)

    write(lambda s: PositionRepository(s).upsert("DU1", "AAPL", 10, Decimal("150")))

    def aapl(w):
        return [(p.quantity, p.market_price) for p in _positions(w) if p.symbol == "AAPL"]

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        w = monitor.window
        moved: list[datetime] = []
        w.connection_status.set_last_event_time = moved.append  # what the label is told, each time
        try:
            await asyncio.to_thread(write, lambda s: PositionRepository(s).mark("DU1", {"AAPL": Decimal("151.25")}))
            await asyncio.to_thread(write, lambda s: SettingsRepository(s).set_trading_state(TradingState.HALTED))
            await wait_until(lambda: aapl(w) == [(Decimal(10), Decimal("151.25"))]
                             and w.trading_state_badge.state == "HALTED", 10,
                             lambda: f"the mark and the halt in the monitor: {aapl(w)}")
            assert moved == []  # the mark is shown, no event
            await asyncio.to_thread(write, lambda s: PositionRepository(s).upsert("DU1", "AAPL", 12, Decimal("150.5")))
            await wait_until(lambda: [q for q, _ in aapl(w)] == [Decimal(12)], 10, "the new quantity in the monitor")
            assert len(moved) == 1 and monitor.controller.last_error is None
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)
