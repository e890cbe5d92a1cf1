"""The Decisions panel: the decision trail of the current preview's plan (headed as a preview not
sent; when its run already executed another plan, that run's executed trail stays), of the run chosen in
the blotter's run filter, or of a run asked for by number (services.trail_queries, read in a
worker thread); beside it, in its TCA tab, that run's fills against its plan and the same day's
backtest (services.backtest.tca with the price cache's bars, as ``trading-console tca``), read
again when the writer commits a change of that run (a commission report coming after the run
settled: services.backtest.tca.ShownTca says which), a burst of them read once."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from app.controllers.context import ConsoleContext
from app.controllers.newest import NewestAnswer
from app.tasks import UserFacingError
from services.backtest.costs import FillAt
from services.backtest.tca import ShownTca, TcaReport, cached_tca
from services.domain import FillRecord, OrderRecord
from services.run_progress import settled_run_shown
from services.trail_queries import DecisionTrail, TrailNotFound, decision_trail

if TYPE_CHECKING:
    from services.execution.runs import PreviewResult

# a run's commission reports come in a burst (one per execution, the writer's batches apart):
# the TCA tab reads the run again once per burst, not once per report
TCA_REFRESH_MS = 250


class DecisionsController:
    def __init__(self, ctx: ConsoleContext, parent: QObject | None = None) -> None:
        self.ctx = ctx
        self.tca_run_id: int | None = None
        self.trail_run_id: int | None = None  # the run whose trail the panel shows (None: none yet)
        # the run of the trail last asked for, shown once its read comes: what the trader reads
        # (a run settling while it is read does not take the panel from it)
        self._reading: int | None = None
        self._shown_tca = ShownTca()
        self._tca_timer = QTimer(parent)
        self._tca_timer.setSingleShot(True)
        self._tca_timer.setInterval(TCA_REFRESH_MS)
        self._tca_timer.timeout.connect(self._refresh_tca)
        # each panel shows the answer to its newest request: the reads run in worker threads,
        # which finish in any order (a run settling, the run filter and the fill combo all ask)
        self._trail_asked = NewestAnswer()
        self._tca_asked = NewestAnswer()
        view = ctx.window.decisions_view
        view.run_requested.connect(self._on_run_requested)
        combo = ctx.window.blotter_view.run_combo
        combo.currentIndexChanged.connect(lambda _index: self._on_run_selected(combo.currentData()))
        ctx.window.tca_view.fill_changed.connect(self._on_fill_changed)

    def _on_run_requested(self, run_id: int) -> None:
        self.ctx.runner.run(self.show_chosen_run(run_id), what="Show decisions",
                            disable=[self.ctx.window.decisions_view.show_button])

    def _on_run_selected(self, run_id: int | None) -> None:
        if run_id is not None:
            self.ctx.runner.run(self.show_run(int(run_id)), what="Show decisions")
            self.ctx.runner.run(self.show_tca(int(run_id)), what="Show TCA")

    def _on_fill_changed(self, _fill: str) -> None:
        if self.tca_run_id is not None:
            self.ctx.runner.run(self.show_tca(self.tca_run_id), what="Show TCA")

    def stop(self) -> None:
        self._tca_timer.stop()

    def forget_database(self) -> None:
        """The database was replaced under the window (dropped and created again, restored): the
        trail and the TCA shown were the old database's runs and plans; under their ids the new
        one holds another run or none. Both tabs emptied, a read still on its way dropped; a run
        of the new database is shown as at start (a settled run followed, one chosen or asked)."""
        self._trail_asked.ask()
        self._tca_asked.ask()
        self._tca_timer.stop()
        self.trail_run_id = self.tca_run_id = self._reading = None
        self._shown_tca.cleared()
        self.ctx.window.decisions_view.clear()
        self.ctx.window.tca_view.clear()

    def take_changes(self, orders: Iterable[OrderRecord], fills: Iterable[FillRecord]) -> None:
        """What the writer (or another process, through the change feed) committed: the shown
        TCA is read again at the timer when they touch its run."""
        if self._shown_tca.stale_after(orders, fills):
            self._refresh_tca_soon()

    def _refresh_tca_soon(self) -> None:
        if not self._tca_timer.isActive():
            self._tca_timer.start()

    def _refresh_tca(self) -> None:
        if self._shown_tca.run_id is not None:
            self.ctx.runner.run(self.show_tca(self._shown_tca.run_id), what="Show TCA")

    async def show_run(self, run_id: int) -> DecisionTrail:
        return await self._show(run_id, run_id=run_id)

    async def show_chosen_run(self, run_id: int) -> None:
        """The run typed in the panel's chooser: its trail, then its TCA. A run that does not
        exist is a typo, said once, in the panel (DecisionsView.refuse_run), as a field typed
        wrong is in the preview panel: not the task's failure (a modal dialog, a toast and the
        status bar at once); the trail and the TCA shown stay, and the chooser shows their run."""
        try:
            await self.show_run(run_id)
        except UserFacingError as exc:  # TrailNotFound, said as _show words it
            self.ctx.window.decisions_view.refuse_run(str(exc), self.trail_run_id)
            return
        await self.show_tca(run_id)

    async def show_run_and_tca(self, run_id: int) -> None:
        """A followed run that has settled (its orders final, something filled): its trail with
        the state changes and its TCA, where the panel showed its preview's plan or nothing; the
        trail of another run the trader reads stays (services.run_progress.settled_run_shown)."""
        if not settled_run_shown(run_id, self._reading):
            return
        await self.show_run(run_id)
        await self.show_tca(run_id)

    async def show_plan(self, plan_id: int, run_id: int | None = None) -> DecisionTrail:
        """A stored plan's decisions (the trail names it a preview not sent unless its run
        executed it); ``run_id``: its run, when known before the read."""
        return await self._show(run_id, plan_id=plan_id)

    async def show_preview(self, preview: PreviewResult) -> DecisionTrail:
        """A new preview's decisions; when its run already executed another plan (the same
        snapshot previewed again after its run), the run's executed decisions stay: that preview
        can never be sent, and the trader's record of the day is the plan that was."""
        if preview.run_executed_another or preview.plan_id is None:
            return await self.show_run(preview.run_id)
        return await self.show_plan(preview.plan_id, preview.run_id)

    async def show_tca(self, run_id: int) -> TcaReport | None:
        """The run's TCA against the same day's backtest fill (the TCA tab's fill rule); an
        unknown run empties the tab (the decision trail's request names the error)."""
        view = self.ctx.window.tca_view
        ticket = self._tca_asked.ask()
        self._shown_tca.asked()
        try:
            report = await self.ctx.db(cached_tca, self.ctx.stack.db, run_id, FillAt(view.fill()), Decimal(0))
        except LookupError:
            if self._tca_asked.is_newest(ticket):
                self.tca_run_id = None
                self._shown_tca.cleared()
                view.clear()
            return None
        if not self._tca_asked.is_newest(ticket):
            return report
        self.tca_run_id = run_id
        view.set_report(report.to_dict(), self.ctx.stack.profile)
        if self._shown_tca.shown(report):  # committed while it was read: perhaps not in it
            self._refresh_tca_soon()
        return report

    async def _show(self, of_run: int | None, **which: int) -> DecisionTrail:
        """The trail of ``which`` (a run, or a plan) of the run ``of_run`` (None: known once read)."""
        ticket = self._trail_asked.ask()
        if of_run is not None:
            self._reading = of_run
        try:
            trail = await self.ctx.db(decision_trail, self.ctx.stack.db, **which)
        except TrailNotFound as exc:
            if self._trail_asked.is_newest(ticket):
                self._reading = self.trail_run_id  # no such run: the panel keeps the trail it shows
            raise UserFacingError(str(exc)) from None
        if self._trail_asked.is_newest(ticket):
            self._reading = self.trail_run_id = trail.run_id
            self.ctx.window.decisions_view.set_trail(trail)
        return trail

