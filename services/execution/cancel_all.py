"""Cancel All: every working order of the connected account (IB's global cancel: of every account
of the login) canceled, the senders of every process stopped first, the unsent orders canceled
before they are sent; and how many orders it would cancel, for the questions asked before it.

Its outcome, per account, and its words are ``CanceledOrders`` (cancel_all_outcome.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import select

from services.audit_actions import AuditAction
from services.core.order_state import EventKind
from services.core.wording import counted
from services.db.convert import to_order_record
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import TradeOrder
from services.db.repositories import OrderRepository, SettingsRepository
from services.domain import EventSource, OrderRecord, OrderState, is_backtest_account

from .action_context import ActionContext, ActionPart
from .audit import audit
from .cancel_all_outcome import CanceledOrders, done_in, global_cancel_also, reached_the_broker
from .cancel_order import final_for, placed_by_another_client, sending_elsewhere
from .errors import BrokerError
from .lease import LeaseManager
from .process_identity import Holder
from .sending import CANCEL_ALL, SEND_WATCH_INTERVAL
from .unrecorded import database_unavailable
from .writer import LocalOrderEvent

log = logging.getLogger(__name__)

# Cancel All waits this long for the senders of other processes: they look at its marker every
# SEND_WATCH_INTERVAL seconds, and stop before their next order
SENDERS_TIMEOUT = SEND_WATCH_INTERVAL + 4.5
SENDERS_POLL = 0.1
CONFIRM_POLL = 0.25  # seconds between two looks at the database for cancels another session confirmed


class CancelAll(ActionPart):
    def __init__(self, context: ActionContext, leases: LeaseManager, senders_timeout: float) -> None:
        super().__init__(context)
        # the run leases, where every process's sender says it is at work (Cancel All waits for them)
        self.leases = leases
        self.senders_timeout = senders_timeout

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
        self.context.stopping(CANCEL_ALL)  # a replacement of this process waiting to go stops there
        # first the marker, for every process's sender (services.execution.sending): one that
        # started before it stops before its next order and gives back its claims
        acted_on = self._acted_on(one_by_one)
        # the database not answering (or keeping a lock the marker needs): the cancel does not wait
        # for it, the marker is written when it can be (services.execution.unrecorded)
        mark, unrecorded = await self.context.unrecorded.write_or_leave(
            "the Cancel All", self._db_detached(self._mark_cancel_all, one_by_one, acted_on),
            lambda late: self._mark_cancel_all(one_by_one, acted_on, late=late),
            parts="its marker and audit entry", plural=True)
        if mark is None:
            return await self._at_the_broker_alone(one_by_one, unrecorded)
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
        confirmations = {o.client_order_id: self.provider.expect(final_for(o.client_order_id, o.ib_perm_id))
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
                    not_canceled[order.id] = (
                        sending_elsewhere(order) if order.status is OrderState.SENDING
                        else placed_by_another_client(order, self.provider.placing_client(), "cancel")
                        or f"order {order.id} ({order.client_order_id}): {exc}")
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
    def _mark_cancel_all(self, one_by_one: bool, acted_on: tuple[str, ...] | None = None, *,
                         late: dict | None = None) -> datetime:
        """The marker of a Cancel All (``one_by_one`` or global) set for ``acted_on``, the accounts
        it acts on (None: those of its form, ``_acted_on``); ``late``: written when the database
        answered again, what its entry records of the delay (services.execution.unrecorded)."""
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
                   "accounts": list(acted_on), **({"recorded_late": late} if late else {})},
                  session=session)
        return mark

    async def _at_the_broker_alone(self, one_by_one: bool, unrecorded: str) -> CanceledOrders:
        """Cancel All while its marker waits for the database: what needs no database is done
        now. This process's senders stop (they write every order to the database before it
        goes, so none goes meanwhile anyway); the cancel goes to the broker: IB's global cancel,
        or one cancel for each order the broker holds open for the connected account (what this
        console knows of its orders is in the database). The marker and the audit entry follow
        (``unrecorded``: the words for it), the broker's answers as the writer writes what it
        keeps meanwhile."""
        if self.service is not None:
            self.service.stop_sending(CANCEL_ALL)
        return await cancel_at_the_broker(self.provider, one_by_one, unrecorded)

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

    def placed_by_other_clients(self) -> list[str]:
        """Why Cancel All one by one cannot cancel from this session each order it would cancel
        that another API client id placed, in the words a row's Cancel refuses it with
        (``placed_by_another_client``): asked before it, the question named none of them and the
        trader learnt it only from the outcome. Blocking: a worker thread's."""
        return self._placed_elsewhere(self._working())

    def _placed_elsewhere(self, working: list[OrderRecord]) -> list[str]:
        client = self.provider.placing_client()
        return [why for order in working if (why := placed_by_another_client(order, client, "cancel")) is not None]

    def question_counts(self) -> tuple[int | None, list[str]]:
        """What the window's Cancel All question says (blocking): ``working_count`` and
        ``placed_by_other_clients``, read once; (None, []) when the database does not answer,
        where the question says so and the Cancel All goes to the broker without it
        (``_at_the_broker_alone``)."""
        try:
            working = self._working()
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return None, []
        return len(working), self._placed_elsewhere(working)

    def halt_question_count(self) -> int | None:
        """``working_at_broker_count`` for the window's Halt question (blocking); None when the
        database does not answer: the halt holds without it (services.execution.unrecorded)."""
        try:
            return self.working_at_broker_count()
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return None

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


def _claimed_meanwhile(order: OrderRecord) -> str:
    """Why Cancel All did not cancel an order it found unsent (NEW)."""
    return (f"order {order.id} ({order.client_order_id}) was claimed for sending by its run's sender (one still at work, "
            f"or started after this Cancel All) as it was being canceled: it goes to the broker; cancel it there once "
            f"acknowledged, or cancel everything at the broker (IB's global cancel)")


async def cancel_at_the_broker(provider, one_by_one: bool, unrecorded: str) -> CanceledOrders:
    """The broker's part of a Cancel All, done without the database: IB's global cancel, or one
    cancel for each order the broker holds open for the connected account (what this console
    knows of its orders is in the database). ``unrecorded``: what is said of what was not
    written. The window's and the commands' Cancel All while the database does not answer
    (``CancelAll._at_the_broker_alone``, ``services.execution.broker_alone``)."""
    if not one_by_one:
        await provider.cancel_all()
        return CanceledOrders([], everything=True, login=provider.login_accounts(), unrecorded=unrecorded)
    account = provider.account
    canceled: list[str] = []
    not_canceled: list[str] = []
    for order in await provider.open_orders():
        if account and order.account and order.account != account:
            continue
        try:
            await provider.cancel_order(order.order_ref, order.ib_order_id)
        except BrokerError as refused:
            not_canceled.append(f"{order.order_ref or order.ib_order_id} ({order.symbol}): {refused}")
            continue
        canceled.append(order.order_ref)
    return CanceledOrders([], not_canceled=tuple(not_canceled), unrecorded=unrecorded, at_broker_alone=tuple(canceled))
