"""What every part of the controller shares: the window, the service stack, the task runner, the
session's live word, and the few Qt helpers they all need (status messages, the LIVE dialog)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

from PySide6.QtWidgets import QDialog

from app.composition import ServiceStack
from app.tasks import TaskRunner
from services.activity_log import Level
from services.change_feed import PASS_NOT_READ, READING_AGAIN
from services.live_word import LiveWord
from widgets.dialogs.live_confirm import LiveConfirmDialog

log = logging.getLogger(__name__)


class ConsoleContext:
    def __init__(self, window, stack: ServiceStack, runner: TaskRunner) -> None:
        self.window = window
        # Any: ServiceStack types its parts as plain objects (the composition root builds them)
        self.stack: Any = stack
        self.runner = runner
        self.live_word = LiveWord(stack.mode)
        # the database was found replaced (dropped and created again, restored) and is not read
        # again yet: the window's rows, preview and run are the old one's (``refused_while_reading``)
        self.reading_again = False
        # the reads (a timer's pass, the audit panel's refresh) that said the database did not answer
        self.not_read_said: set[str] = set()

    @staticmethod
    async def db(fn, *args, **kwargs):
        """Database work runs in a worker thread, never on the GUI thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def status(self, text: str, timeout_ms: int = 10_000, level: Level = Level.INFO) -> None:
        """A message for the trader: into the window's activity log, which the status bar and
        the activity panel both show (``timeout_ms`` 0: until the next message)."""
        self.window.activity_log.append(text, level, timeout_ms=timeout_ms)

    def not_read(self, what: str, exc: BaseException) -> None:
        """A read of ``what`` (a timer's pass, the audit panel's refresh) that the database did not
        answer: its tables being created again under the window (a reset, a restore: the re-read
        reads every panel again and says so) or the server away (the writer's health says it). Said
        once, calmly, until ``was_read(what)``: an error box each time ("Position marks failed",
        "Refresh audit log failed") alarmed the trader for a transient state the next read mends."""
        if self.reading_again:  # the re-read reads the panels again, and says so
            log.info("%s: the replaced database not read yet (%s)", what, exc)
            return
        log.warning("%s: the database did not answer (%s); read again at the next refresh", what, exc)
        if what not in self.not_read_said:
            self.not_read_said.add(what)
            self.status(PASS_NOT_READ.format(what=what))

    def was_read(self, what: str) -> None:
        self.not_read_said.discard(what)

    def run_pass(self, work: Callable[[], Awaitable[object]], what: str) -> None:
        """A timer's pass over the database (the equity chart, the position marks, the automatic
        recovery): one the database did not answer (its tables being created again under the
        window, a reset or a restore, which the window's re-read retries; the server away, which
        the writer's health says) is said once, calmly, until a pass reads it again
        (``not_read``): the next pass is the retry. An error box each 5 or 15 s ("Position marks
        failed", "Auto-recovery failed") alarmed the trader for a transient state; any other
        failure is said as a task's is."""
        self.runner.run(self._pass(work, what), what=what)

    async def _pass(self, work: Callable[[], Awaitable[object]], what: str) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            await work()
        except SQLAlchemyError as exc:
            self.not_read(what, exc)
            return
        self.was_read(what)

    def refused_while_reading(self, what: str) -> bool:
        """Whether ``what`` (a sending: a cancel or replace of a row, a preview, an Execute, a
        ticket, a recovery, an assignment of shares; a reconciliation, which the re-read ends with)
        is refused, said, because the window has not read its replaced database again yet: the
        row's id, the preview's run, the ticket's project are the old database's, and the new one
        may hold another order, run or project under them. Halt and Cancel All are not refused:
        they act on what the database holds when they run, and stop."""
        if not self.reading_again:
            return False
        self.status(READING_AGAIN.format(what=what), 10_000, Level.WARNING)
        return True

    def ask_live_token(self, title: str, order_count: int = 0, gross: Decimal = Decimal(0), *,
                       subject: Sequence[tuple[str, str]] | None = None, about: Sequence[tuple[str, str]] = (),
                       currency: str | None = None) -> str | None:
        """The modal LIVE dialog; returns the typed word or None. The service checks it again.
        ``subject``: what is confirmed when it is not a run's orders ((label, text) rows);
        ``about``: rows naming whose orders they are (project, snapshot); ``currency``: the
        gross notional's (not reported: none said). The title is also the button's text. Called
        from a slot, never inside a task (its nested event loop)."""
        dialog = LiveConfirmDialog(self.stack.provider.account or "?", order_count, gross, self.window,
                                   subject=subject, action=title, about=about, currency=currency)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        token = dialog.token()
        self.live_word.arm(token)
        return token

    def token_for_action(self, title: str, *, adds_risk: bool = False,
                         subject: Sequence[tuple[str, str]] = ()) -> tuple[bool, str | None]:
        """(go ahead, token): asks for the word only when the live-word policy says so."""
        must_ask, token = self.live_word.for_action(adds_risk=adds_risk)
        if not must_ask:
            return True, token
        token = self.ask_live_token(title, subject=list(subject) or [("Action", title)])
        return token is not None, token
