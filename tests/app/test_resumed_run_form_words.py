"""The window's Preview of a run that already sent its plan, with a form that differs from the
run's values, is refused in the form's words (its field labels, Preview in a new run), not the
command line's options (``--lot-size``, ``--new-run``), which the window's trader never typed."""

from __future__ import annotations

import pytest

from tests.app.conftest import run
from tests.fixtures.ib import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)]


def test_a_form_that_differs_from_an_executed_runs_is_refused_in_the_forms_words(qloop, open_console, monkeypatch):
    monkeypatch.setattr("app.controllers.trading.confirm", lambda *a, **k: True)

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
            await wait_for(lambda: len(sim.orders()) == len(preview.drafts), 20, "the run's orders at the simulator")
            await wait_for(lambda: "Execute" not in controller.runner.running() and w.preview_view.preview_button.isEnabled(),
                           20, lambda: f"Execute's end ({controller.runner.running()})")

            w.preview_view.lot_size_edit.setText("10")
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.last_error is not None, 15, "the refusal")
            what, message = controller.last_error
            assert what == "Preview"
            assert f"run {preview.run_id} of this snapshot already has orders" in message
            assert "the form differs from the run's: Lot size: stored 1, given 10." in message
            assert message.endswith("set these fields back to the run's values to preview it again, "
                                    "or use Preview in a new run")
            assert "--" not in message
            assert len(sim.orders()) == len(preview.drafts)  # nothing more sent
        finally:
            await console.close()

    run(qloop, scenario(), timeout=120)
