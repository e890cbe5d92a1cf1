"""The Decisions panel and its TCA tab show the answer to their newest request (the real window,
offscreen, demo simulator): the reads run in worker threads, so an earlier request's answer can
come back after a later one's; it must not replace it. A run settling, the blotter's run filter
and the TCA fill combo each ask, so two requests in flight are the common case."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.app.conftest import run
from tests.fixtures.ib import wait_for

# end-to-end in the whole window (a console each): the whole suite, not --quick
pytestmark = pytest.mark.slow


@pytest.mark.timeout(120)
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_an_older_tca_answer_coming_back_last_does_not_replace_the_newer_one(qloop, open_console, monkeypatch):
    import app.controllers.decisions as decisions

    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)
    real_tca = decisions.cached_tca
    held = threading.Event()
    release = threading.Event()

    def slow_for_the_first(db, run_id, *args):
        if not held.is_set():  # the first request is held until the second has been shown
            held.set()
            assert release.wait(30), "the test never released the first request"
        return real_tca(db, run_id, *args)

    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            await wait_for(lambda: w.snapshot_items_model.rowCount() > 0, 10, "the demo snapshot")
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "preview")
            preview = controller.current_preview
            w.preview_view.execute_button.click()
            sim = console.sim
            await wait_for(lambda: len(sim.orders()) == len(preview.drafts)
                           and all(o.status == "Filled" for o in sim.orders()), 20, "simulator fills")
            await console.stack.writer.flush()
            await wait_for(lambda: controller.decisions.tca_run_id == preview.run_id, 20, "the settled run's TCA")

            monkeypatch.setattr(decisions, "cached_tca", slow_for_the_first)
            older = asyncio.ensure_future(controller.decisions.show_tca(preview.run_id))
            await wait_for(held.is_set, 10, "the first request reading")
            assert await controller.decisions.show_tca(preview.run_id + 1000) is None  # no such run: the tab empties
            assert w.tca_model.rowCount() == 0 and controller.decisions.tca_run_id is None
            release.set()
            await older
            assert w.tca_model.rowCount() == 0 and controller.decisions.tca_run_id is None
        finally:
            release.set()
            await console.close()

    run(qloop, scenario(), timeout=100)


def test_newest_answer_counts_requests():
    from app.controllers.newest import NewestAnswer

    asked = NewestAnswer()
    first = asked.ask()
    assert asked.is_newest(first)
    second = asked.ask()
    assert not asked.is_newest(first) and asked.is_newest(second)
