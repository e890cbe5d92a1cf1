"""The window's line after Reconcile with the broker (Ctrl+R), in the real window offscreen
against the simulator: the words of services.execution.reconcile_words, not the report's dict
("Reconciled: {'time': ..., 'open_orders': 0, ...}")."""

from __future__ import annotations

from services.execution.reconcile_words import describe_reconcile
from tests.app.conftest import run
from tests.fixtures.waiting import wait_until


def test_the_reconcile_line_is_said_in_words(qloop, open_console):
    async def scenario():
        console = await open_console()
        w, controller = console.window, console.controller
        try:
            def said() -> list[str]:
                return [e.text for e in w.activity_log.entries() if e.text.startswith("Reconciled")]

            # the connection's own reconciliation at the start is said too (said once)
            assert len(said()) == 1
            w.reconcile_requested.emit()
            await wait_until(lambda: len(said()) == 2, 15, "the reconciliation's line in the activity log")
            await wait_until(lambda: "Reconcile" not in controller.runner.running(), 15, "the reconciliation's end")
            line = said()[-1]
            assert line == describe_reconcile(console.stack.reconciler.last_report)
            assert "{" not in line
        finally:
            await console.close()

    run(qloop, scenario())
