"""A paper session's desk, not the demo's (the demo asks for live data): the watchlist says the
quotes are delayed, as the paper profile's default market-data type gives them, and the account
panel keeps itself up to date while connected, with nobody asking it to refresh."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from services.domain import TradeMode
from tests.app.conftest import run, until_console
from tests.app.test_startup import _free_port
from tests.fixtures.ib import wait_for


@pytest.mark.slow  # a whole console start-up against its own simulator
def test_a_paper_session_shows_delayed_quotes_and_the_account_panel_follows_the_account(qloop, console_settings,
                                                                                      monkeypatch):
    import app.controllers.desk as desk_module
    from app.main import Console
    from services.ibsim import IBGatewaySimulator, SimConfig

    monkeypatch.setattr(desk_module, "ACCOUNT_REFRESH_MS", 100)  # the panel's own timer, sooner
    port = _free_port()

    async def scenario():
        sim = IBGatewaySimulator(SimConfig(fill_interval=0.02))
        await sim.start("127.0.0.1", port)
        settings = replace(console_settings, profile="paper", mode=TradeMode.PAPER,
                           ib=replace(console_settings.ib, port=port, account="", market_data_type="delayed"))
        console = Console(settings, demo=False)
        running = asyncio.ensure_future(console.run())
        try:
            await until_console(running, lambda: console.controller is not None and console.controller.loaded
                                and console.stack.provider.is_connected, 45, "the paper session loaded and connected")
            w = console.window
            console.controller.quiet_errors = True

            sim.set_price("MSFT", "400")
            w.watchlist_view.symbol_edit.setText("MSFT")
            w.watchlist_view.symbol_edit.returnPressed.emit()
            await wait_for(lambda: (q := w.quotes_model.get("MSFT")) is not None and q.bid is not None, 10, "MSFT quotes")
            assert w.quotes_model.get("MSFT").kind == "delayed"
            assert w.watchlist_view.data_label.text() == "Market data: delayed"
            assert w.quotes_model.display_text(0, w.quotes_model.DATA) == "delayed"
            # the watchlist's (re)load, as at start-up, keeps the quotes a symbol already has (a
            # symbol added while the start-up loaded lost them until its next tick)
            await console.controller.desk.load()
            assert w.quotes_model.get("MSFT").bid == Decimal("399.99"), w.quotes_model.get("MSFT")

            def net_liquidation() -> str:
                return w.account_view.value("Net liquidation")

            await wait_for(lambda: net_liquidation() not in ("", "—"), 10, "the account's figures, by the panel's timer")
            before = net_liquidation()
            # TWS's own order (another client) fills at the broker: the account's NetLiquidation
            # moves by the spread and slippage it paid, and the panel follows by itself
            from ib_async import IB, MarketOrder, Stock

            other = IB()
            await other.connectAsync("127.0.0.1", port, clientId=9, timeout=10)
            try:
                trade = other.placeOrder(Stock("MSFT", "SMART", "USD"), MarketOrder("BUY", 1000))
                await wait_for(trade.isDone, 10, "the other client's order filled")
            finally:
                other.disconnect()
            await wait_for(lambda: net_liquidation() != before, 10,
                           lambda: f"the panel still shows NetLiquidation {before} after the account changed")
        finally:
            console.window.close()
            await asyncio.wait_for(running, 20)
            await sim.stop()

    run(qloop, scenario(), timeout=90)
