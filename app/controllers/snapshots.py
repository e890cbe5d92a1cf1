"""The snapshots panel: projects and their snapshots, importing a file, showing a snapshot's
items."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from app.composition import DEMO_PROJECT
from app.controllers.audit import AuditController
from app.controllers.context import ConsoleContext
from app.controllers.newest import NewestAnswer
from app.tasks import UserFacingError
from services import console_queries as queries
from services.activity_log import Level
from services.console_actions import import_snapshot_audited
from services.core.snapshots import project_name


class SnapshotsController:
    def __init__(self, ctx: ConsoleContext, audit: AuditController, on_shown: Callable[[int], None],
                 on_imported: Callable[[], None] | None = None) -> None:
        self.ctx = ctx
        self.audit = audit
        self._on_shown = on_shown  # a snapshot's items are shown (its preview may no longer apply)
        # a snapshot stored: an import can create a project, which the panels choosing projects
        # (the Backtest panel's list) must offer too
        self._on_imported = on_imported
        self.project_names: dict[int, str] = {}
        # the snapshots the tree lists, and one listing read and shown at a time: the change
        # feed reads this window's own import back, and an older read shown over a newer one
        # took the snapshot just imported (and its selection) out of the tree
        self._snapshots: tuple[queries.SnapshotInfo, ...] = ()
        self._listed: set[int] = set()
        self._listing = asyncio.Lock()
        # the snapshot clicked last is the one shown: an earlier click's items read can finish
        # last (worker threads), and showing them under the later selection also told the
        # preview panel that snapshot was the one shown
        self._shown_asked = NewestAnswer()
        self._selecting = False  # a selection this controller makes itself (_select_and_show)
        view = ctx.window.snapshots_view
        view.import_requested.connect(self._on_import_requested)
        view.snapshot_selected.connect(self._on_snapshot_selected)
        view.project_selected.connect(self._on_project_selected)

    async def load(self) -> None:
        """Projects and snapshots; the demo project's first snapshot (or the first one) shown."""
        await self._list()
        await self._show_first()

    async def take_stored(self, snapshot_ids: Iterable[int]) -> bool:
        """Snapshots stored elsewhere (the change feed: ``snapshot import`` in a terminal or a
        scheduled job, another window): listed with their projects, the trader's selection kept
        (the first shown when none was, as at start). False: all were listed already (this
        window's own import, read back by the feed), nothing read again."""
        if not await self._list(wanted=snapshot_ids):
            return False
        if self.ctx.window.snapshots_view.tree.currentItem() is None:
            await self._show_first()
        if self._on_imported is not None:
            self._on_imported()
        return True

    async def _list(self, wanted: Iterable[int] | None = None) -> bool:
        """Projects and snapshots read (off the GUI thread) and listed, unless every snapshot in
        ``wanted`` is listed already (False then)."""
        async with self._listing:
            if wanted is not None and set(wanted) <= self._listed:
                return False
            projects, snapshots = await self.ctx.db(queries.projects_and_snapshots, self.ctx.stack.db)
            self._set_projects(projects, snapshots)
            return True

    async def _show_first(self) -> None:
        """The demo project's newest snapshot (or the newest of all) selected and shown: the
        first listed, newest first by the services' rule (console_queries.snapshot_recency)."""
        snapshots = self._snapshots
        if snapshots:
            demo = next((pid for pid, name in self.project_names.items() if name == DEMO_PROJECT), None)
            first = next((s for s in snapshots if s.project_id == demo), snapshots[0])
            await self._select_and_show(first.id)

    def _set_projects(self, projects, snapshots) -> None:
        self.project_names = {p.id: p.name for p in projects}
        self._snapshots = tuple(snapshots)  # newest first
        self._listed = {s.id for s in snapshots}
        self.ctx.window.snapshots_view.set_projects(projects, snapshots)

    def _on_import_requested(self, path: str, project: str) -> None:
        view = self.ctx.window.snapshots_view
        # Into the project the trader named; else the one selected in the tree (the demo project otherwise).
        project = project_name(project) or self.project_names.get(view.current_project_id()) or DEMO_PROJECT
        self.ctx.runner.run(self.import_file(path, project), what="Import snapshot", disable=[view.import_button])

    async def import_file(self, path: str, project: str) -> queries.ImportOutcome:
        view = self.ctx.window.snapshots_view
        view.clear_import_errors()
        stack = self.ctx.stack
        try:
            outcome = await self.ctx.db(import_snapshot_audited, stack.db, stack.trade.actor, path, project)
        except (OSError, ValueError) as exc:
            said = queries.unreadable_snapshot_line(path, exc)  # the command's words
            view.show_import_errors(path, [said])
            self.ctx.window.bring_forward("snapshots")
            raise UserFacingError(said) from exc
        if not outcome.ok:
            view.show_import_errors(outcome.parsed.source_name, outcome.parsed.errors)
            # the problems are listed in the Snapshots panel, which is often a tab behind the
            # preview: without this the import from the menu seemed to do nothing at all
            self.ctx.window.bring_forward("snapshots")
            # the command's words (refused_import_line), and where the problems are listed
            self.ctx.status(f"{queries.refused_import_line(outcome.parsed)} (listed by line in the Snapshots panel)",
                            15_000, Level.WARNING)
            return outcome
        assert outcome.snapshot_id is not None  # outcome.ok
        # read again unless listed already (the change feed reads this import back too, and the
        # one that lists it tells the Backtest panel): the tree rebuilt once
        listed_now = await self._list(wanted=[outcome.snapshot_id])
        await self._select_and_show(outcome.snapshot_id)
        self.ctx.status(outcome.headline(project))  # the command's words: a file stored already is said so
        if listed_now and self._on_imported is not None:
            self._on_imported()
        await self.audit.refresh()
        return outcome

    async def _select_and_show(self, snapshot_id: int) -> None:
        """``snapshot_id`` selected in the tree and its items shown before this returns. The
        selection's own load (a task, ``_on_snapshot_selected``) is not started as well: asked
        after this read, it made this one's answer old, and an import returned with the items of
        the snapshot shown before still in the table until that task's read came back."""
        self._selecting = True
        try:
            self.ctx.window.snapshots_view.select_snapshot(snapshot_id)
        finally:
            self._selecting = False
        await self.show(snapshot_id)

    def _on_snapshot_selected(self, snapshot_id: int) -> None:
        if self._selecting:  # this controller selected it and shows it itself (_select_and_show)
            return
        self.ctx.runner.run(self.show(snapshot_id), what="Load snapshot")

    def _on_project_selected(self, _project_id: int) -> None:
        """A project's row, no snapshot of it: no items shown (a load still in flight included).
        The table kept the items of the snapshot clicked before under the project's row, while
        Preview asked for a snapshot to be selected (a trader's walk under Xvfb)."""
        self._shown_asked.ask()
        self.ctx.window.snapshot_items_model.reset([])

    async def show(self, snapshot_id: int) -> None:
        ticket = self._shown_asked.ask()
        items = await self.ctx.db(queries.snapshot_items, self.ctx.stack.db, snapshot_id)
        if not self._shown_asked.is_newest(ticket):
            return
        self.ctx.window.snapshot_items_model.reset(items)
        self._on_shown(snapshot_id)
