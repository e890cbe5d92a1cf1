"""A LIVE session in the window: it connects only after the word LIVE, shows LIVE in red, and
asks for the word again before any run is sent; anything else sends nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from services.domain import Side, TradeMode
from tests.app.conftest import run
from tests.app.test_startup import _free_port
from tests.fixtures.ib import wait_for

LIVE_ACCOUNT = "U7654321"


def _live_settings(console_settings, port):
    # live market data: a live run refuses delayed prices (the stale-price rule, issue 12)
    return replace(console_settings, profile="live", mode=TradeMode.LIVE,
                   ib=replace(console_settings.ib, port=port, account="", market_data_type="live"))


def _answer_live_dialog(monkeypatch, typed: str, seen: list):
    from widgets.dialogs.live_confirm import LiveConfirmDialog

    def exec_(dialog):
        seen.append((dialog.account_label.text(), dialog.count_label.text(), dialog.notional_label.text(),
                     [label.text() for label in dialog.about_labels]))
        dialog.token_edit.setText(typed)
        dialog.accept()  # refuses anything but LIVE
        return dialog.result()

    monkeypatch.setattr(LiveConfirmDialog, "exec", exec_)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_live_session_asks_for_the_word_to_connect_and_again_to_execute(qloop, console_settings, monkeypatch):
    from app.composition import SAMPLES_DIR
    from app.main import Console
    from services.ibsim import IBGatewaySimulator, SimConfig

    port = _free_port()

    async def typed_live_at_start(self):
        return "live "  # trimmed, case-insensitive

    monkeypatch.setattr(Console, "ask_live_word", typed_live_at_start)

    async def scenario():
        simulator = IBGatewaySimulator(SimConfig(accounts=(LIVE_ACCOUNT,), fill_interval=0.02))
        await simulator.start("127.0.0.1", port)
        console = Console(_live_settings(console_settings, port), demo=False)
        running = asyncio.ensure_future(console.run())
        try:
            await wait_for(lambda: console.stack is not None and console.stack.provider.is_connected, 20, "live connection")
            w, controller = console.window, console.controller
            controller.quiet_errors = True
            assert w.mode_badge.text() == "LIVE" and "#d62828" in w.mode_badge.styleSheet()
            assert console.stack.provider.account == LIVE_ACCOUNT
            outcome = await controller.import_snapshot(str(SAMPLES_DIR / "momentum_2026-11-20.csv"), "live book")
            assert outcome.ok
            # limit orders above the market (the builder's offset): the risk rules judge them at their limits
            w.preview_view.set_params({"portfolio_value": Decimal("150000"), "order_type": "LMT", "limit_offset_bps": "10"})
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "live preview")
            assert not controller.current_preview.blocked

            seen: list = []
            _answer_live_dialog(monkeypatch, "yes", seen)
            w.preview_view.execute_button.click()
            plan = controller.current_preview.plan
            # the dialog certifies the stored plan: its order count and gross notional
            from widgets.models.base import fmt_money

            # ... and whose it is: several projects trade one account; and what its buys are worth
            # as the risk rules measured them, at their limits (it said the gross at the reference
            # prices alone, a figure the rules did not judge)
            at_limits = sum(o.quantity * o.limit_price for o in plan.orders)
            assert {o.side for o in plan.orders} == {Side.BUY} and at_limits > plan.gross_notional
            assert seen and seen[-1] == (LIVE_ACCOUNT, str(plan.order_count), f"{fmt_money(plan.gross_notional)} USD",
                                         ["live book", "momentum_2026-11-20.csv",
                                          (f"{plan.order_count} orders: at most {fmt_money(at_limits)} USD at their limits "
                                          f"(about {fmt_money(plan.gross_notional)} at the market)")])
            assert "Execute" not in controller.runner.running() and simulator.orders() == []

            _answer_live_dialog(monkeypatch, "LIVE", seen)
            w.preview_view.execute_button.click()
            await wait_for(lambda: len(simulator.orders()) == len(controller.current_preview.drafts), 20, "live orders")
            assert {o.account for o in simulator.orders()} == {LIVE_ACCOUNT}
            # ... and exactly the plan's orders were sent
            assert sorted((o.order_ref, o.symbol, o.quantity) for o in simulator.orders()) == \
                sorted((d.client_order_id, d.symbol, d.quantity) for d in plan.orders)
        finally:
            console.window.close()
            await asyncio.wait_for(running, 20)
            await simulator.stop()

    run(qloop, scenario(), timeout=90)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_a_live_session_without_the_word_stays_offline(qloop, console_settings, monkeypatch):
    from app.main import Console
    from services.ibsim import IBGatewaySimulator, SimConfig

    port = _free_port()

    async def declined(self):
        return None

    monkeypatch.setattr(Console, "ask_live_word", declined)

    async def scenario():
        simulator = IBGatewaySimulator(SimConfig(accounts=(LIVE_ACCOUNT,)))
        await simulator.start("127.0.0.1", port)
        console = Console(_live_settings(console_settings, port), demo=False)
        running = asyncio.ensure_future(console.run())
        try:
            await wait_for(lambda: console.controller is not None
                           and "LIVE not confirmed" in console.window.connection_status.state_label.text(), 20,
                           "the window, offline")
            assert not console.stack.provider.is_connected
            assert simulator.connected_client_ids() == []
            assert "Connect to IB" in console.window.statusBar().currentMessage()

            # Trading -> Connect to IB… asks for the word, saying what it confirms, then connects
            from widgets.dialogs.live_confirm import LiveConfirmDialog

            asked = []

            def exec_(dialog):
                asked.append((dialog.ok_button.text(), dialog.subject_text()))
                dialog.token_edit.setText("LIVE")
                dialog.accept()
                return dialog.result()

            monkeypatch.setattr(LiveConfirmDialog, "exec", exec_)
            console.window.connect_action.trigger()
            await wait_for(lambda: console.stack.provider.is_connected, 20, "connected after the word")
            [(button, subject)] = asked
            assert button == "Start LIVE session" and f"127.0.0.1:{port}" in subject
            assert console.stack.provider.account == LIVE_ACCOUNT
        finally:
            console.window.close()
            await asyncio.wait_for(running, 20)
            await simulator.stop()

    run(qloop, scenario(), timeout=60)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_a_paper_window_records_equity_once_connected_as_serve_does(qloop, console_settings):
    """A paper or live window connects after its stack is built; the equity recorder was started
    only by a stack connected while being built (demo, serve), so the window stored no equity
    snapshot and no marks: its equity chart and a monitor following it stayed empty."""
    from app.main import Console
    from services import console_queries as queries
    from services.ibsim import IBGatewaySimulator, SimConfig

    port = _free_port()

    async def scenario():
        simulator = IBGatewaySimulator(SimConfig(accounts=("DU7654321",), fill_interval=0.02))
        await simulator.start("127.0.0.1", port)
        settings = replace(console_settings, profile="paper", mode=TradeMode.PAPER, ib=replace(console_settings.ib, port=port, account=""))
        console = Console(settings, demo=False)
        running = asyncio.ensure_future(console.run())
        try:
            await wait_for(lambda: console.stack is not None and console.stack.provider.is_connected, 20, "paper connection")
            await wait_for(lambda: len(queries.equity_history(console.stack.db)) >= 1, 15, "a stored equity snapshot")
            assert console.stack.equity is not None
        finally:
            console.window.close()
            await asyncio.wait_for(running, 20)
            await simulator.stop()

    run(qloop, scenario())
