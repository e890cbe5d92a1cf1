"""The audit panel: its entries and the verification of the hash chain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from app.controllers.context import ConsoleContext
from app.controllers.newest import NewestAnswer
from app.tasks import TaskRunner
from services.activity_log import Level
from services.audit import ChainReadInterrupted, ChainVerdict, ChainVerdicts
from services.change_feed import CHAIN_NOT_READ
from services.db.errors import is_database_gone, is_server_unreachable

if TYPE_CHECKING:
    from services.audit import AuditVerification
    from widgets.views.audit import AuditView

AUDIT_LOG = "Audit log"  # the panel, as a read of it the database did not answer names it
AUDIT_ROWS = 5_000  # the newest entries loaded into the panel at start, and at most in one refresh


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

    def __init__(self, view: AuditView, url: str | None, say: Callable[[str], None] | None = None) -> None:
        self.view, self.url = view, url
        self.say = say  # a calm line for the trader (a verification the database went away under)
        self._asked = NewestAnswer()
        self._verdicts = ChainVerdicts()
        self._full: int | None = None  # the ticket of the newest full walk under way
        self._broken_at = 0  # the newest ticket asked when a break was shown: none asked by then undoes it

    async def verify(self, reading: Awaitable[AuditVerification], *, full: bool = False) -> AuditVerification | None:
        """``reading``: the verification (in a worker thread), a walk of the whole chain if
        ``full``; its error, or its cancellation, is shown and raised on; a walk the database was
        dropped or replaced under (ChainReadInterrupted) is shown and said (``say``): None."""
        ticket = self._asked.ask()
        if full:
            self._full = ticket
            _show(self.view, self._verdicts.verifying())
        try:
            result = await reading
        except ChainReadInterrupted as exc:
            # the database dropped or replaced under the walk: neither verified nor broken, said
            # as such and not as a failure (the window reads the new database's chain itself)
            if self._shown_when_ended(ticket):
                _show(self.view, self._verdicts.not_verified(exc, self.url))
            if self.say is None:
                raise
            self.say(str(exc))
            return None
        except (Exception, asyncio.CancelledError) as exc:
            if self._shown_when_ended(ticket):
                error = None if isinstance(exc, asyncio.CancelledError) else exc
                _show(self.view, self._verdicts.not_verified(error, self.url))
            raise
        shown = self._shown_when_ended(ticket)
        if not result.ok:
            # every attempt asked until now may have begun its walk before this break dropped the
            # checkpoint, and then reads "verified" from it: none of them undoes the break (a
            # refresh the change feed asked while a full walk ran came back after the full walk's
            # break and turned it green; seen in a fresh-clone run)
            self._broken_at = max(self._broken_at, self._asked.latest)
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


class AuditShown:
    """The audit panel's entries and chain, one way for the trading window and the monitor: the
    newest ``AUDIT_ROWS`` at start, then the entries newer than the panel's newest (the newest
    ``AUDIT_ROWS`` of a burst: a bounded read), each read followed by a verification from the
    checkpoint (neither reads the whole chain). Read after the window's own actions and whenever
    the change feed says the log grew (``follow``): a second `trading-console halt` from a
    terminal, which changes no trading state, left the panel without its entry and its
    "Chain verified (N entries)" one behind."""

    def __init__(self, model, view: AuditView, audit, runner: TaskRunner, url: str | None, *,
                 say: Callable[[str], None] | None = None,
                 not_read: Callable[[Exception | None], None] | None = None) -> None:
        self.model, self.audit, self.runner = model, audit, runner
        self.chain = ChainShown(view, url, say)
        # a refresh the database did not answer (dropped, being created again, the server away):
        # handed to ``not_read`` (said calmly, read again after) instead of failing as an error;
        # ``not_read(None)`` after a refresh it answered
        self.not_read = not_read
        self._last_id = 0  # the newest entry the panel shows: refreshes load only newer ones
        self._loads = 0  # counts the loads: a refresh read before the newest load is dropped
        self._refreshing = False
        self._again = False  # a refresh asked while one ran: one more after it, not one each

    async def load(self) -> None:
        self._loads += 1
        records = await asyncio.to_thread(self.audit.list, limit=AUDIT_ROWS, newest_first=True)
        self.model.reset(records)
        self._last_id = max((r.id for r in records), default=0)

    async def verify(self, *, full: bool = False) -> AuditVerification | None:
        return await self.chain.verify(asyncio.to_thread(self.audit.verify, full=full), full=full)

    async def refresh(self) -> None:
        loads = self._loads
        records = await asyncio.to_thread(self.audit.entries_after, self._last_id, limit=AUDIT_ROWS)
        if loads != self._loads:
            # the panel was loaded again meanwhile (a database read again): these were read after
            # another database's newest entry, perhaps from that database
            return
        if records:
            self.model.upsert(records)
            self._last_id = max(self._last_id, records[-1].id)
        await self.verify()

    def follow(self, newest: int | None) -> None:
        """The change feed's word that the log grew to ``newest`` (services.change_feed): read
        unless the panel shows it already (the window's own entry, read after its action)."""
        if newest is not None and newest > self._last_id:
            self.schedule_refresh()

    def schedule_refresh(self, _result=None) -> None:
        """A refresh in a task (usable as a task's ``on_done``); asked while one runs, one more
        follows it, however often it was asked: a run's entries landing in bursts start no pile
        of verifications."""
        if self._refreshing:
            self._again = True
            return
        self._refreshing = True
        self.runner.run(self._refresh_until_current(), what="Refresh audit log")

    async def _refresh_until_current(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            again = True
            while again:
                self._again = False
                try:
                    await self.refresh()
                except SQLAlchemyError as exc:
                    if self.not_read is None or not (is_database_gone(exc) or is_server_unreachable(exc)):
                        raise
                    self.not_read(exc)
                    return
                if self.not_read is not None:
                    self.not_read(None)
                again = self._again
        finally:
            self._refreshing = False


class AuditController:
    """The trading window's audit panel (AuditShown) and its Verify full chain button."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        view = ctx.window.audit_view
        self.shown = AuditShown(ctx.window.audit_model, view, ctx.stack.audit, ctx.runner, ctx.stack.db.url,
                                say=lambda text: ctx.status(text, 15_000, Level.WARNING),
                                not_read=self._not_read)
        self.chain = self.shown.chain
        view.full_verify_requested.connect(self._on_full_verify_requested)

    async def load(self) -> None:
        await self.shown.load()

    def _not_read(self, exc: Exception | None) -> None:
        """A refresh the database did not answer said calmly once, as a timer's pass is."""
        if exc is None:
            self.ctx.was_read(AUDIT_LOG)
        else:
            self.ctx.not_read(AUDIT_LOG, exc)

    def _on_full_verify_requested(self) -> None:
        view = self.ctx.window.audit_view
        self.ctx.runner.run(self.verify(full=True), what="Verify the full audit chain",
                            disable=[view.full_verify_button])

    async def verify(self, *, full: bool = False):
        """The chain verified (``full``: from the first entry). Asked while the window knows its
        database gone (ConsoleContext.reading_again: dropped, or created again without its tables),
        a check that finds no table is said calmly (the panel's label says it was not verified):
        the re-read verifies the new database's chain. It was an error box for a known state."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return await self.shown.verify(full=full)
        except SQLAlchemyError as exc:
            if not (self.ctx.reading_again and is_database_gone(exc)):
                raise
            self.ctx.status(CHAIN_NOT_READ, 15_000, Level.WARNING)
            return None

    def follow(self, newest: int | None) -> None:
        self.shown.follow(newest)

    def schedule_refresh(self, _result=None) -> None:
        """After an action (usable as a task's ``on_done``)."""
        self.shown.schedule_refresh()

    async def refresh(self) -> None:
        """The entries newer than the panel's newest, and a verification from the stored
        checkpoint; neither reads the whole chain."""
        await self.shown.refresh()
