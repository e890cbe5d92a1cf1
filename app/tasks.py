"""Running service coroutines from the GUI: one loop (qasync), no fire-and-forget.

Every task started from a widget intent goes through ``TaskRunner.run``: it keeps a reference to
the task (asyncio only keeps weak ones), disables the buttons that started it until it ends,
logs any failure with its context and hands a user-facing message to ``on_error`` (the main
window shows it in a dialog). Nothing here decides anything about trading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from services.books import BooksError
from services.execution.errors import (
    BadInput,
    PlanRefused,
    Refused,
    RiskBlocked,
    SendingStopped,
    UnknownContract,
)
from services.trade_settings_keys import TradeSettingsError
from services.urls import redact_text

log = logging.getLogger(__name__)


class UserFacingError(Exception):
    """An error whose message is meant for the trader as it is (bad file, wrong token...)."""


# refusals of what the trader typed or chose (an unknown symbol, a limit out of bounds, a risk
# block, a plan too old, a halt, a live order without the word): expected, logged as a warning
# with their message; a traceback is kept for what the code got wrong and for a broker's failure
REFUSALS = (UserFacingError, BadInput, UnknownContract, RiskBlocked, PlanRefused, Refused, SendingStopped, BooksError,
            TradeSettingsError)


class TaskRunner:
    def __init__(self, on_error: Callable[[str, str], None] | None = None) -> None:
        self._tasks: set[asyncio.Task] = set()
        # tasks that run until cancelled (following the database): drain does not wait for them
        self._lasting: set[asyncio.Task] = set()
        self._on_error = on_error

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def running(self) -> list[str]:
        """The names (``what``) of the tasks in flight."""
        return sorted(task.get_name() for task in self._tasks)

    def run(
        self,
        coro: Awaitable[Any],
        *,
        what: str,
        disable: Iterable[Any] = (),
        on_done: Callable[[Any], None] | None = None,
        lasting: bool = False,
    ) -> asyncio.Task:
        """``lasting``: the task runs until it is cancelled (``cancel_all``), so ``drain`` does
        not wait for it."""
        widgets = [w for w in disable if w is not None]
        for widget in widgets:
            widget.setEnabled(False)

        async def guarded() -> Any:
            try:
                result = await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - surfaced, never swallowed: report() logs its traceback
                self.report(what, exc)
                return None
            else:
                if on_done is not None:
                    on_done(result)
                return result
            finally:
                for widget in widgets:
                    try:
                        widget.setEnabled(True)
                    except RuntimeError:  # the widget was deleted while we waited
                        pass

        task = asyncio.ensure_future(guarded())
        task.set_name(what)
        self._tasks.add(task)
        if lasting:
            self._lasting.add(task)

        def finished(done: asyncio.Task) -> None:
            self._tasks.discard(done)
            self._lasting.discard(done)
            if done.cancelled() and asyncio.iscoroutine(coro):
                coro.close()  # cancelled before it started: no "never awaited" warning

        task.add_done_callback(finished)
        return task

    def report(self, what: str, exc: Exception) -> None:
        """A failure said as a task's is: logged with its context (a refusal as a warning), its
        message handed to ``on_error``; for work that goes on after it (FeedFollower)."""
        message = user_message(exc)
        if isinstance(exc, REFUSALS):
            log.warning("%s refused: %s", what, message)
        else:
            log.error("%s failed", what, exc_info=exc)
        if self._on_error is not None:
            self._on_error(what, message)

    async def drain(self, timeout: float = 10.0) -> list[str]:
        """Wait for the tasks in flight, not the lasting ones unless they were cancelled (used at
        shutdown and by tests); returns the names of those still running after ``timeout``,
        said in the log. Waiting for a lasting task (the database follower) made every drain
        of an open window last its whole timeout and say nothing of it."""
        waited = [task for task in self._tasks if task not in self._lasting or task.cancelling()]
        if waited:
            await asyncio.wait(waited, timeout=timeout)
        left = sorted(task.get_name() for task in waited if not task.done())
        if left:
            log.warning("tasks still running after %g s: %s", timeout, ", ".join(left))
        return left

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()


async def dialog_result(dialog) -> int:
    """Show a dialog window-modally and wait for its result without a nested event loop (a
    dialog's ``exec()`` inside a coroutine would run other tasks inside this one's step)."""
    future = asyncio.get_running_loop().create_future()

    def finished(result: int) -> None:
        if not future.done():
            future.set_result(result)

    dialog.finished.connect(finished)
    dialog.open()
    return await future


def user_message(exc: BaseException) -> str:
    """What the window shows: a database failure as its one clear line (no SQLAlchemy link),
    anything else as its text; never a password. The notes added to it on its way up (what
    else went wrong meanwhile: ``BaseException.add_note``) follow it, the error itself first."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        from services.db.errors import describe_db_error

        text = describe_db_error(exc)
    else:
        text = redact_text(str(exc)) or exc.__class__.__name__
    return "; ".join([text, *(redact_text(note) for note in getattr(exc, "__notes__", ()))])
