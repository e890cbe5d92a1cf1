"""What every run use case shares: the database, the broker, the writer and the run leases,
the checks made before anything is sent, and the reads of a run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, select

from services.audit_actions import AuditAction
from services.core.wording import mode_word
from services.db.convert import to_fill_record, to_order_record
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import TradeOrder, TradeRun
from services.db.repositories import FillRepository, NotFound, OrderRepository, RunRepository
from services.db.repositories.base import fetch_all, fetch_first
from services.domain import FillRecord, OrderState, TradeMode, is_live_token

from ..audit import audit, os_user
from ..dbcall import db_call, runs_inline
from ..errors import LiveConfirmRequired, Missing, Refused
from ..lease import LeaseManager
from ..market_health import MarketHealth
from ..provider import ExecutionProvider
from ..unrecorded import UnrecordedActions
from ..writer import EventWriter
from .records import RunInfo, RunView, run_info

# Core statements on the tables, built once: reads that load no ORM object need no ORM session
_ORDERS = cast(Table, TradeOrder.__table__)
_RUNS = cast(Table, TradeRun.__table__)
_ORDER_STATES = (select(_ORDERS.c.client_order_id, _ORDERS.c.status).where(_ORDERS.c.run_id == bindparam("run_id"))
                 .order_by(_ORDERS.c.id))
_RUN_MODE = select(_RUNS.c.mode).where(_RUNS.c.id == bindparam("run_id"))


class SendStop:
    """Why one send of this process stops before its next order (a halt, Cancel All: set by
    ``stop_sending``), else None; ``lease_token``: the run lease it sends under. Compared by
    identity: each send holds its own."""

    __slots__ = ("lease_token", "reason")

    def __init__(self, lease_token: str) -> None:
        self.reason: str | None = None
        self.lease_token = lease_token


class RunServiceBase:
    """The state of a ``TradeService``; its use cases are the mixins built on this class."""

    def __init__(
        self,
        db,
        provider: ExecutionProvider,
        writer: EventWriter,
        reconciler=None,
        *,
        actor: str | None = None,
        ack_timeout: float = 10.0,
        leases: LeaseManager | None = None,
        clock: Callable[[], datetime] | None = None,
        health: MarketHealth | None = None,
        profile: str | None = None,
    ) -> None:
        self.db = db
        # the profile whose words the audit log says a run's mode in (``mode_said``): "demo" for
        # the demo window's engine, whose paper runs go to the built-in simulator; None: as stored
        self.profile = profile
        self.leases = leases or LeaseManager(db, client_id=getattr(provider, "client_id", None))
        self.provider = provider
        self.writer = writer
        self.reconciler = reconciler
        self.actor = actor or os_user()
        self.ack_timeout = ack_timeout
        self._executing: set[int] = set()
        self._stops: set[SendStop] = set()  # the stop of each send of this process under way (stop_sending)
        self._senders = 0  # runs of this process sending right now
        self._senders_idle = asyncio.Event()
        self._senders_idle.set()
        self.clock = clock or (lambda: datetime.now(UTC))  # the trading date, the market-health gate
        # the market-health gate before a run sends (None: not checked); a backtest has no market
        # to be healthy (its provider's mode is BACKTEST, and only backtest runs go through it)
        self.health = None if TradeMode(provider.mode).simulated else health
        # a halt or Cancel All of this process the database did not answer, written when it does
        # (services.execution.unrecorded); a halt waiting there refuses this process's runs
        self.unrecorded = UnrecordedActions(inline=runs_inline(provider))

    async def _db(self, fn, *args, **kwargs):
        return await db_call(runs_inline(self.provider), fn, *args, **kwargs)

    def executing_runs(self) -> set[int]:
        """The runs this process is executing right now (auto-recovery leaves their NEW orders
        to their sender)."""
        return set(self._executing)

    def mode_said(self, mode: TradeMode | str) -> str:
        """A run's mode as its audit entries record it: as the window of this engine's profile
        says it (``mode_word``: a demo session's paper run is "demo", the badge's word; "paper"
        read as IB's paper account). The run itself is stored with its ``TradeMode``."""
        return mode_word(str(mode), self.profile)

    def _check_live(self, mode: TradeMode, live_token: str | None) -> None:
        if TradeMode(mode) is TradeMode.LIVE and not is_live_token(live_token):
            raise LiveConfirmRequired("live_confirm_required: type LIVE to trade a live account")

    def _check_provider_mode(self, mode: TradeMode) -> None:
        if TradeMode(self.provider.mode) is not TradeMode(mode):
            raise Refused(f"the broker connection is in {self.provider.mode} mode; this run is {mode}", code="mode_mismatch")

    @retry_lock_conflicts  # one unit of work
    def _audit_sync(self, action: AuditAction, run_id: int, payload: dict) -> None:
        with self.db.unit_of_work() as session:
            audit(self.db, self.actor, action, "trade_run", run_id, payload, session=session)

    def _order_states(self, run_id: int) -> list[tuple[str, OrderState]]:
        """(client order id, status) of the run's orders: what a wait looks at, read as two
        columns (a whole order loaded and converted per look cost a backtest 2 %)."""
        with self.db.core() as connection:
            return [(c, OrderState(s)) for c, s in fetch_all(connection, _ORDER_STATES, {"run_id": run_id})]

    def _run_mode(self, run_id: int) -> TradeMode:
        """The run's mode alone (what is checked before its lease is taken): one column, not the
        run and its parameters."""
        with self.db.core() as connection:
            row = fetch_first(connection, _RUN_MODE, {"run_id": run_id})
        if row is None or row.mode is None:
            raise Missing(f"run {run_id} does not exist")
        return TradeMode(row.mode)

    async def get_run(self, run_id: int) -> RunInfo:
        return await self._db(self._get_run, run_id)

    def _get_run(self, run_id: int) -> RunInfo:
        with self.db.session() as session:
            try:
                return run_info(RunRepository(session).get(run_id))
            except NotFound:
                raise Missing(f"run {run_id} does not exist") from None

    async def view(self, run_id: int) -> RunView:
        return await self._db(self.view_sync, run_id)

    def view_sync(self, run_id: int) -> RunView:
        with self.db.session() as session:
            run = run_info(RunRepository(session).get(run_id))
            orders = OrderRepository(session).list_by_run(run_id)
            fills: list[FillRecord] = []
            for o in orders:
                fills.extend(to_fill_record(f) for f in FillRepository(session).list_by_order(o.id))
            return RunView(run, tuple(to_order_record(o) for o in orders), tuple(fills))
