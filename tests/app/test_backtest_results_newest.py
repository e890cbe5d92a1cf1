"""The Backtest panel draws the past backtest chosen last (the real window, offscreen): each
choice reads its stored results in a worker thread, and an earlier choice's read finishing last
drew its results and status under the later choice."""

from __future__ import annotations

import asyncio
import threading
from datetime import date

import pytest

from tests.app.conftest import run
from tests.app.test_backtest_panel import _stored_backtest
from tests.fixtures.ib import wait_for

# end-to-end in the whole window (a console each): the whole suite, not --quick
pytestmark = pytest.mark.slow


@pytest.mark.timeout(180)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_an_earlier_choices_results_coming_back_last_are_not_drawn(qloop, open_console, monkeypatch):
    from app.controllers import backtest as controller_module

    real_stored_outcome = controller_module.stored_outcome
    held, release = threading.Event(), threading.Event()

    def first_answered_late(db, backtest_id):
        outcome = real_stored_outcome(db, backtest_id)
        if not held.is_set():
            held.set()
            assert release.wait(30), "the test never released the first read"
        return outcome

    async def scenario():
        console = await open_console()
        panel, view = console.controller.backtest, console.window.backtest_view
        try:
            first = await _stored_backtest(console.stack.db, date(2024, 3, 29), projects=("north",))
            second = await _stored_backtest(console.stack.db, date(2024, 4, 30))
            await panel.list_past()
            monkeypatch.setattr(controller_module, "stored_outcome", first_answered_late)
            earlier = asyncio.ensure_future(panel.show_past(first.backtest_id))
            await wait_for(held.is_set, 10, "the first choice's results read")
            await panel.show_past(second.backtest_id)
            assert panel.past_shown.backtest_id == second.backtest_id
            drawn = view.status_label.text(), view.metrics_table.rowCount()
            release.set()
            await earlier
            assert panel.past_shown.backtest_id == second.backtest_id
            assert (view.status_label.text(), view.metrics_table.rowCount()) == drawn
            assert drawn[0].startswith(f"backtest {second.backtest_id}:") and drawn[1] == 3  # north, south, (total)
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=160)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_past_choices_results_coming_back_after_a_run_ended_are_not_drawn_over_its_results(
        qloop, open_console, monkeypatch, tmp_path):
    from app.controllers import backtest as controller_module
    from tests.app.test_backtest_panel import _files, _fill

    real_stored_outcome = controller_module.stored_outcome
    held, release = threading.Event(), threading.Event()

    def answered_late(db, backtest_id):
        outcome = real_stored_outcome(db, backtest_id)
        held.set()
        assert release.wait(60), "the test never released the read"
        return outcome

    async def scenario():
        console = await open_console()
        panel, view = console.controller.backtest, console.window.backtest_view
        try:
            past = await _stored_backtest(console.stack.db, date(2024, 3, 29), projects=("north",))
            await panel.list_past()
            monkeypatch.setattr(controller_module, "stored_outcome", answered_late)
            chosen = asyncio.ensure_future(panel.show_past(past.backtest_id))
            await wait_for(held.is_set, 10, "the past backtest's results read")
            _fill(view, *_files(tmp_path, date(2024, 3, 29)))
            view.run_button.click()
            await wait_for(lambda: panel.last_outcome is not None, 150, "the run to end")
            ran = panel.last_outcome.backtest_id
            drawn = view.status_label.text(), view.metrics_table.rowCount()
            assert drawn[0].startswith(f"backtest {ran}:") and drawn[1] == 3  # north, south, (total)
            release.set()
            await chosen
            assert (view.status_label.text(), view.metrics_table.rowCount()) == drawn
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=220)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_an_older_past_list_coming_back_last_does_not_lose_a_newer_backtest(qloop, open_console, monkeypatch):
    from app.controllers import backtest as controller_module

    real_list = controller_module.list_backtests
    held, release = threading.Event(), threading.Event()

    def first_answered_late(db):
        listed = real_list(db)
        if not held.is_set():
            held.set()
            assert release.wait(30), "the test never released the first read"
        return listed

    async def scenario():
        console = await open_console()
        panel, view = console.controller.backtest, console.window.backtest_view
        try:
            first = await _stored_backtest(console.stack.db, date(2024, 3, 29), projects=("north",))
            monkeypatch.setattr(controller_module, "list_backtests", first_answered_late)
            older = asyncio.ensure_future(panel.list_past())
            await wait_for(held.is_set, 10, "the first list read")
            second = await _stored_backtest(console.stack.db, date(2024, 3, 29), projects=("north",))
            await panel.list_past()
            assert view.past_ids() == [second.backtest_id, first.backtest_id]
            release.set()
            await older
            assert view.past_ids() == [second.backtest_id, first.backtest_id]
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=160)
