"""The audit panel: its entries and the verification of the hash chain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from app.controllers.context import ConsoleContext
from app.controllers.newest import NewestAnswer
from services.audit import ChainVerdict, ChainVerdicts

if TYPE_CHECKING:
    from services.audit import AuditVerification
    from widgets.views.audit import AuditView

AUDIT_ROWS = 5_000  # the newest entries loaded into the panel at start


def show_verification(view: AuditView, result: AuditVerification) -> None:
    """``result`` (services.audit.AuditVerification) on the audit panel in its own words
    (``describe``), the words ``audit verify`` prints: the console and the monitor alike."""
    view.set_chain_state(result.ok, result.describe(short=True), result.describe())


def _show(view: AuditView, verdict: ChainVerdict) -> None:
    view.show_chain_verdict(verdict.state, verdict.label, verdict.details)


class ChainShown:
    """The audit panel's verdict on the chain, one way for the trading window and the monitor:
    each attempt's outcome in the words of services.audit.ChainVerdicts. A verification that
    failed or did not finish left the green "Chain verified (N entries)" of the one before.

    The newest verification asked is the one shown: an older one finishing last said "verified"
    over a newer one's "broken" (the reads run in worker threads). A break is shown whenever it
    comes: it is never undone (a broken walk drops the checkpoint, every later one finds it
    again). A full walk says so while it runs, and its verdict is the one shown when it ends: a
    refresh's walk from the checkpoint asked meanwhile cannot see an old entry altered, so its
    "verified" would have said the full check done while it ran on (a break it finds is shown)."""

    def __init__(self, view: AuditView, url: str | None) -> None:
        self.view, self.url = view, url
        self._asked = NewestAnswer()
        self._verdicts = ChainVerdicts()
        self._full: int | None = None  # the ticket of the newest full walk under way
        self._broken_at = 0  # the ticket of the newest attempt whose break was shown

    async def verify(self, reading: Awaitable[AuditVerification], *, full: bool = False) -> AuditVerification:
        """``reading``: the verification (in a worker thread), a walk of the whole chain if
        ``full``; its error, or its cancellation, is shown and raised on."""
        ticket = self._asked.ask()
        if full:
            self._full = ticket
            _show(self.view, self._verdicts.verifying())
        try:
            result = await reading
        except (Exception, asyncio.CancelledError) as exc:
            if self._shown_when_ended(ticket):
                error = None if isinstance(exc, asyncio.CancelledError) else exc
                _show(self.view, self._verdicts.not_verified(error, self.url))
            raise
        shown = self._shown_when_ended(ticket)
        if not result.ok:
            self._broken_at = max(self._broken_at, ticket)
        # a full walk asked before a break was shown ends "verified": it read that entry before it
        # was altered, and the newer walk's break stays
        if not result.ok or (shown and ticket > self._broken_at):
            _show(self.view, self._verdicts.verified(result))
        return result

    def _shown_when_ended(self, ticket: int) -> bool:
        """Whether the attempt ``ticket``, ended, says its verdict (a break is said whatever):
        the newest full walk's, else the newest attempt's while no full walk runs."""
        if ticket == self._full:
            self._full = None
            return True
        return self._full is None and self._asked.is_newest(ticket)


class AuditController:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self._last_id = 0  # the newest entry the panel shows: refreshes load only newer ones
        view = ctx.window.audit_view
        self.chain = ChainShown(view, ctx.stack.db.url)
        view.full_verify_requested.connect(self._on_full_verify_requested)

    async def load(self) -> None:
        records = await self.ctx.db(self.ctx.stack.audit.list, limit=AUDIT_ROWS, newest_first=True)
        self.ctx.window.audit_model.reset(records)
        self._last_id = max((r.id for r in records), default=0)

    def _on_full_verify_requested(self) -> None:
        view = self.ctx.window.audit_view
        self.ctx.runner.run(self.verify(full=True), what="Verify the full audit chain",
                            disable=[view.full_verify_button])

    async def verify(self, *, full: bool = False):
        return await self.chain.verify(self.ctx.db(self.ctx.stack.audit.verify, full=full), full=full)

    def schedule_refresh(self, _result=None) -> None:
        """After an action (usable as a task's ``on_done``)."""
        self.ctx.runner.run(self.refresh(), what="Refresh audit log")

    async def refresh(self) -> None:
        """The entries newer than the panel's newest, and a verification from the stored
        checkpoint; neither reads the whole chain."""
        records = await self.ctx.db(self.ctx.stack.audit.entries_after, self._last_id, limit=AUDIT_ROWS)
        if records:
            self.ctx.window.audit_model.upsert(records)
            self._last_id = max(self._last_id, records[-1].id)
        await self.verify()
