"""The Positions panel's "Assign to project…": unassigned shares moved into a project's book from
the window, by the service the ``assign`` command calls (services.books.BooksService.assign_typed:
the same assignment, audited). A thin caller: the dialog (widgets.dialogs.assign) is built from
the line and the positions model's project names, its refusals are the service's words."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.controllers.audit import AuditController
from app.controllers.context import ConsoleContext
from services.books import Assignment, BooksError, BooksService
from services.change_feed import READING_AGAIN
from services.domain import PositionRecord
from widgets.dialogs.assign import AssignDialog


class BooksController:
    def __init__(self, ctx: ConsoleContext, audit: AuditController, *,
                 on_assigned: Callable[[], Awaitable[None]]) -> None:
        self.ctx = ctx
        self.audit = audit
        self.on_assigned = on_assigned  # the positions read again: the project's book holds them now
        self.dialog: AssignDialog | None = None  # the one open (tests and a second request read it)
        ctx.window.positions_view.assign_requested.connect(self.open_assign)

    def open_assign(self, line: PositionRecord) -> AssignDialog:
        window = self.ctx.window
        if self.dialog is not None:
            self.dialog.close()
        dialog = self.dialog = AssignDialog(line, window.positions_model.project_names().values(), window)
        dialog.assign_requested.connect(
            lambda fields: self.ctx.runner.run(self.assign(dialog, fields), what="Assign"))
        dialog.open()
        return dialog

    async def assign(self, dialog: AssignDialog, fields: dict) -> Assignment | None:
        if self.ctx.refused_while_reading("Assign"):
            # the line is the old database's (its account's unassigned shares, the project named):
            # nothing is moved in the new one until the window has read it (as every sending)
            dialog.show_refusal(READING_AGAIN.format(what="Assign"))
            return None
        books = BooksService(self.ctx.stack.db, self.ctx.stack.trade.actor)
        try:
            done = await self.ctx.db(books.assign_typed, fields["symbol"], fields["quantity"], fields["project"],
                                     fields["cost"], fields["account"])
        except BooksError as exc:
            dialog.show_refusal(str(exc))
            return None
        dialog.assigned()
        if self.dialog is dialog:
            self.dialog = None
        headline = done.headline()
        self.ctx.status(headline[:1].upper() + headline[1:])
        await self.on_assigned()
        self.audit.schedule_refresh()
        return done
