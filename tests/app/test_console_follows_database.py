"""The trading window follows what OTHER processes write to its database (``trading-console
execute``, ``halt``, ``serve``, another window), as a monitor window does, through the change
feed; the rows its own writer produced are not handed twice."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.activity_log import Category, Level
from services.domain import OrderState, TradingState
from tests.app.conftest import run
from tests.app.test_console_flow import SNAPSHOT_CSV, _say_yes, _working_at_sim
from tests.fixtures.waiting import wait_until


def _another_process_books(db, symbol: str) -> tuple[int, int]:
    """What `execute` in another process stores: an order, its fill, the position; then
    `halt`. Returns (order id, fill id)."""
    from services.audit import AuditLog
    from services.db.models import TradeFill, TradeOrder
    from services.db.repositories.portfolio import PositionRepository
    from services.db.repositories.settings import SettingsRepository

    with db.unit_of_work() as session:
        order = TradeOrder(client_order_id=f"other-{symbol}", symbol=symbol, side="BUY", quantity=Decimal(7),
                           account="DU999", status=OrderState.FILLED, filled_quantity=Decimal(7))
        session.add(order)
        session.flush()
        fill = TradeFill(order_id=order.id, exec_id=f"X-other-{symbol}", exec_base_id=f"X-other-{symbol}", symbol=symbol,
                         side="BUY", quantity=Decimal(7), price=Decimal("31.5"), account="DU999",
                         fill_time=datetime.now(UTC))
        session.add(fill)
        PositionRepository(session).upsert("DU999", symbol, Decimal(7), Decimal("31.5"), project_id=None)
        session.flush()
        ids = order.id, fill.id
    with db.unit_of_work() as session:
        SettingsRepository(session).set_trading_state(TradingState.HALTED)
    AuditLog(db).append("cli", "trading.halt", "trade_settings", 1, {})
    return ids


def _fills_noted(window) -> int:
    """How many fills the activity log has told (``Fill: ...`` or ``N fills: ...``)."""
    total = 0
    for entry in window.activity_log.entries():
        if entry.category is Category.FILL:
            many = re.match(r"(\d+) fills:", entry.text)
            total += int(many.group(1)) if many else 1
    return total


def _position_rows(w) -> list[str]:
    """The positions tree's line texts (Book / symbol), every group's."""
    tree = w.positions_view.tree
    return [tree.topLevelItem(i).child(c).text(0) for i in range(tree.topLevelItemCount())
            for c in range(tree.topLevelItem(i).childCount())]


@pytest.mark.slow  # one of the longest of the quick subset (3-10 s): left out of --quick
def test_the_window_follows_what_another_process_writes_and_hands_its_own_rows_once(qloop, open_console, tmp_path,
                                                                                     monkeypatch, ib_log_guard):
    from services.db import Database

    _say_yes(monkeypatch)
    # the other process's ZZOTHER fill is marked after it comes (services.position_marks): the
    # simulator answers error 200 for a listing it does not know, and the window says nothing
    ib_log_guard.allow(r"Error 200, .*ZZOTHER")
    snapshot = tmp_path / "targets.csv"
    snapshot.write_text(SNAPSHOT_CSV)

    async def scenario():
        console = await open_console()
        w = console.window
        other = Database(console.stack.db.url)
        try:
            # this window's own run: its writer's change sets and the feed both bring its rows
            w.snapshots_view.import_requested.emit(str(snapshot), "")
            await wait_until(lambda: w.snapshot_items_model.rowCount() == 4, 10, "imported items")
            w.preview_view.portfolio_edit.setText("100000")
            w.preview_view.preview_button.click()
            await wait_until(lambda: console.controller.current_preview is not None, 15, "preview")
            w.preview_view.execute_button.click()
            sim = console.sim
            await wait_until(lambda: len(sim.orders()) == 4 and not _working_at_sim(sim), 20, "simulator fills")
            await console.stack.writer.flush()
            executions = {e.exec_id for e in sim.executions()}
            await wait_until(lambda: {f.exec_id for f in w.fills_model.records()} >= executions, 10, "fills panel")

            # another process: an order, its fill and position, then `halt`
            order_id, fill_id = _another_process_books(other, "ZZOTHER")
            await wait_until(lambda: w.orders_model.get(order_id) is not None and w.fills_model.get(fill_id) is not None
                             and any(p.symbol == "ZZOTHER" for p in w.positions_model.records()), 10,
                             "the other process's order, fill and position in the window")
            # marked after its fill, it is left at its stored mark: its row says the broker does not list it
            await wait_until(lambda: "ZZOTHER (not listed)" in _position_rows(w), 10, "the unlisted holding's row saying so")
            await wait_until(lambda: w.trading_state_badge.state == "HALTED"
                             and w.blotter_view.trading_state is TradingState.HALTED, 10, "the window to show HALTED")
            assert w.trading_state_action.isVisible()
            assert not w.preview_view.execute_button.isEnabled()  # the Execute gate follows it
            said = [e for e in w.activity_log.entries() if e.text.startswith("Trading HALTED")]
            assert len(said) == 1 and said[0].level is Level.WARNING, "the halt from elsewhere said once, as a warning"
            await wait_until(lambda: any(r.action == "trading.halt" and r.actor == "cli" for r in w.audit_model.records()),
                             10, "the other process's audit entry")

            # the own run's rows were handed once: every fill told once, the blotter as stored
            polls = console.controller.feed.feed.polls
            await wait_until(lambda: console.controller.feed.feed.polls >= polls + 3, 10, "three more polls")
            for model in (w.orders_model, w.fills_model):
                model.flush()
            assert _fills_noted(w) == len(executions) + 1
            from services import console_queries as queries

            stored = await asyncio.to_thread(queries.recent_orders, console.stack.db)
            assert {o.id: (o.status, o.filled_quantity) for o in w.orders_model.records()} == {
                o.id: (o.status, o.filled_quantity) for o in stored}
            assert console.controller.last_error is None
        finally:
            other.dispose()
            await console.close()

    run(qloop, scenario(), timeout=90)


def _listed_snapshots(view) -> dict[int, str]:
    """The Snapshots tree's snapshots: id -> the project it is listed under."""
    from widgets.views.snapshots import SNAPSHOT_ROLE

    tree, listed = view.tree, {}
    for i in range(tree.topLevelItemCount()):
        project = tree.topLevelItem(i)
        for j in range(project.childCount()):
            listed[project.child(j).data(0, SNAPSHOT_ROLE)] = project.text(0)
    return listed


@pytest.mark.slow  # a whole window: the whole suite, not --quick
@pytest.mark.timeout(120)
def test_a_snapshot_imported_by_another_process_is_listed_without_a_restart(qloop, open_console, tmp_path):
    """``trading-console snapshot import FILE --project P`` in a terminal (or a scheduled job,
    or another window) into the database a window uses: the window's Snapshots panel (and the
    Backtest panel's projects) stayed as they were until a restart. Now the change feed brings
    it: listed under its project, the trader's selection and the targets shown kept, and it can
    be chosen. The window's own import, which the feed reads back, rebuilds the tree once."""
    from services import console_queries as queries
    from services.db import Database

    targets = tmp_path / "momentum.csv"
    targets.write_text(SNAPSHOT_CSV)
    own = tmp_path / "own.csv"
    own.write_text("symbol,weight\nIBM,0.05\nAAPL,0.05\n")

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        view, items = w.snapshots_view, w.snapshot_items_model
        other = Database(console.stack.db.url)
        try:
            await wait_until(lambda: items.rowCount() > 0, 10, "the demo snapshot shown")
            shown, shown_rows = view.current_snapshot_id(), items.rowCount()
            assert shown is not None

            stored = await asyncio.to_thread(queries.import_snapshot, other, targets, "Momentum", actor="cli")
            assert stored.ok and stored.created
            await wait_until(lambda: _listed_snapshots(view).get(stored.snapshot_id) == "Momentum", 10,
                             lambda: f"the other process's snapshot listed: {_listed_snapshots(view)}")
            # the trader's selection is not taken: the snapshot chosen before and its targets stay
            assert view.current_snapshot_id() == shown and items.rowCount() == shown_rows
            backtest_projects = w.backtest_view.projects_list
            await wait_until(lambda: "Momentum" in {backtest_projects.item(i).text()
                                                    for i in range(backtest_projects.count())}, 10,
                             "its project offered in the Backtest panel")
            await wait_until(lambda: any(r.action == "snapshot.import" and r.actor == "cli"
                                         for r in w.audit_model.records()), 10, "the import's audit entry")
            # the new one can be chosen, and its targets are shown
            assert view.select_snapshot(stored.snapshot_id)
            await wait_until(lambda: items.rowCount() == 4, 10, "the imported snapshot's four targets")

            # the window's own import: the feed reads it back, and the tree is not rebuilt again
            rebuilt: list[int] = []
            real_set_projects = view.set_projects
            view.set_projects = lambda *args: (rebuilt.append(1), real_set_projects(*args))
            mine = (await controller.import_snapshot(str(own), "Momentum")).snapshot_id
            assert view.current_snapshot_id() == mine and items.rowCount() == 2
            polls = controller.feed.feed.polls
            await wait_until(lambda: controller.feed.feed.polls >= polls + 3, 10, "three more polls")
            assert rebuilt == [1], "the own import listed once"
            assert view.current_snapshot_id() == mine and items.rowCount() == 2
            assert controller.last_error is None
        finally:
            other.dispose()
            await console.close()

    run(qloop, scenario(), timeout=100)


@pytest.mark.slow  # a whole window: the whole suite, not --quick
@pytest.mark.timeout(120)
def test_the_last_event_time_moves_on_another_process_s_order_too(qloop, open_console):
    """The status bar's "last event" (its tip: the last order, fill or position change) moved
    only on this window's own writer's changes: a run `execute` sent from a terminal filled in
    the blotter under an old time, where the monitor's moves on it."""
    from services.db import Database

    async def scenario():
        console = await open_console()
        w = console.window
        other = Database(console.stack.db.url)
        moved: list[datetime] = []
        try:
            assert await console.controller.runner.drain(timeout=10) == []
            w.connection_status.set_last_event_time = moved.append  # what the label is told, each time
            order_id, fill_id = await asyncio.to_thread(_another_process_books, other, "ZZOTHER")
            await wait_until(lambda: w.orders_model.get(order_id) is not None and w.fills_model.get(fill_id) is not None,
                             10, "the other process's order and fill in the window")
            assert moved, "the window's last event stayed where its own writer left it"
        finally:
            other.dispose()
            await console.close()

    run(qloop, scenario(), timeout=100)


@pytest.mark.slow  # a whole window: the whole suite, not --quick
@pytest.mark.timeout(120)
def test_the_audit_panel_follows_entries_another_process_appends_without_a_state_change(qloop, open_console):
    """A second `trading-console halt` from a terminal while the window is halted already (or
    any entry another process appends that changes no trading state): the audit panel kept its
    list and "Chain verified (N entries)" without it, since only a state change or a snapshot
    made it read the log again. It follows the entries as a monitor does, list and chain alike."""
    from services.audit import AuditLog
    from services.db import Database

    async def scenario():
        console = await open_console()
        w = console.window
        other = Database(console.stack.db.url)
        label = w.audit_view.chain_label
        try:
            assert await console.controller.runner.drain(timeout=10) == []
            before = await asyncio.to_thread(AuditLog(other).count)
            await wait_until(lambda: f"({before} entries)" in label.text(), 10,
                             lambda: f"the chain of {before} verified: {label.text()!r}")
            for n in (1, 2):  # the halt of another process, then its second halt
                entry = await asyncio.to_thread(AuditLog(other).append, "cli", "trading.halt", "trade_settings", 1, {})
                await wait_until(lambda entry=entry: w.audit_model.get(entry.id) is not None, 10,
                                 lambda entry=entry: f"entry {entry.id} of the other process in the audit panel")
                await wait_until(lambda n=n: f"({before + n} entries)" in label.text()
                                 and label.property("state") == "ok", 10,
                                 lambda n=n: f"the chain of {before + n} verified: {label.text()!r}")
            assert console.controller.last_error is None
        finally:
            other.dispose()
            await console.close()

    run(qloop, scenario(), timeout=100)
