"""A send refused (nothing sent), then the read of the run's progress that follows it fails: the
trader saw only the read's error (it was raised in place of the refusal) and never learned why
nothing was sent. Both are said now, the refusal first: in the error the task runner shows and in
the activity log. The real window offscreen, the simulator, SQLite and MariaDB; only the read of
the run's orders is made to fail."""

from __future__ import annotations

from tests.app.conftest import run
from tests.fixtures.ib import wait_for

BROKEN = "the database went away while reading run orders"


def test_a_refused_send_stays_said_when_reading_the_progress_after_it_fails(qloop, open_console, monkeypatch):
    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            w.preview_view.portfolio_edit.setText("100000")
            w.preview_view.preview_button.click()
            await wait_for(lambda: controller.current_preview is not None, 15, "the preview")
            await wait_for(lambda: "Preview" not in controller.runner.running(), 15, "the preview's end")
            plan = controller.current_preview.plan

            async def broken_view(run_id):
                raise RuntimeError(BROKEN)

            monkeypatch.setattr(console.stack.trade, "view", broken_view)
            controller.last_error = None
            # a plan other than the current one confirmed: refused, nothing sent (PreviewSession.send)
            await controller.runner.run(controller.trading.execute(plan.run_id, confirmed_plan=plan.id + 1000),
                                        what="Execute")
            assert controller.last_error is not None, "nothing said"
            what, message = controller.last_error
            assert what == "Execute"
            refusal, _, after = message.partition("; the run's progress could not be read again: ")
            assert refusal.startswith(f"nothing sent: you confirmed plan {plan.id + 1000}"), message  # the old code: BROKEN only
            assert after == BROKEN, message
            assert any(e.text == f"Execute: {message}" for e in w.activity_log.entries())
            assert console.sim.orders() == []
            # the progress follows what it followed before the send: the preview, not sent
            assert controller.trading.progress.run_id is None
            assert w.preview_view.progress.format() == f"plan {plan.id} (run {plan.run_id}) previewed, not sent"
        finally:
            await console.close()

    run(qloop, scenario())
