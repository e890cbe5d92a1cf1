"""``--screenshot``'s demo flow (app.main.Console._screenshot_flow) run again on the same data
folder, as a developer reruns it: each start trades the sample snapshot in a run of its own
instead of being refused because an earlier start already sent the day's run."""

from __future__ import annotations

import pytest

from tests.app.conftest import run

pytestmark = pytest.mark.slow  # two whole console start-ups, each with its simulator and fills


def _run_status(db_url: str, run_id: int) -> str:
    from services.db import Database
    from services.db.repositories.runs import RunRepository

    db = Database(db_url)
    try:
        with db.session() as session:
            return str(RunRepository(session).get(run_id).status)
    finally:
        db.dispose()


def test_a_rerun_on_the_same_data_folder_trades_in_a_new_run(qloop, qtbot, console_settings, tmp_path, monkeypatch):
    import app.main
    from app.main import Console

    def screenshot(name: str) -> int | None:
        console = Console(console_settings, demo=True, screenshot=str(tmp_path / name))
        try:
            code = run(qloop, console.run(), timeout=60)
        finally:
            if console.window is not None:  # a screenshot leaves its window open (the process ends)
                qtbot.addWidget(console.window)
        assert code == 0
        assert (tmp_path / name).stat().st_size > 0
        return console.controller.current_run_id

    first = screenshot("first.png")
    # The rerun's preview has orders to send (sales: a smaller portfolio value than the first
    # start's); in the first start's run, already sent, they were refused (PlanRefused).
    monkeypatch.setattr(app.main, "DEMO_PORTFOLIO_VALUE", app.main.DEMO_PORTFOLIO_VALUE - 20_000)
    second = screenshot("second.png")
    assert first is not None and second is not None and second != first
    assert _run_status(console_settings.db_url, first) == "done"
    assert _run_status(console_settings.db_url, second) == "done"
