"""The Backtest panel's controller: the form's values checked by the service (every problem
shown), the backtest run on a worker thread with its own event loop (the window stays
responsive; the engine's database work never touches the GUI thread), progress marshalled back
to the panel, Cancel honoured after the current day (while the broker's bars come, before the
next listing's: nothing is run then; each said as it is clicked), the bar saying a canceled run
so, results drawn. A double-clicked rebalance
is handed to ``show_trail`` (the window's Decisions view, app/controllers/decisions.py). The
past backtests are listed newest first; a chosen one's stored results are read on a worker
thread and handed to the panel as read-only values (``listing.frozen``), nothing run again.
From's and To's placeholders say the days an empty From begins and an empty To ends at, read
off the GUI thread as the ticked projects change (``show_first_day``), and again when the panel
comes into view, when a run ends, and at the listings' next session close while it stays in view
(the last bar moves on at each close)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from app.controllers.newest import NewestAnswer
from app.tasks import TaskRunner
from services.backtest.closing import close_abandoned
from services.backtest.listing import frozen, list_backtests, stored_outcome
from services.backtest.requests import (
    BacktestRequest,
    BadBacktest,
    PreparedBacktest,
    first_stored_day,
    last_bar,
    prepare,
    prepare_from_broker,
    project_names,
    run_backtest,
)
from services.backtest.runner import BacktestOutcome
from services.backtest.summary import CANCELING_A_DOWNLOAD, CANCELING_A_RUN, headline, settings_line
from services.core.bars import DEFAULT_WHAT_TO_SHOW, WHAT_TO_SHOW
from services.execution.errors import NotConnected
from services.price_cache import DownloadCanceled

log = logging.getLogger(__name__)

# The service words its problems for the command (its flags); the panel names its own fields.
_PANEL_WORDS = (
    (re.compile(r"give --prices FILE, --from-broker or --cached"), "give a Prices file, or leave it empty for the broker's bars"),
    (re.compile(r"give --snapshots PATH or --project NAME \(its stored snapshots\)"),
     "give a Snapshots file or folder, or tick a project (its stored snapshots)"),
    (re.compile(r"--(prices|snapshots|initial-cash|fill|commission|rounding|from|to)\b"),
     lambda m: {"prices": "Prices", "snapshots": "Snapshots", "initial-cash": "Initial cash", "fill": "Fill",
                "commission": "Commission", "rounding": "Rounding", "from": "From", "to": "To"}[m[1]]),
    (re.compile(r"--slippage-bps\b"), "Slippage bps"),
    (re.compile(r"--what-to-show\b"), "Broker's bars"),
    (re.compile(r"--lot-size\b"), "Lot size"),
    (re.compile(r"--cash-buffer\b"), "Cash buffer %"),
    (re.compile(r"--project\b"), "project"),
)


@dataclass(frozen=True, slots=True)
class ShownBacktest:
    """A stored backtest as the panel draws it: its results read-only (``listing.frozen``)."""

    backtest_id: int
    headline: str  # the service's line (summary.headline), marked stored
    projects: Mapping[str, Mapping]
    total: Mapping
    settings: str | None = None  # what it ran with (summary.settings_line): the form is the next run's


def _shown(db, backtest_id: int) -> ShownBacktest | None:
    outcome = stored_outcome(db, backtest_id)
    if outcome is None:
        return None
    return ShownBacktest(outcome.backtest_id, headline(outcome, stored=True),
                         frozen(outcome.projects), frozen(outcome.total),
                         settings_line(outcome.backtest_id, outcome.params))


def in_panel_words(problem: str) -> str:
    """A problem as the panel's fields name it: ``--initial-cash -1: ...`` reads ``Initial cash -1: ...``."""
    for pattern, words in _PANEL_WORDS:
        problem = pattern.sub(words, problem)
    return problem


class BacktestController:
    def __init__(self, view, db, runner: TaskRunner, *, provider=None, actor: str = "backtest",
                 status: Callable[[str], None] | None = None,
                 show_trail: Callable[[int], Awaitable[object]] | None = None,
                 on_ran: Callable[[], None] | None = None,
                 now: Callable[[], datetime] | None = None,
                 call_later: Callable[[float, Callable[[], None]], Any] | None = None) -> None:
        self.view = view
        self.db = db
        self.runner = runner
        self.provider = provider  # the window's broker: daily bars when no bar file is given
        self.actor = actor
        self.status = status or (lambda _text: None)
        self._cancel = threading.Event()
        self._downloading = False  # the broker's bars are coming: Cancel stops the download, runs nothing
        self._running = False
        self.last_outcome: BacktestOutcome | None = None
        self.show_trail = show_trail
        # a backtest's runs and plans are audit entries, written on its own thread: the window's
        # audit panel reads new entries after the actions it makes, and went on without them
        self.on_ran = on_ran or (lambda: None)
        self.trails_shown: list[int] = []  # the rebalances' run ids handed to show_trail (tests)
        self.days_seen = 0  # progress reports received (tests)
        self.past_shown: ShownBacktest | None = None  # the past backtest last drawn (tests)
        # the results drawn are the newest asked: a past backtest chosen, another chosen before
        # its read came back, or a run that ended (its own results) after one was chosen
        self._results_asked = NewestAnswer()
        self._list_asked = NewestAnswer()  # the past list is read at start, after each run and failure
        # From's and To's placeholders: the first snapshot's and the last bar's day of the projects
        # ticked, read as they change
        self._first_day_asked = NewestAnswer()
        # the projects they were read for (none: the generic ones), and whether the bars are the broker's
        self._first_day_of: tuple[tuple[str, ...], bool] = ((), True)
        # To's day moves on at the listings' next close: read again then if the panel is still in
        # view (one wake-up a session, none while hidden: showing it reads them anyway). The
        # clock and the timer are the loop's unless given (tests move the time themselves).
        self._now = now or (lambda: datetime.now(UTC))
        self._call_later = call_later or (lambda delay, callback: asyncio.get_running_loop().call_later(delay, callback))
        self._close_wakeup: Any = None  # the armed wake-up (its cancel()), if any
        self._close_at: datetime | None = None  # when it is for
        view.run_requested.connect(self._on_run)
        view.past_chosen.connect(self._on_past)
        view.cancel_requested.connect(self.cancel)
        view.rebalance_activated.connect(self._on_rebalance)
        view.start_inputs_changed.connect(self._on_start_inputs)
        view.panel_shown.connect(self._read_hints_again)
        view.panel_shown.connect(self._list_past_again)
        view.panel_hidden.connect(self._forget_close)
        view.set_bar_series(WHAT_TO_SHOW, DEFAULT_WHAT_TO_SHOW)

    async def load(self) -> None:
        closed = await asyncio.to_thread(close_abandoned, self.db)  # a dead process's backtest: not running
        await self.refresh_projects()
        await self.list_past()
        if closed:
            said = "; ".join(f"backtest {c.id} failed: {c.message}" for c in closed)
            self.view.show_status(said)
            self.status(said)

    async def refresh_projects(self) -> None:
        """The projects a backtest can replay, read again (a snapshot imported into a new one)."""
        self.view.set_projects(await asyncio.to_thread(project_names, self.db))
        values = self.view.values()  # read again: a snapshot imported may begin them earlier
        await self.show_first_day(values["projects"], values["snapshots"], values["prices"])

    def _on_start_inputs(self, projects: tuple[str, ...], snapshots: str | None, prices: str | None) -> None:
        # each keystroke in Snapshots and Prices comes here: read only when the projects' stored
        # snapshots are the input and the projects (or whether the bars are the broker's) changed
        # (a file typed is not read until the run)
        if ((() if snapshots else projects), not prices) != self._first_day_of:
            # asked now, not when the read begins: a change made before then is newer than it
            ticket, wanted, broker_bars = self._ask_first_day(projects, snapshots, prices)
            if wanted:
                self.runner.run(self._read_first_day(ticket, wanted, broker_bars), what="First snapshot")

    def _read_hints_again(self) -> None:
        """From's and To's days read again for the same inputs: the last bar's moves on at each
        session's close, and a panel left open across one said the day before while a run used
        the new one. Read when the panel comes into view, when a run ends (done, canceled,
        failed or refused) and at the listings' next close while it stays in view
        (``_wake_at_close``), never on the GUI thread."""
        values = self.view.values()
        ticket, wanted, broker_bars = self._ask_first_day(values["projects"], values["snapshots"], values["prices"])
        if wanted:
            self.runner.run(self._read_first_day(ticket, wanted, broker_bars), what="First snapshot")

    async def show_first_day(self, projects: tuple[str, ...], snapshots: str | None, prices: str | None = None) -> None:
        """From's placeholder says the day an empty From begins at: the ticked projects' first
        stored snapshot's (``requests.first_stored_day``); To's the day an empty To ends at on the
        broker's bars: their listings' last bar (``requests.last_bar``), both read off the GUI
        thread. The generic ones with a snapshots file or folder given (read at the run, not on
        every keystroke), no project ticked, none stored, or the read failing (it is only a hint:
        the run says why); To's generic one too with a bar file given (its last day is the file's)."""
        await self._read_first_day(*self._ask_first_day(projects, snapshots, prices))

    def _ask_first_day(self, projects: tuple[str, ...], snapshots: str | None,
                       prices: str | None) -> tuple[int, tuple[str, ...], bool]:
        """The projects whose first day (and, on the broker's bars, last bar) to read (none: the
        generic placeholders, said at once), and the ticket that makes any answer still in flight old."""
        ticket = self._first_day_asked.ask()
        wanted, broker_bars = self._first_day_of = (() if snapshots else projects), not prices
        if not wanted:
            self.view.set_first_snapshot(None)
        if not wanted or not broker_bars:
            self.view.set_last_bar(None)
            self._forget_close()  # the generic hint names no day: nothing moves it on
        return ticket, wanted, broker_bars

    async def _read_first_day(self, ticket: int, projects: tuple[str, ...], broker_bars: bool) -> None:
        if not projects:
            return
        try:
            first = await asyncio.to_thread(first_stored_day, self.db, projects)
        except Exception:
            log.warning("the first stored snapshot's day of %s could not be read", ", ".join(projects), exc_info=True)
            first = None
        last = None
        if broker_bars:
            try:
                last = await asyncio.to_thread(last_bar, self.db, projects, now=self._now())
            except Exception:
                log.warning("the last bar's day of %s could not be read", ", ".join(projects), exc_info=True)
        if self._first_day_asked.is_newest(ticket):  # projects ticked meanwhile: their answer is the one shown
            self.view.set_first_snapshot(first)
            if broker_bars:
                self.view.set_last_bar(last.day if last else None)
                self._wake_at_close(last.moves_at if last else None)

    def _wake_at_close(self, moment: datetime | None) -> None:
        """To's day read again at ``moment`` (its listings' next close) if the panel is in view
        then; none armed while it is hidden (showing it reads the day) or with no day to move."""
        self._forget_close()
        if moment is None or not self.view.isVisible():
            return
        self._close_at = moment
        delay = max(0.0, (moment - self._now()).total_seconds())
        self._close_wakeup = self._call_later(delay, self._on_close)

    def _on_close(self) -> None:
        self._close_wakeup = None
        moment, self._close_at = self._close_at, None
        if moment is not None and self._now() < moment:  # a timer may wake a little early: wait out the rest
            self._wake_at_close(moment)
            return
        self._read_hints_again()

    def _forget_close(self) -> None:
        if self._close_wakeup is not None:
            self._close_wakeup.cancel()
        self._close_wakeup = None
        self._close_at = None

    def _on_run(self, values: dict) -> None:
        self.runner.run(self.run(values), what="Backtest")

    def cancel(self) -> None:
        self._cancel.set()
        self.view.show_status(CANCELING_A_DOWNLOAD if self._downloading else CANCELING_A_RUN)

    async def run(self, values: dict):
        view = self.view
        self._cancel.clear()
        self._running = True
        view.set_running(True)
        try:
            try:
                prepared = await self._prepare(BacktestRequest(**values))
            except BadBacktest as exc:
                view.show_problems([in_panel_words(problem) for problem in exc.problems])
                return None
            except NotConnected as exc:
                view.show_problems([f"no bar file, and the broker is not connected ({exc}): connect, or give a bar file"])
                return None
            except DownloadCanceled as exc:  # Cancel while the bars came: nothing run, nothing stored as a backtest
                said = exc.words()
                view.set_progress_canceled()
                view.show_status(said)
                self.status(said)
                return None
            loop = asyncio.get_running_loop()

            def progress(done: int, total: int, day: date) -> None:  # on the backtest's thread
                loop.call_soon_threadsafe(self._progress, done, total, day.isoformat())

            try:
                outcome = await asyncio.to_thread(asyncio.run, run_backtest(self.db, prepared, progress=progress,
                                                                            cancel=self._cancel.is_set, actor=self.actor))
            except Exception:
                view.set_progress_failed()
                await self._list_past_after_failure()  # its row, closed as failed, heads the list
                raise  # the runner says why
            finally:  # done, canceled or failed: the rebalances it made are in the audit log
                self.on_ran()
            await self.list_past(current=outcome.backtest_id)  # first: the rest is said in one go
            self._results_asked.ask()  # a past backtest's read still in flight is not drawn over these
            self.last_outcome = outcome
            view.show_results(outcome.projects, outcome.total)
            view.show_settings(settings_line(outcome.backtest_id, outcome.params))
            if outcome.status == "canceled":
                view.set_progress_canceled()
            # the service's line, with its message (why it was canceled, which rebalances failed:
            # they did not trade): the panel and the status bar say what the `backtest` command prints
            said = headline(outcome)
            view.show_status(said)
            self.status(said)
            return outcome
        finally:
            self._running = False
            view.set_running(False)
            self._read_hints_again()  # the run read the bars to its day: To's hint says the same

    async def _prepare(self, request: BacktestRequest) -> PreparedBacktest:
        """A bar file's prices, else the broker's daily bars through the price cache (only the
        days it lacks are asked for), as the command's ``--prices`` / ``--from-broker``."""
        if request.prices or self.provider is None:
            return await asyncio.to_thread(prepare, self.db, request)
        self.view.show_status(f"daily {request.what_to_show} bars from the broker: the days the price cache lacks…")
        self._downloading = True
        try:
            prepared, report = await prepare_from_broker(self.db, self.provider, request, on_listing=self._bars,
                                                         canceled=self._cancel.is_set)
        finally:
            self._downloading = False
        self.view.show_status(f"price cache: {report.summary()}")  # the command's words (DownloadReport.summary)
        return prepared

    def _bars(self, item) -> None:
        if item.requested:
            self.view.show_status(item.line())  # the `backtest --from-broker` command's words

    async def list_past(self, current: int | None = None) -> None:
        ticket = self._list_asked.ask()
        past = tuple(await asyncio.to_thread(list_backtests, self.db))
        if self._list_asked.is_newest(ticket):  # an older list finishing last lacked the newest backtests
            self.view.set_past_backtests(past, current)

    def _list_past_again(self) -> None:
        """The past list read again when the panel comes into view, the one chosen kept: the
        backtests another process ran since (`trading-console backtest`) were missing from it
        until the window's next run (a trader's walk)."""
        if not self._running:
            self.runner.run(self.list_past(current=self.view.chosen_past()), what="Past backtests")

    async def _list_past_after_failure(self) -> None:
        """The list read again after a backtest failed; a failure of this read is only logged,
        so that the backtest's own error is the one said."""
        try:
            await self.list_past()
        except Exception:
            log.exception("the past backtests could not be read again after a failed backtest")

    def _on_past(self, backtest_id: int) -> None:
        self.runner.run(self.show_past(backtest_id), what="Past backtest")

    async def show_past(self, backtest_id: int) -> None:
        ticket = self._results_asked.ask()
        shown = await asyncio.to_thread(_shown, self.db, backtest_id)
        if not self._results_asked.is_newest(ticket):
            return  # another one was chosen (or a run ended) meanwhile: its results stay
        if shown is None:
            self.view.show_status(f"backtest {backtest_id} no longer exists")
            await self.list_past()
            return
        self.view.show_results(shown.projects, shown.total)
        # the results say the settings they were made with: the form beside them (the last run's,
        # or the trader's edits) is the next run's input, not this backtest's
        self.view.show_settings(shown.settings)
        if not self._running:  # a run under way still counts its days on the bar
            self.view.clear_progress()
        self.view.show_status(shown.headline)
        self.past_shown = shown

    def _progress(self, done: int, total: int, day: str) -> None:
        self.days_seen = done
        self.view.set_progress(done, total, day)

    def _on_rebalance(self, run_id: int) -> None:
        if self.show_trail is not None:
            self.runner.run(self._trail(run_id), what="Decision trail")

    async def _trail(self, run_id: int) -> None:
        assert self.show_trail is not None
        await self.show_trail(run_id)
        self.trails_shown.append(run_id)
