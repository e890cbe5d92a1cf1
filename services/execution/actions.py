"""Order actions: cancel, replace, cancel all, halt / resume, manual order entry.

Each goes through the same rules as a run (live token in live mode, the trading state, the risk
engine for anything that sends or grows an order) and is written to the audit log with the
operating-system user as actor. Cancels are always allowed, HALTED included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from services.audit_actions import AuditAction
from services.core.contracts import ContractSpec, contract_problem, spec_of
from services.core.ib_codes import CodeClass, classify, refuses_modify
from services.core.order_state import EventKind
from services.core.replace_rules import replace_problem
from services.core.typed_numbers import plain
from services.core.wording import counted
from services.db.convert import to_order_record
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import TradeOrder
from services.db.repositories import (
    NotFound,
    OrderRepository,
    ProjectRepository,
    RepositoryError,
    SettingsRepository,
)
from services.domain import (
    EventSource,
    OrderRecord,
    OrderState,
    OrderType,
    Side,
    TradeMode,
    TradingState,
    is_backtest_account,
    is_live_token,
)

from .action_outcomes import Canceled, Halted, ReplaceResult
from .audit import audit, os_user
from .cancel_all_outcome import CanceledOrders, done_in, global_cancel_also, reached_the_broker
from .dbcall import db_call, runs_inline
from .errors import (
    BadInput,
    BrokerError,
    LiveConfirmRequired,
    MarketUnhealthy,
    Missing,
    RiskBlocked,
    SendingStopped,
    TradingHalted,
)
from .events import BrokerErrorEvent, OpenOrderEvent, OrderStatusEvent
from .halt_unsent import cancel_unsent_of_runs
from .lease import Holder, LeaseManager, placed_by
from .listings import draft_params, request_for_order
from .market_health import MarketHealth, TradeIntent
from .order_risk import Replacing, block_reasons, check_order_in, market_inputs, min_tick_of, order_draft
from .provider import ExecutionProvider, OrderRequest
from .sending import CANCEL_ALL, SEND_WATCH_INTERVAL
from .writer import EventWriter, LocalOrderEvent

log = logging.getLogger(__name__)

# Cancel All waits this long for the senders of other processes: they look at its marker every
# SEND_WATCH_INTERVAL seconds, and stop before their next order
SENDERS_TIMEOUT = SEND_WATCH_INTERVAL + 4.5
SENDERS_POLL = 0.1
CONFIRM_POLL = 0.25  # seconds between two looks at the database for cancels another session confirmed


class OrderActions:
    def __init__(self, db, provider: ExecutionProvider, writer: EventWriter, service=None, *, actor: str | None = None,
                 confirm_timeout: float = 10.0, health: MarketHealth | None = None, leases: LeaseManager | None = None,
                 senders_timeout: float = SENDERS_TIMEOUT) -> None:
        self.db = db
        self.provider = provider
        self.writer = writer
        self.service = service
        self.actor = actor or os_user()
        self.confirm_timeout = confirm_timeout
        self.health = health  # the market-health gate before a manual order (None: not checked)
        # the run leases, where every process's sender says it is at work (Cancel All waits for them)
        self.leases = leases or (service.leases if service is not None else LeaseManager(db))
        self.senders_timeout = senders_timeout
        # the halts and Cancel Alls of this process so far, and the last one's word: an order of
        # these actions that waits its turn at the pacing limiter is stopped by one made meanwhile
        self._stops = 0
        self._last_stop = ""

    def _stopping(self, why: str) -> None:
        self._stops += 1
        self._last_stop = why

    async def _db(self, fn, *args, **kwargs):
        return await db_call(runs_inline(self.provider), fn, *args, **kwargs)

    def _check_live(self, live_token: str | None) -> None:
        if TradeMode(self.provider.mode) is TradeMode.LIVE and not is_live_token(live_token):
            raise LiveConfirmRequired("live_confirm_required: type LIVE to act on a live account")

    # The database steps of an action are units of work of their own, apart from what goes to the
    # broker: each runs again alone after a lock conflict (services.db.lock_conflicts), never the
    # action, whose cancel or placeOrder is not to be sent twice.
    @retry_lock_conflicts
    def _audit(self, action: AuditAction, entity_id, payload: dict) -> None:
        with self.db.unit_of_work() as session:
            audit(self.db, self.actor, action, "trade_order" if entity_id is not None else "account", entity_id, payload, session=session)

    async def order(self, order_id: int) -> OrderRecord:
        """The order as the database has it now (what a cancel or replace made of it); ``Missing``
        for an id that is none."""
        return await self._db(self._order, order_id)

    def _order(self, order_id: int) -> OrderRecord:
        with self.db.session() as session:
            try:
                return to_order_record(OrderRepository(session).get(order_id))
            except NotFound:
                raise Missing(f"order {order_id} does not exist") from None

    def _trading_state(self) -> TradingState:
        with self.db.session() as session:
            return SettingsRepository(session).trading_state()

    async def _ensure_not_halted(self) -> None:
        if await self._db(self._trading_state) is TradingState.HALTED:
            raise TradingHalted("trading is HALTED: new orders and modifications are blocked")

    # ------------------------------------------------------------------ cancel
    async def cancel(self, order_id: int, live_token: str | None = None, *, wait: bool = False) -> Canceled:
        """An order not sent yet (NEW) is canceled here, only while it is still NEW; one sent is
        canceled at the broker. Its run's sender may claim a NEW order as it is canceled, and
        send it: the cancel then follows it to the broker (``Canceled.note`` says so), or, not
        written from this session yet, ``BrokerError`` says it could not be canceled."""
        self._check_live(live_token)
        order = await self._db(self._order, order_id)
        if not order.status.is_cancelable:
            raise BadInput(f"order {order_id} is already {order.status}")
        note = ""
        if not reached_the_broker(order):
            self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.CANCEL_REQUESTED, EventSource.USER,
                                               message="canceled before sending", unsent_only=True))
            await self.writer.flush()
            order = await self._db(self._order, order_id)
            if order.status.is_cancelable:  # not applied: its sender claimed it meanwhile
                refusal = await self._cancel_at_broker(order, wait, raced=True)
                note = (f"order {order.id} ({order.client_order_id}) was being sent by its run's sender as it was "
                        f"canceled: cancel requested at the broker" + (f"; {refusal}" if refusal else ""))
                log.warning("cancel: %s", note)
        else:
            note = await self._cancel_at_broker(order, wait)
        await self._db(self._audit, AuditAction.ORDER_CANCEL, order_id, {"client_order_id": order.client_order_id,
                                                               **({"note": note} if note else {})})
        await self.writer.flush()
        return Canceled(await self._db(self._order, order_id), note)

    async def _cancel_at_broker(self, order: OrderRecord, wait: bool, *, raced: bool = False) -> str:
        """One cancel of ``order`` at the broker (never asked again: a retry repeats only the
        database steps), written as requested; with ``wait``, the broker's answer waited for: its
        final status, or its refusal of the cancel, returned said for the trader ("" otherwise)."""
        # the answer: a final status, or the broker's refusal of the cancel (IB's 10148 / 161 for an
        # order that filled meanwhile, whose Filled came before the cancel: waited for, the cancel
        # waited out the whole confirm_timeout and said 'not confirmed' of a filled order)
        answered = self.provider.expect(_answer_to_cancel(order.client_order_id)) if wait else None
        try:
            await self.provider.cancel_order(order.client_order_id, order.ib_order_id)
        except BrokerError as exc:
            if answered is not None:
                answered.cancel()
            if raced:
                raise BrokerError(_raced_not_canceled(order, exc), code="not_cancelable") from exc
            if order.status is OrderState.SENDING:
                raise BrokerError(_sending_elsewhere(order), code="not_cancelable") from exc
            raise
        self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.CANCEL_REQUESTED, EventSource.USER))
        if answered is None:
            return ""
        try:
            answer = await asyncio.wait_for(answered, self.confirm_timeout)
        except TimeoutError:
            log.warning("cancel of %s not confirmed within %s s", order.client_order_id, self.confirm_timeout)
            return ""
        if isinstance(answer, BrokerErrorEvent):
            refusal = f"the broker refused the cancel ({answer.code}: {answer.message})"
            log.warning("cancel of %s: %s", order.client_order_id, refusal)
            return refusal
        return ""

    async def cancel_all(self, live_token: str | None = None, *, one_by_one: bool = False, wait: bool = False) -> CanceledOrders:
        """reqGlobalCancel (every working order, TWS ones too), or one cancel per working order.
        It acts on the connected account, or with reqGlobalCancel, which cancels the orders of
        every account of the login at the broker, on each of the login's accounts (``_acted_on``):
        their senders stop and their unsent orders are canceled as the connected account's.
        A run of this process that is sending stops first, and every order not sent yet is
        canceled before it is sent (``cancel``'s rule): nothing more goes out after Cancel All,
        neither from a run nor later from recovery, which would take an unsent order left NEW
        for a stuck one and send it, nor from the run's next execute (one that escaped, its
        sender died holding it, is closed by them: services.execution.halt_unsent). A sender of this process that does not stop within the
        wait writes nothing more and closes what it claimed as canceled when it stops (never
        NEW again). An order still SENDING once its sender stopped may be at
        the broker: canceled there like a working one (``_working``). One by one, what the
        broker or this session cannot cancel (IB lets only the client that placed an order
        cancel it) is said in the result's ``not_canceled``, not counted as canceled; so is an
        unsent order its run's sender claimed as it was canceled here (the cancel of an unsent
        order applies only while it is NEW: ``LocalOrderEvent.unsent_only``). With ``wait``
        (a command, which disconnects once it returns), the broker's final status of each order
        it holds is waited for (``confirm_timeout`` in all) and written before returning, as
        ``cancel`` does; the window's Cancel All sees them stream in."""
        self._check_live(live_token)
        self._stopping(CANCEL_ALL)  # a replacement of this process waiting to go stops there
        # first the marker, for every process's sender (services.execution.sending): one that
        # started before it stops before its next order and gives back its claims
        acted_on = self._acted_on(one_by_one)
        mark = await self._db(self._mark_cancel_all, one_by_one, acted_on)
        stopping: set[int] = set()  # runs of this process whose sender had not stopped within the wait
        stopped_here: frozenset[str] = frozenset()  # their leases: nothing more is written under them
        if self.service is not None:
            self.service.stop_sending(CANCEL_ALL)
            stopped_here = self.service.stopped_leases()
            # what the stopped run gives back is listed below, not left behind as it settles
            if not await self.service.sending_stopped(self.confirm_timeout):
                stopping = self.service.executing_runs()
                # it writes nothing more (its last look before each placeOrder sees the stop) and
                # closes what it claimed as canceled when it stops (OrderSender._give_back)
                log.warning("cancel all: %s still stopping after %s s (%s): they send nothing more and cancel "
                            "what they had claimed as they stop", counted(len(stopping), "run"), self.confirm_timeout,
                            ", ".join(map(str, sorted(stopping))))
        # then the senders of other processes: the broker's cancel must come after their last
        # placeOrder, or what they send in between stays working
        busy = await self._senders_stopped(mark, stopped_here, acted_on)
        not_stopped = tuple(f"run {h.run_id} ({h.describe()})" for h in busy)
        working = await self._db(self._working, {h.run_id for h in busy})
        at_broker = [o for o in working if reached_the_broker(o)]
        # read before the cancel, not after: what the global cancel found open at the broker of
        # another account of the login is said, though that account's session may record it
        # canceled a moment later
        elsewhere = await self._db(self._open_elsewhere)
        # the global cancel's other accounts of the login: their orders not sent yet are canceled
        # here, as the connected account's (the broker's cancel reaches only what was sent, and
        # their senders stop at the marker): nothing of the login goes out after the Cancel All
        unsent_elsewhere = [o for other, orders in elsewhere.items() if other in acted_on
                            for o in orders if not reached_the_broker(o)]
        confirmations = {o.client_order_id: self.provider.expect(_final_for(o.client_order_id, o.ib_perm_id))
                         for o in at_broker} if wait else {}
        not_canceled: dict[int, str] = {}
        if one_by_one:
            for order in working:
                if not reached_the_broker(order):  # canceled here, as ``cancel`` does: nothing to ask the broker
                    self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.CANCEL_REQUESTED, EventSource.USER,
                                                       message="canceled before sending (Cancel All)", unsent_only=True))
                    continue
                try:
                    await self.provider.cancel_order(order.client_order_id, order.ib_order_id)
                except BrokerError as exc:
                    refused = confirmations.pop(order.client_order_id, None)
                    if refused is not None:
                        refused.cancel()
                    if order.status is OrderState.SENDING and order.run_id in stopping:
                        # claimed by this process's stopping sender and never written (this session
                        # holds every order it wrote): its sender closes it as canceled
                        continue
                    not_canceled[order.id] = (_sending_elsewhere(order) if order.status is OrderState.SENDING
                                              else f"order {order.id} ({order.client_order_id}): {exc}")
                    log.warning("cancel all: %s", not_canceled[order.id])
                    continue
                self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.CANCEL_REQUESTED, EventSource.USER))
        else:
            try:
                await self.provider.cancel_all()
            except BaseException:
                for future in confirmations.values():
                    future.cancel()
                raise
            for order in working:
                reached = reached_the_broker(order)
                self.writer.submit(LocalOrderEvent(order.client_order_id, EventKind.CANCEL_REQUESTED, EventSource.USER,
                                                   message="global cancel" if reached else "canceled before sending (Cancel All)",
                                                   unsent_only=not reached))
            for order in unsent_elsewhere:
                self.writer.submit(LocalOrderEvent(
                    order.client_order_id, EventKind.CANCEL_REQUESTED, EventSource.USER, unsent_only=True,
                    message=f"canceled before sending (Cancel All: the global cancel from account {self.provider.account})"))
        if confirmations:
            unconfirmed = await self._confirmed(confirmations)
            if unconfirmed:
                log.warning("cancel all: %d of %s not confirmed within %s s: IB reports a cancel only to the client "
                            "session that placed the order (these were placed by another client id, or its process "
                            "has ended and wrote nothing more); the next reconciliation of that account records "
                            "their final status", len(unconfirmed), counted(len(confirmations), "cancel"), self.confirm_timeout)
        # an unsent order is canceled only while still NEW: one its run's sender claimed meanwhile
        # (a sender that did not stop within the wait, or one that started after the marker) is
        # sent, and only a cancel at the broker reaches it
        await self.writer.flush()
        unsent = [o for o in working if not reached_the_broker(o)] + unsent_elsewhere
        claimed = await self._db(self._not_canceled_here, [o.client_order_id for o in unsent])
        for order in unsent:
            # (this process's stopping sender writes nothing more: it cancels what it claimed)
            if order.client_order_id in claimed and order.run_id not in stopping:
                not_canceled[order.id] = _claimed_meanwhile(order)
                log.warning("cancel all: %s", not_canceled[order.id])
        canceled = [o.id for o in working if o.id not in not_canceled]
        elsewhere_done = [done_in(other, orders, self.provider.account, acted_on, claimed)
                          for other, orders in sorted(elsewhere.items())]
        result = CanceledOrders.of(canceled, self.provider.account, acted_on, elsewhere_done,
                                   not_canceled=tuple(not_canceled.values()), senders_not_stopped=not_stopped,
                                   everything=not one_by_one, login=self.provider.login_accounts())
        if result.other_accounts:
            log.warning("cancel all: orders of other accounts: %s", "; ".join(result.other_accounts))
        # the record names by account every order it canceled or asked the broker to cancel
        # (``accounts``: the global cancel's other accounts of the login too, which ``orders``,
        # the connected account's, left to the words of ``other_accounts``)
        await self._db(self._audit, AuditAction.ORDER_CANCEL_ALL, None, {
            "orders": list(result), "global": result.everything, "not_canceled": list(result.not_canceled),
            "senders_not_stopped": list(result.senders_not_stopped), "other_accounts": list(result.other_accounts),
            "accounts": result.accounts_record()})
        return result

    def _acted_on(self, one_by_one: bool) -> tuple[str, ...]:
        """The accounts a Cancel All acts on, whose markers it sets (``cancel_all_marks``): the
        connected one; with IB's global cancel, every account of the login, whose orders it
        cancels at the broker (marked for the connected account alone, another account's
        senders went on sending its runs' orders after it). Empty: the account is unknown (a
        marker of every account)."""
        account = self.provider.account
        if not account:
            return ()
        if one_by_one:
            return (account,)
        return (account, *(a for a in self.provider.login_accounts() if a != account))

    def global_cancel_also(self) -> str:
        """What the global Cancel All would do beyond the connected account, in words, asked
        before it is sent (the window's Cancel All question): the login's other accounts it acts
        on (``_acted_on``), their runs stopped and their orders canceled. Empty: none."""
        return global_cancel_also(self._acted_on(one_by_one=False))

    async def _confirmed(self, confirmations: dict) -> list[str]:
        """Wait (``confirm_timeout`` seconds at most) until each order's final status is known:
        from the broker on this session, or from the database, where the process that placed it
        (another client id: IB tells only that session) wrote it. The orders still unconfirmed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.confirm_timeout
        pending = dict(confirmations)
        try:
            while pending:
                done = {c for c, future in pending.items() if future.done()}
                done |= await self._db(self._final_in_database, [c for c in pending if c not in done])
                for coid in done:
                    pending.pop(coid)
                left = deadline - loop.time()
                if not pending or left <= 0:
                    break
                await asyncio.wait(pending.values(), timeout=min(CONFIRM_POLL, left))
        finally:
            for future in confirmations.values():
                future.cancel()
        return sorted(pending)

    def _not_canceled_here(self, client_order_ids: list[str]) -> set[str]:
        """Of these orders, canceled here as unsent, those the cancel did not reach (claimed for
        sending before it was written; sent since, or given back NEW by a sender that stopped)."""
        claimed: set[str] = set()
        with self.db.session() as session:
            for start in range(0, len(client_order_ids), 500):
                claimed.update(coid for coid, status in session.execute(
                    select(TradeOrder.client_order_id, TradeOrder.status).where(
                        TradeOrder.client_order_id.in_(client_order_ids[start:start + 500])))
                    if OrderState(status) is not OrderState.CANCELED)
        return claimed

    def _final_in_database(self, client_order_ids: list[str]) -> set[str]:
        if not client_order_ids:
            return set()
        with self.db.session() as session:
            return {coid for coid, status in session.execute(
                select(TradeOrder.client_order_id, TradeOrder.status).where(TradeOrder.client_order_id.in_(client_order_ids)))
                if OrderState(status).is_terminal}

    @retry_lock_conflicts  # one unit of work, before any cancel
    def _mark_cancel_all(self, one_by_one: bool, acted_on: tuple[str, ...] | None = None) -> datetime:
        """The marker of a Cancel All (``one_by_one`` or global) set for ``acted_on``, the accounts
        it acts on (None: those of its form, ``_acted_on``)."""
        if acted_on is None:
            acted_on = self._acted_on(one_by_one)
        with self.db.unit_of_work() as session:
            # the markers of the accounts it acts on (``_acted_on``), one moment for all: another
            # account's senders go on sending
            mark = SettingsRepository(session).mark_cancel_all(datetime.now(UTC), *acted_on)
            audit(self.db, self.actor, AuditAction.TRADING_CANCEL_ALL, "trade_settings", 1,
                  # the accounts it acts on: the unsent orders of an account it does not act on
                  # are left to that account's run (services.execution.halt_unsent.stopped_by)
                  {"cancel_all_at": mark.isoformat(), "global": not one_by_one, "account": self.provider.account,
                   "accounts": list(acted_on)},
                  session=session)
        return mark

    async def _senders_stopped(self, mark: datetime, stopped_here: frozenset[str], acted_on: tuple[str, ...]) -> list[Holder]:
        """Wait (``senders_timeout`` seconds at most) until no process has a sender at work that
        started before the Cancel All marker ``mark`` and that it concerns (of the accounts
        ``acted_on``; one of another account goes on sending: ``LeaseManager.senders_before``); the holders of the runs whose sender
        still sends then (empty: every sender stopped). ``stopped_here``: the leases of this
        process's senders already stopped, which write nothing more however long their lease
        row says they send (a run held at the pacing limiter made every Cancel All wait the
        whole ``senders_timeout`` for it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.senders_timeout
        while True:
            busy = [holder for holder in await self._db(self.leases.senders_before, mark, *acted_on)
                    if holder.token not in stopped_here]
            if not busy or loop.time() >= deadline:
                break
            await asyncio.sleep(SENDERS_POLL)
        if busy:
            log.warning("cancel all: the sender of %s did still send %g s after Cancel All; what it sends after the "
                        "cancel may stay working: %s", counted(len(busy), "run"), self.senders_timeout,
                        "; ".join(f"run {h.run_id} ({h.describe()})" for h in busy))
        return busy

    def working_count(self) -> int:
        """How many orders ``cancel_all`` would cancel one by one (blocking: a worker thread's)."""
        return len(self._working())

    def working_at_broker_count(self) -> int:
        """How many of the orders ``cancel_all`` would cancel are at the broker (or on their way
        there): what a halt leaves open, able to fill, where its question says so (a halt closes
        only the runs' orders not sent yet). Blocking: a worker thread's."""
        return sum(1 for order in self._working() if order.status.is_working)

    def _working(self, still_sending: set[int] | frozenset[int] = frozenset()) -> list[OrderRecord]:
        """The orders Cancel All cancels: every order of the connected account that may be
        canceled (``OrderState.is_cancelable``, as a row's Cancel: working ones and NEW ones not
        sent yet; another account's orders are not ours to touch from this session). A SENDING
        order is left to its sender while that still sends in another process (the runs
        ``still_sending``: the sender gives back what it does not send, closed as canceled). Once its sender stopped, an order still
        SENDING had its placeOrder written (its SUBMITTED or the broker's first status not
        recorded yet, or placeOrder failed after the write) or its sender died: it may be
        working at the broker, so it is canceled there like a working one."""
        account = self.provider.account
        with self.db.session() as session:
            return [to_order_record(o) for o in OrderRepository(session).list_open()
                    if (o.account in (None, account) if account else not is_backtest_account(o.account))
                    and not (o.status is OrderState.SENDING and o.run_id in still_sending)]

    def _open_elsewhere(self) -> dict[str, list[OrderRecord]]:
        """The open orders of accounts other than the connected one (a database shared by several
        accounts), per account: said rather than skipped in silence (``done_in``), since a trader
        who pressed Cancel All must not take them for canceled, nor for left alone when they were
        not. One by one, Cancel All leaves them (this session cannot cancel them at the broker,
        and an unsent one is the other account's run's to send or cancel). IB's global cancel
        acts on the whole login: it cancels at the broker the orders of every account the login
        manages, and Cancel All then cancels their unsent ones too (``_acted_on``); it leaves
        other logins' orders. Empty: the connected account is unknown."""
        account = self.provider.account
        per_account: dict[str, list[OrderRecord]] = {}
        if not account:
            return per_account
        with self.db.session() as session:
            for o in OrderRepository(session).list_open():
                if o.account not in (None, account) and not is_backtest_account(o.account):
                    per_account.setdefault(o.account, []).append(to_order_record(o))
        return per_account

    # ------------------------------------------------------------------ halt / resume
    async def halt(self, *, cancel_all: bool = False, live_token: str | None = None, wait: bool = False) -> Halted:
        """``wait``: as ``cancel_all``'s (a command). The Cancel All's outcome is returned, so that
        what it could not cancel is said (it was dropped: ``halt --cancel-all`` exited 0 with
        orders still working at the broker)."""
        self._stopping("trading HALTED")  # as a run's sender, a replacement waiting to go stops
        if self.service is not None:
            self.service.stop_sending()  # a run sending right now stops before its next order
        state, unsent = await self._db(self._set_state, TradingState.HALTED, {"cancel_all": cancel_all})
        canceled = await self.cancel_all(live_token, wait=wait) if cancel_all else None
        return Halted(state, canceled, tuple(unsent))

    async def resume(self) -> TradingState:
        state, _ = await self._db(self._set_state, TradingState.ACTIVE, {})
        return state

    @retry_lock_conflicts  # one unit of work of the database alone
    def _set_state(self, state: TradingState, payload: dict) -> tuple[TradingState, list[str]]:
        """The state set, and (a halt) the runs' orders not sent yet that it canceled."""
        unsent: list[str] = []
        with self.db.unit_of_work() as session:
            settings = SettingsRepository(session)
            before = settings.get_for_update().trading_state
            settings.set_trading_state(state)
            if state is TradingState.HALTED:
                # the runs' orders not sent yet are closed with the halt, in its transaction: never
                # sent automatically after the resume (services/execution/halt_unsent.py)
                unsent = cancel_unsent_of_runs(session)
                payload = {**payload, "unsent_canceled": unsent}
            audit(self.db, self.actor, AuditAction.TRADING_HALT if state is TradingState.HALTED else AuditAction.TRADING_RESUME, "trade_settings", 1,
                  {"from": str(before), "to": str(state), **payload}, session=session)
        return state, unsent

    # ------------------------------------------------------------------ risk for one order
    async def _risk_check(self, request: OrderRequest, *, project: int | str | None, replacing: Replacing | None = None) -> None:
        """The ticket's check (services.execution.order_risk) of ``request`` as it would go,
        against ``project``'s book: ``RiskBlocked`` with the reasons."""
        spec = request.spec
        inputs = await market_inputs(self.provider, spec, ask_tick=False)
        _, report, _ = await self._db(
            check_order_in, self.db, self.provider,
            lambda seen: order_draft(spec, request.side, request.quantity, request.order_type, seen, request.client_order_id,
                                     limit_price=request.limit_price, stop_price=request.stop_price, tif=request.tif,
                                     outside_rth=request.outside_rth),
            inputs, project=project, replacing=replacing)
        if report.blocked:
            raise RiskBlocked(f"blocked by risk: {block_reasons(report)}")

    # ------------------------------------------------------------------ manual order
    async def manual_order(self, symbol: str, side: Side | str, quantity: Decimal, order_type: OrderType | str = OrderType.MKT,
                           limit_price: Decimal | None = None, live_token: str | None = None, *, project: str | None = None,
                           client_order_id: str | None = None, contract: ContractSpec | None = None,
                           require_market_health: bool = True, outside_rth: bool = False) -> OrderRecord:
        """``symbol`` is a US stock or a listing key (SAP@IBIS:EUR); ``contract`` names the listing
        exactly. The market-health gate must pass (``MarketUnhealthy`` with the reasons); a market
        order for a closed market is refused, a limit order outside the regular session goes only
        with ``outside_rth``. A replace's new order does not come here: it is the original order
        anew (``replace``), checked before the original is canceled."""
        self._check_live(live_token)
        spec = contract or spec_of(symbol)
        problem = contract_problem(spec)
        if problem is not None:
            raise BadInput(f"{spec.key}: {problem[1]}")
        symbol = spec.symbol
        side, order_type = Side(str(side).upper()), OrderType(str(order_type).upper())
        quantity = Decimal(quantity)
        if not symbol or quantity <= 0:
            raise BadInput("a manual order needs a symbol and a positive quantity")
        if order_type is OrderType.LMT and (limit_price is None or Decimal(limit_price) <= 0):
            raise BadInput("a LMT order needs a positive limit price")
        if order_type is OrderType.MKT:
            limit_price = None
        await self._ensure_not_halted()
        await self._check_market_health(spec, order_type, require_market_health, outside_rth)
        coid = client_order_id or f"M-{datetime.now(UTC):%y%m%d%H%M%S}-{symbol}-{side.value[0]}-{uuid.uuid4().hex[:6]}"
        request = OrderRequest(coid, symbol, side, quantity, order_type, limit_price, contract=spec, outside_rth=outside_rth)
        await self._risk_check(request, project=project)
        return await self._place(request, project=project)

    async def _place(self, request: OrderRequest, *, project: str | None = None, replaces_order_id: int | None = None,
                     run_id: int | None = None, stops: int | None = None) -> OrderRecord:
        """``request`` stored and sent as it is: every gate has passed. A halt or Cancel All of
        this process since ``stops`` (default: now) stops it in the step that writes it, as a
        run's sender is stopped: it waits its turn at the pacing limiter (seconds behind a run),
        and went out after the trader's Cancel All; it is then canceled unsent, and
        ``SendingStopped`` says why. One of another process is seen as its senders see it: the
        Cancel All marker and the trading state looked at every ``SEND_WATCH_INTERVAL`` seconds
        while it waits."""
        coid = request.client_order_id
        stops = self._stops if stops is None else stops
        mark = await self._db(self._cancel_all_mark)
        elsewhere: list[str] = []  # a halt or Cancel All of another process seen while it waits

        def not_stopped() -> None:
            if self._stops != stops:
                raise SendingStopped(f"{self._last_stop} pressed while it waited its turn to go")
            if elsewhere:
                raise SendingStopped(f"{elsewhere[0]} (another process) while it waited its turn to go")

        async def watch() -> None:
            while not elsewhere:
                await asyncio.sleep(SEND_WATCH_INTERVAL)
                why = await self._db(self._stop_in_database, mark)
                if why is not None:
                    elsewhere.append(why)

        order_id = await self._db(self._insert, request, project, replaces_order_id, run_id)
        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            ib_order_id = await self.provider.place_order(request, check=not_stopped)
        except SendingStopped as exc:
            self.writer.submit(LocalOrderEvent(coid, EventKind.CANCEL_REQUESTED, EventSource.USER,
                                               message=f"not sent: {exc}", unsent_only=True))
            await self.writer.flush()
            raise
        finally:
            watcher.cancel()
        self.writer.submit(LocalOrderEvent(coid, EventKind.SUBMITTED, EventSource.USER, ib_order_id=ib_order_id,
                                           payload={"orderRef": coid, "orderId": ib_order_id,
                                                    **placed_by(getattr(self.provider, "client_id", None))}))
        await self._db(self._audit, AuditAction.ORDER_MANUAL if replaces_order_id is None else AuditAction.ORDER_REPLACE_NEW, order_id,
                       {"client_order_id": coid, "symbol": request.symbol, "side": str(request.side), "quantity": str(request.quantity),
                        "order_type": str(request.order_type),
                        "limit_price": None if request.limit_price is None else str(request.limit_price),
                        "tif": request.tif, "outside_rth": request.outside_rth,
                        "stop_price": None if request.stop_price is None else str(request.stop_price),
                        "replaces_order_id": replaces_order_id})
        await self.writer.flush()
        return await self._db(self._order, order_id)

    async def _check_market_health(self, spec: ContractSpec, order_type: OrderType, required: bool, outside_rth: bool) -> None:
        if self.health is None:
            return
        if not required:
            await self._db(self._audit, AuditAction.ORDER_MARKET_HEALTH_SKIPPED, None,
                           {"symbol": spec.key, "status": self.health.status().describe()})
            return
        report = await self.health.check([TradeIntent(spec, order_type)], outside_rth=outside_rth)
        if not report.healthy:
            await self._db(self._audit, AuditAction.ORDER_MARKET_HEALTH_REFUSED, None, {"symbol": spec.key, "reasons": list(report.reasons)})
            raise MarketUnhealthy(f"{spec.key}: order refused, the market is not healthy: {report.describe()}")

    @retry_lock_conflicts  # one unit of work, stored NEW before it is sent
    def _insert(self, request: OrderRequest, project, replaces_order_id, run_id) -> int:
        spec = request.spec
        with self.db.unit_of_work() as session:
            project_id = ProjectRepository(session).get_or_create(project).id if project else None
            if replaces_order_id is not None and project_id is None:
                project_id = OrderRepository(session).get(replaces_order_id).project_id
            # the TIF, outside-RTH and stop price stored as sent: recovery re-places an order from its row
            order = OrderRepository(session).create(
                request.client_order_id, spec.symbol, request.side, request.quantity, order_type=request.order_type,
                limit_price=request.limit_price, tif=request.tif, params=draft_params(request) or None, project_id=project_id,
                run_id=run_id, replaces_order_id=replaces_order_id, account=self.provider.account or None,
                sec_type=spec.sec_type, exchange=spec.exchange, currency=spec.currency, primary_exchange=spec.primary_exchange or None,
            )
            return order.id

    # ------------------------------------------------------------------ replace
    async def replace(self, order_id: int, quantity: Decimal | None = None, limit_price: Decimal | None = None,
                      live_token: str | None = None, stop_price: Decimal | None = None) -> ReplaceResult:
        """The working order with a new quantity, limit and/or stop price: changed in place (a LMT,
        STP or STP LMT order), or canceled and sent anew when IB refuses that for a LMT order or
        for a MKT order. A stop order is never canceled and sent anew: the position would be
        without its stop meanwhile, and the new one could be refused. Either way the order is
        otherwise the one the trader confirmed (TIF, outside-RTH, listing), and every gate its new
        form must pass runs before anything is changed or canceled: a refused replace leaves the
        original working as it was."""
        self._check_live(live_token)
        if quantity is None and limit_price is None and stop_price is None:
            raise BadInput("replace needs a new quantity, limit price and/or stop price")
        stops = self._stops  # a halt or Cancel All of this process from here on stops its new order
        await self._ensure_not_halted()
        order, replacing, original, canceled_all = await self._db(self._to_replace, order_id)  # one read of the order
        spec = original.spec
        asked = (None if quantity is None else Decimal(quantity), None if limit_price is None else Decimal(limit_price))
        stop = None if stop_price is None else Decimal(stop_price)
        problem = replace_problem(order, *asked, stop_price=stop)
        if problem is None and (limit_price is not None or stop is not None):  # new prices on the listing's grid (IB: error 110)
            problem = replace_problem(order, *asked, await min_tick_of(self.provider, spec), stop_price=stop)
        if problem is not None:
            raise BadInput(f"order {order_id}: {problem}")
        new_quantity = Decimal(quantity) if quantity is not None else order.quantity
        new_limit = Decimal(limit_price) if limit_price is not None else order.limit_price
        new_stop = stop if stop is not None else order.stop_price
        payload = {"client_order_id": order.client_order_id, "quantity": str(new_quantity),
                   "limit_price": None if new_limit is None else str(new_limit)}
        if order.order_type.has_stop:
            payload["stop_price"] = None if new_stop is None else str(new_stop)
        # the order as it would stand after the replace: the stored one with only these changed
        # (the risk check values a stop order at its stop)
        wanted = dataclasses.replace(original, client_order_id=order.client_order_id + "-chk", quantity=new_quantity,
                                     limit_price=new_limit, stop_price=new_stop)
        # checked for what it still trades: its filled part is in the book already (checked for its
        # whole quantity, a partly filled sell re-priced was 'selling 30 of 20 held would go short')
        still = dataclasses.replace(wanted, quantity=new_quantity - (order.filled_quantity or Decimal(0)))
        try:
            await self._risk_check(still, project=replacing.project_id, replacing=replacing)
        except RiskBlocked as exc:
            # a refused replace is a decision too: the audit log says who asked for what and why not
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": str(exc)})
            raise
        why_new = "a market order cannot be changed in place"
        if order.order_type is OrderType.LMT or order.order_type.has_stop:
            coid = order.client_order_id
            confirmed = self.provider.expect(lambda ev: isinstance(ev, OpenOrderEvent) and ev.order_ref == coid
                                             and ev.quantity == new_quantity and (new_limit is None or ev.limit_price == new_limit)
                                             and (stop is None or ev.stop_price == new_stop))
            # a refusal (105, 104, 201, ...: services.core.ib_codes) answers at once, no timeout
            refused = self.provider.expect(lambda ev: isinstance(ev, BrokerErrorEvent) and ev.order_ref == coid
                                           and refuses_modify(ev.code))
            self.writer.submit(LocalOrderEvent(coid, EventKind.REPLACE_REQUESTED, EventSource.USER, quantity=new_quantity,
                                               limit_price=new_limit, stop_price=stop, payload=payload))
            try:
                await self.provider.modify_order(coid, new_quantity if quantity is not None else None, limit_price, stop)
            except BrokerError as exc:
                confirmed.cancel()
                refused.cancel()
                self.writer.submit(LocalOrderEvent(coid, EventKind.REPLACE_REJECTED, EventSource.USER, message=str(exc)))
                await self.writer.flush()
                raise
            done, _ = await asyncio.wait({confirmed, refused}, timeout=self.confirm_timeout, return_when=asyncio.FIRST_COMPLETED)
            ok = confirmed in done
            confirmed.cancel()
            refused.cancel()
            if ok:
                await self._db(self._audit, AuditAction.ORDER_REPLACE, order_id, {**payload, "method": "modify"})
                await self.writer.flush()
                return ReplaceResult(order_id, "modify", quantity=new_quantity, limit_price=new_limit,
                                     stop_price=new_stop if order.order_type.has_stop else None)
            if refused in done and not refused.cancelled():
                answer = refused.result()
                why = f"{answer.code}: {answer.message}"
                if classify(answer.code) is CodeClass.ORDER_REJECTED:
                    await self._change_rejected(order_id, coid, payload, why)
            else:
                why = "no confirmation"
            log.warning("modify of %s refused (%s): cancel and send a new order", coid, why)
            self.writer.submit(LocalOrderEvent(coid, EventKind.REPLACE_REJECTED, EventSource.USER, message=f"modify refused: {why}"))
            await self.writer.flush()
            if order.order_type.has_stop:
                await self._stop_kept(order_id, payload, why)
            why_new = f"the broker did not change it in place ({why})"
        return await self._cancel_and_new(order_id, wanted, payload, why_new, canceled_all, stops)

    async def _stop_kept(self, order_id: int, payload: dict, why: str) -> None:
        """A stop order the broker did not change in place is left working, never canceled and
        sent anew (its position would be without its stop meanwhile, and for good were the new
        order refused): said, with what the trader can do."""
        reason = f"the broker did not change it in place ({why})"
        await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": reason})
        raise BrokerError(f"order {order_id} not replaced: {reason}; a stop order is never canceled and sent anew, it "
                          f"keeps working as the broker holds it (its next status shows in the blotter); cancel it and "
                          f"enter a new one in the order ticket to change it otherwise", code="replace_refused")

    async def _change_rejected(self, order_id: int, coid: str, payload: dict, why: str) -> None:
        """IB rejected the order's new form itself (201: a margin check, a size or price limit),
        not the way of changing it (105): a new order of that form would be rejected alike, so
        the original is left working as it was, never canceled for it (the trader was left with
        no order once IB rejected the new one too)."""
        self.writer.submit(LocalOrderEvent(coid, EventKind.REPLACE_REJECTED, EventSource.USER, message=f"modify refused: {why}"))
        await self.writer.flush()
        reason = f"the broker rejected the change ({why})"
        await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": reason})
        raise BrokerError(f"order {order_id} not replaced, it is still working unchanged: {reason}; a new order of that "
                          f"form would be rejected alike", code="replace_refused")

    async def _cancel_and_new(self, order_id: int, wanted: OrderRequest, payload: dict, why_new: str,
                              canceled_all: datetime | None, stops: int) -> ReplaceResult:
        """Cancel, then send ``wanted`` (less what filled meanwhile) as a new linked order. Its gates
        run first: refused after the cancel, the trader would be left with no order at all; after
        it, only a halt or a Cancel All (its marker no longer ``canceled_all``, the one read when
        the replace began) pressed meanwhile stops the new order. (Risk
        was checked by ``replace`` for what the new quantity still trades, its total less what had filled;
        what goes after the cancel, less what filled by then, is no more.)"""
        try:
            problem = contract_problem(wanted.spec)
            if problem is not None:
                raise BadInput(f"{wanted.spec.key}: {problem[1]}")
            await self._ensure_not_halted()  # again: the modify's answer may have taken seconds
            # the session judged as for the original: a GTC outside-RTH limit order may rest now
            await self._check_market_health(wanted.spec, wanted.order_type, True, wanted.outside_rth)
        except (BadInput, RiskBlocked) as exc:  # MarketUnhealthy and TradingHalted are RiskBlocked
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": str(exc)})
            raise type(exc)(f"order {order_id} not replaced, it is still working unchanged: {why_new}, and a new order "
                            f"would be refused: {exc}", code=exc.code) from exc
        order = await self._db(self._order, order_id)
        coid = order.client_order_id
        # its final status, or the broker's refusal of the cancel: an order that filled before the
        # cancel (its Filled already in) gets only a refusal (10148 / 161), and the replace waited
        # out the whole confirm_timeout to say 'cancel not confirmed' of a filled order
        answered = self.provider.expect(_answer_to_cancel(coid))
        try:
            await self.provider.cancel_order(coid, order.ib_order_id)
        except BaseException:
            answered.cancel()
            raise
        self.writer.submit(LocalOrderEvent(coid, EventKind.CANCEL_REQUESTED, EventSource.USER, message="replace: cancel first"))
        try:
            event = await asyncio.wait_for(answered, self.confirm_timeout)
        except TimeoutError:
            await self.writer.flush()
            raise BrokerError(f"cancel of {coid} not confirmed within {self.confirm_timeout} s: no new order sent") from None
        await self.writer.flush()  # the broker's news before its answer (a fill) is written
        order = await self._db(self._order, order_id)
        if order.status is OrderState.FILLED or (isinstance(event, OrderStatusEvent) and event.status == "Filled"):
            await self._db(self._audit, AuditAction.ORDER_REPLACE, order_id, {**payload, "method": "nothing", "reason": "filled before the cancel"})
            return ReplaceResult(order_id, "nothing", message="the order filled before it could be canceled",
                                 quantity=wanted.quantity, limit_price=wanted.limit_price)
        if isinstance(event, BrokerErrorEvent):
            refusal = f"the broker refused the cancel of {coid} ({event.code}: {event.message})"
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": refusal})
            raise BrokerError(f"order {order_id} not replaced: {refusal}; it is {order.status}: no new order sent",
                              code="not_cancelable")
        remaining = wanted.quantity - order.filled_quantity
        if remaining <= 0:  # said in the audit log as a fill before the cancel is
            reason = (f"{plain(order.filled_quantity)} filled before the cancel, of the {plain(wanted.quantity)} asked in "
                      "all: nothing left to send")
            await self._db(self._audit, AuditAction.ORDER_REPLACE, order_id, {**payload, "method": "nothing", "reason": reason})
            return ReplaceResult(order_id, "nothing", message=reason, quantity=wanted.quantity, limit_price=wanted.limit_price)
        try:
            # a halt pressed while the cancel was under way stops the new order: nothing new goes out
            await self._ensure_not_halted()
        except TradingHalted as exc:
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": str(exc)})
            raise TradingHalted(f"order {order_id} canceled, its replacement not sent: {exc}") from exc
        # a Cancel All pressed while the cancel was under way: the trader canceled everything, and
        # the new order would be working at the broker after Cancel All returned
        mark = await self._db(self._cancel_all_mark)
        if mark != canceled_all:
            reason = (f"a Cancel All at {mark:%Y-%m-%d %H:%M:%S} UTC, after this replace began, canceled everything: "
                      "nothing new goes out")
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": reason})
            raise SendingStopped(f"order {order_id} canceled, its replacement not sent: {reason}", code="cancel_all")
        # one new order per order replaced: its client order id is derived from the original's, so
        # that a second session replacing the same order at the same moment finds it taken (each
        # counted the replacements so far and, counting after the other's insert, sent a second)
        new_coid = f"{coid[:56]}-R1"
        request = await self._db(self._replacement_request, order_id, new_coid, remaining, wanted.limit_price)
        try:
            new = await self._place(request, replaces_order_id=order_id, run_id=order.run_id, stops=stops)
        except SendingStopped as exc:
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": str(exc)})
            raise SendingStopped(f"order {order_id} canceled, its replacement not sent: {exc}", code="stopped") from exc
        except RepositoryError as exc:  # stored by the other session: nothing was sent here
            reason = f"another session replaced it at the same moment ({new_coid}): no second new order sent ({exc})"
            await self._db(self._audit, AuditAction.ORDER_REPLACE_REFUSED, order_id, {**payload, "reason": reason})
            raise BrokerError(f"order {order_id} canceled, {reason}", code="replaced_elsewhere") from exc
        await self._db(self._audit, AuditAction.ORDER_REPLACE, order_id, {**payload, "method": "cancel_and_new", "new_order_id": new.id})
        return ReplaceResult(order_id, "cancel_and_new", new.id, quantity=wanted.quantity, limit_price=wanted.limit_price)

    def _to_replace(self, order_id: int) -> tuple[OrderRecord, Replacing, OrderRequest, datetime | None]:
        """The order as its record, as what its replacement replaces (the risk check's view) and
        as it went to the broker (its listing, TIF, outside-RTH), and the marker of the last
        Cancel All that concerns this session's account as the replace begins: one read."""
        with self.db.session() as session:
            try:
                order = OrderRepository(session).get(order_id)
            except NotFound:
                raise Missing(f"order {order_id} does not exist") from None
            return (to_order_record(order), _replacing(order), request_for_order(order),
                    SettingsRepository(session).cancel_all_concerning(self.provider.account or None))

    def _cancel_all_mark(self) -> datetime | None:
        """The marker of the last Cancel All that concerns this session's account (one of another
        account leaves its orders as they are, as a run's sender: ``cancel_all_concerning``)."""
        with self.db.session() as session:
            return SettingsRepository(session).cancel_all_concerning(self.provider.account or None)

    def _stop_in_database(self, mark: datetime | None) -> str | None:
        """A Cancel All of this session's account since ``mark`` (``_cancel_all_mark``), or trading
        HALTED (by any process); else None."""
        with self.db.session() as session:
            settings = SettingsRepository(session, read_once=True)
            if settings.cancel_all_concerning(self.provider.account or None) != mark:
                return CANCEL_ALL
            return "trading HALTED" if settings.trading_state() is TradingState.HALTED else None

    def _replacement_request(self, order_id: int, client_order_id: str, quantity: Decimal, limit_price: Decimal | None) -> OrderRequest:
        """The replaced order anew, as recovery re-places one (``request_for_order``): only the
        id, the quantity and the limit differ."""
        with self.db.session() as session:
            return request_for_order(OrderRepository(session).get(order_id), client_order_id=client_order_id,
                                     quantity=quantity, limit_price=limit_price)


def _sending_elsewhere(order: OrderRecord) -> str:
    """Why a SENDING order that this session does not hold cannot be canceled from here (by a
    row's Cancel or by Cancel All one by one): IB lets only the client that placed an order
    cancel it, and a bare order id is never canceled (it may name another order)."""
    return (f"order {order.id} ({order.client_order_id}) is SENDING and not open in this session: its run's sender "
            f"(another process, or this one a moment before its placeOrder) may have sent it; cancel it from the "
            f"session that placed it once the broker acknowledged it, halt trading to stop a run still sending, "
            f"or cancel everything at the broker (IB's global cancel)")


def _raced_not_canceled(order: OrderRecord, exc: Exception) -> str:
    """Why a row's Cancel of an unsent order did not cancel it: its sender claimed it first."""
    return (f"could not cancel order {order.id} ({order.client_order_id}): its run's sender claimed it for sending as it "
            f"was canceled, and it is not at the broker from this session yet ({exc}); it may go out now: cancel it "
            f"again once it shows as working, or halt trading and cancel everything at the broker (IB's global cancel)")


def _claimed_meanwhile(order: OrderRecord) -> str:
    """Why Cancel All did not cancel an order it found unsent (NEW)."""
    return (f"order {order.id} ({order.client_order_id}) was claimed for sending by its run's sender (one still at work, "
            f"or started after this Cancel All) as it was being canceled: it goes to the broker; cancel it there once "
            f"acknowledged, or cancel everything at the broker (IB's global cancel)")


def _replacing(order) -> Replacing:
    return Replacing(order.created_at, order.status, order.client_order_id, order.project_id)


_REFUSE_A_CANCEL = frozenset({CodeClass.CANCEL_REFUSED, CodeClass.ORDER_REJECTED})


def _answer_to_cancel(coid: str):
    """The broker's answer to a cancel of the order: a final status, or an error refusing the
    cancel (10147 not found, 10148 / 161 not cancelable, 201 'Cannot cancel the filled order');
    no other error about the order (105, 104: the refusal of a modify another session asked for
    at the same time is not this cancel's answer)."""
    final = _final_for(coid)

    def predicate(ev) -> bool:
        if isinstance(ev, BrokerErrorEvent):
            return ev.order_ref == coid and classify(ev.code) in _REFUSE_A_CANCEL
        return final(ev)

    return predicate


def _final_for(coid: str, perm_id: int | None = None):
    """A final status of the order: by its order ref, or by its permanent id (an order placed in
    TWS carries no ref of ours)."""
    def predicate(ev) -> bool:
        return (isinstance(ev, OrderStatusEvent) and (ev.order_ref == coid or (bool(perm_id) and ev.perm_id == perm_id))
                and ev.status in ("Cancelled", "ApiCancelled", "Filled", "Inactive"))

    return predicate
