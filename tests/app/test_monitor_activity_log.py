"""A monitor's Activity log holds what its status bar says, as the trading window's does: its
controller wrote to the status bar itself (read-only refusals, the database lost and back, errors),
so its Activity log stayed empty; and the fills and rejections other processes wrote were never
in it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.db.models import TradeFill
from tests.fixtures.waiting import wait_until

from .conftest import run

pytestmark = pytest.mark.timeout(120)


def _fill(database, ref: str) -> None:
    from services.db.repositories import OrderRepository
    from services.domain import OrderState, Side

    with database.unit_of_work() as session:
        order = OrderRepository(session).create(ref, "AAPL", Side.BUY, Decimal(5), status=OrderState.FILLED,
                                                account="DU1")
        session.flush()
        session.add(TradeFill(exec_id=f"{ref}.01", exec_base_id=ref, exec_revision=1, order_id=order.id, symbol="AAPL",
                              side="BUY", quantity=Decimal(5), price=Decimal("228.5"), account="DU1",
                              fill_time=datetime.now(UTC)))


def _commission(database, ref: str) -> None:
    with database.unit_of_work() as session:
        session.query(TradeFill).filter(TradeFill.exec_id == f"{ref}.01").update(
            {"commission": Decimal("1.00"), "updated_at": datetime.now(UTC)})


def test_a_monitors_activity_log_holds_its_messages_and_other_processes_fills(
        qloop, qtbot, database, db_url, console_settings):
    from tests.app.test_monitor_mode import open_monitor

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        w = monitor.window

        def texts() -> list[str]:
            return [e.text for e in w.activity_log.entries()]

        try:
            w.blotter_view.cancel_all_clicked.emit()
            assert texts() == ["Monitor (read-only): cancel all is done at the trading workstation"]
            assert w.statusBar().currentMessage() == texts()[-1]  # the bar shows the log's entry
            await asyncio.to_thread(_fill, database, "X-1")
            await wait_until(lambda: any(t.startswith("Fill: ") for t in texts()), 10,
                             lambda: f"the other process's fill in the monitor's log: {texts()}")
            assert [t for t in texts() if t.startswith("Fill")] == ["Fill: BUY 5 AAPL @ 228.50"]
            await asyncio.to_thread(_commission, database, "X-1")
            await wait_until(lambda: any(f.commission is not None for f in w.fills_model.records()), 10,
                             "the fill's commission in the monitor")
            assert [t for t in texts() if t.startswith("Fill")] == ["Fill: BUY 5 AAPL @ 228.50"]  # said once
            assert monitor.controller.last_error is None
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)


def test_a_monitors_activity_log_says_the_halt_and_the_resume_another_process_sets(
        qloop, qtbot, database, db_url, console_settings):
    """Walked under Xvfb: the trading window halted, the monitor's badge turned HALTED but its
    Activity log kept only the fills, no line for the halt (nor, later, the resume), where the
    trading window's log said "Trading HALTED: only cancels go out". The monitor says each change
    in the trading window's words for another process's change, a halt as a warning; the state
    read at opening is the badge's alone."""
    from services.activity_log import Level
    from services.db.repositories.settings import SettingsRepository
    from services.domain import TradingState
    from tests.app.test_monitor_mode import open_monitor

    def set_state(state: TradingState) -> None:
        with database.unit_of_work() as session:
            SettingsRepository(session).set_trading_state(state)

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        w = monitor.window

        def said() -> list[tuple[str, Level]]:
            return [(e.text, e.level) for e in w.activity_log.entries() if e.text.startswith("Trading ")]

        try:
            assert said() == []
            await asyncio.to_thread(set_state, TradingState.HALTED)
            await wait_until(lambda: said(), 10, lambda: f"the halt in the monitor's log: {said()}")
            assert said() == [("Trading HALTED (the trading state in force changed): only cancels go out",
                               Level.WARNING)]
            assert w.statusBar().currentMessage() == said()[-1][0]
            await asyncio.to_thread(set_state, TradingState.ACTIVE)
            await wait_until(lambda: len(said()) == 2, 10, lambda: f"the resume in the monitor's log: {said()}")
            assert said()[1] == ("Trading ACTIVE (the trading state in force changed): new orders and replaces go out",
                                 Level.INFO)
            assert monitor.controller.last_error is None
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)


def test_a_monitor_names_the_accounts_whose_data_it_shows(qloop, qtbot, database, db_url, console_settings):
    """Walked under Xvfb: the monitor's status bar said "no account" over a window of
    DU1234567's orders (it has no broker to name one): it names the accounts of what it read."""
    from tests.app.test_monitor_mode import open_monitor

    _fill(database, "X-1")  # an order of DU1

    async def scenario():
        monitor = await open_monitor(qtbot, replace(console_settings, db_url=db_url, profile="paper"))
        try:
            assert monitor.window.connection_status.account_label.text() == "account DU1"
        finally:
            await monitor.close()

    run(qloop, scenario(), timeout=60)
