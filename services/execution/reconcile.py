"""Reconciliation: the broker's open orders, completed orders, executions and positions against
the database, matched by ``orderRef`` (= client_order_id) and ``permId``.

Runs on every connect and on 1101/1102 (a resync hook of the provider), and before a resumed
run sends anything. Rules (docs/ib-notes.md, pitfalls 3, 4, 8):

* every query must answer; a failed one aborts the pass (nothing written) and the pass is
  retried: a failed query means "unknown", never "empty";
* executions missing in the database are inserted (through the one writer, exactly once);
* statuses are corrected from IB's open/completed orders;
* orders IB knows and the database does not are recorded as external (shown, not dropped);
* orders the database thinks are in flight but IB does not know are looked up once more after a
  grace period (a targeted query); if IB still does not know them and they have no execution,
  they are closed as never received. They are NEVER resent automatically;
* orders in flight that another live process sent (their claim belongs to a live run lease) are
  that process's business: left alone;
* a SENDING order (claimed, placeOrder perhaps never left) whose sender is gone (its run lease
  expired or its process died) and that IB does not know after the same targeted query goes back
  to NEW, so that the run's next holder sends it; one IB knows takes IB's state;
* the books: per account and listing, the broker's quantity less every project's book is the
  unassigned rest (``report.unassigned``); books that together hold more than the broker (or the
  other side of it) are a mismatch (``report.book_mismatches``), logged and audited;
* what changed goes to the audit log.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select

from services.audit_actions import AuditAction
from services.core.books import book_mismatches
from services.core.ib_codes import CodeClass, classify
from services.core.typed_numbers import plain
from services.core.wording import describe_order
from services.db.convert import to_order_record
from services.db.models import Position, TradeFill, TradeOrder
from services.db.repositories import SettingsRepository
from services.db.scope import not_backtest
from services.domain import WORKING_ORDER_STATES, OrderState

from .audit import audit
from .errors import NotConnected, QueryFailed
from .events import ConnectionEvent, ConnectionState, OpenOrderEvent
from .lease import LeaseManager
from .order_claims import lease_token, release_claims
from .provider import ExecutionProvider
from .reconcile_words import describe_reconcile
from .writer import EventWriter, PositionTruth, ReconciledStatus

log = logging.getLogger(__name__)

# How far before a loss of the line the next reconciliation asks IB for executions: the clocks of
# IB and this machine, and the messages in flight when the line dropped.
LOSS_MARGIN = timedelta(minutes=10)

# IB statuses mapped onto what the database should show; used to tell whether to correct.
_IB_FINAL = {"Filled": OrderState.FILLED, "Cancelled": OrderState.CANCELED, "ApiCancelled": OrderState.CANCELED,
             "Inactive": OrderState.REJECTED}


@dataclass
class ReconcileReport:
    time: datetime
    open_orders: int = 0
    completed_orders: int = 0
    executions: int = 0
    missing_fills: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    resolved_unknown: list[str] = field(default_factory=list)
    positions_corrected: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # SENDING, never at IB, sender gone: back to NEW
    # the books against the broker (docs/project-books.md): listing -> broker - every project's
    # book (shown as unassigned), and where the books hold what the broker does not
    unassigned: dict[str, str] = field(default_factory=dict)
    book_mismatches: list[dict] = field(default_factory=list)
    # what each order closed as never received or given back is ("BUY 5 AAPL LMT 225.00"), by
    # client order id: the line names them (reconcile_words), a count alone left the trader to
    # find which of the day's orders it was
    named: dict[str, str] = field(default_factory=dict)
    executions_since: datetime | None = None  # the executions asked for (None: the whole day)
    completed_asked: bool = True  # False: no order of ours could have finished unseen, IB's list was not asked for

    @property
    def changed(self) -> bool:
        return bool(self.missing_fills or self.corrected or self.external or self.resolved_unknown or self.positions_corrected
                    or self.released or self.book_mismatches)

    def to_dict(self) -> dict:
        return {
            "time": self.time.isoformat(), "open_orders": self.open_orders, "completed_orders": self.completed_orders,
            "executions": self.executions, "missing_fills": self.missing_fills, "corrected": self.corrected,
            "external": self.external, "resolved_unknown": self.resolved_unknown,
            "positions_corrected": self.positions_corrected, "released": self.released,
            "unassigned": self.unassigned, "book_mismatches": self.book_mismatches, "orders": self.named,
            "executions_since": self.executions_since.isoformat() if self.executions_since else None,
            "completed_asked": self.completed_asked,
        }


class Reconciler:
    def __init__(self, db, provider: ExecutionProvider, writer: EventWriter, *, actor: str = "reconcile",
                 grace_seconds: float = 2.0, retry_delays: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 60),
                 leases: LeaseManager | None = None) -> None:
        self.db = db
        self.leases = leases or LeaseManager(db)
        self.provider = provider
        self.writer = writer
        self.actor = actor
        self.grace_seconds = grace_seconds
        self.retry_delays = retry_delays
        self._lock = asyncio.Lock()
        self.last_report: ReconcileReport | None = None
        self.failures = 0
        self._complete = False  # a reconciliation of the whole day succeeded in this process
        self._lost_since: datetime | None = None  # the line was lost at (since the last success)
        self._losses = 0

    def install(self) -> None:
        """Reconcile after every (re)connect and on 1101/1102; note when the line was lost."""
        self.provider.add_resync_hook(self._on_resync)
        self.provider.subscribe(self._on_connection)
        subscribe_notices = getattr(self.provider, "subscribe_notices", None)
        if subscribe_notices is not None:
            subscribe_notices(self._on_notice)

    # The executions asked for after a drop. A full reconciliation asks for the whole day's; after
    # one, events only go missing while the line is down (a dropped connection, or IB's 1100 until
    # 1101/1102), so the next reconciliation asks only for executions since the loss, less a
    # margin for the clocks of IB and this machine and for messages in flight at the drop. Each
    # reconnect then costs what the outage cost, not the whole day again (the soak found every
    # reconnect loading the day's executions, a peak the process kept).
    def _on_connection(self, event: ConnectionEvent) -> None:
        if event.state is ConnectionState.DISCONNECTED:
            self._mark_lost(event.time or datetime.now(UTC))

    def _on_notice(self, code: int, _message: str) -> None:
        if classify(code) is CodeClass.CONNECTIVITY_LOST:
            self._mark_lost(datetime.now(UTC))

    def _mark_lost(self, moment: datetime) -> None:
        self._losses += 1
        if self._lost_since is None or moment < self._lost_since:
            self._lost_since = moment

    def executions_since(self) -> datetime | None:
        """Where the next reconciliation's executions query starts (None: the whole day)."""
        if not self._complete or self._lost_since is None:
            return None
        return self._lost_since - LOSS_MARGIN

    def forget_database(self) -> None:
        """The database was replaced under this process (dropped and created again, restored):
        what the whole reconciliation of the day put in it is gone with it. The next pass is a
        whole one again, as the process's first connect's is (IB's completed orders, the day's
        executions): the new database knows nothing of what the account did today."""
        self._complete = False

    async def _on_resync(self, state: ConnectionState) -> None:
        await self.reconcile_with_retry(after_reconnect=True)

    async def reconcile_with_retry(self, *, after_reconnect: bool = False) -> ReconcileReport | None:
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            if delay:
                await asyncio.sleep(delay)
            if not self.provider.is_connected:
                log.warning("reconciliation postponed: not connected")
                return None
            try:
                return await self.reconcile(after_reconnect=after_reconnect)
            except (QueryFailed, NotConnected) as exc:
                self.failures += 1
                log.warning("reconciliation aborted (attempt %d): %s; retrying", attempt + 1, exc)
        log.error("reconciliation failed %d times; giving up until the next connect", len(self.retry_delays) + 1)
        return None

    async def reconcile(self, *, after_reconnect: bool = False) -> ReconcileReport:
        """Everything IB knows against the database. ``after_reconnect`` (the resync hook): once
        a whole reconciliation succeeded, IB's completed orders are asked for only when an order
        the database has working is missing from IB's open orders (it finished unseen); an
        explicit reconciliation always asks."""
        async with self._lock:
            return await self._reconcile(after_reconnect)

    async def _reconcile(self, after_reconnect: bool = False) -> ReconcileReport:
        report = ReconcileReport(datetime.now(UTC))
        since, losses = self.executions_since(), self._losses
        # Every query first: any failure aborts before anything is written.
        open_orders = await self.provider.open_orders()
        # The day's completed orders grow all day: at a reconnect late in the day they were the
        # biggest answer, asked for again at every drop (the soak's memory stepped up at each).
        # Only an order we think is working and IB no longer lists as open can have finished
        # unseen; fills of any order come with the executions query.
        report.completed_asked = not (after_reconnect and self._complete) or await asyncio.to_thread(
            self._working_unlisted, {o.order_ref for o in open_orders if o.order_ref}, {o.perm_id for o in open_orders if o.perm_id})
        completed = await self.provider.completed_orders() if report.completed_asked else []
        executions = await self.provider.executions(since) if since is not None else await self.provider.executions()
        report.executions_since = since
        # a live fill received from here on may be missing from IB's answer: the writer does not
        # apply the answer to its symbol (it would overwrite the fill with a stale quantity)
        positions_mark = self.writer.position_mark()
        positions = await self.provider.positions()
        report.open_orders, report.completed_orders, report.executions = len(open_orders), len(completed), len(executions)
        await self.writer.flush()  # the database reflects every event received so far

        account = self.provider.account
        broker_orders: list[OpenOrderEvent] = [o for o in (*open_orders, *completed) if not account or not o.account or o.account == account]
        db_state = await asyncio.to_thread(self._db_state, [e.exec_id for e in executions],
                                           {o.order_ref for o in broker_orders if o.order_ref},
                                           {o.perm_id for o in broker_orders if o.perm_id})
        orders_by_ref, orders_by_perm, known_execs, settled_execs, db_positions = db_state

        for ev in executions:
            if account and ev.account and ev.account != account:
                continue
            if ev.exec_id not in known_execs:
                report.missing_fills.append(ev.exec_id)
            elif ev.exec_id in settled_execs:
                # stored with its commission: the writer would change nothing, but would load it
                # (every execution of the day at every reconnect: the process kept that peak)
                continue
            self.writer.submit(ev)  # exactly once by exec_id; commissions fill in

        seen_refs: set[str] = set()
        seen_perms: set[int] = set()
        for bo in broker_orders:
            row = orders_by_ref.get(bo.order_ref) if bo.order_ref else None
            if row is None and bo.perm_id:
                row = orders_by_perm.get(bo.perm_id)
            if bo.order_ref:
                seen_refs.add(bo.order_ref)
            if bo.perm_id:
                seen_perms.add(bo.perm_id)
            if row is None:
                report.external.append(bo.order_ref or f"perm {bo.perm_id}")
                self.writer.submit(bo)  # the writer records it as external
                continue
            coid, status = row
            if status is OrderState.NEW or _differs(status, bo.status):
                report.corrected.append(coid)
                self.writer.submit(ReconciledStatus(coid, bo.status, None, bo.perm_id or None,
                                                    None if bo.completed else (bo.ib_order_id or None),
                                                    message="completed order at IB" if bo.completed else "open order at IB"))
        exec_refs = {e.order_ref for e in executions if e.order_ref} | {e.perm_id for e in executions if e.perm_id}

        # In flight for us, unknown to IB: a targeted query after a grace period, never a resend.
        suspects = await asyncio.to_thread(self._in_flight, seen_refs, seen_perms)
        suspects = [s for s in suspects if s[0] not in exec_refs and (s[2] or 0) not in exec_refs]
        live = await asyncio.to_thread(self.leases.live_tokens, {t for s in suspects if (t := lease_token(s[3]))})
        mine = self.leases.own_tokens()
        # sent (or being sent) by another live process: its own connection follows them
        suspects = [s for s in suspects if not s[3] or lease_token(s[3]) in mine or lease_token(s[3]) not in live]
        # a SENDING order of ours is being sent right now: not a suspect
        suspects = [s for s in suspects if not (s[4] is OrderState.SENDING and lease_token(s[3]) in mine)]
        if suspects:
            # an order sent a moment ago may not have reached IB yet: let the newest one age
            newest = max(s[1] for s in suspects)
            wait = self.grace_seconds - (datetime.now(UTC) - newest).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
            again_open = await self.provider.open_orders()
            again_done = await self.provider.completed_orders()
            again = {o.order_ref: o for o in (*again_open, *again_done) if o.order_ref}
            again_perm = {o.perm_id: o for o in (*again_open, *again_done) if o.perm_id}
            never_sent: list[tuple[str, str | None, datetime]] = []
            for coid, updated, perm_id, token, status, claimed_at in suspects:
                found = again.get(coid) or (again_perm.get(perm_id) if perm_id else None)
                if found is not None:
                    report.corrected.append(coid)
                    self.writer.submit(ReconciledStatus(coid, found.status, None, found.perm_id or None, None,
                                                        message="found by the targeted query"))
                elif status is OrderState.SENDING:
                    # the claim's own moment: a later write to the row (its last change) would
                    # make a claim older than the Cancel All look younger, and give it back NEW
                    never_sent.append((coid, token, claimed_at or updated))
                else:
                    report.resolved_unknown.append(coid)
                    self.writer.submit(ReconciledStatus(coid, "Cancelled", None, None, None,
                                                        message="IB does not know this order after a targeted query: "
                                                                "closed as never received, not resent"))
            if never_sent:
                # claimed before the last Cancel All: the trader canceled it; given back NEW, the
                # run's next holder or a recovery pass would send it after all (Cancel All one by
                # one cannot cancel at the broker what another client claimed)
                mark = await asyncio.to_thread(self._cancel_all_mark)
                canceled = [(coid, token) for coid, token, claimed in never_sent if mark is not None and claimed <= mark]
                for coid, _token in canceled:
                    report.resolved_unknown.append(coid)
                    self.writer.submit(ReconciledStatus(coid, "Cancelled", None, None, None,
                                                        message=f"claimed by a sender that is gone, before the Cancel All of "
                                                                f"{mark:%Y-%m-%d %H:%M:%S} UTC; IB does not know it after a "
                                                                "targeted query: closed as never received, not sent"))
                # claimed after it (by a sender that had not looked at its marker again): back NEW, and
                # closed, not sent, by the run's next execute or recovery pass when it was stored
                # before the Cancel All (services.execution.halt_unsent.close_stopped)
                given_back = [(coid, token) for coid, token, _claimed in never_sent if (coid, token) not in canceled]
                await self.writer.flush()  # a broker event queued meanwhile wins over the release
                if given_back:
                    report.released += await asyncio.to_thread(
                        release_claims, self.db, given_back,
                        "claimed by a sender that is gone; IB does not know it after a targeted query: back to NEW for the run's next holder")

        if report.resolved_unknown or report.released:
            report.named = await asyncio.to_thread(self._described, [*report.resolved_unknown, *report.released])

        # Positions: IB is the truth for the account-level rows (by listing key: SAP and SAP@IBIS:EUR apart).
        broker_pos = {p.key: p for p in positions}
        for symbol, p in broker_pos.items():
            if db_positions.get(symbol) != p.quantity and not self.writer.live_fill_since(symbol, positions_mark):
                report.positions_corrected.append(symbol)
            self.writer.submit(PositionTruth(p.account or account, symbol, p.quantity, p.average_cost, positions_mark))
        for symbol, quantity in db_positions.items():
            if symbol not in broker_pos and quantity != 0 and not self.writer.live_fill_since(symbol, positions_mark):
                report.positions_corrected.append(symbol)
                self.writer.submit(PositionTruth(account, symbol, Decimal(0), Decimal(0), positions_mark))

        await self.writer.flush()
        books = await asyncio.to_thread(self._project_books, account)
        # a symbol filled since IB's answer: the books already hold the fill, the answer not yet
        # (a mismatch of timing, not of books); the next reconciliation compares it
        moving = {key for key in {*broker_pos, *(symbol for _, symbol in books)}
                  if self.writer.live_fill_since(key, positions_mark)}
        books = {key: held for key, held in books.items() if key[1] not in moving}
        broker_by_key = {(account, k): p.quantity for k, p in broker_pos.items() if k not in moving}
        report.unassigned = {symbol: plain(rest) for (_, symbol), held in sorted(broker_by_key.items())
                             if (rest := held - books.get((account, symbol), Decimal(0)))}
        report.book_mismatches = [m.to_dict() for m in book_mismatches(broker_by_key, books)]
        if report.book_mismatches:
            log.warning("the projects' books hold what the broker does not: %s", report.book_mismatches)
        self.last_report = report
        self._complete = True
        if self._losses == losses:  # no new loss while this ran: everything until now is covered
            self._lost_since = None
        if report.changed:
            await asyncio.to_thread(audit, self.db, self.actor, AuditAction.RECONCILE, "account", account, report.to_dict())
        # A reconciliation that found nothing to correct is routine (it runs on every connect and
        # on a timer): DEBUG. One that corrected something is an event: INFO, in the window's words
        # (a command's stderr showed the report's raw dict); the whole report is in the audit log.
        log.log(logging.INFO if report.changed else logging.DEBUG, "%s", describe_reconcile(report))
        log.debug("reconciliation: %s", report.to_dict())
        return report

    def _db_state(self, exec_ids: list[str], refs: set[str], perms: set[int]):
        """The database's side of what IB listed (and every order not final), by ref and permId."""
        columns = (TradeOrder.client_order_id, TradeOrder.ib_perm_id, TradeOrder.status)
        with self.db.session() as session:
            rows = list(session.execute(select(*columns).where(TradeOrder.status.in_(
                [s for s in OrderState if not s.is_terminal]), not_backtest(TradeOrder.account))).all())
            for chunk in _chunks(sorted(refs)):
                rows += session.execute(select(*columns).where(TradeOrder.client_order_id.in_(chunk))).all()
            for chunk in _chunks(sorted(perms)):
                rows += session.execute(select(*columns).where(TradeOrder.ib_perm_id.in_(chunk))).all()
            by_ref = {r[0]: (r[0], OrderState(r[2])) for r in rows}
            by_perm = {r[1]: (r[0], OrderState(r[2])) for r in rows if r[1]}
            known: set[str] = set()
            settled: set[str] = set()  # stored with their commission
            for chunk in _chunks(exec_ids):
                for exec_id, commission in session.execute(
                        select(TradeFill.exec_id, TradeFill.commission).where(TradeFill.exec_id.in_(chunk))):
                    known.add(exec_id)
                    if commission is not None:
                        settled.add(exec_id)
            account = self.provider.account
            positions = {p.symbol: p.quantity for p in session.scalars(
                select(Position).where(Position.project_key == 0, Position.account == account))}
            return by_ref, by_perm, known, settled, positions

    def _working_unlisted(self, refs: set[str], perms: set[int]) -> bool:
        """Whether an order the database has working (this account's, external ones included)
        is missing from IB's open orders."""
        query = select(TradeOrder.client_order_id, TradeOrder.ib_perm_id).where(
            TradeOrder.status.in_(list(WORKING_ORDER_STATES)))
        if self.provider.account:
            query = query.where(or_(TradeOrder.account == self.provider.account, TradeOrder.account.is_(None)))
        else:  # no account known yet: every real account's, never a backtest's (IB never had those)
            query = query.where(not_backtest(TradeOrder.account))
        with self.db.session() as session:
            return any(coid not in refs and not (perm and perm in perms) for coid, perm in session.execute(query))

    def _project_books(self, account: str) -> dict[tuple[str, str], Decimal]:
        """Every project's book summed per (account, listing) on this account."""
        query = (select(Position.symbol, func.sum(Position.quantity)).where(Position.project_key != 0, Position.account == account)
                 .group_by(Position.symbol))
        with self.db.session() as session:
            return {(account, symbol): Decimal(total or 0) for symbol, total in session.execute(query) if total}

    def _described(self, client_order_ids: list[str]) -> dict[str, str]:
        """What each of these orders is, as a message names an order (describe_order, its id apart)."""
        with self.db.session() as session:
            rows = session.scalars(select(TradeOrder).where(TradeOrder.client_order_id.in_(client_order_ids))).all()
            return {row.client_order_id: describe_order(to_order_record(row), with_id=False) for row in rows}

    def _cancel_all_mark(self) -> datetime | None:
        """The marker of the last Cancel All that concerns this session's account: a claim made
        before one of another account was not canceled by it (``cancel_all_concerning``)."""
        with self.db.session() as session:
            return SettingsRepository(session).cancel_all_concerning(self.provider.account or None)

    def _in_flight(self, seen_refs: set[str], seen_perms: set[int]) -> list[
            tuple[str, datetime, int | None, str | None, OrderState, datetime | None]]:
        """Orders working for us that IB did not list: (client_order_id, last change, permId,
        claim id, state, claim time)."""
        query = (select(TradeOrder.client_order_id, TradeOrder.updated_at, TradeOrder.ib_perm_id, TradeOrder.claimed_by,
                        TradeOrder.status, TradeOrder.claimed_at)
                 .where(TradeOrder.status.in_(list(WORKING_ORDER_STATES)), TradeOrder.is_external.is_(False)))
        query = query.where(not_backtest(TradeOrder.account))  # a backtest's orders were never at any broker
        if self.provider.account:
            # Only this account's orders: a paper session must never close a live account's orders
            # because the paper login does not list them.
            query = query.where(TradeOrder.account == self.provider.account)
        with self.db.session() as session:
            rows = session.execute(query).all()
        return [(coid, updated or datetime.now(UTC), perm, token, OrderState(status), claimed)
                for coid, updated, perm, token, status, claimed in rows
                if coid not in seen_refs and (not perm or perm not in seen_perms)]


def _chunks(items: list, size: int = 500):
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _differs(db_status: OrderState, ib_status: str) -> bool:
    final = _IB_FINAL.get(ib_status)
    if final is not None:
        return db_status is not final
    # a working status at IB: differs when we think it is final, or have not seen it working yet
    return db_status in (OrderState.NEW, OrderState.SENDING, OrderState.SUBMITTED)
