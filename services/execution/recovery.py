"""Auto-recovery of stuck orders (docs/plans.md, plan 003; issue 12).

One pass (``AutoRecovery.run_once``) considers the orders older than the trade settings'
``auto_recovery.new_timeout_seconds``:

* stored NEW and never handed to the broker (a crash between storing and sending, a sender that
  stopped): looked up at the broker by their order ref; one the broker does not know is simply
  sent, under its run's lease (it is the plan's order, not a retry); never one a halt or a Cancel
  All stopped (trading HALTED now, or stored at or before the last halt or the last Cancel All,
  ``trade_settings.cancel_all_at``, which canceled everything not sent: one still NEW escaped it,
  its sender held it then and gave it back, or died and reconciliation gave it back): that one
  is closed as canceled, for good, whether the pass runs during the halt or after the resume
  (services.execution.halt_unsent: the trader previews and executes again); a manual order
  stored before the last Cancel All is refused for good;
* sent and never acknowledged (SUBMITTED): canceled, since the broker may hold it, then looked up
  (open orders, completed orders, executions: services.execution.reconcile) before anything is
  decided. An order whose fate is still unknown after that is never re-placed
  (docs/ib-notes.md, pitfall 4). One proven dead with nothing filled is re-placed as a new order
  linked to it (``replaces_order_id``, ``retry_count``) when every condition holds: it went out
  after the last Cancel All (``trade_settings.cancel_all_at``); retries below ``max_auto_retries``; the current price within ``max_price_deviation_pct`` of the plan's
  reference price; the market in its regular session or ``allow_replace_outside_rth``; trading
  not halted; connected; in live mode the session's LIVE word given; the risk engine passes the
  replacement now, with today's limits, positions and prices, as it would a ticket
  (services.execution.order_risk: it stands for the dead order in the day's order count).

Every decision, each refusal with its reason included, goes to the audit log and to the order's
events. Orders of a run are sent only under the run's lease (one sender per run across
processes); a run another process is sending is left to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import or_, select

from services.audit_actions import AuditAction, recovery_action
from services.core.contracts import ContractSpec
from services.core.order_state import EventKind
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import OrderEvent as OrderEventRow
from services.db.models import TradeOrder, TradeRun
from services.db.plan_repository import PlanNotFound, PlanRepository
from services.db.repositories import OrderRepository, SettingsRepository
from services.db.repositories.settings import last_cancel_all_concerning
from services.db.scope import not_backtest
from services.domain import EventSource, OrderState, OrderType, Side, TradeMode, TradingState, is_live_token

from .audit import audit, os_user
from .errors import BadInput, BrokerError, QueryFailed
from .events import BrokerErrorEvent, OrderStatusEvent
from .halt_unsent import (
    CANCEL_ALL_STOP,
    HALT,
    Stop,
    cancel_unsent_of_runs,
    last_halt_at,
    stopped_by,
)
from .lease import LeaseManager, RunBusy, placer_alive
from .listings import order_spec, request_for_order
from .order_risk import (
    MarketInputs,
    Replacing,
    block_reasons,
    check_order_in,
    market_inputs,
    market_price,
    order_draft,
)
from .provider import ExecutionProvider
from .runs import trading_day
from .sending import OrderSender
from .writer import EventWriter, LocalOrderEvent

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)
MANUAL_LOOKBACK = timedelta(days=1)  # manual orders (no run, no trading day) considered this long
WAIT_STEP_SECONDS = 5.0  # how often a command waiting on a run gives recovery a pass
CANCEL_ANSWER_SECONDS = 5.0  # the longest a pass waits for the broker's answers to its cancels
NOT_CONNECTED = "not connected"
NO_LIVE_WORD = "live mode and this session was not given the LIVE word"
# refusals that pass with the session (the connection comes back, the trader types the word):
# skipped for now, looked at again next pass; every other refusal is final
PASSING_REFUSALS = frozenset({NOT_CONNECTED, NO_LIVE_WORD})
# decisions recovery never revisits: the order was re-placed, or re-placing it was refused for a
# reason that stays (retries used, price moved, market closed, halted...). A skip for a passing
# reason (not connected, the lookup failed, the run busy elsewhere) is tried again next pass.
FINAL_DECISIONS = ("recovery_replace", "recovery_refused")


def replacement_id(client_order_id: str, retry: int) -> str:
    """The client order id of a dead order's replacement: derived from the dead one's, so that a
    second process racing to re-place it finds it taken."""
    return f"{client_order_id[:58]}-A{retry}"


def always_in_session(spec: ContractSpec) -> bool:
    """The default ``session_open`` of a provider without the market-health gate (test doubles):
    every market open. The engine passes ``MarketHealth.session_open``."""
    return True


@dataclass(frozen=True, slots=True)
class Skipped:
    client_order_id: str
    reason: str

    def to_dict(self) -> dict:
        return {"client_order_id": self.client_order_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Replaced:
    client_order_id: str  # the dead order
    replacement: str  # the new order's client order id
    retry: int  # its retry count

    def to_dict(self) -> dict:
        return {"client_order_id": self.client_order_id, "replacement": self.replacement, "retry": self.retry}


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    """What one pass did. ``considered``: every order older than the timeout it looked at;
    ``canceled``: cancel sent to the broker; ``sent``: NEW orders sent as they were;
    ``replaced``: dead orders re-placed; ``skipped``: left as they are, with the reason."""

    time: datetime
    considered: tuple[str, ...] = ()
    canceled: tuple[str, ...] = ()
    sent: tuple[str, ...] = ()
    replaced: tuple[Replaced, ...] = ()
    skipped: tuple[Skipped, ...] = ()

    @property
    def acted(self) -> bool:
        return bool(self.canceled or self.sent or self.replaced)

    def to_dict(self) -> dict:
        return {"time": self.time.isoformat(), "considered": list(self.considered), "canceled": list(self.canceled),
                "sent": list(self.sent), "replaced": [r.to_dict() for r in self.replaced],
                "skipped": [s.to_dict() for s in self.skipped]}

    def describe(self) -> str:
        return (f"considered {len(self.considered)}, canceled {len(self.canceled)}, sent {len(self.sent)}, "
                f"re-placed {len(self.replaced)}, skipped {len(self.skipped)}")


@dataclass(frozen=True, slots=True)
class _Stuck:
    """An order as recovery found it (before it did anything)."""

    id: int
    client_order_id: str
    run_id: int | None
    status: OrderState
    retry_count: int
    # who placed it (a sent order): the broker client id (only that client may cancel it at IB)
    # and the placing process's key (services.execution.lease.placed_by); None when not known
    placer_client: int | None = None
    placer_process: str | None = None


@dataclass
class _Pass:
    considered: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    replaced: list[Replaced] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


_NOTHING_OLDER = datetime(1970, 1, 1, tzinfo=UTC)  # no order of this console is older


def _cutoff(now: datetime, timeout: float) -> datetime:
    """Orders stored before this are stuck. The setting may be as long as 1e12 s (31,700 years):
    a timeout reaching before 1970 means no order is old enough, not an OverflowError that failed
    every pass (``recover`` exited 2 "date value out of range", the window's, ``serve``'s and
    ``execute``'s passes too)."""
    if timeout >= (now - _NOTHING_OLDER).total_seconds():
        return _NOTHING_OLDER
    return now - timedelta(seconds=timeout)


class AutoRecovery:
    def __init__(self, db, provider: ExecutionProvider, writer: EventWriter, reconciler, leases: LeaseManager, *,
                 actor: str | None = None, live_token: str | None = None,
                 session_open: Callable[[ContractSpec], bool] = always_in_session,
                 busy_runs: Callable[[], set[int]] = set) -> None:
        """``reconciler``: the lookup (open orders, completed orders, executions); ``leases``:
        the process's lease manager (the trade service's); ``busy_runs``: runs this process is
        executing right now (their sender owns their NEW orders)."""
        self.db = db
        self.provider = provider
        self.writer = writer
        self.reconciler = reconciler
        self.leases = leases
        self.actor = actor or os_user()
        self.live_token = live_token
        self.session_open = session_open
        self.busy_runs = busy_runs
        self._lock = asyncio.Lock()

    async def _db(self, fn, *args, **kwargs):
        # Each database step is a unit of work of its own, run again alone after a lock conflict
        # (services.db.lock_conflicts); never the pass as a whole: it cancels and sends at the
        # broker between them, and a second cancel or placeOrder is not a retry.
        return await asyncio.to_thread(fn, *args, **kwargs)

    # ------------------------------------------------------------------ the pass
    async def run_once(self, now: datetime | None = None) -> RecoveryResult:
        """One pass over the orders older than the timeout at ``now`` (default: the clock)."""
        async with self._lock:  # the window's timer and its menu never overlap
            now = now or datetime.now(UTC)
            out = _Pass()
            settings = await self._db(self._settings)
            cutoff = _cutoff(now, float(settings["new_timeout_seconds"]))
            stuck = await self._db(self._stuck, now, cutoff)
            busy = self.busy_runs()
            for order in stuck:
                out.considered.append(order.client_order_id)
            stuck = [o for o in stuck if not self._left_to_its_sender(o, busy, out)]
            stuck = await self._left_to_its_placer(stuck, out)
            if not stuck:
                return self._result(now, out)
            if not self.provider.is_connected:
                for order in stuck:
                    await self._skip(out, order, "not connected: nothing can be canceled, looked up or sent")
                return self._result(now, out)
            await self._cancel_unacknowledged([o for o in stuck if o.status is OrderState.SUBMITTED], out)
            if not await self._look_up(stuck, out):
                return self._result(now, out)
            for order in stuck:
                try:
                    await self._decide(order, settings, out)
                except BrokerError as exc:
                    await self._skip(out, order, f"broker error: {exc}")
            return self._result(now, out)

    async def wait_recovering(self, wait: Callable[[float], Awaitable[list[str]]], timeout: float, *,
                              step: float = WAIT_STEP_SECONDS, connected: Callable[[], bool] | None = None) -> list[str]:
        """``wait(seconds)`` (for example ``TradeService.wait_done``: returns what is still
        working) in steps of ``step`` seconds, up to ``timeout``, with a recovery pass after every
        step that left something working: a headless ``execute --wait-seconds`` recovers what
        its run lost on the way, once it is older than the timeout. Returns what is still working."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        connected = connected or (lambda: self.provider.is_connected)
        while True:
            left = deadline - loop.time()
            still = await wait(max(0.0, min(step, left)))
            if not still or deadline - loop.time() <= 0 or not connected():
                return still
            result = await self.run_once()
            if result.acted:
                log.info("auto-recovery while waiting: %s", result.describe())

    def _result(self, now: datetime, out: _Pass) -> RecoveryResult:
        result = RecoveryResult(now, tuple(out.considered), tuple(out.canceled), tuple(out.sent), tuple(out.replaced),
                                tuple(out.skipped))
        if out.considered:
            log.log(logging.INFO if result.acted or out.skipped else logging.DEBUG, "auto-recovery: %s", result.describe())
        return result

    def _left_to_its_sender(self, order: _Stuck, busy: set[int], out: _Pass) -> bool:
        # not audited: this process is sending the run right now, the order is not stuck
        if order.status is OrderState.NEW and order.run_id in busy:
            out.skipped.append(Skipped(order.client_order_id, "its run is being sent by this process"))
            return True
        return False

    def _settings(self) -> dict:
        with self.db.session() as session:
            repo = SettingsRepository(session)
            return {**repo.auto_recovery(), "trading_state": repo.trading_state(), "halted_at": last_halt_at(session),
                    "cancel_all_marks": repo.cancel_all_marks()}

    def _stuck(self, now: datetime, cutoff: datetime) -> list[_Stuck]:
        """This account's orders stuck since before ``cutoff``: of runs of today's trading day,
        or manual orders of the last day (a DAY order of another day is never sent or re-placed
        automatically):

        * NEW, never handed to the broker; a NEW replacement the trader's manual replace made is
          the trader's (services.execution.replace_order), not recovery's;
        * SUBMITTED, unacknowledged: the broker may hold it;
        * sent, closed with nothing filled, either never acknowledged (no permId: closed as never
          received, which reconciliation on a (re)connect does before recovery sees it) or
          closed by recovery's own cancel whose answer came after the pass: proven dead, to be
          decided on. Never one the trader canceled.

        An order recovery has decided on for good (re-placed or refused) is not considered again."""
        never_sent = ((TradeOrder.status == OrderState.NEW) & TradeOrder.ib_order_id.is_(None) & TradeOrder.ib_perm_id.is_(None)
                      & (TradeOrder.replaces_order_id.is_(None) | (TradeOrder.retry_count > 0)))
        unacknowledged = (TradeOrder.status == OrderState.SUBMITTED) & (TradeOrder.updated_at <= cutoff)
        closed = ((TradeOrder.status == OrderState.CANCELED) & TradeOrder.ib_order_id.is_not(None)
                  & (TradeOrder.filled_quantity == 0))
        recent = or_(TradeRun.trade_date == trading_day(now),
                     TradeOrder.run_id.is_(None) & (TradeOrder.created_at >= now - MANUAL_LOOKBACK))
        query = (select(TradeOrder).join(TradeRun, TradeOrder.run_id == TradeRun.id, isouter=True)
                 .where(TradeOrder.is_external.is_(False), TradeOrder.created_at <= cutoff, recent, not_backtest(TradeOrder.account),
                        or_(never_sent, unacknowledged, closed))
                 .order_by(TradeOrder.id))
        if self.provider.account:
            query = query.where(or_(TradeOrder.account == self.provider.account, TradeOrder.account.is_(None)))
        with self.db.session() as session:
            found = list(session.scalars(query))
            placers = self._placers(session, [o for o in found if o.status is not OrderState.NEW])
            rows = [_Stuck(o.id, o.client_order_id, o.run_id, OrderState(o.status), o.retry_count or 0,
                           *placers.get(o.id, (o.ib_client_id, None))) for o in found]
            unacknowledged_ids = {o.id for o in found if o.ib_perm_id is None}
            # by the events of these few orders only (the (order_id, time) index), never a scan of
            # every order's events: decided for good, canceled by the trader, canceled by recovery
            excluded: set[int] = set()
            canceled_here: set[int] = set()
            for start in range(0, len(rows), 500):
                for order_id, source, event_type in session.execute(
                        select(OrderEventRow.order_id, OrderEventRow.source, OrderEventRow.event_type).where(
                            OrderEventRow.order_id.in_([r.id for r in rows[start:start + 500]]),
                            OrderEventRow.source.in_([EventSource.RECOVERY, EventSource.USER]))):
                    if source == EventSource.RECOVERY and event_type == "recovery_cancel":
                        canceled_here.add(order_id)
                    elif (source == EventSource.RECOVERY and event_type in FINAL_DECISIONS) or (
                            source == EventSource.USER and event_type == str(EventKind.CANCEL_REQUESTED)):
                        excluded.add(order_id)
        # closed: dead only if the broker never acknowledged it (closed as never received) or
        # recovery's own cancel closed it; otherwise closed by the broker or the trader: not ours
        return [r for r in rows if r.id not in excluded and (
            r.status is not OrderState.CANCELED or r.id in unacknowledged_ids or r.id in canceled_here)]

    @staticmethod
    def _placers(session, orders: list[TradeOrder]) -> dict[int, tuple[int | None, str | None]]:
        """order id -> (client id, process key) of whoever placed it, from its ``submitted``
        event (the placer's own record, written at the placeOrder); the client id the broker
        reported (``ib_client_id``) when the event names none (an order sent before it did)."""
        by_id = {o.id: o for o in orders}
        out: dict[int, tuple[int | None, str | None]] = {}
        ids = sorted(by_id)
        for start in range(0, len(ids), 500):
            for order_id, payload in session.execute(
                    select(OrderEventRow.order_id, OrderEventRow.payload).where(
                        OrderEventRow.order_id.in_(ids[start:start + 500]),
                        OrderEventRow.event_type == str(EventKind.SUBMITTED)).order_by(OrderEventRow.id)):
                payload = payload or {}
                client = payload.get("clientId")
                out[order_id] = (client if isinstance(client, int) else by_id[order_id].ib_client_id, payload.get("process"))
        return out

    async def _left_to_its_placer(self, stuck: list[_Stuck], out: _Pass) -> list[_Stuck]:
        """Of ``stuck``, the orders this pass may act on. A sent order another broker client
        placed is that client's to cancel (IB refuses a cancel from any other client but a
        global one) and its process follows it, acknowledgement timeout included, as long as it
        lives: the run's lease tells nothing here, the sender releases it as soon as its orders
        are written, acknowledged or not. Alive: the placing process on this machine is running,
        or (another machine) a live lease is held under that client id. A placer known to be gone
        leaves its orders to recovery as before."""
        ours = getattr(self.provider, "client_id", None)
        others = [o for o in stuck if o.status is not OrderState.NEW and o.placer_client is not None and o.placer_client != ours]
        if not others:
            return stuck
        leased = await self._db(self.leases.live_client_ids, {o.placer_client for o in others})
        left: set[int] = set()
        for order in others:
            alive = placer_alive(order.placer_process)
            if alive is None and order.placer_client in leased:
                alive, how = True, "a live lease is held under that client id"
            else:
                how = "its process is running"
            if alive:
                left.add(order.id)
                await self._skip(out, order, f"placed by client id {order.placer_client} in another process, which is alive "
                                             f"({how}): only that client can cancel it at the broker; left to it")
        return [o for o in stuck if o.id not in left]

    async def _cancel_unacknowledged(self, orders: list[_Stuck], out: _Pass) -> None:
        """The broker may hold them: cancel first, so that nothing can fill once it is called
        dead; the broker's answers (a final status, or an error such as 10147 "not found") are
        awaited together, a few seconds at most, so that the lookup sees them settled."""
        answers: list[asyncio.Future] = []
        ours = getattr(self.provider, "client_id", None)
        for order in orders:
            ib_order_id = await self._db(self._ib_order_id, order.id)
            answer = self.provider.expect(_cancel_answer(order.client_order_id))
            try:
                await self.provider.cancel_order(order.client_order_id, ib_order_id)
            except BrokerError as exc:
                answer.cancel()
                log.warning("auto-recovery: cancel of %s failed: %s", order.client_order_id, exc)
                # nothing went to the broker: no ack timeout recorded (it would read CANCEL_REQUESTED)
                whose = (f"placed by client id {order.placer_client}, not ours to cancel; "
                         if order.placer_client is not None and order.placer_client != ours else "")
                await self._note(order, "cancel_failed", f"no acknowledgement in time; {whose}cancel not sent: {exc}; "
                                                         "looked up before deciding")
                continue
            # recorded once the cancel is at the broker, never before: the order's CANCEL_REQUESTED
            # says a cancel was sent. The answer (a final status) comes through the socket, after this.
            self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.ACK_TIMEOUT, EventSource.RECOVERY,
                                               message="auto-recovery: no acknowledgement in time; cancel requested"))
            answers.append(answer)
            out.canceled.append(order.client_order_id)
            await self._note(order, "cancel", "no acknowledgement in time: cancel sent, looking it up before deciding")
        if answers:
            await asyncio.wait(answers, timeout=CANCEL_ANSWER_SECONDS)
            for answer in answers:
                answer.cancel()
        await self.writer.flush()

    def _ib_order_id(self, order_id: int) -> int | None:
        with self.db.session() as session:
            return OrderRepository(session).get(order_id).ib_order_id

    async def _look_up(self, orders: list[_Stuck], out: _Pass) -> bool:
        """Open orders, completed orders and executions at the broker, written to the database;
        False (every order skipped) when the lookup could not complete: unknown, never empty."""
        why = None
        if self.reconciler is None:
            why = "no lookup at the broker possible (no reconciler)"
        else:
            try:
                await self.reconciler.reconcile()
            except Exception as exc:  # noqa: BLE001 - any failed query leaves the fate unknown: decided by the skip
                why = f"the lookup at the broker failed ({exc}): fate unknown, nothing re-placed"
        await self.writer.flush()
        if why is None:
            return True
        for order in orders:
            await self._skip(out, order, why)
        return False

    # ------------------------------------------------------------------ decisions
    async def _decide(self, stuck: _Stuck, settings: dict, out: _Pass) -> None:
        order = await self._db(self._row, stuck.id)
        status = OrderState(order["status"])
        if stuck.status is OrderState.NEW:
            if status is not OrderState.NEW or order["ib_order_id"] or order["ib_perm_id"]:
                await self._skip(out, stuck, _no_longer_new(status, order))
                return
            stopped = _stopped(order["created_at"], settings, order["account"])
            if stopped is not None and stuck.run_id is not None:
                await self._close_stopped(stuck, *stopped, out)
                return
            refusal = _canceled_all_since(order["created_at"], settings, order["account"]) or self._gate(settings)
            if refusal is None and stuck.run_id is None:
                refusal = "not an order of a run: a manual order never sent is the trader's to send again"
            if refusal is not None:
                await self._skip(out, stuck, refusal, final=refusal not in PASSING_REFUSALS)
                return
            await self._send_new(stuck, out)
            return
        filled = Decimal(order["filled_quantity"] or 0)
        if not status.is_terminal:
            await self._skip(out, stuck, f"fate unknown: still {status} after the cancel and the lookup; never re-placed")
            return
        if filled > 0:
            await self._skip(out, stuck, f"{status} with {filled} filled: nothing re-placed", final=True)
            return
        if status is not OrderState.CANCELED:
            await self._skip(out, stuck, f"{status} at the broker ({order['rejected_reason'] or 'no reason given'}): not re-placed", final=True)
            return
        refusal = await self._replace_refusal(stuck, order, settings)
        if refusal is not None:
            await self._skip(out, stuck, refusal, final=refusal not in PASSING_REFUSALS)
            return
        await self._replace(stuck, out)

    async def _close_stopped(self, stuck: _Stuck, stop: Stop, why: str, out: _Pass) -> None:
        """A run's order a halt or a Cancel All stopped before it was sent: closed as canceled,
        never sent automatically (services/execution/halt_unsent.py); the decision is final."""
        closed = await self._db(self._cancel_stopped, stuck.client_order_id, stop)
        if closed:
            await self._skip(out, stuck, f"{why}; closed as canceled, never sent automatically: preview and execute "
                                         "again to send it", final=True)
        else:  # a sender claimed it or the trader canceled it since this pass read it
            await self._skip(out, stuck, f"{why}; changed since this pass read it: nothing to close")

    @retry_lock_conflicts  # one unit of work of conditional updates: runs again from scratch
    def _cancel_stopped(self, client_order_id: str, stop: Stop) -> list[str]:
        with self.db.unit_of_work() as session:
            return cancel_unsent_of_runs(session, stop, client_order_ids=[client_order_id])

    def session_live_token(self) -> str | None:
        """The LIVE word as the session holds it now: given at construction (a command), else the
        broker connection's, which the window sets when the trader types it at Connect after
        the start (a copy taken at construction kept the window's recovery without it)."""
        return self.live_token or getattr(self.provider, "live_token", None)

    def _gate(self, settings: dict) -> str | None:
        """What forbids sending anything now (halted, disconnected, no LIVE word), if anything.
        REDUCING too: recovery does not tell which orders grow the exposure (the risk engine
        does, for runs and manual orders), so it leaves them to the trader."""
        state = TradingState(settings["trading_state"])
        if state is not TradingState.ACTIVE:
            return f"trading is {state}"
        if not self.provider.is_connected:
            return NOT_CONNECTED
        if TradeMode(self.provider.mode) is TradeMode.LIVE and not is_live_token(self.session_live_token()):
            return NO_LIVE_WORD
        return None

    async def _replace_refusal(self, stuck: _Stuck, order: dict, settings: dict) -> str | None:
        # The trader canceled everything after it went out: the Cancel All found it closed
        # already (nothing to cancel) or, one by one, could not cancel another client's order;
        # a replacement would be a new order at the broker after the trader's cancel (the rule
        # reconciliation applies to an order a gone sender claimed before the Cancel All); a
        # Cancel All of another account left it as it was
        mark = last_cancel_all_concerning(settings["cancel_all_marks"], order["account"])
        if mark is not None and order["sent_at"] <= mark:
            return (f"sent before the Cancel All of {mark:%Y-%m-%d %H:%M:%S} UTC, which canceled everything: "
                    "not re-placed")
        max_retries = int(settings["max_auto_retries"])
        if stuck.retry_count >= max_retries:
            retries = f"{stuck.retry_count} retr{'y' if stuck.retry_count == 1 else 'ies'}"
            return f"proven dead, nothing filled; not re-placed: {retries} so far, max_auto_retries {max_retries}"
        if await self._db(self._replacement_of, stuck.id) is not None:
            return "already re-placed"
        if stuck.run_id is None:
            return "not an order of a run: no plan reference price; the trader decides"
        spec = order["spec"]
        reference = await self._db(self._reference_price, order["plan_id"], spec.key)
        if reference is None:
            return f"no reference price for {spec.key} in the run's plan: not re-placed"
        # the price first: the account's positions and values are asked for only when the
        # deviation, the hours and the gate leave the replacement to the risk check
        current = await market_price(self.provider, spec)
        if current is None:
            return f"no current price for {spec.key}: not re-placed"
        limit = Decimal(str(settings["max_price_deviation_pct"]))
        deviation = abs(current - reference) / reference * HUNDRED
        if deviation > limit:
            return (f"price moved {deviation:.2f} % from the plan's {reference} to {current}, more than "
                    f"max_price_deviation_pct {limit}: not re-placed")
        if not settings["allow_replace_outside_rth"]:
            await self._ask_hours(spec)
            if not self.session_open(spec):
                return f"{spec.key}: market outside its regular session and allow_replace_outside_rth is off: not re-placed"
        refusal = self._gate(settings)
        if refusal is not None:
            return refusal
        inputs = await market_inputs(self.provider, spec, ask_tick=False, price=current)
        return await self._risk_refusal(stuck, order, inputs)

    async def _risk_refusal(self, stuck: _Stuck, order: dict, inputs: MarketInputs) -> str | None:
        """The replacement is a new order at the broker: it meets today's risk limits, positions
        and prices as a ticket would (services.execution.order_risk), standing for the dead
        order in the day's count. The plan's verdict was given at another moment."""
        replacing: Replacing = order["replacing"]
        try:
            _, report, _ = await self._db(
                check_order_in, self.db, self.provider,
                lambda seen: order_draft(order["spec"], order["side"], order["quantity"], order["order_type"], seen,
                                         replacement_id(stuck.client_order_id, stuck.retry_count + 1),
                                         limit_price=order["limit_price"], tif=order["tif"]),
                inputs, project=replacing.project_id, replacing=replacing)
        except BadInput as exc:  # a stored limit no rule of this version checks refuses it, as it refuses a ticket
            return f"refused by risk now ({exc}): not re-placed"
        if not report.blocked:
            return None
        if await self._db(self._replacement_of, stuck.id) is not None:
            # another process's pass stored it since this one looked (its client order id is the
            # one checked here: 'duplicate_order'): the order was re-placed, not refused by risk
            return "already re-placed"
        return f"blocked by risk now ({block_reasons(report)}): not re-placed"

    async def _ask_hours(self, spec: ContractSpec) -> None:
        """Whether the market trades now comes from the broker, as in TWS: ask for the listing's
        hours (kept by the provider, where ``session_open`` reads them); the exchange calendar
        decides only when the broker cannot say."""
        ask = getattr(self.provider, "trading_hours", None)
        if ask is None:
            return
        try:
            await ask(spec)
        except (QueryFailed, ConnectionError) as exc:
            log.info("recovery: trading hours of %s not known (%s): the exchange calendar decides", spec.key, exc)

    def _row(self, order_id: int) -> dict:
        with self.db.session() as session:
            o = OrderRepository(session).get(order_id)
            return {"status": o.status, "filled_quantity": o.filled_quantity, "ib_order_id": o.ib_order_id,
                    "ib_perm_id": o.ib_perm_id, "rejected_reason": o.rejected_reason, "spec": order_spec(o),
                    # claimed for sending right before its placeOrder (stored then, for an order
                    # sent before claims existed)
                    "sent_at": o.claimed_at or o.created_at, "created_at": o.created_at, "account": o.account,
                    "plan_id": (o.params or {}).get("plan_id"), "side": Side(o.side), "quantity": o.quantity,
                    "order_type": OrderType(o.order_type), "limit_price": o.limit_price, "tif": o.tif,
                    "replacing": Replacing(o.created_at, o.status, o.client_order_id, o.project_id)}

    def _replacement_of(self, order_id: int) -> int | None:
        with self.db.session() as session:
            return session.scalars(select(TradeOrder.id).where(TradeOrder.replaces_order_id == order_id).limit(1)).first()

    def _reference_price(self, plan_id, key: str) -> Decimal | None:
        if plan_id is None:
            return None
        with self.db.session() as session:
            try:
                plan = PlanRepository(session).get(int(plan_id))
            except PlanNotFound:
                return None
        ref = plan.prices.get(key)
        return ref.price if ref is not None and ref.price > 0 else None

    # ------------------------------------------------------------------ sending
    async def _send_new(self, stuck: _Stuck, out: _Pass) -> None:
        async def request(_lease):
            return stuck.client_order_id, await self._db(self._request, stuck.id)

        if await self._under_lease(stuck, request, out):
            out.sent.append(stuck.client_order_id)
            await self._note(stuck, "send", "stored NEW, never at the broker (looked up by its order ref): sent")

    async def _replace(self, stuck: _Stuck, out: _Pass) -> None:
        retry = stuck.retry_count + 1

        async def request(_lease):
            # stored only once the run's lease is ours: no replacement waits for another sender
            new_coid, created = await self._db(self._insert_replacement, stuck.id, retry)
            if not created:
                await self._skip(out, stuck, f"replacement {new_coid} exists already: not re-placed twice", final=True)
                return new_coid, None
            return new_coid, await self._db(self._request_by_ref, new_coid)

        new_coid = await self._under_lease(stuck, request, out)
        if new_coid:
            out.replaced.append(Replaced(stuck.client_order_id, new_coid, retry))
            await self._note(stuck, "replace", f"proven dead with nothing filled: re-placed as {new_coid} (retry {retry})",
                             {"replacement": new_coid, "retry": retry})

    async def _under_lease(self, stuck: _Stuck, make_request, out: _Pass) -> str | None:
        """Under the lease of ``stuck``'s run: ``make_request(lease)`` -> (client order id, the
        request or None: nothing to send), sent. Returns the client order id sent; a refusal is
        recorded on ``stuck``."""
        assert stuck.run_id is not None
        try:
            async with self.leases.hold(stuck.run_id) as lease:
                coid, request = await make_request(lease)
                if request is None:
                    return None
                sender = OrderSender(self.db, self.provider, self.writer, self.leases, lambda: None)
                result = await sender.send(lease, [request])
        except RunBusy as exc:
            await self._skip(out, stuck, f"its run is being sent by another process ({exc.holder.describe()})")
            return None
        await self.writer.flush()
        if coid in result.sent:
            return coid
        why = result.stopped or (result.failed[0][1] if result.failed else "not sent")
        await self._skip(out, stuck, f"{coid} not sent: {why}")
        return None

    def _request(self, order_id: int):
        with self.db.session() as session:
            return request_for_order(OrderRepository(session).get(order_id))

    def _request_by_ref(self, client_order_id: str):
        with self.db.session() as session:
            row = OrderRepository(session).get_by_client_id(client_order_id)
            assert row is not None
            return request_for_order(row)

    @retry_lock_conflicts  # one unit of work, stored before anything is sent: runs again from scratch
    def _insert_replacement(self, order_id: int, retry: int) -> tuple[str, bool]:
        """The replacement stored NEW, linked to the dead order; its client order id is derived
        from the dead one's, so that a second process racing for it finds it taken."""
        with self.db.unit_of_work() as session:
            dead = OrderRepository(session).get(order_id)
            coid = replacement_id(dead.client_order_id, retry)
            params = {k: v for k, v in (dead.params or {}).items() if k in ("draft", "plan_id")}
            params["auto_recovery"] = {"replaces": dead.client_order_id, "retry": retry}
            row, created = OrderRepository(session).insert_once(
                coid, dead.symbol, dead.side, dead.quantity, order_type=dead.order_type, limit_price=dead.limit_price,
                tif=dead.tif, run_id=dead.run_id, project_id=dead.project_id, sec_type=dead.sec_type, exchange=dead.exchange,
                currency=dead.currency, primary_exchange=dead.primary_exchange, account=dead.account,
                replaces_order_id=dead.id, retry_count=retry, params=params)
            if created:
                audit(self.db, self.actor, AuditAction.ORDER_RECOVERY_REPLACEMENT, "trade_order", row.id,
                      {"client_order_id": coid, "replaces": dead.client_order_id, "replaces_order_id": dead.id, "retry": retry},
                      session=session)
            return coid, created

    # ------------------------------------------------------------------ records
    async def _skip(self, out: _Pass, order: _Stuck, reason: str, *, final: bool = False) -> None:
        """Left as it is; ``final``: for good (recorded as refused, never considered again)."""
        out.skipped.append(Skipped(order.client_order_id, reason))
        await self._note(order, "refused" if final else "skip", reason)

    async def _note(self, order: _Stuck, decision: str, reason: str, extra: dict | None = None) -> None:
        await self._db(self._record, order.client_order_id, decision, reason, extra or {})

    @retry_lock_conflicts  # one unit of work, written after the broker was asked: runs again alone
    def _record(self, client_order_id: str, decision: str, reason: str, extra: dict) -> None:
        """The decision in the audit log and on the order's events, in one transaction. A skip
        that repeats the order's last recovery decision word for word (the same passing reason,
        pass after pass: hours without a connection, a placer still alive) is not written again:
        one pass a minute wrote a row per stuck order to the append-only log every minute."""
        action = recovery_action(decision)  # an unknown decision fails here, before anything is written
        with self.db.unit_of_work() as session:
            row = OrderRepository(session).get_by_client_id(client_order_id)
            if row is None:
                return
            if decision == "skip" and _last_recovery_decision(session, row.id) == ("recovery_skip", row.status, reason[:2000]):
                return
            payload = {"client_order_id": client_order_id, "decision": decision, "reason": reason, **extra}
            session.add(OrderEventRow(order_id=row.id, source=EventSource.RECOVERY, event_type=f"recovery_{decision}",
                                      from_state=row.status, to_state=row.status, message=reason[:2000], payload=payload,
                                      time=datetime.now(UTC)))
            audit(self.db, self.actor, action, "trade_order", row.id, payload, session=session)


def _last_recovery_decision(session, order_id: int) -> tuple[str, OrderState | None, str | None] | None:
    """(event type, state, message) of the order's latest recovery event, None if it has none."""
    last = session.execute(
        select(OrderEventRow.event_type, OrderEventRow.to_state, OrderEventRow.message)
        .where(OrderEventRow.order_id == order_id, OrderEventRow.source == EventSource.RECOVERY)
        .order_by(OrderEventRow.id.desc()).limit(1)).first()
    return None if last is None else (last.event_type, last.to_state, last.message)


def _canceled_all_since(created_at: datetime, settings: dict, account: str | None = None) -> str | None:
    """Why a manual order never sent is not sent by recovery: it was stored at or before the last
    Cancel All of its account (``last_cancel_all_concerning``: one of another account left it),
    which canceled everything not sent; sent now it would be a new order at the broker after the
    trader canceled everything. (A run's order is closed instead: ``_stopped``.)"""
    mark = last_cancel_all_concerning(settings["cancel_all_marks"], account)
    if mark is None or created_at > mark:
        return None
    return f"stored before the Cancel All of {mark:%Y-%m-%d %H:%M:%S} UTC, which canceled everything not sent: not sent"


def _stopped(created_at: datetime, settings: dict, account: str | None = None) -> tuple[Stop, str] | None:
    """Why a run's order never sent is closed rather than sent, and what stopped it: trading is
    HALTED now, or it was stored at or before the last halt, which stopped its run, or at or
    before the last Cancel All, which canceled everything not sent (a sender that held it then
    died, or gave it back NEW after the stop had listed what to close, and reconciliation gave
    it back NEW since). Sent now it would reach the broker at a price the trader never confirmed
    for the market as it is, or after the trader canceled everything: the trader previews again."""
    if TradingState(settings["trading_state"]) is TradingState.HALTED:
        return HALT, "trading is HALTED: the halt stopped it before it was sent"
    halted_at = settings["halted_at"]
    canceled_all_at = last_cancel_all_concerning(settings["cancel_all_marks"], account)
    stop = stopped_by(created_at, halted_at, canceled_all_at)
    if stop is HALT:
        return HALT, f"stored before the halt of {halted_at:%Y-%m-%d %H:%M:%S} UTC, which stopped its run before it was sent"
    if stop is CANCEL_ALL_STOP:
        return stop, (f"stored before the Cancel All of {canceled_all_at:%Y-%m-%d %H:%M:%S} UTC, which canceled "
                      "everything not sent")
    return None


def _no_longer_new(status: OrderState, order: dict) -> str:
    """Why a NEW order found changed is not sent: the lookup at the broker found it (the broker
    knows it: a permId), or the trader canceled it, or a sender claimed or sent it since
    the pass read it (SENDING, or SUBMITTED with no broker answer yet: the run's sender in another
    process, between this pass's read and its decision), which says nothing about the broker."""
    if order["ib_perm_id"]:
        return f"found at the broker by its order ref: now {status}; nothing to send"
    if status in (OrderState.SENDING, OrderState.SUBMITTED):
        return f"claimed by a sender since this pass read it (now {status}, no answer from the broker yet); nothing to send"
    return f"now {status} (changed since this pass read it); nothing to send"


def _cancel_answer(client_order_id: str) -> Callable[[object], bool]:
    """The broker's answer to a cancel of this order: a final status, or an error naming it."""
    def predicate(ev: object) -> bool:
        if isinstance(ev, OrderStatusEvent):
            return ev.order_ref == client_order_id and ev.status in ("Cancelled", "ApiCancelled", "Filled", "Inactive")
        return isinstance(ev, BrokerErrorEvent) and ev.order_ref == client_order_id and not ev.is_warning

    return predicate
