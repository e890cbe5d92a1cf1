"""``--screenshot``'s demo flow (app.main.Console._screenshot_flow) run again on the same data
folder, as a developer reruns it: each start trades a sample snapshot in a run of its own
instead of being refused because an earlier start already sent the day's run, and when the
demo book already holds the newest sample, the other one, so that the screenshot shows fills."""

from __future__ import annotations

import pytest

from tests.app.conftest import run

pytestmark = pytest.mark.slow  # three whole console start-ups, each with its simulator and fills


def _run(db_url: str, run_id: int) -> tuple[str, str, int]:
    """(status, the snapshot's file, orders) of a run."""
    from sqlalchemy import func, select

    from services.db import Database
    from services.db.models import DecisionSnapshot, TradeOrder
    from services.db.repositories.runs import RunRepository

    db = Database(db_url)
    try:
        with db.session() as session:
            row = RunRepository(session).get(run_id)
            orders = session.scalar(select(func.count()).select_from(TradeOrder).where(TradeOrder.run_id == run_id))
            return str(row.status), session.get(DecisionSnapshot, row.snapshot_id).source_file, orders or 0
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

    # the simulator's prices stay where they are, so that what a rerun has to trade is known
    from services.ibsim.server import IBGatewaySimulator

    monkeypatch.setattr(IBGatewaySimulator, "step_prices", lambda self: None)
    first = screenshot("first.png")
    # The rerun's preview has orders to send (sales: a smaller portfolio value than the first
    # start's); in the first start's run, already sent, they were refused (PlanRefused).
    monkeypatch.setattr(app.main, "DEMO_PORTFOLIO_VALUE", app.main.DEMO_PORTFOLIO_VALUE - 20_000)
    second = screenshot("second.png")
    # Again with that value: the book holds the newest sample's targets, so the other sample
    third = screenshot("third.png")
    assert first is not None and second is not None and third is not None and first < second < third
    url = console_settings.db_url
    newest, other = app.main.DEMO_SAMPLES
    assert _run(url, first)[:2] == ("done", newest) and _run(url, first)[2] > 0
    assert _run(url, second)[:2] == ("done", newest) and _run(url, second)[2] > 0
    assert _run(url, third)[:2] == ("done", other) and _run(url, third)[2] > 0
