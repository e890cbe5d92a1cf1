"""A backtest on the one engine: dated snapshots replayed day by day through the trade service
(``services.execution.runs``: builder, risk rules, plan, order state machine, sender), the one
writer (orders, fills, positions book) and a simulated broker per project filling from bars
(``services.backtest.broker``). Nothing here builds orders, checks risk or books positions: it
walks the exchange calendar, sets the simulated clock, asks the engine to execute each day's
snapshot with the project's equity as its portfolio value, and reads the results.

Projects are isolated: each has its own simulated account (``BACKTEST-<backtest>-<project>``),
its own engine and books; whether it runs alone or with others changes nothing in its numbers.
"""

from __future__ import annotations

import bisect
import gc
import logging
from asyncio import CancelledError
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from services.audit import AuditLog
from services.audit_actions import AuditAction
from services.core.trading_hours import sessions_between
from services.core.wording import counted
from services.db.models import Backtest, TradeRun
from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository
from services.db.repositories.snapshots import BACKTEST_INPUT_NOTE, NewSnapshot
from services.domain import BACKTEST_ACCOUNT_PREFIX, TradeMode
from services.execution.engine import ExecutionEngine
from services.execution.errors import ExecutionError, RiskBlocked
from services.execution.process_identity import own_process

from .broker import BacktestBroker, SimClock, prime_sessions, session_moments
from .checks import check_spec, window
from .closing import close_abandoned, close_backtest, close_failed_run, close_leftovers
from .costs import FillAt, parse_commission
from .failures import FAILED, all_failed, failed_rebalance, failures_line
from .heartbeat import BEAT_EVERY, Heartbeat, closed_elsewhere
from .inputs import DatedSnapshot, left_out_entry
from .metrics import TOTAL, compute_metrics, drawdown_series
from .outcomes import BLOCKED, SENT, left_out_line
from .prices import PriceBook

log = logging.getLogger(__name__)
ORDER_WAIT_SECONDS = 60.0  # the writer books a day's fills in milliseconds; this only bounds a fault


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    initial_cash: Decimal
    fill: FillAt = FillAt.CLOSE
    slippage_bps: Decimal = Decimal(0)
    commission: str = "none"
    builder: dict[str, Any] = field(default_factory=dict)  # rounding, lot_size, cash_buffer, ...
    risk_overrides: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None

    def to_dict(self) -> dict:
        return {"initial_cash": str(self.initial_cash), "fill": str(self.fill), "slippage_bps": str(self.slippage_bps),
                "commission": self.commission, "builder": {k: _as_json(v) for k, v in self.builder.items()},
                "risk_overrides": list(self.risk_overrides),
                "from": self.start.isoformat() if self.start else None, "to": self.end.isoformat() if self.end else None}


def _as_json(value: Any) -> Any:
    """A builder value as JSON says it: a flag a boolean, a whole number a number, an amount its
    exact text (a Decimal), a name its text. Each was its ``str``: the flag "Sell holdings not in
    the snapshot" was stored as "True", and "False" would read as yes to a reader taking it for
    a flag."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(getattr(value, "value", value))  # a Decimal's exact text, an enum's (Rounding) value


@dataclass
class ProjectResult:
    project: str
    project_id: int
    account: str
    equity: list[tuple[date, Decimal]] = field(default_factory=list)
    rebalances: list[tuple[date, int | None, str]] = field(default_factory=list)  # (day, run id or None: none made, outcome)
    blocked: list[dict] = field(default_factory=list)  # {day, run_id, symbol, rule, code, message}
    failed: list[dict] = field(default_factory=list)  # {day, run_id, code, message}: did not trade (failures.py)
    orders: int = 0
    fills: int = 0
    commissions: Decimal = Decimal(0)
    traded_value: Decimal = Decimal(0)

    def first_rebalance(self) -> date | None:
        return min((day for day, _run, _outcome in self.rebalances), default=None)

    def summary(self, initial: Decimal, *, traded_from: date | None = None) -> dict:
        """``traded_from``: where the rates and turnover are measured from; this project's first rebalance
        unless given (the total's: the first of any project's)."""
        drawdown = drawdown_series(initial, self.equity)  # the chart's series and the metric's minimum: measured once
        metrics = compute_metrics(initial, self.equity, self.traded_value, drawdown=drawdown,
                                  traded_from=traded_from or self.first_rebalance())
        days = [d.isoformat() for d, _ in self.equity]  # each day's text once, for both series
        return {
            "project": self.project, "project_id": self.project_id, "account": self.account,
            **metrics.to_dict(), "commissions": str(self.commissions), "orders": self.orders, "fills": self.fills,
            "risk_blocked": self.blocked, "failed_rebalances": self.failed,
            "equity": [[d, str(v)] for d, (_, v) in zip(days, self.equity, strict=True)],
            "drawdown": [[d, x] for d, x in zip(days, drawdown, strict=True)],
            "rebalances": [[d.isoformat(), run_id, outcome] for d, run_id, outcome in self.rebalances],
        }


@dataclass
class BacktestOutcome:
    backtest_id: int
    status: str  # done, canceled (a stored one read back, ``listing.stored_outcome``: also running, failed)
    projects: dict[str, dict]
    total: dict
    days: int
    last_day: date | None = None  # the last day simulated (a canceled backtest stopped after it)
    message: str | None = None  # why it was canceled; which rebalances failed (failures.failures_line)
    params: dict | None = None  # the settings it ran with, as stored (``Backtest.params``; summary.settings_line)


@contextmanager
def _inputs_out_of_full_collections() -> Iterator[None]:
    """What exists when the days start (the price book, the snapshots, the engine's caches: some
    170,000 objects) outlives the run: frozen out of the garbage collector's full passes while it
    lasts. Each full pass walked them all, 0.13-0.25 s of a 2.5 s ten-year run for one or two
    passes; objects made during the run are collected as always, and all are back afterwards.
    Left alone where the process runs its own collection (the window's collector: the automatic
    one off, its survivors already frozen), whose frozen objects this must not unfreeze."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Project:
    def __init__(self, result: ProjectResult, broker: BacktestBroker, engine: ExecutionEngine) -> None:
        self.result = result
        self.broker = broker
        self.engine = engine
        self.waiting_run: int | None = None  # next-open: the run whose orders fill at the next open


class Backtester:
    """``await Backtester(db, prices, snapshots, spec).run()``; ``progress(done, total, day)``
    after every day, ``cancel()`` asked after every day (truthy: stop, results so far kept; a
    string is the reason, stored in the backtest's message). Whatever ends it (done, canceled,
    an exception, a KeyboardInterrupt) the backtest's row is closed and none of its runs is left
    queued or running, none of its orders open (``closing.close_backtest``); if its process
    dies, the next backtest (or anyone reading backtests) closes it (``closing.close_abandoned``;
    from another machine, once its heartbeat is too old: ``heartbeat``)."""

    def __init__(self, db, prices: PriceBook, snapshots: list[DatedSnapshot], spec: BacktestSpec, *,
                 actor: str = "backtest", progress: Callable[[int, int, date], None] | None = None,
                 cancel: Callable[[], bool | str] | None = None, heartbeat_every: float = BEAT_EVERY,
                 on_begin: Callable[[int], None] | None = None) -> None:
        self.db = db
        self.prices = prices
        self.snapshots = snapshots
        self.spec = spec
        self.actor = actor
        self.progress = progress or (lambda _done, _total, _day: None)
        self.cancel = cancel or (lambda: False)
        self.backtest_id: int | None = None
        self.params: dict = {}  # the settings stored with the backtest (its row's ``params``)
        self.heartbeat_every = heartbeat_every  # seconds of wall time between two beats
        self.on_begin = on_begin  # told the backtest's id once its row is stored (a failure can name it)

    async def run(self) -> BacktestOutcome:
        problems = check_spec(self.spec, self.prices, self.snapshots)
        if problems:
            raise ValueError("\n".join(problems))
        start, end = window(self.spec, self.prices, self.snapshots)
        days = sessions_between(start, end)
        prime_sessions(start, end)
        snapshots = [s for s in self.snapshots if start <= s.day <= end]
        close_abandoned(self.db)  # one a dead process left running shows so from now on
        self.backtest_id, ids = self._begin(snapshots)
        if self.on_begin is not None:
            self.on_begin(self.backtest_id)
        clock = SimClock(datetime.combine(days[0], datetime.min.time(), UTC))
        projects: dict[str, _Project] = {}
        by_day = self._schedule(days, snapshots)
        status, message, last_day = "done", None, None
        simulated = 0  # the days walked: all of them, or those before a cancel
        heartbeat = Heartbeat(self.db, self.backtest_id, every=self.heartbeat_every)  # its process lives: for looks from another machine
        try:
            projects.update(await self._open_projects(ids, clock))
            with _inputs_out_of_full_collections():
                for index, day in enumerate(days):
                    await self._day(day, clock, projects, by_day.get(day, []), ids)
                    last_day, simulated = day, index + 1
                    heartbeat.beat()
                    self.progress(index + 1, len(days), day)
                    asked = self.cancel()
                    if asked and index + 1 < len(days):
                        status = "canceled"
                        message = f"canceled at {day}" + (f": {asked}" if isinstance(asked, str) else "")
                        break
                await self._finish_pending(clock, projects)
                # the results too while the inputs are frozen: their thousands of small lists made
                # a full collection walk the price book here (0.1 s, in a process running its second
                # or third backtest)
                initial = self.spec.initial_cash
                per_project = {p.result.project: p.result.summary(initial) for p in projects.values()}
                total = _total(projects, initial)
                # a snapshot of a day another replaced is named, not dropped without a word
                # (every snapshot given: one dated outside the days simulated replaced its day's others too)
                traded_on = {id(snap): on for on, snaps in by_day.items() for snap in snaps}
                left_out = {name: [left_out_entry(snap, traded_on.get(id(snap))) for snap in self.snapshots
                                   if snap.project == name and snap.left_out] for name in per_project}
                for name, entries in left_out.items():
                    per_project[name]["left_out_snapshots"] = entries
                # a rebalance that did not trade is said with the backtest, not only in its outcome
                for said in (left_out_line([dict(e, project=name) for name, entries in left_out.items() for e in entries]),
                             failures_line(all_failed(per_project))):
                    if said:
                        message = f"{message}; {said}" if message else said
        except BaseException as exc:
            await self._close(projects)
            # an interrupt (a second Ctrl-C, the task canceled) is a cancel, anything else a failure
            interrupted = isinstance(exc, (KeyboardInterrupt, CancelledError))
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if not self._end("canceled" if interrupted else "failed", {},
                             (f"canceled after {last_day or 'no day'}: " if interrupted else "") + reason):
                close_leftovers(self.db, self.backtest_id)  # closed elsewhere: what it opened since
            raise
        await self._close(projects)
        # the days simulated: a backtest canceled at day 1,197 of 3,754 said "3754 trading days"
        # beside an equity series of 1,197 (a trader's walk of the window and `backtests`)
        results = {"projects": per_project, "total": total, "days": simulated}
        if not self._end(status, results, message):
            raise closed_elsewhere(self.db, self.backtest_id)  # its row says why; these results are not stored
        return BacktestOutcome(self.backtest_id, status, per_project, total, simulated, last_day, message,
                               dict(self.params))

    # ------------------------------------------------------------------ setup
    def _begin(self, snapshots: list[DatedSnapshot]) -> tuple[int, dict[tuple[str, date], tuple[int, int]]]:
        """The backtest's row and every input snapshot stored in its project (an identical stored
        one is reused): (backtest id, (project, day) -> (project id, snapshot id))."""
        ids: dict[tuple[str, date], tuple[int, int]] = {}
        with self.db.unit_of_work() as session:
            self.params = {**self.spec.to_dict(), "projects": sorted({s.project for s in snapshots})}
            row = Backtest(status="running", params=self.params,
                           heartbeat_at=datetime.now(UTC),
                           **own_process())  # who runs it: closed by the next look if it dies
            session.add(row)
            session.flush()
            projects = ProjectRepository(session)
            # a project's id looked up once (in the order the snapshots name them), not once per snapshot
            project_ids = {name: projects.get_or_create(name).id for name in dict.fromkeys(s.project for s in snapshots)}
            new = [s for s in snapshots if s.snapshot_id is None]
            stored = iter(SnapshotRepository(session).store_once([NewSnapshot(
                project_ids[s.project], s.source_name, s.content_hash,
                (SnapshotItemInput(i.symbol, i.weight, i.score, i.rank, i.price, i.sec_type, i.exchange, i.currency,
                                   i.primary_exchange or None) for i in s.items))  # made only when stored
                for s in new], note=BACKTEST_INPUT_NOTE))
            replayed = []
            for snap in snapshots:
                snapshot_id = snap.snapshot_id if snap.snapshot_id is not None else next(stored)
                ids[(snap.project, snap.day)] = (project_ids[snap.project], snapshot_id)
                replayed.append([snap.project, snap.day.isoformat(), snapshot_id, snap.content_hash, snap.source_name])
            # what it replays is on the record with the backtest, the snapshots it stored among them
            # (as the trader's imports are: ``snapshot.import``), in the same transaction
            AuditLog(self.db).append(self.actor, AuditAction.BACKTEST_START, "backtest", row.id,
                                     {"params": row.params, "projects": sorted(project_ids), "snapshots": replayed},
                                     session=session)
            return row.id, ids

    async def _open_projects(self, ids, clock: SimClock) -> dict[str, _Project]:
        projects: dict[str, _Project] = {}
        for (name, _day), (project_id, _snapshot) in sorted(ids.items()):
            if name in projects:
                continue
            account = f"{BACKTEST_ACCOUNT_PREFIX}{self.backtest_id}-{project_id}"
            broker = BacktestBroker(account, self.prices, clock, cash=self.spec.initial_cash, fill=self.spec.fill,
                                    slippage_bps=self.spec.slippage_bps, commission=parse_commission(self.spec.commission))
            engine = ExecutionEngine(self.db, broker, actor=self.actor, ack_timeout=ORDER_WAIT_SECONDS, clock=clock)
            await engine.start()
            projects[name] = _Project(ProjectResult(name, project_id, account), broker, engine)
        return projects

    @staticmethod
    def _schedule(days: list[date], snapshots: list[DatedSnapshot]) -> dict[date, list[DatedSnapshot]]:
        """Each snapshot on its day's session, or the next session when its date is a holiday."""
        out: dict[date, list[DatedSnapshot]] = {}
        for snap in snapshots:
            i = bisect.bisect_left(days, snap.day)
            if i < len(days):
                out.setdefault(days[i], []).append(snap)
        return out

    # ------------------------------------------------------------------ one day
    async def _day(self, day: date, clock: SimClock, projects: dict[str, _Project], todays: list[DatedSnapshot],
                   ids) -> None:
        opened, decision = session_moments(day)
        clock.moment = opened
        for project in projects.values():
            if project.broker.open_day(day) and project.waiting_run is not None:
                await self._settle(project, project.waiting_run)
            project.waiting_run = None
        clock.moment = decision
        for snap in todays:
            project = projects[snap.project]
            project_id, snapshot_id = ids[(snap.project, snap.day)]
            await self._rebalance(project, day, project_id, snapshot_id)
        for project in projects.values():
            project.result.equity.append((day, project.broker.equity()))

    async def _rebalance(self, project: _Project, day: date, project_id: int, snapshot_id: int) -> None:
        service = project.engine.service
        try:
            run = await service.prepare_run(project_id, snapshot_id, TradeMode.BACKTEST, builder=dict(self.spec.builder),
                                            risk_overrides=list(self.spec.risk_overrides), new_run=True,
                                            backtest_id=self.backtest_id)
        except ExecutionError as exc:
            # the engine refused this day's input (e.g. its snapshot is not the project's):
            # that rebalance fails, not the backtest. Its run was never stored (created in one
            # transaction, rolled back), so there is none to close. Anything else (the database
            # gone, a bug) is no fault of the day's input and still ends the backtest.
            self._failed(project, day, None, exc)
            return
        equity = project.broker.equity()
        close = self.spec.fill is FillAt.CLOSE
        try:
            # the run's acknowledgements and, at the close, its fills: one writer transaction
            async with service.writer.held():
                executed = await service.execute(run.id, portfolio_value=equity)
                if close and executed.sent:
                    project.broker.close_day()
        except RiskBlocked:
            project.result.rebalances.append((day, run.id, BLOCKED))
            project.result.blocked.extend(self._blocks(run.id, day))
            return
        except ExecutionError as exc:
            if close and project.broker.close_day():  # what did go out fills
                await self._settle(project, run.id)
            # a refused preview keeps its run QUEUED for the trader's next preview: a backtest has none
            close_failed_run(self.db, run.id, f"backtest {self.backtest_id}: {exc}")
            self._failed(project, day, run.id, exc)
            return
        project.result.orders += len(executed.sent)
        project.result.rebalances.append((day, run.id, SENT if executed.sent else "nothing to trade"))
        if not executed.sent:
            return
        if close:
            await self._settle(project, run.id)
        else:
            project.waiting_run = run.id

    def _failed(self, project: _Project, day: date, run_id: int | None, exc: ExecutionError) -> None:
        """A rebalance that did not trade, listed with its reason (``failures``); ``run_id`` None:
        refused before its run was made."""
        project.result.rebalances.append((day, run_id, f"{FAILED}{exc}"))
        project.result.failed.append(failed_rebalance(day.isoformat(), run_id, exc.code, str(exc)))
        log.warning("backtest %s: %s rebalance of %s failed: %s", self.backtest_id, project.result.project, day, exc)

    async def _settle(self, project: _Project, run_id: int) -> None:
        """Wait until the writer has booked every order of the run (the broker answered at once:
        once the writer has written what is queued, the first look finds them final)."""
        service = project.engine.service
        try:
            await service.writer.flush(ORDER_WAIT_SECONDS)
        except TimeoutError:
            pass  # said below, naming the orders
        left = await service.wait_done(run_id, ORDER_WAIT_SECONDS)
        if left:
            raise RuntimeError(f"run {run_id}: {counted(len(left), 'order')} not final after {ORDER_WAIT_SECONDS:g} s")

    def _blocks(self, run_id: int, day: date) -> list[dict]:
        with self.db.session() as session:
            risk = (session.get(TradeRun, run_id).params or {}).get("risk", {})
        blocks = [dict(b, symbol=b.get("symbol")) for b in risk.get("run", []) if not b.get("passed", False)]
        for result in risk.get("results", []):
            blocks.extend(dict(b, symbol=b.get("symbol") or result.get("symbol")) for b in result.get("blocks", []))
        return [{"day": day.isoformat(), "run_id": run_id, "symbol": b.get("symbol"), "rule": b.get("rule"),
                 "code": b.get("code") or b.get("rule"), "message": b.get("message")} for b in blocks]

    async def _finish_pending(self, clock: SimClock, projects: dict[str, _Project]) -> None:
        """Orders still waiting for an open after the last day expire like DAY orders."""
        for project in projects.values():
            if project.waiting_run is not None:
                await project.broker.cancel_all()
                await self._settle(project, project.waiting_run)
                project.waiting_run = None
        for project in projects.values():
            totals = project.broker.totals
            project.result.fills, project.result.commissions, project.result.traded_value = (
                totals.fills, totals.commissions, totals.traded_value)

    async def _close(self, projects: dict[str, _Project]) -> None:
        for project in projects.values():
            try:
                await project.engine.stop()
            except Exception:
                log.exception("backtest %s: stopping %s's engine failed", self.backtest_id, project.result.project)

    def _end(self, status: str, results: dict, message: str | None) -> bool:
        """The row closed; False when another look had closed it first (it judged the process gone)."""
        assert self.backtest_id is not None
        return close_backtest(self.db, self.backtest_id, status, results, message, actor=self.actor)


def _total(projects: dict[str, _Project], initial: Decimal) -> dict:
    """Every project's account together: their equities summed day by day."""
    if not projects:
        return {}
    first = next(iter(projects.values())).result
    combined = ProjectResult(TOTAL, 0, "")
    for i, (day, _) in enumerate(first.equity):
        combined.equity.append((day, sum((p.result.equity[i][1] for p in projects.values()), Decimal(0))))
    for p in projects.values():
        combined.orders += p.result.orders
        combined.fills += p.result.fills
        combined.commissions += p.result.commissions
        combined.traded_value += p.result.traded_value
        combined.blocked.extend(dict(b, project=p.result.project) for b in p.result.blocked)
        combined.failed.extend(dict(f, project=p.result.project) for f in p.result.failed)
    combined.failed.sort(key=lambda f: (f["day"], f["project"]))  # as failures.all_failed lists a stored one's
    # the accounts together began trading with the first of them: the rates from its first rebalance
    began = [day_one for p in projects.values() if (day_one := p.result.first_rebalance()) is not None]
    summary = combined.summary(initial * len(projects), traded_from=min(began, default=None))
    summary.pop("rebalances")
    return summary
