"""What trying the window as a trader found (issue 15), each through the real window against the
simulator: status-bar messages visible and said for silent actions, Execute after a run, a second
preview's progress, the working count after Cancel All, HALTED beyond the button."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from services.activity_log import Level
from services.domain import OrderState, OrderType, Side, TradingState
from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from tests.fixtures.menus import shown_text

SNAPSHOT_CSV = "symbol,weight,price\nAAPL,0.10,230\nMSFT,0.10,418\nSPY,0.15,590\nIBM,0.05,225\n"


def _say_yes(monkeypatch, scope="console"):
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)
    monkeypatch.setattr("widgets.views.blotter.confirm", lambda *a, **k: True)
    monkeypatch.setattr("widgets.views.blotter.ask_cancel_all_scope", lambda *a, **k: scope, raising=False)


def _message(window) -> str:
    return window.statusBar().currentMessage()


def test_status_messages_have_room_and_silent_actions_say_what_happened(qloop, open_console, monkeypatch, tmp_path):
    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            w.resize(1600, 1000)
            # the permanent connection widget keeps to the right: most of the bar is free for messages
            assert w.connection_status.geometry().left() >= 300, w.connection_status.geometry()  # room for a message

            # Cancel All with nothing working
            w.blotter_view.cancel_all_button.click()
            await wait_for(lambda: _message(w).startswith("Nothing to cancel"), 10, lambda: _message(w))

            # Del on a filled order
            order = await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(5), OrderType.MKT)
            await wait_for(lambda: (r := w.orders_model.get(order.id)) is not None and r.status is OrderState.FILLED,
                           10, "the filled order in the blotter")
            w.blotter_view.table.selectRow(0)
            w.blotter_view.cancel_selected_action.trigger()
            assert _message(w) == "Nothing to cancel: the selected order is FILLED"

            # CSV export
            path = tmp_path / "orders.csv"
            w.blotter_view.export_csv(str(path))
            assert _message(w) == f"Exported 1 order to {path}"
            w.fills_view.export_csv(str(tmp_path / "fills.csv"))
            assert _message(w).startswith("Exported ") and (" fill to" in _message(w) or " fills to" in _message(w))
        finally:
            await console.close()

    run(qloop, scenario())


def test_execute_stays_off_after_a_run_and_a_second_preview_is_said_not_sent_beside_the_runs_outcome(
        qloop, open_console, monkeypatch, tmp_path):
    """A second preview of the same snapshot after its run filled: the bar said "run 1: 0 of 214
    filled", the sent run's wording with the unsent plan's numbers (seen under Xvfb). Now it says
    the preview was not sent, then the sent plan's own outcome, unchanged; and Execute stays off
    with the reason (the run executed its plan: the service refuses any other)."""
    _say_yes(monkeypatch)
    targets = tmp_path / "targets.csv"
    targets.write_text(SNAPSHOT_CSV)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        view = w.preview_view
        try:
            await controller.import_snapshot(str(targets), "desk")
            view.portfolio_edit.setText("100000")  # the new project has no capital: NetLiquidation would be 1,000,000
            view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None and view.execute_button.isEnabled(), 15, "preview")
            first = controller.current_preview
            view.execute_button.click()
            await wait_for(lambda: "Run" in _message(w) and "sent" in _message(w), 20, lambda: _message(w))
            await console.stack.trade.wait_done(first.run_id, timeout=20)
            assert await controller.runner.drain(timeout=5) == []
            # the task that sent it has ended: Execute stays off (not green), with the reason
            assert not view.execute_button.isEnabled() and not view.execute_action.isEnabled()
            assert "preview again" in view.execute_button.toolTip()
            await console.stack.writer.flush()
            await controller.refresh_now()
            filled = controller.trading._progress
            assert filled.filled_notional > 0 and filled.points

            # a second preview of the same snapshot: the same day's run, a new (small) plan
            view.portfolio_edit.setText("100000")  # the new project has no capital: NetLiquidation would be 1,000,000
            view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None and controller.current_preview.plan is not None
                           and controller.current_preview.plan.id != first.plan.id, 15, "second preview")
            assert await controller.runner.drain(timeout=5) == []
            second = controller.current_preview
            assert second.run_id == first.run_id
            text = view.progress.format()
            assert text == (f"plan {second.plan.id} (run {second.run_id}) previewed, not sent: the run executed "
                            f"plan {first.plan.id}; Ctrl+Shift+P previews in a new run · last sent: {filled.text}"), text
            assert filled.text.startswith(f"run {first.run_id}, plan {first.plan.id}: "), filled.text
            assert view.progress.value() == int(filled.filled_notional / filled.target_notional * 1000) > 0
            assert not view.execute_button.isEnabled()
            assert f"already executed plan {first.plan.id}" in view.execute_button.toolTip()
            assert "Preview in a new run (Ctrl+Shift+P)" in view.execute_button.toolTip()

            # the way on: the snapshot previewed in a new run of the day, which Execute sends
            # (the first run's orders are filled: nothing left to trade but rounding)
            view.new_run_action.trigger()
            await wait_for(lambda: controller.current_preview is not None and controller.current_preview.run_id != first.run_id,
                           15, "the preview in a new run")
            assert await controller.runner.drain(timeout=5) == []
            third = controller.current_preview
            assert third.executed_plan_id is None and third.plan is not None
            assert view.execute_button.isEnabled() == bool(third.drafts), view.execute_button.toolTip()
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.parametrize("scope", ["console", "broker"])
def test_working_count_follows_cancel_all(qloop, open_console, monkeypatch, tmp_path, scope):
    _say_yes(monkeypatch, scope=scope)
    targets = tmp_path / "resting.csv"
    targets.write_text("symbol,weight\nIBM,0.05\nAAPL,0.05\n")

    async def scenario():
        console = await open_console()
        w, sim, controller = console.window, console.sim, console.controller
        view = w.preview_view
        try:
            sim.faults.add_rule(symbols={"IBM", "AAPL"}, ack_delay=60)  # the gateway sits on them: working
            await controller.import_snapshot(str(targets), "resting")
            view.portfolio_edit.setText("100000")  # the new project has no capital: NetLiquidation would be 1,000,000
            view.preview_button.click()
            await wait_for(lambda: view.execute_button.isEnabled(), 15, "preview")
            view.execute_button.click()
            await wait_for(lambda: "2 working" in view.progress.format(), 20, lambda: view.progress.format())
            blotter = w.blotter_view
            blotter.set_status_filter("working")
            await wait_for(lambda: blotter.count_label.text().startswith("2 / "), 10, lambda: blotter.count_label.text())
            w.blotter_view.cancel_all_button.click()
            # the broker may have confirmed both before the call returned: then the line says so
            said = (("Cancel requested for this console's 2", "Cancel All: this console's 2 working orders canceled")
                    if scope == "console" else ("Global cancel sent to the broker",))
            await wait_for(lambda: _message(w).startswith(said), 10, lambda: _message(w))
            await wait_for(lambda: "working" not in view.progress.format(), 15,
                           lambda: f"progress still says {view.progress.format()!r}")
            # the blotter's Working filter and its count follow too, without waiting for a fill
            await wait_for(lambda: blotter.proxy.rowCount() == 0 and blotter.count_label.text().startswith("0 / "), 10,
                           lambda: f"blotter count {blotter.count_label.text()!r}")
        finally:
            await console.close()

    run(qloop, scenario())


def test_cancel_all_says_which_orders_it_could_not_cancel(qloop, open_console, monkeypatch):
    """An order another process placed (still SENDING here) cannot be canceled one by one from
    this console (IB lets only the client that placed it): the window says so, naming it, rather
    than counting it among the canceled."""
    from tests.execution.conftest import build_stack
    from tests.execution.test_cancel_all_sending import _placed_still_sending

    _say_yes(monkeypatch, scope="console")

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        sim.faults.ack_delay = 60  # the gateway sits on it: no status, the row stays SENDING
        owner = await build_stack(console.stack.db, sim, client_id=console.stack.provider.client_id + 10)
        try:
            sent, _unsent = await _placed_still_sending(owner)
            w.blotter_view.cancel_all_button.click()
            await wait_for(lambda: _message(w).startswith("Cancel All: 1 order not canceled: order "), 10, lambda: _message(w))
            assert f"({sent}) is SENDING and not open in this session" in _message(w)
            assert [o.order_ref for o in sim.open_orders()] == [sent]
        finally:
            await owner.close()
            await console.close()

    run(qloop, scenario())


def test_halted_shows_beyond_the_button_and_turns_execute_off(qloop, open_console, monkeypatch, tmp_path):
    _say_yes(monkeypatch)
    targets = tmp_path / "targets.csv"
    targets.write_text(SNAPSHOT_CSV)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        view = w.preview_view
        try:
            await controller.import_snapshot(str(targets), "desk")
            view.portfolio_edit.setText("100000")  # the new project has no capital: NetLiquidation would be 1,000,000
            view.preview_button.click()
            await wait_for(lambda: view.execute_button.isEnabled(), 15, "a ready preview")
            assert not w.trading_state_action.isVisible()
            w.blotter_view.halt_button.click()
            await wait_for(lambda: w.blotter_view.trading_state is TradingState.HALTED, 10, "halted")
            assert w.trading_state_action.isVisible() and "HALTED" in w.trading_state_badge.text()
            assert not view.execute_button.isEnabled() and "HALTED" in view.execute_button.toolTip()
            assert w.risk_view.verdict_label.text().startswith("HALTED")  # not READY while nothing is sent
            # the activity log says what the state lets out, a halt as a warning (it said a bare
            # "Trading HALTED" as info, and "Trading ACTIVE" on resuming)
            # the change feed may show the state before the halt's own answer says it (its line):
            # the line is waited for, not assumed with the state
            await wait_for(lambda: any(e.text.startswith("Trading HALTED") for e in w.activity_log.entries()), 10,
                           "the halt said in the activity log")
            [halted] = [e for e in w.activity_log.entries() if e.text.startswith("Trading HALTED")]
            assert (halted.text, halted.level) == ("Trading HALTED: only cancels go out", Level.WARNING)
            w.blotter_view.halt_button.click()  # Resume
            await wait_for(lambda: w.blotter_view.trading_state is TradingState.ACTIVE, 10, "resumed")
            await wait_for(lambda: any(e.text.startswith("Trading ACTIVE") for e in w.activity_log.entries()), 10,
                           "the resume said in the activity log")
            [active] = [e for e in w.activity_log.entries() if e.text.startswith("Trading ACTIVE")]
            assert (active.text, active.level) == ("Trading ACTIVE: new orders and replaces go out", Level.INFO)
            assert not w.trading_state_action.isVisible()
            assert view.execute_button.isEnabled()  # the preview, not yet sent, may go again
            assert w.risk_view.verdict_label.text().startswith("READY")
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_halt_question_counts_the_working_orders_it_leaves_open(qloop, open_console, monkeypatch):
    """Cancel All's question counts this console's orders; Halt's did not say how many orders
    stay working at the broker (a halt cancels only the runs' unsent ones). The count is the
    service's, asked when Halt is clicked; answering No halts nothing."""
    asked = []

    def confirm(_parent, title, text):
        asked.append((title, text))
        return False

    monkeypatch.setattr("widgets.views.blotter.confirm", confirm)

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            limit = (sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
            for quantity in (10, 20):
                order = await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(quantity), OrderType.LMT, limit)
                await wait_for(lambda o=order: (r := w.orders_model.get(o.id)) is not None and r.status is OrderState.ACCEPTED,
                               10, "the resting order in the blotter")
            w.blotter_view.halt_button.click()
            await wait_for(lambda: asked, 10, "the halt question")
            [(title, text)] = asked
            assert title == "Halt trading"
            assert "2 orders of this console are working at the broker and stay open after the halt" in text, text
            assert w.blotter_view.trading_state is TradingState.ACTIVE  # No: nothing halted
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_halt_that_failed_leaves_another_processs_halt_said(qloop, open_console, monkeypatch):
    """The window's own Halt keeps the state it is setting, so that the change feed bringing it
    back is not said as another process's (4098762). A Halt that failed (the database away)
    kept it for good: the next halt from another process (`trading-console halt`) showed in the
    banner but was never said in the activity log."""
    from sqlalchemy.exc import OperationalError

    from services.db import Database
    from services.db.repositories.settings import SettingsRepository

    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        other = Database(console.stack.db.url)
        actions = console.stack.actions

        def unreachable(*_args):
            raise OperationalError("UPDATE trade_settings", {}, Exception("Lost connection to server during query"))

        try:
            actions._set_state = unreachable  # the halt's one database step fails, as with the database away
            w.blotter_view.halt_button.click()
            await wait_for(lambda: controller.last_error is not None, 10, "the failed halt said")
            assert controller.last_error[0] == "Halt trading"
            del actions._set_state
            assert w.blotter_view.trading_state is TradingState.ACTIVE

            def halt_elsewhere():
                with other.unit_of_work() as session:
                    SettingsRepository(session).set_trading_state(TradingState.HALTED)

            await asyncio.to_thread(halt_elsewhere)
            await wait_for(lambda: w.blotter_view.trading_state is TradingState.HALTED, 10, "the other process's halt")
            said = [e for e in w.activity_log.entries() if e.text.startswith("Trading HALTED")]
            assert [(e.text, e.level) for e in said] == [
                ("Trading HALTED (the trading state in force changed): only cancels go out", Level.WARNING)]
        finally:
            other.dispose()
            await console.close()

    run(qloop, scenario())


def test_replace_shows_the_order_as_the_blotter_does_and_a_risk_refusal_is_audited(qloop, open_console, monkeypatch):
    from PySide6.QtWidgets import QDialog

    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, sim, controller = console.window, console.sim, console.controller
        try:
            limit = (sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))
            order = await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(100), OrderType.LMT, limit)
            await wait_for(lambda: (r := w.orders_model.get(order.id)) is not None and r.status is OrderState.ACCEPTED,
                           10, "the resting order in the blotter")
            shown = {}

            def exec_(dialog):
                shown.update(title=dialog.windowTitle(), quantity=dialog.quantity_edit.text(),
                             limit=dialog.limit_edit.text(), order=dialog.order_label.text(),
                             client_id=dialog.client_id_label.text())
                dialog.quantity_edit.setText("20,000")  # above max_order_quantity (10,000 shares)
                return QDialog.DialogCode.Accepted

            monkeypatch.setattr("widgets.views.blotter.ReplaceDialog.exec", exec_)
            menu = w.blotter_view.context_menu_for(w.orders_model.get(order.id))
            next(a for a in menu.actions() if shown_text(a.text()).startswith("Replace")).trigger()
            assert shown["quantity"] == "100" and shown["limit"] == f"{limit:,.2f}"
            assert shown["client_id"] == order.client_order_id and order.client_order_id in shown["title"]
            assert "Decimal" not in shown["order"] and "BUY 100 AAPL LMT" in shown["order"]
            await wait_for(lambda: controller.last_error is not None, 10, "the refusal")
            what, message = controller.last_error
            assert what == f"Replace {order.client_order_id}" and "risk" in message
            await controller.refresh_audit()
            w.audit_model.flush()
            refused = [r for r in w.audit_model.records() if r.action == "order.replace_refused"]
            assert refused and str(refused[0].entity_id) == str(order.id) and "20000" in str(refused[0].payload)

            # a replace that goes: the activity log says what the order became (it said only
            # "modified at the broker")
            new_limit = limit - Decimal("0.50")

            def exec_lower(dialog):
                dialog.limit_edit.setText(f"{new_limit}")
                return QDialog.DialogCode.Accepted

            monkeypatch.setattr("widgets.views.blotter.ReplaceDialog.exec", exec_lower)
            menu = w.blotter_view.context_menu_for(w.orders_model.get(order.id))
            next(a for a in menu.actions() if shown_text(a.text()).startswith("Replace")).trigger()
            said = f"Replace {order.client_order_id} to 100 @ {new_limit:,.2f}: modified at the broker"
            await wait_for(lambda: any(e.text == said for e in w.activity_log.entries()), 10,
                           lambda: f"{said!r} in {[e.text for e in w.activity_log.entries()]}")
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_window_replaces_a_stop_orders_stop_and_says_the_new_one(qloop, open_console, monkeypatch):
    """A working STP LMT order's Replace dialog carries its stop: the new one typed there reaches
    the broker (IB's auxPrice) and the activity log says it, as the LIVE confirmation's
    "Becomes" row does (services.core.wording.replaced_to)."""
    from PySide6.QtWidgets import QDialog

    from services.execution.manual import ManualOrders, Ticket

    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, sim = console.window, console.sim
        try:
            stop = (sim.price("AAPL") * Decimal("1.05")).quantize(Decimal("0.01"))
            sent = await ManualOrders(console.stack.service).send(Ticket.of(
                "AAPL", "BUY", quantity="5", order_type="STP LMT", stop_price=str(stop), limit_price=str(stop + 1)))
            [coid] = sent.sent
            record = lambda: next((r for r in w.orders_model.records() if r.client_order_id == coid), None)  # noqa: E731
            await wait_for(lambda: (r := record()) is not None and r.status is OrderState.ACCEPTED, 10, "the stop in the blotter")
            new_stop = stop - Decimal("0.50")
            shown = {}

            def exec_(dialog):
                shown["stop"] = dialog.stop_edit.text()
                dialog.stop_edit.setText(f"{new_stop}")
                return QDialog.DialogCode.Accepted

            monkeypatch.setattr("widgets.views.blotter.ReplaceDialog.exec", exec_)
            menu = w.blotter_view.context_menu_for(record())
            next(a for a in menu.actions() if shown_text(a.text()).startswith("Replace")).trigger()
            assert shown["stop"] == f"{stop:,.2f}"
            said = f"Replace {coid} to 5 stop {new_stop:,.2f} limit {stop + 1:,.2f}: modified at the broker"
            await wait_for(lambda: any(e.text == said for e in w.activity_log.entries()), 10,
                           lambda: f"{said!r} in {[e.text for e in w.activity_log.entries()]}")
            assert [o.stop_price for o in sim.orders() if o.order_ref == coid] == [new_stop]
            await wait_for(lambda: record().stop_price == new_stop, 10, "the new stop in the blotter")
        finally:
            await console.close()

    run(qloop, scenario())


def test_import_names_its_project_and_liquidate_unlisted_is_a_preview_parameter(qloop, open_console, monkeypatch, tmp_path):
    _say_yes(monkeypatch)
    targets = tmp_path / "growth.csv"
    targets.write_text("symbol,weight\nAAPL,0.05\nMSFT,0.05\n")
    asked = []

    def name_it(parent, names, current):
        asked.append((list(names), current))
        return "Growth book"

    monkeypatch.setattr("widgets.views.snapshots.QFileDialog.getOpenFileName", lambda *a, **k: (str(targets), ""))
    monkeypatch.setattr("widgets.views.snapshots.ask_project_name", name_it)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        view = w.preview_view
        try:
            w.import_action.trigger()  # File -> Import snapshot…
            await wait_for(lambda: "Growth book" in controller.project_names.values()
                           and w.snapshots_view.current_project_name() == "Growth book", 10, "imported into Growth book")
            assert asked and asked[0][1] is not None  # offered the selected project first
            await wait_for(lambda: "into project Growth book" in _message(w), 10, lambda: _message(w))

            # IBM is in the project's book but not in the snapshot: sold only with the box ticked
            # (only the project's own holdings are ever liquidated: docs/project-books.md)
            await console.stack.actions.manual_order("IBM", Side.BUY, Decimal(7), OrderType.MKT, project="Growth book")
            await wait_for(lambda: any(p.symbol == "IBM" and p.quantity for p in w.positions_model.records()), 10, "IBM held")
            for ticked in (False, True):
                view.liquidate_check.setChecked(ticked)
                assert view.params()["liquidate_unlisted"] is ticked
                preview = await controller.preview(view.params())
                sells = [d for d in preview.drafts if d.symbol == "IBM" and d.side is Side.SELL]
                assert bool(sells) is ticked, preview.drafts
        finally:
            await console.close()

    run(qloop, scenario())


def test_preview_parameters_are_remembered_between_sessions(qtbot, tmp_path):
    from app.main_window import MainWindow

    state = tmp_path / "ui-state.ini"
    first = MainWindow(mode="demo", ui_state_file=state)
    qtbot.addWidget(first)
    view = first.preview_view
    view.set_params({"portfolio_value": "250000", "cash_buffer": Decimal("0.05"), "lot_size": "10",
                     "rounding": "floor", "order_type": "LMT", "limit_offset_bps": "7", "min_order_value": "500"})
    view.liquidate_check.setChecked(True)
    expected = view.params()
    first.close()

    second = MainWindow(mode="demo", ui_state_file=state)
    qtbot.addWidget(second)
    assert second.preview_view.params() == expected
    assert expected["liquidate_unlisted"] is True and expected["portfolio_value"] == Decimal("250000")
    # a preview saves them too: a session killed before closing keeps what it previewed with
    second.preview_view.portfolio_edit.setText("300000")
    second.preview_view.request_preview()
    third = MainWindow(mode="demo", ui_state_file=state)
    qtbot.addWidget(third)
    assert third.preview_view.params()["portfolio_value"] == Decimal("300000")
    fresh = MainWindow(mode="demo", ui_state_file=tmp_path / "other.ini")
    qtbot.addWidget(fresh)
    # nothing stored: the defaults (an empty portfolio value: the project's capital, else NetLiquidation)
    assert fresh.preview_view.params()["portfolio_value"] is None


# end to end: a real window (or the engine) against the simulator; left out by dev.py test --quick
pytestmark = pytest.mark.slow


def test_cancel_all_asks_with_the_services_count_of_working_orders(qloop, open_console, monkeypatch):
    """The question's count is the service's (the connected account's working orders in the
    database), not the blotter's page: an order the blotter shows as working that the database
    does not hold as this account's working order is not counted."""
    from tests.gui.factories import order

    asked: list[int] = []

    def ask(_parent, working, **_words):
        asked.append(working)
        return "console"

    monkeypatch.setattr("widgets.views.blotter.ask_cancel_all_scope", ask)

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            w.orders_model.upsert([order(9001, status=OrderState.SUBMITTED), order(9002, status=OrderState.ACCEPTED)])
            w.orders_model.flush()
            assert sum(1 for o in w.orders_model.records() if o.status.is_working) >= 2
            w.blotter_view.cancel_all_button.click()
            await wait_for(lambda: asked, 10, "the Cancel All question")
            assert asked == [0]
            await wait_for(lambda: _message(w) == "Nothing to cancel: this console has no working orders", 10,
                           lambda: _message(w))
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # a run, then the window opened again on the same database: over ~5 s alone
def test_after_a_restart_the_run_progress_shows_the_projects_run_of_today_and_its_state(qloop, open_console, monkeypatch):
    """The progress bar followed only what the window sent itself: opened again after a run, it
    said "no run" with the run executed today in the database. Now it shows the selected project's
    latest run (still executing, or executed today), its plan's outcome and the run's state."""
    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            w.preview_view.portfolio_edit.setText("100000")
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None and w.preview_view.execute_button.isEnabled(),
                           15, "the preview")
            sent = controller.current_preview
            w.preview_view.execute_button.click()
            # the Execute task first: it stores the plan's orders. Waited for before it had, wait_done
            # found no order of the run working and returned at once, and one order of twelve was
            # still partly filled when the progress was read (about one run in two alone)
            assert await controller.runner.drain(timeout=15) == []
            assert await console.stack.trade.wait_done(sent.run_id, timeout=20) == []
            await console.stack.writer.flush()
            await controller.trading.refresh_progress()
            before = controller.trading._progress
            assert before.filled_notional > 0 and before.working == 0
        finally:  # everything but the window (closing the last window would stop the test's loop)
            console.controller.close()
            await console.controller.runner.drain(timeout=5)
            await console.stack.close()
        again = await open_console()  # the same database: the console restarted
        console.window.close()
        try:
            view = again.window.preview_view
            status = (await again.stack.trade.view(sent.run_id)).run.status
            assert status.value in ("done", "partial")
            text = view.progress.format()
            assert text.startswith(f"run {sent.run_id}, plan {sent.plan.id} ({status.value}): "), text
            # the amounts in the run's base currency, read back as the Execute's preview said them
            assert before.amounts.endswith(" USD") and f": {before.amounts} filled" in text, text
            assert view.progress.value() == int(before.filled_notional / before.target_notional * 1000) > 0
        finally:
            await again.close()

    run(qloop, scenario())


def test_the_halt_says_the_runs_orders_not_sent_yet_it_canceled(qloop, open_console, monkeypatch):
    """`trading-console halt` said them ("1 order of runs not sent yet canceled"); the window's
    Halt said only the state, and the trader did not learn those orders will never go. Both say
    the service's words now (services.execution.action_outcomes.Halted.unsent_words)."""
    from sqlalchemy import update

    from services.db.models import TradeOrder
    from services.execution.manual import Ticket

    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            sent = await console.stack.engine.manual.send(Ticket.of("AAPL", "BUY", quantity="5"))  # a run of its own
            [client_order_id] = sent.sent
            await wait_for(lambda: any(r.client_order_id == client_order_id and r.status is OrderState.FILLED
                                       for r in w.orders_model.records()), 10, "the filled order in the blotter")

            def stored_not_sent():  # as a run's order stored NEW and not sent yet when the halt comes
                with console.stack.db.unit_of_work() as session:
                    session.execute(update(TradeOrder).where(TradeOrder.client_order_id == client_order_id).values(
                        status=OrderState.NEW, ib_order_id=None, ib_perm_id=None))

            await asyncio.to_thread(stored_not_sent)
            w.blotter_view.halt_button.click()
            await wait_for(lambda: any(e.text.startswith("Trading HALTED") for e in w.activity_log.entries()), 10, "halted")
            [halted] = [e for e in w.activity_log.entries() if e.text.startswith("Trading HALTED")]
            assert (halted.text, halted.level) == (
                "Trading HALTED: only cancels go out; 1 order of runs not sent yet canceled", Level.WARNING)
        finally:
            await console.close()

    run(qloop, scenario())
