"""The preview panel shows its newest request's plan, and Execute sends the plan on screen (the
real window, offscreen, demo simulator). A preview's reads finish in worker threads in any
order: an older preview coming back last must not replace a newer one, nor the plan an Execute
is sending; and the panel's buttons stay off while any of its tasks is in flight."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.composition import DEMO_PROJECT
from services.trade_settings import TradeSettingsService
from tests.app.conftest import run
from tests.fixtures.ib import wait_for

# end-to-end in the whole window (a console each): the whole suite, not --quick
pytestmark = pytest.mark.slow


def _hold_first_call(real):
    """``real`` wrapped: its first call waits in its worker thread until ``release`` is set."""
    held, release = threading.Event(), threading.Event()

    def holding(*args, **kwargs):
        if not held.is_set():
            held.set()
            assert release.wait(30), "the test never released the first call"
        return real(*args, **kwargs)

    return holding, held, release


def _shown_orders(w) -> list[tuple[str, str, object]]:
    model = w.preview_model
    return [(d.symbol, str(d.side), d.quantity) for d in (model.record_at(row) for row in range(model.rowCount()))]


def _orders_of(preview) -> list[tuple[str, str, object]]:
    return [(d.symbol, str(d.side), d.quantity) for d in preview.drafts]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_previews_end_does_not_turn_preview_and_execute_on_while_execute_sends(qloop, open_console, monkeypatch):
    """A preview is shown and Execute turns on while the preview's task still reads its decision
    trail; Execute clicked then, the preview's task ending turned Preview and Execute back on in
    the middle of the send: Execute could be clicked again, and a new preview replaced the plan
    being sent on screen."""
    import app.controllers.decisions as decisions

    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)
    holding, trail_held, trail_release = _hold_first_call(decisions.decision_trail)
    monkeypatch.setattr(decisions, "decision_trail", holding)

    async def scenario():
        console = await open_console()
        w, controller, view = console.window, console.controller, console.window.preview_view
        sending = asyncio.Event()
        send_release = asyncio.Event()
        real_execute_plan = console.stack.trade.execute_plan

        async def held_execute_plan(*args, **kwargs):
            sending.set()
            await send_release.wait()
            return await real_execute_plan(*args, **kwargs)

        monkeypatch.setattr(console.stack.trade, "execute_plan", held_execute_plan)
        try:
            await wait_for(lambda: w.snapshot_items_model.rowCount() > 0, 10, "the demo snapshot")
            view.preview_button.click()
            await wait_for(trail_held.is_set, 15, "the preview's decision trail reading")
            preview = controller.current_preview
            assert preview is not None and view.execute_button.isEnabled()  # shown: Execute may send it
            view.execute_button.click()
            await wait_for(sending.is_set, 10, "Execute sending")
            trail_release.set()
            await wait_for(lambda: "Preview" not in controller.runner.running(), 15, "the preview's end")
            # the send is in flight: neither another send nor another preview may start
            assert not view.execute_button.isEnabled() and not view.preview_button.isEnabled()
            view.preview_button.click()
            view.request_new_run_preview()
            assert controller.current_preview is preview and _shown_orders(w) == _orders_of(preview)
            send_release.set()
            await wait_for(lambda: "Execute" not in controller.runner.running(), 20, "the send's end")
            assert controller.current_preview is preview and _shown_orders(w) == _orders_of(preview)
            assert len(console.sim.orders()) == len(preview.drafts)  # the plan on screen, sent once
            assert view.preview_button.isEnabled() and not view.execute_button.isEnabled()  # sent
        finally:
            trail_release.set()
            send_release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_an_older_preview_coming_back_last_does_not_replace_the_newer_one_execute_sends(qloop, open_console,
                                                                                       monkeypatch):
    """Two previews in flight, the form edited between them (lot size 10): the first one's
    answer, held in its thread until the second was shown, must not become the preview on
    screen; Execute stays on for the second, and sends exactly its orders."""
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)

    async def scenario():
        console = await open_console()
        w, controller, view = console.window, console.controller, console.window.preview_view
        holding, held, release = _hold_first_call(TradeSettingsService.read)
        try:
            await wait_for(lambda: w.snapshot_items_model.rowCount() > 0, 10, "the demo snapshot")
            monkeypatch.setattr(TradeSettingsService, "read", holding)  # the preview's read of the risk limits
            older = asyncio.ensure_future(controller.preview(view.params()))
            await wait_for(held.is_set, 15, "the first preview reading")
            view.lot_size_edit.setText("10")
            newer = await controller.preview(view.params())
            assert controller.current_preview is newer and view.execute_button.isEnabled()
            release.set()
            first = await older
            assert first.plan_id != newer.plan_id and _orders_of(first) != _orders_of(newer)
            assert controller.current_preview is newer and _shown_orders(w) == _orders_of(newer)
            assert view.execute_button.isEnabled()  # the form says what the shown plan was built from
            view.execute_button.click()
            sim = console.sim
            await wait_for(lambda: len(sim.orders()) == len(newer.drafts), 20, "the newer plan sent")
            assert sorted((o.symbol, o.quantity) for o in sim.orders()) == sorted(
                (d.symbol, d.quantity) for d in newer.drafts)
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_preview_coming_back_after_another_snapshot_was_selected_is_not_shown(qloop, open_console, monkeypatch,
                                                                               tmp_path):
    """A preview of snapshot A still reading when the trader selects snapshot B: its plan came
    back under B's targets as the preview Execute sends."""
    targets = tmp_path / "second.csv"
    targets.write_text("symbol,weight\nIBM,0.05\nAAPL,0.05\n")

    async def scenario():
        console = await open_console()
        w, controller, view = console.window, console.controller, console.window.preview_view
        tree = w.snapshots_view
        holding, held, release = _hold_first_call(TradeSettingsService.read)
        try:
            await wait_for(lambda: w.snapshot_items_model.rowCount() > 0, 10, "the demo snapshot")
            first = tree.current_snapshot_id()
            outcome = await controller.import_snapshot(str(targets), DEMO_PROJECT)
            second = outcome.snapshot_id
            assert tree.select_snapshot(first)
            await wait_for(lambda: w.snapshot_items_model.rowCount() > 2, 10, "the demo snapshot again")
            monkeypatch.setattr(TradeSettingsService, "read", holding)  # the preview's read of the risk limits
            view.preview_button.click()
            await wait_for(held.is_set, 15, "the preview reading")
            assert tree.select_snapshot(second)
            await wait_for(lambda: w.snapshot_items_model.rowCount() == 2, 10, "the second snapshot's targets")
            release.set()
            await wait_for(lambda: "Preview" not in controller.runner.running(), 15, "the preview's end")
            assert controller.current_preview is None and w.preview_model.rowCount() == 0
            assert not view.execute_button.isEnabled()
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)
