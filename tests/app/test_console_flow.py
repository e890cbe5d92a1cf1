"""The trader's flow through the real window: import, preview, risk verdict, paper execution,
fills in the blotter and the fills panel; LIVE refused without the word; cancel, replace and
cancel-all from the blotter reach the simulator; halt blocks execute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from PySide6.QtWidgets import QDialog, QMenu

from services.activity_log import Level
from services.core.wording import describe_order
from services.domain import OrderState, OrderType, Side, TradeMode, TradingState
from tests.app.conftest import run
from tests.fixtures.ib import wait_for
from tests.fixtures.menus import shown_text

SNAPSHOT_CSV = "symbol,weight,price\nAAPL,0.10,230\nMSFT,0.10,418\nSPY,0.15,590\nIBM,0.05,225\n"
BAD_CSV = "symbol,weight\nAAPL,0.5\nAAPL,abc\nMSFT,0.7\n"


def _say_yes(monkeypatch):
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)
    monkeypatch.setattr("widgets.views.blotter.confirm", lambda *a, **k: True)
    monkeypatch.setattr("widgets.views.blotter.ask_cancel_all_scope", lambda *a, **k: "broker")


def _working_at_sim(sim):
    return [o for o in sim.orders() if o.status in ("PreSubmitted", "Submitted", "PendingSubmit")]


def test_import_preview_execute_shows_fills(qloop, open_console, tmp_path, monkeypatch):
    _say_yes(monkeypatch)
    good = tmp_path / "my_targets.csv"
    good.write_text(SNAPSHOT_CSV)
    bad = tmp_path / "broken.csv"
    bad.write_text(BAD_CSV)

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            # A malformed file: its problems by line, nothing stored.
            before = w.snapshots_view.tree.topLevelItem(0).childCount()
            w.snapshots_view.import_requested.emit(str(bad), "")
            await wait_for(lambda: w.snapshots_view.errors_list.count() > 0, 10, "import errors")
            errors = [w.snapshots_view.errors_list.item(i).text() for i in range(w.snapshots_view.errors_list.count())]
            assert any("line 3" in e for e in errors), errors
            assert w.snapshots_view.tree.topLevelItem(0).childCount() == before

            # A good file: stored, selected, its items shown.
            w.snapshots_view.import_requested.emit(str(good), "")
            await wait_for(lambda: w.snapshot_items_model.rowCount() == 4
                           and {r.symbol for r in w.snapshot_items_model.records()} == {"AAPL", "MSFT", "SPY", "IBM"},
                           10, "imported items")
            assert w.snapshots_view.tree.topLevelItem(0).childCount() == before + 1

            w.preview_view.portfolio_edit.setText("100000")  # empty would be the project's capital
            w.preview_view.preview_button.click()
            await wait_for(lambda: console.controller.current_preview is not None, 15, "preview")
            preview = console.controller.current_preview
            assert not preview.blocked
            assert w.preview_model.rowCount() == len(preview.drafts) == 4
            assert w.risk_view.verdict_label.text().startswith("READY")
            assert w.preview_view.execute_button.isEnabled()

            w.preview_view.execute_button.click()
            sim = console.sim
            await wait_for(lambda: len(sim.orders()) == 4 and not _working_at_sim(sim), 20, "simulator fills")
            await console.stack.writer.flush()
            executions = {e.exec_id for e in sim.executions()}
            await wait_for(lambda: {f.exec_id for f in w.fills_model.records()} >= executions, 10, "fills panel")
            await wait_for(lambda: sum(1 for o in w.orders_model.records() if o.status is OrderState.FILLED) == 4,
                           10, "blotter shows FILLED")
            assert w.blotter_view.proxy.rowCount() == 4
            by_symbol = {o.symbol: o for o in w.orders_model.records()}
            for draft in preview.drafts:
                assert by_symbol[draft.symbol].filled_quantity == draft.quantity
            assert w.fills_model.totals_count() == len(executions)
            # each fill says which order (and run) it is of, from the writer's own change set
            ids = {o.id: o.client_order_id for o in w.orders_model.records()}
            assert {(f.order_id, f.client_order_id) for f in w.fills_model.records()} <= set(ids.items())
            # Settled, the run's decisions (now with its state changes) and its TCA are shown
            # where the preview's plan was: nothing to click.
            run_id = by_symbol[preview.drafts[0].symbol].run_id
            await wait_for(lambda: console.controller.decisions.tca_run_id == run_id and w.tca_model.rowCount() == 4,
                           15, "the settled run's TCA")
            assert w.tca_view.title_label.text().startswith(f"Run {run_id}")
            assert "shortfall" in w.tca_view.totals_label.text()
            # the risk headline no longer says READY over orders that filled (a trader's walk)
            assert w.risk_view.verdict_label.text() == f"SENT — run {run_id}: 4 orders passed every rule at preview"
            assert w.decisions_view.title_label.text().endswith("(executed)")
            assert " 0 state changes" not in w.decisions_view.summary_label.text()
            # The audit panel shows the run and its chain verifies.
            await console.controller.refresh_audit()
            w.audit_model.flush()
            actions = {r.action for r in w.audit_model.records()}
            assert {"snapshot.import", "run.execute"} <= actions
            assert "verified" in w.audit_view.chain_label.text().lower()
        finally:
            await console.close()

    run(qloop, scenario())


def test_live_dialog_accepts_only_the_word_and_the_service_refuses_without_it(qtbot, qloop, open_console):
    from services.execution.errors import LiveConfirmRequired
    from widgets.dialogs.live_confirm import LiveConfirmDialog

    dialog = LiveConfirmDialog("U1234567", 3, Decimal("12345.67"))
    qtbot.addWidget(dialog)
    for text in ("", "live?", "LIV", "LIVE NOW", "yes"):
        dialog.token_edit.setText(text)
        assert not dialog.ok_button.isEnabled(), text
    for text in ("LIVE", " live ", "Live"):
        dialog.token_edit.setText(text)
        assert dialog.ok_button.isEnabled(), text

    async def scenario():
        console = await open_console()
        try:
            projects = console.controller.project_names
            project_id = next(iter(projects))
            with pytest.raises(LiveConfirmRequired):
                await console.stack.trade.create_run(project_id, None, TradeMode.LIVE, {}, live_token=None)
            with pytest.raises(LiveConfirmRequired):
                await console.stack.trade.create_run(project_id, None, TradeMode.LIVE, {}, live_token="yes")
        finally:
            await console.close()

    run(qloop, scenario())


def test_cancel_replace_and_cancel_all_from_the_blotter_reach_the_simulator(qloop, open_console, monkeypatch):
    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, sim, actions = console.window, console.sim, console.stack.actions
        try:
            resting = []
            for symbol in ("AAPL", "MSFT", "IBM"):
                limit = (sim.price(symbol) * Decimal("0.98")).quantize(Decimal("0.01"))  # rests, inside the collar
                resting.append(await actions.manual_order(symbol, Side.BUY, Decimal(10), OrderType.LMT, limit))
            await wait_for(lambda: len(_working_at_sim(sim)) == 3, 10, "three resting orders")
            def shown_working(order) -> bool:
                row = w.orders_model.get(order.id)  # None until the model's next flush
                return row is not None and row.status is OrderState.ACCEPTED

            await wait_for(lambda: all(shown_working(o) for o in resting), 10, "blotter shows them working")

            # Cancel from the context menu.
            first = w.orders_model.get(resting[0].id)
            menu = w.blotter_view.context_menu_for(first)
            next(a for a in menu.actions() if shown_text(a.text()) == "Cancel").trigger()
            await wait_for(lambda: next(o for o in sim.orders() if o.order_ref == first.client_order_id).status == "Cancelled",
                           10, "cancel at the simulator")
            await wait_for(lambda: w.orders_model.get(first.id).status is OrderState.CANCELED, 10, "blotter CANCELED")
            # said in the status bar, as Replace and Cancel All say theirs (it kept the previous line)
            await wait_for(lambda: w.statusBar().currentMessage().startswith(f"Cancel {first.client_order_id}: "), 10,
                           lambda: f"the cancel's line (status: {w.statusBar().currentMessage()!r})")

            # Replace… (a LMT modify: same order at the broker, new quantity and limit).
            second = w.orders_model.get(resting[1].id)
            new_limit = (second.limit_price - Decimal("0.50")).quantize(Decimal("0.01"))

            def accept_with_values(dialog):
                dialog.quantity_edit.setText("15")
                dialog.limit_edit.setText(str(new_limit))
                return QDialog.DialogCode.Accepted

            monkeypatch.setattr("widgets.views.blotter.ReplaceDialog.exec", accept_with_values)
            menu = w.blotter_view.context_menu_for(second)
            next(a for a in menu.actions() if shown_text(a.text()).startswith("Replace")).trigger()
            sim_order = lambda: next(o for o in sim.orders() if o.order_ref == second.client_order_id)  # noqa: E731
            await wait_for(lambda: sim_order().quantity == 15 and sim_order().limit_price == new_limit, 10, "modify at the simulator")

            # Cancel All (confirmed) leaves nothing working at the broker.
            w.blotter_view.cancel_all_button.click()
            await wait_for(lambda: not _working_at_sim(sim), 10, "global cancel")
            await wait_for(lambda: not any(o.status.is_working for o in w.orders_model.records()), 10, "blotter shows none working")
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_halt_blocks_execute_until_resumed(qloop, open_console, monkeypatch):
    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            w.blotter_view.halt_button.click()
            await wait_for(lambda: w.blotter_view.trading_state is TradingState.HALTED, 10, "halted")
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "preview")
            assert controller.current_preview.blocked  # the risk engine's trading-state rule
            assert not w.preview_view.execute_button.isEnabled()
            # Even a direct execute call is refused by the service while halted.
            controller.last_error = None
            await controller.runner.run(controller.execute(controller.current_run_id), what="Execute")
            assert controller.last_error is not None and "HALTED" in controller.last_error[1].upper()
            assert console.sim.orders() == []

            w.blotter_view.halt_button.click()  # now "Resume"
            await wait_for(lambda: w.blotter_view.trading_state is TradingState.ACTIVE, 10, "resumed")
            # the preview made while halted says that only a new preview will do (a trader's walk:
            # the panel kept "BLOCKED" over "trading is HALTED" after Resume, and nothing said so)
            resumed_since = "previewed while trading was HALTED; trading resumed since: Preview again"
            assert w.risk_view.verdict_label.text().endswith(resumed_since), w.risk_view.verdict_label.text()
            assert "not sent: BLOCKED while trading was HALTED, Preview again" in w.preview_view.progress.format()
            assert not w.preview_view.execute_button.isEnabled()
            w.preview_view.preview_button.click()
            await wait_for(lambda: not controller.current_preview.blocked, 15, "a preview that passes")
            assert w.risk_view.verdict_label.text().startswith("READY")
            assert w.preview_view.execute_button.isEnabled()
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_settings_dialog_saves_connection_to_the_file_and_risk_to_the_database(qloop, open_console, console_settings):
    import tomllib

    from app.settings import save_settings
    from services.db.repositories import SettingsRepository

    async def scenario():
        console = await open_console()
        controller = console.controller
        controller.save_settings = save_settings
        try:
            dialog = await controller.open_settings()
            dialog.port_edit.setText("4002")
            row = dialog.row_of(dialog.risk_table, "max_order_notional")
            assert dialog.risk_table.item(row, 0).text() == "Max order notional (base currency)"  # a label, with its unit
            dialog.risk_table.item(row, 1).setText("12345")
            # the stored plans' settings are there too (a trader's walk: only `trade-settings` had them)
            age = dialog.row_of(dialog.execution_table, "plan_max_age_seconds")
            assert dialog.execution_table.item(age, 0).text() == "A stored plan may be sent until (seconds after its preview)"
            dialog.execution_table.item(age, 1).setText("300")
            # the demo runs the built-in simulator whatever is stored: the choice is not offered
            # (tests/app/test_settings_session.py), and the stored one stays as it was
            assert dialog.data_source_combo.isHidden()
            with console.stack.db.session() as session:
                stored_source = SettingsRepository(session).execution_data_source()
            dialog.accept()
            await wait_for(lambda: any(r.action == "settings.update" for r in console.window.audit_model.records()),
                           30, "settings audited")
            saved = tomllib.loads(console_settings.config_file.read_text())
            assert saved["ib"]["port"] == 4002
            with console.stack.db.session() as session:
                assert SettingsRepository(session).risk_defaults()["max_order_notional"] == 12345
                assert SettingsRepository(session).execution()["plan_max_age_seconds"] == 300
                assert SettingsRepository(session).execution_data_source() == stored_source
            # The new limit is in force at the next preview: exactly the orders above it are blocked.
            preview = await controller.preview(console.window.preview_view.params())
            over = {d.symbol for d in preview.drafts if d.notional > 12345}
            blocked = {o.order.symbol for o in preview.report.orders
                       if any(b.rule == "max_order_notional" for b in o.blocks)}
            assert over and blocked == over
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_setting_put_back_in_the_same_session_is_saved_back(qloop, open_console, console_settings):
    """A trader's walk under Xvfb: Host typed as "100k" and saved, then put back to 127.0.0.1 and
    saved again: the dialog showed 127.0.0.1 and said "Settings saved", the file kept "100k" for
    the next start. Each save wrote only what differed from the settings as the session loaded
    them, and 127.0.0.1 was what it loaded; so too a theme switched to light and back to dark
    (View menu), which then opened light. What was saved is now the baseline of the next save."""
    import tomllib

    from app.settings import load_settings, save_settings

    def in_file() -> dict:
        return tomllib.loads(console_settings.config_file.read_text())

    async def scenario():
        console = await open_console()
        controller = console.controller
        controller.save_settings = save_settings
        try:
            await controller.apply_settings({"ib": {"host": "100k"}, "theme": "light"})
            assert in_file()["ib"]["host"] == "100k" and in_file()["ui"]["theme"] == "light"
            await controller.apply_settings({"ib": {"host": "127.0.0.1"}, "theme": "dark"})
            assert (in_file()["ib"]["host"], in_file()["ui"]["theme"]) == ("127.0.0.1", "dark")
            again = load_settings(env={"TC_CONFIG_FILE": str(console_settings.config_file)})
            assert (again.ib.host, again.ui.theme) == ("127.0.0.1", "dark")
        finally:
            await console.close()

    run(qloop, scenario())


def test_settings_the_services_refuse_leave_the_file_the_theme_and_the_database_as_they_were(qloop, open_console,
                                                                                            console_settings, monkeypatch):
    """The database half is checked and stored first: a value the trade settings service
    refuses (a negative recovery timeout) saves nothing to the settings file, applies no theme
    and stores no risk limit beside it."""
    from app.settings import save_settings
    from services.db.repositories import SettingsRepository
    from services.trade_settings import TradeSettingsError

    async def scenario():
        console = await open_console()
        controller = console.controller
        controller.save_settings = save_settings
        themes: list[str] = []
        monkeypatch.setattr(console.window, "apply_theme", themes.append)
        file_before = console_settings.config_file.read_text() if console_settings.config_file.exists() else None
        try:
            with console.stack.db.session() as session:
                limits_before = SettingsRepository(session).risk_defaults()
            with pytest.raises(TradeSettingsError, match="new_timeout_seconds"):
                await controller.apply_settings({"ib": {"port": 4009}, "theme": "light",
                                                 "risk_defaults": {"max_order_notional": 777},
                                                 "recovery": {"new_timeout_seconds": -5}})
            after = console_settings.config_file.read_text() if console_settings.config_file.exists() else None
            assert after == file_before and themes == []
            with console.stack.db.session() as session:
                assert SettingsRepository(session).risk_defaults() == limits_before
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_positions_are_marked_to_market_for_unrealized_pnl(qloop, open_console, monkeypatch):
    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, sim, controller = console.window, console.sim, console.controller
        try:
            await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.MKT)
            await wait_for(lambda: any(p.symbol == "AAPL" and p.quantity == 10 for p in w.positions_model.records()),
                           10, "the position")
            position = next(p for p in w.positions_model.records() if p.symbol == "AAPL" and p.quantity == 10)
            sim.set_price("AAPL", position.average_cost + Decimal("5"))
            await controller.mark_positions()
            w.positions_model.flush()
            marked = next(p for p in w.positions_model.records() if p.symbol == "AAPL" and p.quantity == 10)
            assert marked.market_price is not None
            assert marked.unrealized_pnl == (marked.market_price - marked.average_cost) * 10
            assert marked.unrealized_pnl > 0
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # a window, the simulator and a fill: over ~5 s alone
def test_a_quote_seen_before_the_fill_does_not_value_the_position_a_later_one_does(qloop, open_console):
    """The window's marks (MonitoringController through services.position_marks): a quote seen
    before the position's last fill leaves it at the fill's price (the panel showed the older
    quote and its P&L until the next one came: 15 s, or never while disconnected); a quote seen
    since values it. The line's Market cell says which, and when."""
    from sqlalchemy import select

    from services.db.models import Position
    from widgets.models.base import fmt_price
    from widgets.views.positions import BOOK, PRICE

    async def scenario():
        console = await open_console()
        w, sim, controller, provider = console.window, console.sim, console.controller, console.stack.provider
        try:
            await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), OrderType.MKT)
            await wait_for(lambda: any(p.symbol == "AAPL" and p.quantity == 10 and p.market_price is not None
                                       for p in w.positions_model.records()), 10, "the position, marked by its fill")
            with console.stack.db.session() as session:  # the last fill's price and time (in parts: several fills)
                held = session.scalars(select(Position).where(Position.symbol == "AAPL", Position.project_id.is_(None))).one()
            quote = held.market_price + Decimal(5)
            sim.set_price("AAPL", quote)

            def aapl():
                w.positions_model.flush()
                return [p for p in w.positions_model.records() if p.symbol == "AAPL"]

            def market_cell():
                tree = w.positions_view.tree
                account = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                               if tree.topLevelItem(i).text(BOOK).startswith("Account "))
                line = next(account.child(i) for i in range(account.childCount()) if account.child(i).text(BOOK) == "AAPL")
                return line.text(PRICE), line.toolTip(PRICE)

            real_clock = provider.clock
            provider.clock = lambda: held.marked_at - timedelta(seconds=5)  # the snapshot's quote, seen before the fill
            try:
                await controller.mark_positions()
            finally:
                provider.clock = real_clock
            for p in aapl():
                assert (p.market_price, p.unrealized_pnl) == (held.market_price, (held.market_price - p.average_cost) * 10)
            text, tooltip = market_cell()
            assert text == fmt_price(held.market_price) and tooltip.startswith(f"stored mark of {held.marked_at:%Y-%m-%d %H:%M:%S} UTC")

            await controller.mark_positions()  # a quote seen now, after the fill
            marked = aapl()
            assert {p.market_price for p in marked} == {quote}
            assert all(p.unrealized_pnl == (quote - p.average_cost) * 10 for p in marked)
            text, tooltip = market_cell()
            assert text == fmt_price(quote) and tooltip.startswith("quote seen ")
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_a_dropped_connection_shows_the_reconnect_countdown_then_reconnects(qloop, open_console, ib_log_guard):
    ib_log_guard.allow(r"^Peer closed connection\.$")  # what ib_async logs when the gateway drops us
    # ... or this, when the gateway had account or P&L updates in flight (the account panel's
    # subscriptions): a drop with unread data is a reset
    ib_log_guard.allow(r"Connection reset by peer")

    async def scenario():
        console = await open_console()
        status, provider = console.window.connection_status, console.stack.provider
        try:
            assert provider.is_connected
            console.sim.drop_connections()
            await wait_for(lambda: status.seconds_to_reconnect() is not None, 10, "the countdown")
            assert "disconnected" in status.state_label.text().lower()
            await wait_for(lambda: provider.is_connected and status.seconds_to_reconnect() is None, 15, "reconnected")
            assert "connected" in status.state_label.text().lower()
            # the activity log tells the story: the connection at the start and its reconciliation,
            # the loss (a warning, with its time), the restore (how long it was down), and what the
            # reconnect's reconciliation found; before, it said none of them
            log = console.window.activity_log

            def said(prefix: str) -> list:
                return [e for e in log.entries() if e.text.startswith(prefix)]

            await wait_for(lambda: len(said("Reconciled at ")) == 2, 15, "the reconnect's reconciliation in the log")
            [connected] = said("Connected to IB at ")
            [lost] = said("Connection to IB lost at ")
            [restored] = said("Connection to IB restored at ")
            first, again = said("Reconciled at ")
            assert connected.seq < first.seq < lost.seq < restored.seq < again.seq
            assert f"127.0.0.1:{console.sim.port} client " in connected.text and "account DU" in connected.text
            assert lost.level is Level.WARNING and lost.text.endswith(" UTC; reconnecting: nothing can be sent until it is back")
            assert " down (" in restored.text and restored.level is Level.INFO
            assert "fills checked" in again.text
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_recover_now_cancels_an_unacknowledged_order_and_replaces_it_once(qloop, open_console, monkeypatch, tmp_path):
    _say_yes(monkeypatch)
    targets = tmp_path / "recovery.csv"
    targets.write_text("symbol,weight\nIBM,0.05\nAAPL,0.05\n")

    async def scenario():
        console = await open_console()
        w, sim, controller = console.window, console.sim, console.controller
        try:
            sim.faults.add_rule(symbols={"IBM"}, ack_delay=60)  # the gateway sits on IBM orders
            await controller.import_snapshot(str(targets), "recovery")
            w.preview_view.portfolio_edit.setText("100000")  # the new project has no capital
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "preview")
            w.preview_view.execute_button.click()
            await wait_for(lambda: any(o.symbol == "IBM" and o.status is OrderState.SUBMITTED for o in w.orders_model.records())
                           and any(o.symbol == "AAPL" and o.status is OrderState.FILLED for o in w.orders_model.records()),
                           15, "IBM stuck, AAPL filled")
            [stuck] = [o for o in w.orders_model.records() if o.symbol == "IBM"]
            # Trading -> Recover now, the configured timeout (45 s) passed on the service's clock
            result = await controller.recover(datetime.now(UTC) + timedelta(seconds=60), manual=True)
            assert result.considered == result.canceled == (stuck.client_order_id,)
            [replaced] = result.replaced
            assert replaced.client_order_id == stuck.client_order_id and replaced.retry == 1
            # which order, what it is and its new name (a bare "re-placed 1" named none)
            assert (f"re-placed 1 ({describe_order(stuck, with_id=False)}, {stuck.client_order_id} as {replaced.replacement})"
                    in w.statusBar().currentMessage())
            assert describe_order(stuck, with_id=False).startswith("BUY ")
            await wait_for(lambda: {(o.client_order_id, o.status) for o in w.orders_model.records() if o.symbol == "IBM"}
                           == {(stuck.client_order_id, OrderState.CANCELED), (replaced.replacement, OrderState.SUBMITTED)},
                           10, "IBM canceled and re-placed")
            # the first one was canceled at the gateway before the second went out
            assert [(o.order_ref, o.status) for o in sim.orders() if o.symbol == "IBM"] == [
                (stuck.client_order_id, "Cancelled"), (replaced.replacement, "PendingSubmit")]
            w.audit_model.flush()
            actions = {r.action for r in w.audit_model.records()}
            assert {"order.recovery_cancel", "order.recovery_replace"} <= actions
            # the menu runs a pass on the real clock: the replacement is not stuck yet
            [recover_now] = [a for m in w.menuBar().findChildren(QMenu) for a in m.actions() if a.text() == "Reco&ver now"]
            recover_now.trigger()
            await wait_for(lambda: w.statusBar().currentMessage().startswith("Auto-recovery: considered 0"), 10,
                           lambda: f"the menu's pass reported (status: {w.statusBar().currentMessage()!r})")
        finally:
            await console.close()

    run(qloop, scenario())


@pytest.mark.slow  # over 3 s a case: out of --quick (README), in the whole suite
def test_execute_sends_the_plan_the_dialog_confirmed_or_nothing(qloop, open_console, monkeypatch):
    """A preview finishing while the confirmation was open made another plan current, and Execute
    then sent that newer plan, not the one whose numbers the trader confirmed (LIVE or paper).
    Execute is now off while a preview runs, and the confirmed plan is sent exactly or not at all."""
    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            w.preview_view.portfolio_edit.setText("100000")
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "first preview")
            await wait_for(lambda: "Preview" not in controller.runner.running(), 15, "the first preview's end")
            assert w.preview_view.execute_button.isEnabled()
            confirmed = controller.current_preview.plan

            w.preview_view.portfolio_edit.setText("150000")
            w.preview_view.preview_button.click()
            assert not w.preview_view.execute_button.isEnabled()  # off while the new plan is made
            await wait_for(lambda: "Preview" not in controller.runner.running(), 15, "the second preview's end")
            assert controller.current_preview.plan.id != confirmed.id and w.preview_view.execute_button.isEnabled()

            controller.last_error = None
            await controller.runner.run(controller.trading.execute(controller.current_run_id, confirmed_plan=confirmed.id),
                                        what="Execute")
            assert controller.last_error is not None and f"you confirmed plan {confirmed.id}" in controller.last_error[1]
            assert console.sim.orders() == []  # nothing sent
            # nor followed: the bar still says the preview was not sent, no "0 of N filled"
            second = controller.current_preview.plan
            assert w.preview_view.progress.format() == f"plan {second.id} (run {second.run_id}) previewed, not sent"
            assert controller.trading.progress.run_id is None
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_paper_confirmation_names_the_project_and_snapshot_it_sends(qloop, open_console, tmp_path, monkeypatch):
    """It said "Send plan 1: 4 orders, gross notional ..., to the paper account ...": with
    several projects on one account, nothing told the trader whose snapshot was about to go."""
    asked: list[str] = []
    titles: list[str] = []

    def answer(_parent, title, text, *args, **kwargs):
        titles.append(title)
        asked.append(text)
        return False  # declined: nothing is sent

    monkeypatch.setattr("app.controllers.trading.confirm", answer)
    targets = tmp_path / "value_2026-11-21.csv"
    targets.write_text(SNAPSHOT_CSV)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            w.snapshots_view.import_requested.emit(str(targets), "Value")
            await wait_for(lambda: w.snapshot_items_model.rowCount() == 4, 10, "imported items")
            w.preview_view.portfolio_edit.setText("100000")
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "preview")
            await wait_for(lambda: w.preview_view.execute_button.isEnabled(), 15, "Execute enabled")
            plan = controller.current_preview.plan
            w.preview_view.execute_button.click()
            stack = console.stack
            # the LIVE dialog's rows (PreviewResult.confirm_rows): whose plan, what its buys are worth
            # (market orders: at the reference prices, the gross)
            assert asked == [(f"Send plan {plan.id}: 4 orders, gross notional {plan.gross_notional:,.2f} USD, "
                              f"to the {stack.profile} account {stack.provider.account}?\n\n"
                              f"Project: Value\nSnapshot: value_2026-11-21.csv\n"
                              f"Buys: 4 orders: about {plan.gross_notional:,.2f} USD")]
            # titled in the DEMO badge's word, as its question: "Execute paper run" read as IB's paper account
            assert stack.profile == "demo" and titles == ["Execute demo run"]
            assert console.sim.orders() == []
        finally:
            await console.close()

    run(qloop, scenario())


def test_a_refused_login_says_why_in_the_status_bar(qloop, open_console):
    """The account guard's refusal of a reconnect (another account at the Gateway) ends the
    reconnecting: the window showed only "disconnected", with no countdown and no reason."""
    from services.execution.events import ConnectionState

    async def scenario():
        console = await open_console()
        w = console.window
        try:
            reason = "reconnect refused: this session trades account 'DU1234567', the login now manages DU7654321"
            console.stack.provider._set_state(ConnectionState.DISCONNECTED, reason, refused=True)  # as the guard emits it
            assert w.statusBar().currentMessage() == f"Connection refused: {reason}"
            assert "disconnected" in w.connection_status.state_label.text().lower()
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_window_and_serve_run_auto_recovery_at_one_interval(qloop, open_console):
    """The window's timer gave a pass every 10 s, `serve` every 30 s by default: a stuck order
    waited up to three times longer when no one watched the window. One interval now, in the
    recovery service; `serve --recovery-interval` still overrides it."""
    import argparse

    from app.commands import serve

    parser = argparse.ArgumentParser()
    serve.register(parser.add_subparsers())
    assert parser.parse_args(["serve", "--recovery-interval", "2"]).recovery_interval == 2
    served = parser.parse_args(["serve"]).recovery_interval

    async def scenario():
        console = await open_console()
        try:
            timer = console.controller.orders._recovery_timer
            assert timer.isActive() and timer.interval() == served * 1000
        finally:
            await console.close()

    run(qloop, scenario())


def test_showing_another_snapshot_clears_the_previews_notes_with_its_table(qloop, open_console):
    """The table and the risk verdict of the previous snapshot's preview were cleared, but the
    line under the table (the working orders counted as filled, the skipped symbols) stayed on
    screen under another snapshot."""

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            w.preview_view.portfolio_edit.setText("100000")
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "the preview")
            await wait_for(lambda: "Preview" not in controller.runner.running(), 15, "the preview's end")
            shown = controller.trading.session.snapshot_id
            # the plan's target, the preview's own words, ends the totals line; it goes with the table
            assert w.preview_view.totals_label.text().endswith(" · " + controller.current_preview.targeted)
            assert controller.current_preview.targeted.startswith("target weight ")
            # what the controller shows under the table for a preview that counted a working order
            w.preview_view.set_skipped((), "counted as filled: 1 working order of this project: AAPL +20")
            controller.trading.forget_preview_unless(shown)  # the same snapshot: kept
            assert w.preview_view.skipped_label.text().startswith("Counted as filled")
            assert w.preview_view.progress.format().endswith("previewed, not sent")  # the preview, said unsent
            controller.trading.forget_preview_unless(shown + 1000)  # another one
            assert w.preview_view.skipped_label.text() == "" and w.preview_model.rowCount() == 0
            assert "target weight" not in w.preview_view.totals_label.text()
            # nor the forgotten plan's progress ("run 1: 0 of 4,808 filled" stayed, seen under Xvfb)
            assert w.preview_view.progress.format() == "no run" and w.preview_view.progress.value() == 0
            assert controller.trading.progress.run_id is None
        finally:
            await console.close()

    run(qloop, scenario())


def test_the_preview_names_the_project_and_snapshot_it_was_built_from(qloop, open_console, tmp_path):
    """Walked under Xvfb: with an older snapshot left selected in Snapshots, Preview built its plan
    (selling what the newer one keeps) and the panel never said which snapshot it showed; only
    the confirmation did. The line over the table names them, and goes with the preview."""
    older, newer = tmp_path / "value_2026-11-20.csv", tmp_path / "value_2026-11-21.csv"
    older.write_text(SNAPSHOT_CSV)
    newer.write_text(SNAPSHOT_CSV.replace("IBM,0.05,225\n", ""))

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        view = w.preview_view
        try:
            assert view.subject_label.isHidden()  # no preview: nothing named
            imported = []
            for path, rows in ((older, 4), (newer, 3)):
                w.snapshots_view.import_requested.emit(str(path), "Value")
                await wait_for(lambda rows=rows: w.snapshot_items_model.rowCount() == rows, 10, f"{path.name} imported")
                imported.append(w.snapshots_view.current_snapshot_id())  # an import is shown selected
            view.portfolio_edit.setText("100000")
            view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "the preview")
            await wait_for(lambda: "Preview" not in controller.runner.running(), 15, "the preview's end")
            assert view.subject_label.text() == "Project Value · snapshot value_2026-11-21.csv"
            assert view.subject_label.isVisible()
            # and the activity log keeps a line of what was reviewed (a preview left none there)
            run_id = controller.current_preview.run_id
            said = [e.text for e in w.activity_log.entries() if e.text.startswith("Previewed ")]
            assert said == [(f"Previewed Project Value · snapshot value_2026-11-21.csv in run {run_id}: "
                             f"{w.risk_view.verdict_label.text()}")], said
            # another snapshot shown: the preview and its name go together
            assert w.snapshots_view.select_snapshot(imported[0])
            await wait_for(lambda: w.snapshot_items_model.rowCount() == 4, 10, "the older snapshot shown")
            await wait_for(lambda: w.preview_model.rowCount() == 0, 10, "the preview forgotten")
            assert view.subject_label.isHidden() and view.subject_label.text() == ""
            view.preview_button.click()
            await wait_for(lambda: view.subject_label.text() == "Project Value · snapshot value_2026-11-20.csv", 15,
                           lambda: f"the older snapshot named, not {view.subject_label.text()!r}")
        finally:
            await console.close()

    run(qloop, scenario())


def test_execute_is_off_while_the_form_differs_from_what_was_previewed(qloop, open_console, monkeypatch):
    """Preview, then a lot size of 10 typed without previewing again: Execute stayed green and
    sent the plan of lot 1 shown above the form that said 10. Execute is now off, saying why,
    until the fields are put back or the form is previewed again; nothing is sent meanwhile."""
    from services.preview_session import FORM_CHANGED, FORM_CHANGED_SHORT

    _say_yes(monkeypatch)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        view = w.preview_view
        try:
            view.portfolio_edit.setText("100000")
            view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "the preview")
            await wait_for(lambda: "Preview" not in controller.runner.running(), 15, "the preview's end")
            assert view.execute_button.isEnabled()
            first = controller.current_preview.plan

            view.lot_size_edit.setText("10")
            assert not view.execute_button.isEnabled() and view.execute_button.toolTip() == FORM_CHANGED
            # the bar beside Execute says it too: the table still shows the plan of lot 1 (a
            # trader's walk under Xvfb found Execute greyed out with nothing on screen saying why)
            assert view.progress.format() == f"plan {first.id} (run {first.run_id}) previewed, not sent: {FORM_CHANGED_SHORT}"
            controller.last_error = None
            controller.trading._on_execute_requested()  # the shortcut's way round a disabled button
            assert controller.last_error is not None and FORM_CHANGED in controller.last_error[1]
            view.order_type_combo.setCurrentText("LMT")
            view.lot_size_edit.setText("1")
            assert not view.execute_button.isEnabled()  # the order type still differs
            view.order_type_combo.setCurrentText("MKT")
            assert view.execute_button.isEnabled()  # put back: the plan shown is what the form says
            assert view.progress.format() == f"plan {first.id} (run {first.run_id}) previewed, not sent"
            assert console.sim.orders() == []

            view.lot_size_edit.setText("10")
            view.preview_button.click()
            await wait_for(lambda: "Preview" not in controller.runner.running() and controller.current_preview.plan.id != first.id,
                           15, "the second preview")
            assert view.execute_button.isEnabled()
            assert all(d.quantity % 10 == 0 for d in controller.current_preview.drafts)  # built with what the form says
        finally:
            await console.close()

    run(qloop, scenario())
