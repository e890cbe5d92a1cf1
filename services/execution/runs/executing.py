"""Executing a run: its plan's orders stored NEW, then sent under the run's lease (one sender per
run across processes); an interrupted run is reconciled first and only what the broker never saw
is sent. A stored plan is sent only while its age, its prices and its project's book (positions and
working orders, counted as filled) allow it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, null, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from services.audit_actions import AuditAction
from services.books import net_quantities, project_positions, working_orders
from services.core.builder import held_as_if_filled
from services.core.plans import Plan, hash_confirms, plan_hash_problem, price_moves
from services.core.risk_base import block_said
from services.core.typed_numbers import plain
from services.core.wording import counted
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import TradeOrder, TradeRun
from services.db.plan_repository import PlanNotFound, PlanRepository
from services.db.repositories import OrderRepository, RunRepository, SettingsRepository
from services.db.repositories.base import execute_many, fetch_all
from services.db.types import utcnow
from services.domain import OrderState, RunStatus, TradeMode, TradingState

from ..audit import audit
from ..errors import (
    BadInput,
    MarketUnhealthy,
    NothingSent,
    PlanRefused,
    Refused,
    RiskBlocked,
    TradingHalted,
)
from ..halt_unsent import HALT_STOPPED, audit_closed, close_stopped
from ..listings import request_for_draft, request_for_order
from ..market_health import TradeIntent
from ..provider import OrderRequest
from ..sending import OrderSender
from .base import SendStop
from .planning import ORDER_COUNT, RunPlanning, run_row
from .records import ExecuteResult

log = logging.getLogger(__name__)

# Core statements on the tables, built once (a statement naming a mapped class's attributes, an ORM
# object loaded and flushed, cost a backtest several times what running the statement does)
_ORDERS = cast(Table, TradeOrder.__table__)
_RUNS = cast(Table, TradeRun.__table__)
# read locked (``_RUN_LOCKED`` in planning.py says why): written back with the plan's id
_RUN_PARAMS = select(_RUNS.c.params).where(_RUNS.c.id == bindparam("run_id")).with_for_update()
# (an UPDATE's bind names must not be column names)
_START_RUN = (update(_RUNS).where(_RUNS.c.id == bindparam("run_id"))
              .values(params=bindparam("new_params", type_=_RUNS.c.params.type), status=bindparam("new_status", type_=_RUNS.c.status.type),
                      started_at=func.coalesce(_RUNS.c.started_at, bindparam("now", type_=_RUNS.c.started_at.type)),
                      # an earlier attempt's word (a risk block's reasons, previewed again since
                      # with other limits): not this run's, which is sending now
                      message=null()))
# its parameters, on the driver (execute_many): ``updated_at`` given as its column's ``onupdate``
# would give it, SQLAlchemy's handling of the statement skipped
_START_RUN_PARAMS = ("run_id", "new_params", "new_status", "now", "updated_at")


def _risk_reasons(risk: Mapping[str, Any]) -> str:
    """A stored risk report's blocking reasons, as one line (at most ten)."""
    blocks = [b for b in risk.get("run", []) if not b.get("passed", False)]
    for result in risk.get("results", []):
        blocks.extend(result.get("blocks", []))
    return "; ".join(block_said(str(b.get("message") or ""), b.get("code") or b.get("rule"), b.get("symbol"))
                     for b in blocks[:10]) or "blocked"  # the risk panel's words (services.core.risk_base)


def _listing(ids, limit: int = 20) -> str:
    ids = list(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def refuse_unless_confirmed(plan: Plan, confirmed_hash: str) -> None:
    """Refused (``PlanRefused`` plan_changed, exit 3), nothing sent, unless ``confirmed_hash`` (the
    content hash of the plan the trader confirmed, or its prefix: services.core.plans.hash_confirms)
    is ``plan``'s as stored now; a text that is no plan hash is bad input (exit 2). Asked by
    ``execute_plan`` and, before connecting, by ``execute --plan N --plan-hash H``."""
    problem = plan_hash_problem(confirmed_hash)
    if problem is not None:
        raise BadInput(problem)
    if not hash_confirms(plan.content_hash, confirmed_hash):
        raise PlanRefused(f"nothing sent: plan {plan.id} as stored now (hash {plan.content_hash[:12]}) is not the plan "
                          f"you confirmed (hash {confirmed_hash[:12].lower()}); preview again", code="plan_changed")


class RunExecution(RunPlanning):
    """Execute a run or a stored plan (previewing first when needed), resume, halt."""

    def hold_run(self, run_id: int, *, wait: float = 0.0):
        """``async with service.hold_run(run_id):`` this process is the run's one sender for the
        block (sending and waiting); another holder makes it wait up to ``wait`` seconds, then
        refuses naming the holder (``RunBusy``). ``execute`` takes it by itself when not held."""
        return self.leases.hold(run_id, wait=wait)

    async def execute(self, run_id: int, live_token: str | None = None, *, portfolio_value: Decimal | None = None,
                      lease_wait: float = 0.0, require_market_health: bool = True, outside_rth: bool = False) -> ExecuteResult:
        """One step: preview the run, store the plan and send exactly its orders. A run that
        already has orders is resumed instead (reconciled first; only the orders the broker
        never saw are sent). Under the run's lease: one sender per run across processes.
        ``require_market_health``: the market-health gate must pass before anything is sent
        (``MarketUnhealthy`` otherwise); switching it off is audited. ``outside_rth``: limit
        orders may go (and fill) outside the regular session."""
        mode = await self._db(self._run_mode, run_id)
        self._check_live(mode, live_token)
        self._check_provider_mode(mode)
        async with self._executing_guard(run_id, lease_wait):
            await self._refuse_if_halted(run_id)
            await self._check_market_health(run_id, (), require_market_health, outside_rth)
            # none given: the value the trader's preview of this run was given (what they reviewed)
            preview = await self.preview(run_id, portfolio_value, unless_it_has_orders=True, inherit_portfolio_value=True)
            if preview is None:  # it has orders
                return await self._resume(run_id, require_market_health, outside_rth)
            # Just built from the prices fetched a moment ago: no age or drift to check.
            return await self._send_plan(preview.plan, check_drift=False, require_market_health=require_market_health,
                                         outside_rth=outside_rth)

    async def _check_market_health(self, run_id: int, intents, required: bool, outside_rth: bool) -> None:
        """The market-health gate (services.execution.market_health); with no orders given, the
        connection and the data farms only. Skipping it is audited."""
        if self.health is None:
            return
        if not required:
            if not intents:  # once per execute, not once per check
                await self._db(self._audit_sync, AuditAction.RUN_MARKET_HEALTH_SKIPPED, run_id, {"status": self.health.status().describe()})
            return
        report = await self.health.check(list(intents), outside_rth=outside_rth)
        if not report.healthy:
            await self._db(self._audit_sync, AuditAction.RUN_MARKET_HEALTH_REFUSED, run_id, {"reasons": list(report.reasons)})
            raise MarketUnhealthy(f"run {run_id}: nothing sent, the market is not healthy: {report.describe()}")

    async def execute_plan(self, plan_id: int, live_token: str | None = None, *, confirmed_hash: str | None = None,
                           lease_wait: float = 0.0, require_market_health: bool = True,
                           outside_rth: bool = False) -> ExecuteResult:
        """Send exactly the orders of a stored plan, or nothing: refused (``PlanRefused``, exit
        3) when the plan is older than ``plan_max_age_seconds``, its project's book moved on a
        listing it trades (``plan_book_moved``) or a reference price moved more than
        ``plan_max_price_move_pct``; the trader previews again. The market-health gate as
        in ``execute``. ``confirmed_hash``: the content hash of the plan the trader confirmed
        (the window's dialogs show that plan's numbers), or a prefix of it (``execute --plan-hash``,
        services.core.plans.hash_confirms); the plan as stored now must be it."""
        plan, intact = await self._db(self._load_checked_plan, plan_id)
        self._check_live(plan.mode, live_token)
        # read again from the database: sent as it reads now, so it must still be what was
        # certified (its hash in the audit log) and what was confirmed, or nothing goes
        if not intact:
            raise PlanRefused(f"nothing sent: plan {plan_id} was changed after it was stored (its rows no longer match "
                              "the hash its audit entry certified); preview again", code="plan_changed")
        if confirmed_hash is not None:
            refuse_unless_confirmed(plan, confirmed_hash)
        self._check_provider_mode(plan.mode)
        if plan.account and self.provider.account and plan.account != self.provider.account:
            raise Refused(f"plan {plan_id} was built for account {plan.account}; connected to {self.provider.account}",
                          code="plan_account")
        async with self._executing_guard(plan.run_id, lease_wait):
            await self._refuse_if_halted(plan.run_id)
            await self._check_market_health(plan.run_id, (), require_market_health, outside_rth)
            executed = await self._db(self._executed_plan_of, plan.run_id)
            if executed is not None:
                if executed != plan.id:
                    raise PlanRefused(f"run {plan.run_id} already executed plan {executed}; plan {plan.id} is not sent "
                                      "(start a new run to trade this snapshot again)", code="plan_superseded")
                return await self._resume(plan.run_id, require_market_health, outside_rth)
            if await self._db(self._order_count, plan.run_id):
                return await self._resume(plan.run_id, require_market_health, outside_rth)
            return await self._send_plan(plan, check_drift=True, require_market_health=require_market_health,
                                         outside_rth=outside_rth)

    def _load_checked_plan(self, plan_id: int) -> tuple[Plan, bool]:
        with self.db.session() as session:
            try:
                return PlanRepository(session).get_checked(plan_id)
            except PlanNotFound as exc:
                raise BadInput(str(exc)) from None

    def _executed_plan_of(self, run_id: int) -> int | None:
        with self.db.session() as session:
            value = (RunRepository(session).get(run_id).params or {}).get("plan_id")
            return None if value is None else int(value)

    def _plan_limits(self) -> tuple[float, Decimal]:
        with self.db.session() as session:
            limits = SettingsRepository(session).execution()
        return float(limits["plan_max_age_seconds"]), Decimal(str(limits["plan_max_price_move_pct"]))

    async def check_plan(self, plan: Plan) -> None:
        """Raise ``PlanRefused`` naming what is wrong when the plan may no longer be sent."""
        if TradeMode(plan.mode).simulated:
            # a backtest's plan is sent at the simulated moment it was built, on the bars' prices:
            # there is no real-time age and no market that moved since
            return
        max_age, max_move = await self._db(self._plan_limits)
        age = plan.age_seconds(datetime.now(UTC))
        if age > max_age:
            raise PlanRefused(f"plan {plan.id} is {age:.0f} s old, older than the {max_age:g} s allowed: preview again",
                              code="plan_stale")
        moved = await self._db(self._book_moves, plan)
        if moved:
            raise PlanRefused(f"plan {plan.id}: the project's book moved since the preview (its positions with its "
                              f"orders still working, counted as filled): {'; '.join(moved)}. Preview again.",
                              code="plan_book_moved")
        # by listing key (a US and an EUR listing of one symbol are two prices)
        references = {o.key: plan.prices[o.key] for o in plan.orders if o.key in plan.prices}
        if not references:
            return
        specs = {o.key: o.spec for o in plan.orders}
        current = await self.provider.market_prices([specs[key] for key in references])
        moves = price_moves(references, current, max_move)
        if moves:
            raise PlanRefused(f"plan {plan.id}: prices moved more than {max_move} % since the preview: "
                              + "; ".join(m.describe() for m in moves) + ". Preview again.", code="plan_price_moved")

    def _book_moves(self, plan: Plan) -> list[str]:
        """The listings the plan trades whose book moved since it was built: the project's
        positions plus its orders still working (the plan's run's own left out), counted as filled,
        as the preview counted them (docs/project-books.md). Another run's orders of the project
        sent (or filled) since would be sent a second time by this plan; a counted order that
        filled since moves nothing."""
        account = self.provider.account or None
        with self.db.session() as session:
            positions = project_positions(session, plan.project_id, account)
            own = [o for o in working_orders(session, account, except_run=plan.run_id) if o.project_id == plan.project_id]
        now = held_as_if_filled(positions, net_quantities(own))
        then = held_as_if_filled(plan.positions, plan.working)
        zero = Decimal(0)
        return [f"{key} {then.get(key, zero).normalize():f} -> {now.get(key, zero).normalize():f}"
                for key in sorted({o.key for o in plan.orders}) if now.get(key, zero) != then.get(key, zero)]

    async def _send_plan(self, plan: Plan | None, *, check_drift: bool, require_market_health: bool = True,
                         outside_rth: bool = False, on_sent: Callable[[str], None] | None = None) -> ExecuteResult:
        if plan is None:
            raise BadInput("no plan to send")
        run_id = plan.run_id
        if plan.blocked:
            reasons = _risk_reasons(plan.risk)
            await self._db(self._mark_blocked, run_id, reasons)
            raise RiskBlocked(f"run {run_id} blocked by risk: {reasons}")
        if not plan.orders:
            await self._db(self._finish_empty, run_id, plan.id)
            return ExecuteResult(run_id, status=RunStatus.DONE, plan_id=plan.id)
        await self._check_market_health(run_id, [TradeIntent(o.spec, o.order_type) for o in plan.orders],
                                        require_market_health, outside_rth)
        if check_drift:
            await self.check_plan(plan)
        requests = await self._db(self._insert_orders, run_id, plan)
        if outside_rth:
            requests = [replace(r, outside_rth=True) for r in requests]
        result = await self._send(run_id, requests, (), on_sent)
        return replace(result, plan_id=plan.id)

    @asynccontextmanager
    async def _executing_guard(self, run_id: int, lease_wait: float = 0.0):
        if run_id in self._executing:
            raise BadInput(f"run {run_id} is already executing")
        self._executing.add(run_id)
        try:
            async with self.hold_run(run_id, wait=lease_wait) as lease:
                if lease.taken_over_from is not None:
                    await self._db(self._audit_sync, AuditAction.RUN_LEASE_TAKEOVER, run_id,
                                   {"from": lease.taken_over_from.describe(), "token": lease.taken_over_from.token})
                yield
        finally:
            self._executing.discard(run_id)

    async def _refuse_if_halted(self, run_id: int) -> None:
        """Refused while trading is HALTED, audited as the market-health gate's refusals are (the
        trail says why the run sent nothing)."""
        if TradeMode(self.provider.mode).simulated:
            return  # a HALT stops the broker; a backtest replays history with no broker
        if self.unrecorded.halt_pending or await self._db(self._trading_state) is TradingState.HALTED:
            await self._db(self._audit_sync, AuditAction.RUN_HALTED_REFUSED, run_id, {"trading_state": str(TradingState.HALTED)})
            raise TradingHalted("trading is HALTED: nothing is sent until trading is resumed (the blotter's Resume, `trading-console resume`)")

    def _trading_state(self) -> TradingState:
        with self.db.session() as session:
            return SettingsRepository(session).trading_state()

    def _order_count(self, run_id: int) -> int:
        with self.db.core() as connection:
            return fetch_all(connection, ORDER_COUNT, {"run_id": run_id})[0][0] or 0

    @retry_lock_conflicts  # each of these is one unit of work: run again from scratch after a rollback
    def _mark_blocked(self, run_id: int, reasons: str) -> None:
        with self.db.unit_of_work() as session:
            RunRepository(session).update_status(run_id, RunStatus.BLOCKED, message=reasons[:2000])
            audit(self.db, self.actor, AuditAction.RUN_BLOCKED, "trade_run", run_id, {"reasons": reasons}, session=session)

    @retry_lock_conflicts
    def _finish_empty(self, run_id: int, plan_id: int | None = None) -> None:
        with self.db.unit_of_work() as session:
            now = datetime.now(UTC)
            runs = RunRepository(session)
            runs.get(run_id, for_update=True)  # its newest params, locked until written back with the plan's id
            run = runs.update_status(run_id, RunStatus.DONE, message="nothing to trade", started_at=now, ended_at=now)
            if plan_id is not None:
                run.params = {**(run.params or {}), "plan_id": plan_id}

    @retry_lock_conflicts
    def _insert_orders(self, run_id: int, plan: Plan) -> list[OrderRequest]:
        """Every order of the plan stored NEW (one transaction) before the first placeOrder; the
        run records which plan it executes."""
        requests = []
        with self.db.unit_of_work() as session:
            # the plan was built from this run: its project and mode are the run's (only the
            # parameters are read, locked, to be written back with the plan's id; the run's row
            # first, before its orders refer to it and before the audit chain's head)
            params = run_row(session, _RUN_PARAMS, run_id).params
            rows = []
            for d in plan.orders:
                rows.append(dict(
                    client_order_id=d.client_order_id, symbol=d.symbol, side=d.side, quantity=d.quantity, order_type=d.order_type,
                    limit_price=d.limit_price, tif=d.tif, run_id=run_id, project_id=plan.project_id, sec_type=d.sec_type,
                    exchange=d.exchange, currency=d.currency, primary_exchange=d.primary_exchange or None,
                    account=self.provider.account or None, params={"draft": d.to_dict(), "plan_id": plan.id},
                ))
                requests.append(request_for_draft(d))
            OrderRepository(session).insert_many_once(rows)  # one statement for the plan (an existing order is kept)
            execute_many(session, _START_RUN, _START_RUN_PARAMS,
                         [(run_id, {**(params or {}), "plan_id": plan.id}, RunStatus.RUNNING, datetime.now(UTC), utcnow())])
            audit(self.db, self.actor, AuditAction.RUN_EXECUTE, "trade_run", run_id,
                  {"orders": len(plan.orders), "mode": self.mode_said(plan.mode), "account": self.provider.account,
                   "plan_id": plan.id, "plan_hash": plan.content_hash,
                   "gross_notional": plain(plan.gross_notional)}, session=session)
        return requests

    async def _resume(self, run_id: int, require_market_health: bool = True, outside_rth: bool = False) -> ExecuteResult:
        """An interrupted run: reconcile first, then send only what the broker never saw."""
        if self.reconciler is not None:
            # Always: another process (a killed command, a second client id) may have sent some of
            # these orders since this connection's last pass; and a lease taken over from a dead
            # holder leaves its SENDING orders to this pass (back to NEW only if IB never saw them).
            await self.reconciler.reconcile()
        await self.writer.flush()
        # a HALT or a Cancel All stops the broker; a backtest replays history with no broker (_refuse_if_halted)
        closed = 0 if TradeMode(self.provider.mode).simulated else await self._db(self._close_stopped, run_id)
        if closed:
            log.warning("run %s: %s a halt or a Cancel All stopped before they were sent closed as canceled, not sent: "
                        "preview again", run_id, counted(closed, "order"))
        requests, known = await self._db(self._unsent, run_id)
        if requests:
            await self._check_market_health(run_id, [TradeIntent(r.spec, r.order_type) for r in requests],
                                            require_market_health, outside_rth)
            if outside_rth:
                requests = [replace(r, outside_rth=True) for r in requests]
            await self._db(self._mark_running, run_id)
        return await self._send(run_id, requests, known)

    @retry_lock_conflicts  # one unit of work of conditional updates
    def _close_stopped(self, run_id: int) -> int:
        """The run's orders a halt or a Cancel All stopped before they were sent and that are
        still NEW (their sender died holding them, and reconciliation gave them back): closed,
        never sent by this execute, which checks neither the plan's age nor its prices
        (services/execution/halt_unsent.py). How many."""
        with self.db.unit_of_work() as session:
            closed = close_stopped(session, run_id=run_id)
            for stop, client_order_ids in closed.items():
                audit_closed(self.db, session, run_id, client_order_ids, stop=stop, actor=self.actor)
            return sum(map(len, closed.values()))

    def _unsent(self, run_id: int) -> tuple[list[OrderRequest], tuple[str, ...]]:
        with self.db.session() as session:
            orders = OrderRepository(session).list_by_run(run_id)
            # A replacement (cancel-and-new) belongs to the replace action that made it, never to a
            # resumed run: if its sending failed, the trader decides again.
            unsent = [o for o in orders if o.status is OrderState.NEW and not o.ib_perm_id and not o.ib_order_id
                      and o.replaces_order_id is None]
            known = tuple(o.client_order_id for o in orders if o not in unsent)
            return [request_for_order(o) for o in unsent], known

    def stop_sending(self, reason: str = HALT_STOPPED) -> None:
        """A halt or Cancel All: a run of this process that is sending stops before its next
        order and gives back what it had claimed (closed as canceled: never sent automatically
        after a halt's resume, nor after a Cancel All);
        ``reason`` is what its outcome says. (A halt from another process is seen at the next
        chunk, from the database.)"""
        for stop in self._stops:
            stop.reason = reason

    def stopped_leases(self) -> frozenset[str]:
        """The lease tokens of this process's sends told to stop. Nothing more leaves under them:
        the stop is looked at in the synchronous step that writes each placeOrder (and before a
        resend after IB's error 100), so a Cancel All need not wait for their lease rows."""
        return frozenset(stop.lease_token for stop in self._stops if stop.reason is not None)

    async def sending_stopped(self, timeout: float) -> bool:
        """Wait until no run of this process is sending (each stops before its next order once
        ``stop_sending`` is asked, and gives back its claims): what it leaves NEW is then known.
        False when one still sends after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._senders_idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @retry_lock_conflicts
    def _mark_running(self, run_id: int) -> None:
        with self.db.unit_of_work() as session:
            run = RunRepository(session).get(run_id)
            run.status = RunStatus.RUNNING
            audit(self.db, self.actor, AuditAction.RUN_RESUME, "trade_run", run_id, {}, session=session)

    async def _send(self, run_id: int, requests: list[OrderRequest], known: tuple[str, ...],
                    on_sent: Callable[[str], None] | None = None) -> ExecuteResult:
        """``on_sent``: told each order's client id as its placeOrder is written (OrderSender)."""
        if not requests:
            return ExecuteResult(run_id, (), known, (), (await self.get_run(run_id)).status)
        lease = self.leases.held.get(run_id)
        if lease is None:  # a caller that bypassed execute(): never send without the run's lease
            raise Refused(f"run {run_id}: not sending without holding the run's lease", code="no_lease")
        # this send's own stop: a stop asked before it began is not its own, and a send begun
        # after a stop never lifts it for one still under way (one flag of the service, cleared
        # by each send that began, let a stopped run's next order out)
        stop = SendStop(lease.token)
        self._stops.add(stop)
        sender = OrderSender(self.db, self.provider, self.writer, self.leases, lambda: stop.reason, on_sent)
        self._senders += 1
        self._senders_idle.clear()
        try:
            out = await sender.send(lease, requests)
        finally:
            self._stops.discard(stop)
            self._senders -= 1
            if not self._senders:
                self._senders_idle.set()
        if out.stopped:
            log.warning("run %s: sending stopped (%s); %s left unsent", run_id, out.stopped, counted(len(out.unsent), "order"))
        if out.canceled_after_cancel_all or out.not_canceled_after_cancel_all:
            # the broker's cancels are asked already (once): this records them, and is the only step retried
            try:
                await self._db(self._audit_sync, AuditAction.RUN_CANCELED_AFTER_CANCEL_ALL, run_id, {
                    "canceled": list(out.canceled_after_cancel_all),
                    "not_canceled": [list(f) for f in out.not_canceled_after_cancel_all]})
            except (OperationalError, InterfaceError) as exc:  # each order's own event says it too
                log.error("run %s: the cancels after another process's Cancel All not audited (%s)", run_id,
                          str(exc).splitlines()[0][:200])
        if out.failed and not out.sent:
            why = out.stopped or out.failed[0][1]
            unsent = tuple(out.unsent or [f[0] for f in out.failed])
            raise NothingSent(f"no order could be sent ({why}); not sent: {_listing(unsent)}", why, unsent)
        return ExecuteResult(run_id, tuple(out.sent), known, tuple(out.failed), RunStatus.RUNNING,
                             unsent=tuple(out.unsent), stopped=out.stopped, lease_lost=out.lease_lost,
                             canceled_after_cancel_all=tuple(out.canceled_after_cancel_all),
                             not_canceled_after_cancel_all=tuple(out.not_canceled_after_cancel_all))
