"""The Decisions panel: the decision trail of the current preview's plan, of the run chosen in
the blotter's run filter, or of a run asked for by number (services.trail_queries, read in a
worker thread)."""

from __future__ import annotations

from app.controllers.context import ConsoleContext
from app.tasks import UserFacingError
from services.trail_queries import DecisionTrail, TrailNotFound, decision_trail


class DecisionsController:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        view = ctx.window.decisions_view
        view.run_requested.connect(self._on_run_requested)
        combo = ctx.window.blotter_view.run_combo
        combo.currentIndexChanged.connect(lambda _index: self._on_run_selected(combo.currentData()))

    def _on_run_requested(self, run_id: int) -> None:
        self.ctx.runner.run(self.show_run(run_id), what="Show decisions", disable=[self.ctx.window.decisions_view.show_button])

    def _on_run_selected(self, run_id: int | None) -> None:
        if run_id is not None:
            self.ctx.runner.run(self.show_run(int(run_id)), what="Show decisions")

    async def show_run(self, run_id: int) -> DecisionTrail:
        return await self._show(run_id=run_id)

    async def show_plan(self, plan_id: int) -> DecisionTrail:
        """The current preview's decisions (its stored plan)."""
        return await self._show(plan_id=plan_id)

    async def _show(self, **which: int) -> DecisionTrail:
        try:
            trail = await self.ctx.db(decision_trail, self.ctx.stack.db, **which)
        except TrailNotFound as exc:
            raise UserFacingError(str(exc)) from None
        self.ctx.window.decisions_view.set_trail(trail)
        return trail
