"""The positions panel's model as both windows give it its rows and the project names its tree
heads them with: the trading window (MonitoringController: its writer's changes and the change
feed's) and the monitor window (MonitorController: the change feed's). One way for both; when
the names are read again is the services' rule (services.console_books.names_lacking)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from app.controllers.newest import NewestAnswer
from app.tasks import TaskRunner
from services import console_queries as queries
from services.change_feed import HoldingsSeen
from services.console_books import names_lacking
from services.domain import PositionRecord


class PositionsShown:
    def __init__(self, model, db, runner: TaskRunner) -> None:
        self.model = model  # widgets.models.positions.PositionsModel
        self.db = db
        self.runner = runner
        # each new project's first position asks again: the reads finish in any order, and an
        # older one lacks the project that asked after it
        self._names_asked = NewestAnswer()
        self._holdings = HoldingsSeen()  # what moves "last event": a new mark alone does not

    def load(self, positions: Iterable[PositionRecord], names: Mapping[int, str]) -> None:
        """The first read: the names before the rows, so no row of a known project is headed
        as unnamed, even for a moment."""
        positions = tuple(positions)
        self.model.set_project_names(dict(names))
        self.model.reset(positions)
        self._holdings.load(positions)

    def take(self, positions: Iterable[PositionRecord]) -> bool:
        """Positions written since (the model coalesces them): shown at once, and a project the
        tree cannot name yet (created since the names were read) has them read again in a task
        of its own. Not awaited before the rows are shown: a monitor's batch waited on it, and a
        failed read ended its following of the database for good (every later change unseen).
        Returns whether a holding changed (services.change_feed.HoldingsSeen), not a mark alone."""
        positions = tuple(positions)
        self.model.upsert(positions)
        if names_lacking(positions, self.model.project_names()):
            self.runner.run(self.reload_names(), what="Project names")
        return self._holdings.changed(positions)

    async def reload_names(self) -> None:
        ticket = self._names_asked.ask()
        names = await asyncio.to_thread(queries.project_names, self.db)
        if self._names_asked.is_newest(ticket):  # an older read lacked the project that asked again
            self.model.set_project_names(names)
