"""Start-up of the window itself (app.main.Console): a paper profile opens on the database while
TWS is down and connects once it comes up; the demo profile brings its own simulator."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from tests.app.conftest import run, until_console
from tests.fixtures.ib import wait_for

pytestmark = pytest.mark.slow  # whole console start-ups, one waiting for a gateway's reconnect backoff


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_paper_profile_waits_for_the_gateway_then_connects(qloop, console_settings, ib_log_guard):
    from app.main import Console

    ib_log_guard.allow(r"API connection failed: ConnectionRefusedError")
    ib_log_guard.allow(r"Make sure API port on TWS/IBG is open")
    from services.ibsim import IBGatewaySimulator, SimConfig

    port = _free_port()
    settings = replace(console_settings, profile="paper", ib=replace(console_settings.ib, port=port, account=""))

    async def scenario():
        console = Console(settings, demo=False)
        running = asyncio.ensure_future(console.run())
        simulator = None
        try:
            await until_console(running, lambda: console.window is not None and console.stack is not None, 60, "window and stack")
            status = console.window.connection_status
            await wait_for(lambda: status.seconds_to_reconnect() is not None, 10, "a reconnect countdown")
            assert not console.stack.provider.is_connected
            assert console.window.windowTitle().endswith("PAPER")
            simulator = IBGatewaySimulator(SimConfig())
            await simulator.start("127.0.0.1", port)
            await wait_for(lambda: console.stack.provider.is_connected, 20, "connected after the gateway came up")
            assert console.stack.provider.account == simulator.config.account
            console.window.close()
            assert await asyncio.wait_for(running, 20) == 0
        finally:
            if not running.done():
                console.window.close()
                await asyncio.wait_for(running, 20)
            if simulator is not None:
                await simulator.stop()

    run(qloop, scenario(), timeout=90)


def test_demo_profile_opens_with_sample_data_and_a_connected_simulator(qloop, console_settings):
    from app.main import Console

    async def scenario():
        console = Console(console_settings, demo=True)
        running = asyncio.ensure_future(console.run())
        try:
            await until_console(running, lambda: console.controller is not None and console.stack.provider.is_connected, 60, "demo up")
            w = console.window
            await wait_for(lambda: w.snapshot_items_model.rowCount() > 0, 10, "a sample snapshot shown")
            assert w.mode_badge.text() == "DEMO"
            assert w.windowTitle().endswith("DEMO")
            assert console.stack.simulator is not None and console.stack.simulator.is_running
        finally:
            console.window.close()
            assert await asyncio.wait_for(running, 20) == 0
        assert not console.stack.simulator.is_running

    run(qloop, scenario(), timeout=60)


def _store_data_source(settings, source: str) -> None:
    """Written around the service, as a value stored before validation existed could be."""
    from app.composition import open_database
    from services.db.repositories.settings import SettingsRepository

    db = open_database(settings)
    try:
        with db.unit_of_work() as session:
            SettingsRepository(session).set_execution_data_source(source)
    finally:
        db.dispose()


def test_paper_profile_with_the_simulator_source_runs_the_built_in_simulator(qloop, console_settings):
    from app.main import Console

    settings = replace(console_settings, profile="paper", ib=replace(console_settings.ib, port=_free_port(), account=""))
    _store_data_source(settings, "simulator")

    async def scenario():
        console = Console(settings, demo=False)
        running = asyncio.ensure_future(console.run())
        try:
            await until_console(running, lambda: console.stack is not None and console.stack.provider.is_connected, 60,
                           "connected to the built-in simulator")
            stack = console.stack
            assert stack.data_source == "simulator" and stack.simulator is not None
            assert stack.endpoint == ("127.0.0.1", stack.simulator.port) and stack.profile == "paper"
        finally:
            console.window.close()
            assert await asyncio.wait_for(running, 20) == 0

    run(qloop, scenario(), timeout=60)


def test_an_unknown_data_source_is_the_start_up_error_of_the_window(qloop, console_settings):
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.main import Console

    settings = replace(console_settings, profile="paper")
    _store_data_source(settings, "bloomberg")

    def error_text() -> str:
        boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
        return boxes[0].text() if boxes else ""

    async def scenario():
        console = Console(settings, demo=False)
        running = asyncio.ensure_future(console.run())
        try:
            await wait_for(lambda: "bloomberg" in error_text() or running.done(), 60, "the start-up error naming the stored value")
            assert "execution_data_source: 'bloomberg' is not one of ib, simulator" in error_text()
            assert console.stack is None
        finally:
            for widget in QApplication.topLevelWidgets():
                if isinstance(widget, QMessageBox):
                    widget.close()
            console.window.close()
            assert await asyncio.wait_for(running, 20) == 5

    run(qloop, scenario(), timeout=60)


def test_a_window_opened_before_the_gateway_shows_a_projects_cash_at_the_stored_rates_then_the_brokers(
        qloop, console_settings, ib_log_guard):
    """Opened while TWS is down, a project holding euros (a capital of 10,000 dollars) shows its
    cash at the rates the console stored last, said as stored rates with their time, rather than
    "no rates yet"; once the gateway is up, the broker's rates (the simulator's EUR 1.10) replace
    them, said as today's."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from app.composition import open_database
    from app.main import Console
    from services.books import BooksService
    from services.db.models import Position
    from services.db.repositories import ProjectRepository
    from services.db.repositories.portfolio import EquityRepository
    from services.ibsim import IBGatewaySimulator, SimConfig
    from widgets.views.positions import ACCOUNT, BOOK

    ib_log_guard.allow(r"API connection failed: ConnectionRefusedError")
    ib_log_guard.allow(r"Make sure API port on TWS/IBG is open")
    port = _free_port()
    settings = replace(console_settings, profile="paper", ib=replace(console_settings.ib, port=port, account=""))
    account = SimConfig().accounts[0]
    db = open_database(settings)
    try:
        with db.unit_of_work() as session:
            project = ProjectRepository(session).get_or_create("alpha")
            session.add(Position(project_id=project.id, project_key=project.id, account=account, symbol="SAP@IBIS:EUR",
                                 currency="EUR", exchange="IBIS", quantity=Decimal(10), average_cost=Decimal(100),
                                 realized_pnl=Decimal(0)))
            EquityRepository(session).store_rates(account, "USD", {"EUR": Decimal("1.20")},
                                                  datetime(2026, 12, 4, 21, 0, tzinfo=UTC))
        BooksService(db, "tester").set_capitals({"alpha": "10000"})
    finally:
        db.dispose()

    def alpha_cell() -> tuple[str, list[str]]:
        tree = console.window.positions_view.tree
        row = next((tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                    if tree.topLevelItem(i).text(BOOK) == "alpha"), None)
        return ("", []) if row is None else (row.text(ACCOUNT), row.toolTip(ACCOUNT).splitlines())

    console = Console(settings, demo=False)

    async def scenario():
        running = asyncio.ensure_future(console.run())
        simulator = None
        try:
            await until_console(running, lambda: console.controller is not None and console.window is not None, 60,
                                "window and controller")
            await wait_for(lambda: alpha_cell()[0] == "capital 10,000.00 · cash 8,800.00", 10,
                           lambda: f"alpha's cash at the stored 1.20 (shown: {alpha_cell()})")
            assert not console.stack.provider.is_connected
            assert "cash in USD at the rates stored 2026-12-04 21:00 UTC (1 EUR = 1.2 USD)" in alpha_cell()[1]
            simulator = IBGatewaySimulator(SimConfig())
            await simulator.start("127.0.0.1", port)
            await wait_for(lambda: alpha_cell()[0] == "capital 10,000.00 · cash 8,900.00", 20,
                           lambda: f"alpha's cash at the broker's 1.10 (shown: {alpha_cell()})")
            assert "cash in USD at today's rates (1 EUR = 1.1 USD)" in alpha_cell()[1]
            console.window.close()
            assert await asyncio.wait_for(running, 20) == 0
        finally:
            if not running.done():
                console.window.close()
                await asyncio.wait_for(running, 20)
            if simulator is not None:
                await simulator.stop()

    run(qloop, scenario(), timeout=90)
