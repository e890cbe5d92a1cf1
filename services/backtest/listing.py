"""Past backtests, read back: the list, newest first (the ``backtests`` command, the window's
Backtest panel), and one backtest's stored results in the shape a run returns them
(``stored_outcome``: the command prints it as ``backtest --json`` prints a run, the panel draws
it as it draws a run). Reading closes the backtests whose process is gone first
(``closing.close_abandoned``): none is listed ``running`` that no process runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from sqlalchemy import select

from services.db.models import Backtest

from .closing import close_abandoned
from .requests import load_backtest
from .runner import BacktestOutcome
from .summary import final_equity, settings_line, summary_of

DEFAULT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class BacktestListing:
    id: int
    started: datetime
    finished: datetime | None
    status: str  # running, done, canceled, failed
    projects: tuple[str, ...]
    days: int | None  # trading days simulated; None when it has no results (running, failed)
    final_equity: tuple[tuple[str, Decimal], ...]  # per project, then summary.TOTAL when there are several
    message: str | None
    params: Mapping[str, Any] | None = None  # the settings it ran with (``Backtest.params``)

    @property
    def settings(self) -> str | None:
        """What it ran with, in ``summary.settings_line``'s words (None: a row without them)."""
        return settings_line(self.id, self.params)

    def to_dict(self) -> dict:
        return {"id": self.id, "started": self.started.isoformat(),
                "finished": self.finished.isoformat() if self.finished else None, "status": self.status,
                "projects": list(self.projects), "days": self.days,
                "final_equity": {name: str(value) for name, value in self.final_equity}, "message": self.message,
                "params": dict(self.params) if self.params is not None else None, "settings": self.settings}


def list_backtests(db, limit: int = DEFAULT_LIMIT) -> list[BacktestListing]:
    """The ``limit`` newest backtests, newest first. Their summaries are read, never their
    results (megabytes each); a row closed before summaries were stored (migration 0020) has its
    results read alone, one row at a time."""
    if limit < 1:
        raise ValueError(f"limit {limit} must be at least 1")
    close_abandoned(db)
    with db.session() as session:
        rows = session.execute(select(Backtest.id, Backtest.created_at, Backtest.finished_at, Backtest.status,
                                      Backtest.params, Backtest.summary, Backtest.message)
                               .order_by(Backtest.id.desc()).limit(limit)).all()
        listed = []
        for backtest_id, started, finished, status, params, summary, message in rows:
            if summary is None and status != "running":  # a running one has no results yet
                summary = summary_of(session.scalar(select(Backtest.results).where(Backtest.id == backtest_id)))
            summary = summary or {}
            projects = tuple((params or {}).get("projects") or summary.get("projects") or ())
            listed.append(BacktestListing(backtest_id, started, finished, status, projects, summary.get("days"),
                                          final_equity(summary), message, params))
    return listed


def stored_outcome(db, backtest_id: int) -> BacktestOutcome | None:
    """The stored backtest as its run returned it (None: no such backtest): the same fields, the
    day it stopped after read from its equity (a canceled one's last day)."""
    info = load_backtest(db, backtest_id)
    if info is None:
        return None
    projects: dict[str, dict] = info.results.get("projects") or {}
    last_days = [p["equity"][-1][0] for p in projects.values() if p.get("equity")]
    return BacktestOutcome(info.id, info.status, projects, info.results.get("total") or {}, info.results.get("days") or 0,
                           date.fromisoformat(max(last_days)) if last_days else None, info.message,
                           info.params or None)


def frozen(value: Any) -> Any:
    """Stored results as values nobody can change under the reader (the window hands them to
    its views): mappings read-only, lists tuples, all the way down."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value
