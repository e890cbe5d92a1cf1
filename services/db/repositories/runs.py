"""Trade runs: one per project + snapshot + mode + trading day when created with ``create_once``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from services.db.models import AccountRates, OrderPlan, TradeRun
from services.db.repositories.base import get_row, insert_once, insert_one
from services.db.types import utcnow
from services.domain import RunStatus, TradeMode


def run_idempotency_key(project_id: int, snapshot_id: int | None, mode: TradeMode | str, trade_date: date) -> str:
    """Seed 000: one run per project + snapshot + mode + trading day."""
    return f"{project_id}:{snapshot_id if snapshot_id is not None else '-'}:{TradeMode(mode)}:{trade_date.isoformat()}"


# A run whose preview was refused while it had no plan (the day's run is created, then previewed
# in later transactions): its message says why (services.trail_queries reads it), and this key of
# its params marks the message as that refusal, which the run's first stored plan clears
# (services.execution.runs.planning)
PREVIEW_REFUSED = "preview_refused"


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run just created by ``RunRepository.create``: its columns as written (its times aside)."""

    id: int
    project_id: int
    snapshot_id: int | None
    mode: TradeMode
    status: RunStatus
    trade_date: date
    params: dict | None
    message: str | None
    idempotency_key: str | None
    backtest_id: int | None = None


_NEW_RUN_COLUMNS = tuple(field.name for field in dataclasses.fields(NewRun) if field.name != "id")
_INSERT_RUN = insert(cast(Table, TradeRun.__table__))
_INSERT_RUN_COLUMNS = (*_NEW_RUN_COLUMNS, "created_at", "updated_at")


def run_base_currency(session: Session, run: TradeRun, account: str | None) -> str:
    """The currency of the run's notionals and totals: its plan's base as the run stored it
    (``params["fx"]["base"]``, a preview's and a ticket's alike), else (a run stored before it
    kept one) the base ``account`` (the run's orders') last reported, else USD. The one rule of
    the TCA's totals and the run progress's amounts."""
    stored = ((run.params or {}).get("fx") or {}).get("base")
    if stored:
        return str(stored)
    rates = session.get(AccountRates, account) if account else None
    return rates.base if rates is not None else "USD"


class RunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        project_id: int,
        *,
        mode: TradeMode | str = TradeMode.PAPER,
        snapshot_id: int | None = None,
        trade_date: date | None = None,
        params: dict | None = None,
        status: RunStatus | str = RunStatus.QUEUED,
        message: str | None = None,
        idempotency_key: str | None = None,
        backtest_id: int | None = None,
    ) -> NewRun:
        """A new run, always (no idempotency key unless given): one Core INSERT (a backtest
        creates a run every rebalance; an ORM object and its flush cost several times the
        statement), giving back the run's columns as written. ``backtest_id``: the backtest a
        rebalance run belongs to."""
        now = utcnow()
        run = NewRun(0, project_id, snapshot_id, TradeMode(mode), RunStatus(status), trade_date or now.date(), params,
                     message, idempotency_key, backtest_id)
        run_id = insert_one(self.session, _INSERT_RUN, _INSERT_RUN_COLUMNS,
                            [*(getattr(run, name) for name in _NEW_RUN_COLUMNS), now, now])
        return dataclasses.replace(run, id=run_id)

    def create_once(
        self,
        project_id: int,
        *,
        mode: TradeMode | str,
        trade_date: date,
        snapshot_id: int | None = None,
        params: dict | None = None,
        message: str | None = None,
    ) -> tuple[TradeRun, bool]:
        """The run of this project + snapshot + mode + trading day: created on the first call,
        returned as it is on every later one (even from another process)."""
        key = run_idempotency_key(project_id, snapshot_id, mode, trade_date)
        values = {
            "project_id": project_id,
            "snapshot_id": snapshot_id,
            "mode": TradeMode(mode),
            "status": RunStatus.QUEUED,
            "trade_date": trade_date,
            "params": params,
            "message": message,
            "idempotency_key": key,
        }
        return insert_once(self.session, TradeRun, values, ("idempotency_key",), read_first=True)

    def refuse_preview(self, run_id: int, code: str, reason: str) -> bool:
        """A refused preview kept with a run that has no plan yet: its message says it (False,
        nothing written: no such run, or a plan of it is stored and says what it decided). The
        run is read locked, for its newest params: another process's preview or execute of it
        may have written them a moment ago."""
        run = self.session.get(TradeRun, run_id, with_for_update=True)
        if run is None or self.session.scalar(select(OrderPlan.id).where(OrderPlan.run_id == run_id).limit(1)) is not None:
            return False
        run.message = f"preview refused: {reason}"[:2000]
        run.params = {**(run.params or {}), PREVIEW_REFUSED: code}
        return True

    def get(self, run_id: int, *, for_update: bool = False) -> TradeRun:
        """``for_update``: read locked until the transaction ends (MySQL ``FOR UPDATE``; SQLite's
        unit of work holds the write lock already), for params to be written back: read without
        the lock, another process's write of them in between would be dropped."""
        return get_row(self.session, TradeRun, run_id, for_update=for_update)

    def list(
        self,
        *,
        project_id: int | None = None,
        status: RunStatus | Iterable[RunStatus] | None = None,
        limit: int | None = None,
    ) -> list[TradeRun]:
        query = select(TradeRun).order_by(TradeRun.id.desc())
        if project_id is not None:
            query = query.where(TradeRun.project_id == project_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            query = query.where(TradeRun.status.in_([RunStatus(s) for s in statuses]))
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def update_status(
        self,
        run_id: int,
        status: RunStatus | str,
        *,
        message: str | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        params: dict | None = None,
    ) -> TradeRun:
        run = self.get(run_id)
        run.status = RunStatus(status)
        if message is not None:
            run.message = message
        if started_at is not None:
            run.started_at = started_at
        if ended_at is not None:
            run.ended_at = ended_at
        if params is not None:
            run.params = params
        self.session.flush()
        return run
