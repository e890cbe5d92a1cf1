"""A trading window whose MariaDB database is dropped and created again under it (a reset of the
paper database, a restore): it shows the new database's rows, as a monitor does
(tests/app/test_monitor_database_recreated.py), and sends nothing on the old one's rows
meanwhile: its blotter's ids and its preview's run are the old database's, and under the same ids
the new one may hold other orders and another run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.app.test_monitor_database_recreated import _orders
from tests.fixtures.db import PrivateMysqlDatabase
from tests.fixtures.waiting import wait_until

from .conftest import demo_settings, feed_stopped, run

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # a migration twice: over 5 s alone


@pytest.fixture
def recreated_db(private_mysql_db) -> PrivateMysqlDatabase:  # the window's database, dropped and created again
    return private_mysql_db


@pytest.fixture
def console_settings(recreated_db, tmp_path):  # the trading window on that database
    return demo_settings(recreated_db.url, tmp_path)


def test_a_trading_window_reads_a_database_dropped_and_created_again_and_sends_nothing_until_then(
        qloop, open_console, recreated_db):
    """Before, the trading window ignored the feed's replaced batch: the old database's orders
    stayed in its blotter for good (the new one's under an old id replaced that row), its
    preview's run was the old one's, and a Cancel on a row went to whatever order of the new
    database had that id."""
    from services.change_feed import REPLACED_LINE

    url = recreated_db.url
    _orders(url, ["OLD-1", "OLD-2", "OLD-3"], 3)

    async def scenario():
        async with await open_console() as console:
            w, controller = console.window, console.controller

            def refs() -> set[str]:
                return {o.client_order_id for o in w.orders_model.records()}

            said = console.said

            await wait_until(lambda: refs() == {"OLD-1", "OLD-2", "OLD-3"}, 10, lambda: f"the old orders: {refs()}")
            await controller.preview(w.preview_view.params())
            assert controller.current_preview is not None and w.preview_view.execute_button.isEnabled()
            # the window's reading of the new database held (a real read, let go below): what the
            # trader can do between the replacement found and the window read again
            hold, reading = asyncio.Event(), asyncio.Event()
            load = controller.snapshots.load

            async def held_load():
                reading.set()
                await hold.wait()
                await load()
            controller.snapshots.load = held_load

            await asyncio.to_thread(_recreate, recreated_db, ["NEW-1", "NEW-2"])
            await wait_until(reading.is_set, 15, "the replacement found")
            # the old run's preview is gone (run 1 of the new database is another run, or none)
            assert controller.current_preview is None and not w.preview_view.execute_button.isEnabled()
            # a Cancel of an old row (order id 2: OLD-2 on screen, NEW-2 in the new database) is refused
            old_2 = next(o for o in w.orders_model.records() if o.client_order_id == "OLD-2")
            before = len(said())
            w.blotter_view.cancel_requested.emit(old_2.id)
            await wait_until(lambda: any("read again" in line for line in said()[before:]), 5,
                             lambda: f"the cancel refused: {said()[before:]}")
            with console.stack.db.session() as session:
                from services.db.models import TradeOrder
                assert {o.client_order_id: str(o.status) for o in session.query(TradeOrder)} == {
                    "NEW-1": "ACCEPTED", "NEW-2": "ACCEPTED"}
            # an assignment of the old database's unassigned shares is refused too, in its dialog
            from services.books import BooksService
            from services.domain import PositionRecord
            line = PositionRecord(None, "DU1", "AAPL", Decimal(5), Decimal(0), Decimal(0), datetime.now(UTC))
            dialog = controller.books.open_assign(line)
            assigned = await controller.books.assign(dialog, {"symbol": "AAPL", "quantity": "5", "project": "desk",
                                                              "cost": "100", "account": "DU1"})
            try:
                assert assigned is None and "Assign not done" in dialog.error_label.text(), dialog.error_label.text()
            finally:
                dialog.close()
            assert BooksService(console.stack.db, "tester").unassigned("DU1") == []
            hold.set()
            await wait_until(lambda: refs() == {"NEW-1", "NEW-2"}, 15, lambda: f"the new database's orders alone: {refs()}")
            await wait_until(lambda: REPLACED_LINE in said(), 10, lambda: f"the replacement said: {said()[-5:]}")
            w.audit_model.flush()
            await wait_until(lambda: len(w.audit_model.records()) == 1, 15,
                             lambda: f"the new database's audit entry alone: {len(w.audit_model.records())}")
            # (an error said while the database had no tables is the window's honest word: not checked)

    run(qloop, scenario(), timeout=120)


def _recreate(database: PrivateMysqlDatabase, refs: list[str]) -> None:
    """``database`` dropped and created again, holding the orders ``refs`` and one audit entry."""
    database.recreate()
    _orders(database.url, refs, 1)


def test_the_decisions_panel_is_read_again_with_the_database(qloop, open_console, recreated_db):
    """Before, the Decisions panel kept the old database's preview trail and the TCA tab its run
    after the replacement (the blotter, the audit log and the rest were the new one's): a run
    number the new database holds for another run, or none at all, shown as the trader's record."""
    from services.change_feed import REPLACED_LINE

    url = recreated_db.url
    _orders(url, ["OLD-1"], 1)

    async def scenario():
        async with await open_console() as console:
            w, controller = console.window, console.controller
            trail, tca = w.decisions_view, w.tca_view

            said = console.said

            await wait_until(lambda: {o.client_order_id for o in w.orders_model.records()} == {"OLD-1"}, 10,
                             "the old order")
            preview = await controller.preview(w.preview_view.params())
            await controller.decisions.show_run(preview.run_id)
            await controller.decisions.show_tca(preview.run_id)
            assert controller.decisions.trail_run_id == preview.run_id and trail.orders_model.rowCount() > 0
            assert controller.decisions.tca_run_id == preview.run_id and tca.title_label.text() != "No run selected"
            await asyncio.to_thread(_recreate, recreated_db, ["NEW-1"])
            await wait_until(lambda: REPLACED_LINE in said(), 20, lambda: f"the replacement said: {said()[-5:]}")
            # the new database holds no run: nothing of the old one's is shown as the record
            assert controller.decisions.trail_run_id is None and controller.decisions.tca_run_id is None
            assert trail.title_label.text() == "No run or preview selected" and trail.orders_model.rowCount() == 0
            assert tca.title_label.text() == "No run selected" and tca.model.rowCount() == 0

    run(qloop, scenario(), timeout=120)


def test_the_brokers_working_orders_are_reconciled_into_the_new_database_as_at_a_reconnect(
        qloop, open_console, recreated_db):
    """Before, the re-read ended with the new database's rows alone: an order working at the
    broker (it belongs to the account, not to the database) was in no panel until the next
    reconnect's reconciliation, and the window said nothing of it."""
    from decimal import Decimal

    from services.change_feed import REPLACED_LINE
    from services.domain import OrderState, OrderType, Side

    async def scenario():
        async with await open_console() as console:
            w, sim = console.window, console.sim

            said = console.said

            filled = await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(3), OrderType.MKT)
            await wait_until(lambda: (r := w.orders_model.get(filled.id)) is not None and r.status is OrderState.FILLED,
                             10, "the filled order in the blotter")
            limit = (sim.price("AAPL") * Decimal("0.98")).quantize(Decimal("0.01"))  # rests: no walk in tests
            order = await console.stack.actions.manual_order("AAPL", Side.BUY, Decimal(5), OrderType.LMT, limit)
            await wait_until(lambda: (r := w.orders_model.get(order.id)) is not None and r.status is OrderState.ACCEPTED,
                             10, "the working order in the blotter")
            await asyncio.to_thread(_recreate, recreated_db, [])
            await wait_until(lambda: REPLACED_LINE in said(), 20, lambda: f"the replacement said: {said()[-5:]}")

            def working() -> list:
                return [o for o in w.orders_model.records() if o.client_order_id == order.client_order_id]
            await wait_until(lambda: working(), 15, lambda: f"the broker's working order shown: {w.orders_model.records()}")
            assert working()[0].status is OrderState.ACCEPTED and working()[0].quantity == 5
            after = said()[said().index(REPLACED_LINE):]
            await wait_until(lambda: any(line.startswith("Reconciled at ") for line in said()[said().index(REPLACED_LINE):]),
                             10, lambda: f"the reconciliation said: {said()[-5:]}")
            line = next(line for line in said()[said().index(REPLACED_LINE):] if line.startswith("Reconciled at "))
            assert "1 open order at IB" in line and "2 orders placed outside the console recorded" in line, line
            assert not console.controller.ctx.reading_again, after
            # the day's order that filled is the account's too: a whole reconciliation, as the
            # process's first (IB's completed orders asked for), not a reconnect's after one
            w.orders_model.flush()
            w.fills_model.flush()
            shown = {o.client_order_id: o.status for o in w.orders_model.records()}
            assert shown == {order.client_order_id: OrderState.ACCEPTED, filled.client_order_id: OrderState.FILLED}, shown
            fills = w.fills_model.records()
            assert {f.client_order_id for f in fills} == {filled.client_order_id} and sum(f.quantity for f in fills) == 3
            # each row's Time the broker's for the order where it gives one (the filled order's
            # execution), and saying what it is: IB never gives the time an order was placed (the
            # reconciliation's moment made the filled order newer than its own fill)
            from PySide6.QtCore import Qt

            times = {o.client_order_id: o.created_at for o in w.orders_model.records()}
            assert times[filled.client_order_id] == min(f.fill_time for f in fills), (times, fills)
            model = w.orders_model
            tips = [model.data(model.index(row, model.TIME), Qt.ItemDataRole.ToolTipRole) for row in range(model.rowCount())]
            assert len(tips) == 2 and all("recorded from the broker's report" in tip for tip in tips), tips

    run(qloop, scenario(), timeout=120)


def _run_orders(url: str, project: str, runs: int) -> None:
    """``runs`` runs of ``project``, an order each ("<project>-<run id>")."""
    from services.db import Database
    from services.db.repositories import OrderRepository
    from services.db.repositories.projects import ProjectRepository
    from services.db.repositories.runs import RunRepository
    from services.domain import OrderState, Side

    db = Database(url)
    try:
        with db.unit_of_work() as session:
            project_id = ProjectRepository(session).create(project).id
            for _ in range(runs):
                run_id = RunRepository(session).create(project_id).id
                OrderRepository(session).create(f"{project}-{run_id}", "AAPL", Side.BUY, Decimal(1),
                                                status=OrderState.ACCEPTED, account="DU1", run_id=run_id)
    finally:
        db.dispose()


def test_the_blotters_run_filter_is_read_again_with_the_database(qloop, open_console, recreated_db):
    """Before, the run filter kept the old database's runs and their names after the replacement
    (the new database's runs added after them), and a run chosen in it stayed chosen: the new
    database's history was read filtered by a run of the old one (under its id, another run of
    the new database, or none)."""
    from services.change_feed import REPLACED_LINE

    url = recreated_db.url
    _run_orders(url, "alpha", 3)

    async def scenario():
        async with await open_console() as console:
            w = console.window
            blotter = w.blotter_view
            combo = blotter.run_combo

            def refs() -> set[str]:
                return {o.client_order_id for o in w.orders_model.records()}

            def listed() -> list[str]:
                return [combo.itemText(i) for i in range(combo.count())]

            said = console.said

            await wait_until(lambda: refs() == {"alpha-1", "alpha-2", "alpha-3"}, 10, lambda: f"the old orders: {refs()}")
            await wait_until(lambda: len(listed()) == 4 and all("alpha" in t for t in listed()[1:]), 10,
                             lambda: f"the old runs named: {listed()}")
            blotter.set_run_filter(3)  # the trader's choice: the old database's run 3
            await wait_until(lambda: refs() == {"alpha-3"}, 10, lambda: f"run 3's order alone: {refs()}")

            def recreate():
                recreated_db.recreate()
                _run_orders(url, "beta", 1)
            await asyncio.to_thread(recreate)
            await wait_until(lambda: REPLACED_LINE in said(), 20, lambda: f"the replacement said: {said()[-5:]}")
            # the new database's history, unfiltered by a run it never had chosen
            await wait_until(lambda: refs() == {"beta-1"}, 10, lambda: f"the new database's order: {refs()}")
            assert combo.currentData() is None and blotter.proxy.rowCount() == 1
            # its one run, named as the new database names it; none of the old database's
            await wait_until(lambda: len(listed()) == 2 and "beta" in listed()[1], 10,
                             lambda: f"the new database's run alone: {listed()}")
            assert [combo.itemData(i) for i in range(combo.count())] == [None, 1]

    run(qloop, scenario(), timeout=120)


def test_an_open_tickets_verdict_is_dropped_at_a_replacement_and_asked_again_after_the_reading(
        qloop, open_console, recreated_db):
    """Before, an open ticket kept its verdict, checked against the old database's book (its
    positions, working orders, projects), with Send on: once the window had read the new database,
    Send sent on that check until the trader changed a field."""
    from services.change_feed import REPLACED_LINE, TICKET_READING_AGAIN

    async def scenario():
        async with await open_console() as console:
            controller = console.controller
            desk = controller.desk

            said = console.said

            checks: list[bool] = []  # each check the ticket asked the service for: made while reading again?
            check = desk.manual.check

            async def counted_check(ticket):
                checks.append(controller.ctx.reading_again)
                return await check(ticket)
            desk.manual.check = counted_check
            dialog = desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(5)})
            await wait_until(lambda: dialog.send_button.text() == "Send BUY 5 AAPL" and dialog.send_button.isEnabled(),
                             10, lambda: f"a passed verdict: {dialog.verdict_label.text()}")
            old_check, before = desk._last_check, len(checks)
            hold, reading = asyncio.Event(), asyncio.Event()
            load = controller.snapshots.load

            async def held_load():
                reading.set()
                await hold.wait()
                await load()
            controller.snapshots.load = held_load
            await asyncio.to_thread(_recreate, recreated_db, [])
            await wait_until(reading.is_set, 15, "the replacement found")
            # the old database's verdict is gone: Send off, and the ticket says why
            assert not dialog.send_button.isEnabled() and dialog.send_button.text() == "Send"
            assert dialog.verdict_label.text() == TICKET_READING_AGAIN
            assert desk._last_check is None
            dialog.send_button.click()  # nothing goes
            hold.set()
            await wait_until(lambda: REPLACED_LINE in said(), 20, lambda: f"the replacement said: {said()[-5:]}")
            # asked again once the new database is read: a verdict of the new database's book
            await wait_until(lambda: dialog.send_button.isEnabled() and dialog.send_button.text() == "Send BUY 5 AAPL",
                             20, lambda: f"the verdict asked again: {dialog.verdict_label.text()}")
            assert checks[before:] and not any(checks[before:]), checks[before:]
            assert desk._last_check is not None and desk._last_check is not old_check
            assert not any(line.startswith("Sent ") for line in said()), said()

    run(qloop, scenario(), timeout=120)


def test_the_timers_passes_say_calmly_once_that_a_database_being_created_again_did_not_answer(
        qloop, open_console, recreated_db):
    """Before, the equity and marks timer's passes that ran while the new database had no tables
    yet failed as errors ("Position marks failed", its traceback, an error box and an ERROR line
    each pass): an alarm for a state the window's re-read retries and the next pass reads again.
    The automatic recovery's pass too ("Auto-recovery failed": "Table ... trade_settings doesn't
    exist"), until the window's feed finds the database gone."""
    from services.activity_log import Level
    from services.change_feed import PASS_NOT_READ, REPLACED_LINE

    async def scenario():
        async with await open_console() as console:
            w, controller = console.window, console.controller
            monitoring = controller.monitoring

            def said() -> list:
                return list(w.activity_log.entries())

            assert console.stack.provider.is_connected
            await controller.runner.drain()  # the start's audit verification ended (not this test's)
            # the ticks before the window's feed finds the database gone (which ends them silently)
            await feed_stopped(controller)
            before = len(said())
            await asyncio.to_thread(recreated_db.drop)
            await asyncio.to_thread(recreated_db.create, migrated=False)
            for _ in range(6):  # the timers' ticks while the new database's tables are not there yet
                monitoring._sample_equity()
                controller.orders._on_recovery_tick()
                await controller.runner.drain()
            lines = said()[before:]
            assert controller.last_error is None, controller.last_error
            assert not [e.text for e in lines if e.level is Level.ERROR], [e.text for e in lines]
            for what in ("Position marks", "Account value", "Auto-recovery"):  # once each, as a note
                notes = [e for e in lines if e.text == PASS_NOT_READ.format(what=what)]
                assert len(notes) == 1 and notes[0].level is Level.INFO, [e.text for e in lines]
            await asyncio.to_thread(recreated_db.migrate)
            controller.feed.start()
            await wait_until(lambda: REPLACED_LINE in [e.text for e in said()], 20,
                             lambda: f"the replacement said: {[e.text for e in said()[-5:]]}")
            await wait_until(lambda: not controller.ctx.reading_again, 20, "the re-read (and its reconciliation) ended")
            for _ in range(3):  # read again: the passes read it
                monitoring._sample_equity()
                controller.orders._on_recovery_tick()
                await controller.runner.drain()
            assert controller.last_error is None and controller.ctx.not_read_said == set()

    run(qloop, scenario(), timeout=120)


def test_the_order_tickets_project_list_is_read_again_with_the_database(qloop, open_console, recreated_db, tmp_path):
    """Before, the open ticket kept the old database's projects in its list after the
    replacement (the snapshots panel and the rest were the new one's): the trader chose a
    project the database no longer held, and sending made it anew. The list is the new
    database's; a project chosen that is gone gives way to the one the snapshots panel shows, as
    at the ticket's opening."""
    from services.change_feed import REPLACED_LINE
    from services.console_queries import import_snapshot
    from services.db import Database

    url = recreated_db.url
    targets = tmp_path / "targets.csv"
    targets.write_text("symbol,weight\nAAPL,0.05\n")

    def stored(project: str) -> None:
        db = Database(url)
        try:
            assert import_snapshot(db, targets, project, actor="tester").created
        finally:
            db.dispose()

    stored("Old desk")

    async def scenario():
        async with await open_console() as console:
            w = console.window

            said = console.said

            w.ticket_action.trigger()  # F2
            dialog = console.controller.desk.ticket
            combo = dialog.project_combo

            def listed() -> list[str]:
                return [combo.itemText(i) for i in range(combo.count())]

            assert "Old desk" in listed(), listed()
            combo.setCurrentText("Old desk")

            def recreate():
                _recreate(recreated_db, ["NEW-1"])
                stored("New desk")
            # the window's reading of the new database held until it holds its project: the feed
            # can find it replaced as soon as it is migrated, and its reading then listed no
            # project, the line said before "New desk" was stored (2 runs in 8 failed so)
            hold = asyncio.Event()
            load = console.controller.snapshots.load

            async def held_load():
                await hold.wait()
                await load()
            console.controller.snapshots.load = held_load
            await asyncio.to_thread(recreate)
            hold.set()
            await wait_until(lambda: REPLACED_LINE in said(), 20, lambda: f"the replacement said: {said()[-5:]}")
            assert listed() == ["New desk"]
            assert combo.currentText() == "New desk"  # the project shown in the snapshots panel

    run(qloop, scenario(), timeout=120)


def test_an_open_tickets_send_goes_off_as_soon_as_the_window_finds_its_database_gone(qloop, open_console, recreated_db):
    """Before, a database dropped under the window (not created again yet, or created and still
    being migrated) left an open ticket's Send on over the old database's verdict until a new
    database was there to read: a click on it went to the service, which failed on the missing
    tables ("Order not sent: database error: ..."), and the audit panel's refresh after it failed
    as an error too. The window's feed finds the database gone at its next poll: from then on the
    window refuses sending as while it reads a replaced database (ConsoleContext.refused_while_reading)."""
    from services.activity_log import Level
    from services.change_feed import DATABASE_GONE, REPLACED_LINE, TICKET_READING_AGAIN

    async def scenario():
        async with await open_console() as console:
            w, controller = console.window, console.controller
            desk = controller.desk

            def said() -> list:
                return list(w.activity_log.entries())

            dialog = desk.open_ticket({"symbol": "AAPL", "side": "BUY", "quantity": Decimal(5)})
            await wait_until(lambda: dialog.send_button.isEnabled(), 10,
                             lambda: f"a passed verdict: {dialog.verdict_label.text()}")
            before = len(said())
            await asyncio.to_thread(recreated_db.drop)
            await wait_until(lambda: not dialog.send_button.isEnabled(), 10,
                             lambda: f"Send off once the database is found gone: {[e.text for e in said()[before:]]}")
            assert dialog.verdict_label.text() == TICKET_READING_AGAIN and controller.ctx.reading_again
            dialog.send_button.click()  # nothing goes (it is off)
            w.reconcile_requested.emit()  # Trading > Reconcile: the re-read ends with one
            await controller.runner.drain()
            assert any(e.text.startswith("Reconcile not done: ") for e in said()[before:]), [e.text for e in said()[before:]]
            await asyncio.to_thread(recreated_db.create)
            await wait_until(lambda: REPLACED_LINE in [e.text for e in said()], 20,
                             lambda: f"the replacement said: {[e.text for e in said()[-5:]]}")
            await wait_until(lambda: dialog.send_button.isEnabled() and dialog.send_button.text() == "Send BUY 5 AAPL",
                             20, lambda: f"the verdict asked again: {dialog.verdict_label.text()}")
            lines = said()[before:]
            assert [e.text for e in lines].count(DATABASE_GONE) == 1, [e.text for e in lines]
            assert not [e.text for e in lines if e.level is Level.ERROR], [e.text for e in lines]
            assert controller.last_error is None, controller.last_error
            assert not any(e.text.startswith(("Sent ", "Order not sent")) for e in lines), [e.text for e in lines]

    run(qloop, scenario(), timeout=120)


def test_the_audit_panel_says_calmly_a_database_gone_under_it_and_shows_the_new_ones_log(
        qloop, open_console, recreated_db, monkeypatch):
    """Before, a refresh of the audit panel (after an action: a send the missing tables refused, a
    reconciliation) that ran while the database was dropped, or created again without its tables
    yet, failed as an error ("Refresh audit log failed", an error box), where the other panels'
    reads say calmly that the database did not answer or say nothing while the window reads it
    again; and a full verification the database was dropped under ended in "Table ...
    audit_checkpoint doesn't exist", an error too."""
    import threading

    import services.audit as audit_module
    from services.activity_log import Level
    from services.audit import AuditEntry, AuditLog
    from services.change_feed import CHAIN_NOT_READ, REPLACED_LINE
    from services.db import Database

    url = recreated_db.url
    db = Database(url)
    AuditLog(db).append_many([AuditEntry("tester", "trading.halt", "x", n, {"n": n}) for n in range(2_500)])
    db.dispose()

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        view = w.audit_view

        def said() -> list:
            return list(w.activity_log.entries())

        paused, resume = threading.Event(), threading.Event()
        row_hash = audit_module._row_hash

        def held_row_hash(row):  # the full walk held at one entry, as a long walk is busy there
            if row.id == 100 and not paused.is_set():
                paused.set()
                resume.wait(30)
            return row_hash(row)
        try:
            await controller.runner.drain()  # the start's verification ended (not this test's)
            before = len(said())
            monkeypatch.setattr(audit_module, "_row_hash", held_row_hash)
            view.full_verify_requested.emit()  # Verify full chain
            await wait_until(paused.is_set, 15, "the full walk at entry 100")
            await asyncio.to_thread(recreated_db.drop)
            resume.set()
            controller.audit.schedule_refresh()  # as after an action
            await controller.runner.drain()
            assert "dropped or replaced during the check" in view.chain_label.text(), view.chain_label.text()
            # Verify full chain clicked once the window knows the database gone: said, not an error
            await wait_until(lambda: controller.ctx.reading_again, 10, "the window finding its database gone")
            view.full_verify_requested.emit()
            await controller.runner.drain()
            assert CHAIN_NOT_READ in [e.text for e in said()], [e.text for e in said()[before:]]
            assert view.chain_label.text().startswith("Chain not verified"), view.chain_label.text()
            def create():  # one audit entry in the new database
                recreated_db.create()
                _orders(url, [], 1)
            await asyncio.to_thread(create)
            await wait_until(lambda: REPLACED_LINE in [e.text for e in said()], 20,
                             lambda: f"the replacement said: {[e.text for e in said()[-5:]]}")
            await controller.runner.drain()
            w.audit_model.flush()
            await wait_until(lambda: len(w.audit_model.records()) == 1 and view.chain_label.text().startswith("Chain verified"),
                             15, lambda: f"the new database's log: {len(w.audit_model.records())}, {view.chain_label.text()}")
            lines = said()[before:]
            assert controller.last_error is None, controller.last_error
            assert not [e.text for e in lines if e.level is Level.ERROR], [e.text for e in lines]
            assert any("dropped or replaced while it was read" in e.text and e.level is Level.WARNING for e in lines), \
                [e.text for e in lines]
        finally:
            resume.set()
            await console.close()

    run(qloop, scenario(), timeout=120)
