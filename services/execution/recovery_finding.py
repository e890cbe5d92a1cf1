"""What auto-recovery reads (services.execution.recovery.AutoRecovery): the stuck orders, and
what it needs to know of each before it decides.

``stuck_orders`` finds this account's orders stuck since before the pass's ``timeout_cutoff``
(never sent, sent and never acknowledged, or proven dead), with whoever placed them;
``recovery_settings``, ``order_row``, ``replacement_of``, ``reference_price``,
``ib_order_id_of`` and the requests (``order_request``, ``order_request_by_ref``) are the
reads of its decisions and its sends. Plain functions over the database, each one read in a
session of its own: the pass runs them off the event loop one at a time, between the broker's
answers, and never holds a session across them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import or_, select

from services.core.order_state import EventKind
from services.core.wording import describe_request
from services.db.models import OrderEvent as OrderEventRow
from services.db.models import TradeOrder, TradeRun
from services.db.plan_repository import PlanNotFound, PlanRepository
from services.db.repositories import OrderRepository, SettingsRepository
from services.db.scope import not_backtest
from services.domain import EventSource, OrderState, OrderType, Side

from .halt_unsent import last_halt_at
from .listings import order_spec, request_for_order
from .order_risk import Replacing
from .recovery_outcomes import Stuck
from .runs import trading_day

MANUAL_LOOKBACK = timedelta(days=1)  # manual orders (no run, no trading day) considered this long
# decisions recovery never revisits: the order was re-placed, or re-placing it was refused for a
# reason that stays (retries used, price moved, market closed, halted...). A skip for a passing
# reason (not connected, the lookup failed, the run busy elsewhere) is tried again next pass.
FINAL_DECISIONS = ("recovery_replace", "recovery_refused")

_NOTHING_OLDER = datetime(1970, 1, 1, tzinfo=UTC)  # no order of this console is older


def timeout_cutoff(now: datetime, timeout: float) -> datetime:
    """Orders stored before this are stuck. The setting may be as long as 1e12 s (31,700 years):
    a timeout reaching before 1970 means no order is old enough, not an OverflowError that failed
    every pass (``recover`` exited 2 "date value out of range", the window's, ``serve``'s and
    ``execute``'s passes too)."""
    if timeout >= (now - _NOTHING_OLDER).total_seconds():
        return _NOTHING_OLDER
    return now - timedelta(seconds=timeout)


def recovery_settings(db) -> dict:
    with db.session() as session:
        repo = SettingsRepository(session)
        return {**repo.auto_recovery(), "trading_state": repo.trading_state(), "halted_at": last_halt_at(session),
                "cancel_all_marks": repo.cancel_all_marks()}


def stuck_orders(db, account: str | None, now: datetime, cutoff: datetime) -> list[Stuck]:
    """The orders of ``account`` (all, when it is empty) stuck since before ``cutoff``: of runs
    of today's trading day, or manual orders of the last day (a DAY order of another day is never
    sent or re-placed automatically):

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
    if account:
        query = query.where(or_(TradeOrder.account == account, TradeOrder.account.is_(None)))
    with db.session() as session:
        found = list(session.scalars(query))
        placers = _placers(session, [o for o in found if o.status is not OrderState.NEW])
        rows = []
        for o in found:
            placer_client, placer_process = placers.get(o.id, (o.ib_client_id, None))
            rows.append(Stuck(o.id, o.client_order_id, o.run_id, OrderState(o.status), o.retry_count or 0,
                              placer_client, placer_process, _named(o)))
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


def ib_order_id_of(db, order_id: int) -> int | None:
    with db.session() as session:
        return OrderRepository(session).get(order_id).ib_order_id


def order_row(db, order_id: int) -> dict:
    with db.session() as session:
        o = OrderRepository(session).get(order_id)
        return {"status": o.status, "filled_quantity": o.filled_quantity, "ib_order_id": o.ib_order_id,
                "ib_perm_id": o.ib_perm_id, "rejected_reason": o.rejected_reason, "spec": order_spec(o),
                # claimed for sending right before its placeOrder (stored then, for an order
                # sent before claims existed)
                "sent_at": o.claimed_at or o.created_at, "created_at": o.created_at, "account": o.account,
                "plan_id": (o.params or {}).get("plan_id"), "side": Side(o.side), "quantity": o.quantity,
                "order_type": OrderType(o.order_type), "limit_price": o.limit_price, "tif": o.tif,
                "replacing": Replacing(o.created_at, o.status, o.client_order_id, o.project_id)}


def replacement_of(db, order_id: int) -> int | None:
    with db.session() as session:
        return session.scalars(select(TradeOrder.id).where(TradeOrder.replaces_order_id == order_id).limit(1)).first()


def reference_price(db, plan_id, key: str) -> Decimal | None:
    if plan_id is None:
        return None
    with db.session() as session:
        try:
            plan = PlanRepository(session).get(int(plan_id))
        except PlanNotFound:
            return None
    ref = plan.prices.get(key)
    return ref.price if ref is not None and ref.price > 0 else None


def _named(order: TradeOrder) -> str:
    """What a stuck order is, as the pass's line names it ("BUY 35 IBM MKT"): as its re-placed
    order is named (the request it would go as); bare when the row cannot make one."""
    try:
        return describe_request(request_for_order(order))
    except (ValueError, KeyError, TypeError):  # a row no request can be made of: its id alone names it
        return ""


def order_request(db, order_id: int):
    with db.session() as session:
        return request_for_order(OrderRepository(session).get(order_id))


def order_request_by_ref(db, client_order_id: str):
    with db.session() as session:
        row = OrderRepository(session).get_by_client_id(client_order_id)
        assert row is not None
        return request_for_order(row)
