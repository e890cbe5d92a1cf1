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

The pass and its actions at the broker (cancel, look up, send, re-place) are here; what it
reads is recovery_finding.py, why it leaves an order as it is recovery_refusals.py, what it
writes (its decisions, a replacement) recovery_writes.py, and what it comes to
(``RecoveryResult``) recovery_outcomes.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

from services.core.contracts import ContractSpec
from services.core.order_state import EventKind
from services.core.wording import describe_request
from services.domain import EventSource, OrderState

from .audit import os_user
from .errors import BrokerError
from .events import BrokerErrorEvent, OrderStatusEvent
from .halt_unsent import Stop
from .lease import LeaseManager, RunBusy
from .order_claims import placer_alive
from .provider import ExecutionProvider, OrderRequest
from .recovery_finding import (
    ib_order_id_of,
    order_request,
    order_request_by_ref,
    order_row,
    recovery_settings,
    stuck_orders,
    timeout_cutoff,
)
from .recovery_outcomes import RecoveryResult, Replaced, Skipped, Stuck, Tally
from .recovery_refusals import (
    NO_LIVE_WORD,
    PASSING_REFUSALS,
    Refusals,
    canceled_all_since,
    no_longer_new,
    what_stopped,
)
from .recovery_writes import close_stopped_order, insert_replacement, record_decision
from .sending import OrderSender
from .writer import EventWriter, LocalOrderEvent

# the names its callers and tests import from here, defined in the modules it is made of
__all__ = ["NO_LIVE_WORD", "PASSING_REFUSALS", "AutoRecovery", "RecoveryResult", "Replaced", "Skipped",
           "always_in_session"]

log = logging.getLogger(__name__)

WAIT_STEP_SECONDS = 5.0  # how often a command waiting on a run gives recovery a pass
CANCEL_ANSWER_SECONDS = 5.0  # the longest a pass waits for the broker's answers to its cancels


def always_in_session(spec: ContractSpec) -> bool:
    """The default ``session_open`` of a provider without the market-health gate (test doubles):
    every market open. The engine passes ``MarketHealth.session_open``."""
    return True


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
        self._refusals = Refusals(db, provider, session_open, self.session_live_token)

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
            out = Tally()
            settings = await self._db(recovery_settings, self.db)
            cutoff = timeout_cutoff(now, float(settings["new_timeout_seconds"]))
            stuck = await self._db(stuck_orders, self.db, self.provider.account, now, cutoff)
            busy = self.busy_runs()
            for order in stuck:
                out.considered.append(order.client_order_id)
                out.named[order.client_order_id] = order.order
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

    def _result(self, now: datetime, out: Tally) -> RecoveryResult:
        result = RecoveryResult(now, tuple(out.considered), tuple(out.canceled), tuple(out.sent), tuple(out.replaced),
                                tuple(out.skipped), tuple(out.named.items()))
        if out.considered:
            log.log(logging.INFO if result.acted or out.skipped else logging.DEBUG, "auto-recovery: %s", result.describe())
        return result

    def _left_to_its_sender(self, order: Stuck, busy: set[int], out: Tally) -> bool:
        # not audited: this process is sending the run right now, the order is not stuck
        if order.status is OrderState.NEW and order.run_id in busy:
            out.skipped.append(Skipped(order.client_order_id, "its run is being sent by this process"))
            return True
        return False

    async def _left_to_its_placer(self, stuck: list[Stuck], out: Tally) -> list[Stuck]:
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

    async def _cancel_unacknowledged(self, orders: list[Stuck], out: Tally) -> None:
        """The broker may hold them: cancel first, so that nothing can fill once it is called
        dead; the broker's answers (a final status, or an error such as 10147 "not found") are
        awaited together, a few seconds at most, so that the lookup sees them settled."""
        answers: list[asyncio.Future] = []
        ours = getattr(self.provider, "client_id", None)
        for order in orders:
            ib_order_id = await self._db(ib_order_id_of, self.db, order.id)
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

    async def _look_up(self, orders: list[Stuck], out: Tally) -> bool:
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
    async def _decide(self, stuck: Stuck, settings: dict, out: Tally) -> None:
        order = await self._db(order_row, self.db, stuck.id)
        status = OrderState(order["status"])
        if stuck.status is OrderState.NEW:
            if status is not OrderState.NEW or order["ib_order_id"] or order["ib_perm_id"]:
                await self._skip(out, stuck, no_longer_new(status, order))
                return
            stopped = what_stopped(order["created_at"], settings, order["account"])
            if stopped is not None and stuck.run_id is not None:
                await self._close_stopped(stuck, *stopped, out)
                return
            refusal = canceled_all_since(order["created_at"], settings, order["account"]) or self._refusals.gate(settings)
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
        refusal = await self._refusals.replace_refusal(stuck, order, settings)
        if refusal is not None:
            await self._skip(out, stuck, refusal, final=refusal not in PASSING_REFUSALS)
            return
        await self._replace(stuck, out)

    async def _close_stopped(self, stuck: Stuck, stop: Stop, why: str, out: Tally) -> None:
        """A run's order a halt or a Cancel All stopped before it was sent: closed as canceled,
        never sent automatically (services/execution/halt_unsent.py); the decision is final."""
        closed = await self._db(close_stopped_order, self.db, stuck.client_order_id, stop)
        if closed:
            await self._skip(out, stuck, f"{why}; closed as canceled, never sent automatically: preview and execute "
                                         "again to send it", final=True)
        else:  # a sender claimed it or the trader canceled it since this pass read it
            await self._skip(out, stuck, f"{why}; changed since this pass read it: nothing to close")

    def session_live_token(self) -> str | None:
        """The LIVE word as the session holds it now: given at construction (a command), else the
        broker connection's, which the window sets when the trader types it at Connect after
        the start (a copy taken at construction kept the window's recovery without it)."""
        return self.live_token or getattr(self.provider, "live_token", None)

    # ------------------------------------------------------------------ sending
    async def _send_new(self, stuck: Stuck, out: Tally) -> None:
        async def request(_lease):
            return stuck.client_order_id, await self._db(order_request, self.db, stuck.id)

        if await self._under_lease(stuck, request, out):
            out.sent.append(stuck.client_order_id)
            await self._note(stuck, "send", "stored NEW, never at the broker (looked up by its order ref): sent")

    async def _replace(self, stuck: Stuck, out: Tally) -> None:
        retry = stuck.retry_count + 1
        sent: list[OrderRequest] = []

        async def request(_lease):
            # stored only once the run's lease is ours: no replacement waits for another sender
            new_coid, created = await self._db(insert_replacement, self.db, self.actor, stuck.id, retry)
            if not created:
                await self._skip(out, stuck, f"replacement {new_coid} exists already: not re-placed twice", final=True)
                return new_coid, None
            sent.append(await self._db(order_request_by_ref, self.db, new_coid))
            return new_coid, sent[-1]

        new_coid = await self._under_lease(stuck, request, out)
        if new_coid:
            out.replaced.append(Replaced(stuck.client_order_id, new_coid, retry, describe_request(sent[-1]) if sent else ""))
            await self._note(stuck, "replace", f"proven dead with nothing filled: re-placed as {new_coid} (retry {retry})",
                             {"replacement": new_coid, "retry": retry})

    async def _under_lease(self, stuck: Stuck, make_request, out: Tally) -> str | None:
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

    # ------------------------------------------------------------------ records
    async def _skip(self, out: Tally, order: Stuck, reason: str, *, final: bool = False) -> None:
        """Left as it is; ``final``: for good (recorded as refused, never considered again)."""
        out.skipped.append(Skipped(order.client_order_id, reason))
        await self._note(order, "refused" if final else "skip", reason)

    async def _note(self, order: Stuck, decision: str, reason: str, extra: dict | None = None) -> None:
        await self._db(record_decision, self.db, self.actor, order.client_order_id, decision, reason, extra or {})


def _cancel_answer(client_order_id: str) -> Callable[[object], bool]:
    """The broker's answer to a cancel of this order: a final status, or an error naming it."""
    def predicate(ev: object) -> bool:
        if isinstance(ev, OrderStatusEvent):
            return ev.order_ref == client_order_id and ev.status in ("Cancelled", "ApiCancelled", "Filled", "Inactive")
        return isinstance(ev, BrokerErrorEvent) and ev.order_ref == client_order_id and not ev.is_warning

    return predicate
