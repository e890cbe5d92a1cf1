"""The positions tree heads each project's lines by its name, in the trading window and in a
monitor window alike (app/controllers/positions.PositionsShown, both windows' one way; when the
names are read again: services.console_books.names_lacking). A project created after the window
loaded (here by another process: its first position comes through the change feed) has the names
read again; a read that fails is said and the window goes on. The monitor awaited that read
inside the feed's batch: once it failed, the monitor stopped following the database for good (no
later change of any kind shown), where the trading window asked again at the project's next
position."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services import console_queries
from services.console_books import UNNAMED, names_lacking
from services.domain import PositionRecord
from tests.fixtures.waiting import wait_until

from .conftest import run
from .test_monitor_mode import open_monitor


def _position(project_id: int | None) -> PositionRecord:
    return PositionRecord(project_id=project_id, account="DU1", symbol="AAPL", quantity=Decimal(1),
                          average_cost=Decimal(100), realized_pnl=Decimal(0), updated_at=datetime.now(UTC))


def test_the_names_are_read_again_only_for_a_project_the_tree_cannot_name():
    names = {1: "alpha"}
    assert not names_lacking([_position(1)], names)
    assert not names_lacking([_position(None)], names)  # the account's line: no project to name
    assert not names_lacking([], names)
    assert names_lacking([_position(1), _position(2)], names)  # project 2 created since the names were read


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["trading", "monitor"])
def test_a_new_projects_position_from_another_process_is_named_after_a_failed_names_read(
        kind, qloop, qtbot, database, db_url, console_settings, open_console, monkeypatch):
    from services.db.repositories import PositionRepository, ProjectRepository

    real_names = console_queries.project_names
    failed: list[int] = []

    def names_failing_once(db):
        if not failed:
            failed.append(1)
            raise RuntimeError("the database went away")
        return real_names(db)

    def write_position(quantity: int) -> int:
        """Another process (``execute``, ``order``) writes a position of project gamma, created now."""
        with database.unit_of_work() as session:
            project_id = ProjectRepository(session).get_or_create("gamma").id
            PositionRepository(session).upsert("DU1", "AAPL", Decimal(quantity), Decimal(100), project_id=project_id)
            return project_id

    async def scenario():
        # the trading window (its harness) or a monitor window: each has .window, .controller, .close()
        opened = await (open_console() if kind == "trading"
                        else open_monitor(qtbot, replace(console_settings, profile="paper")))
        controller, model = opened.controller, opened.window.positions_model

        def shown(project_id: int) -> tuple[str, Decimal] | None:
            record = model.get((project_id, "DU1", "AAPL"))
            return None if record is None else (model.project_label(project_id), record.quantity)

        try:
            monkeypatch.setattr(console_queries, "project_names", names_failing_once)
            gamma = await asyncio.to_thread(write_position, 10)
            await wait_until(lambda: controller.last_error is not None, 20, "the failed names read said")
            assert controller.last_error[0] == "Project names", controller.last_error
            await wait_until(lambda: shown(gamma) == (UNNAMED, Decimal(10)), 10,
                             lambda: f"gamma's line shown, not named yet: {shown(gamma)}")
            # its next position: the names are read again, and this time they come
            await asyncio.to_thread(write_position, 20)
            await wait_until(lambda: shown(gamma) == ("gamma", Decimal(20)), 20,
                             lambda: f"gamma's line named, with its new quantity: {shown(gamma)}")
            assert failed == [1]
        finally:
            await opened.close()

    run(qloop, scenario(), timeout=100)
