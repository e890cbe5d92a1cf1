"""The writer's projection: one batch of events, one transaction, into orders, fills,
positions and run statuses; the change set of what it touched goes to the subscribers.

* exactly-once by ``exec_id`` (the fills table's unique key): duplicates are no-ops;
* corrections (same base id, higher revision) supersede the earlier revision, and only the
  difference reaches the order's filled quantity and the position (never double counted);
* commissions fill in whenever they arrive (also before their execution: kept until it comes);
* an order is found by orderRef (= client_order_id), then permId; one IB knows and we do not is
  recorded as external, never dropped.

The batch's orders and fills are loaded with a few queries up front, changed in memory and
written together: the orders as plain rows (``OrderRow``) with one executemany UPDATE of what
changed, the stored fills a correction touched by the ORM's flush, its new fills with one
executemany INSERT, their ids read back (both through the driver: ``execute_many``; one commit
per batch is what makes the writer fast). Runs in the writer's worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import cast

from sqlalchemy import Table, bindparam, select

from services.core.ib_codes import is_warning, rejects_order
from services.core.order_state import EventKind, run_status
from services.core.order_state import OrderEvent as SmEvent
from services.db.convert import to_fill_record, to_order_record
from services.db.lock_conflicts import InterruptibleWork
from services.db.models import TradeFill, TradeOrder, TradeRun
from services.db.repositories import OrderRepository, split_exec_id
from services.db.repositories.base import execute_many, fetch_all
from services.db.repositories.portfolio_snapshots import CashBook, record_portfolio_snapshots
from services.db.types import ExactDecimal
from services.domain import ChangeSet, EventSource, OrderState, OrderType, RunStatus, Side

from ..events import BrokerErrorEvent, CommissionEvent, ExecutionEvent, OpenOrderEvent, OrderStatusEvent
from ..listings import position_key
from .batch import NEW_FILL_COLUMNS, Batch, NewFill, OrderRow
from .events import LocalOrderEvent, PositionTruth, ReconciledStatus
from .orders import (
    add_order_event,
    apply_to_order,
    decimal_text,
    insert_order_events,
    now_utc,
    sm_status,
    store_sm,
    write_orders,
)
from .positions import late_commission, position_keys, record_truths, settle_positions, write_positions

log = logging.getLogger(__name__)
ZERO = Decimal(0)
_AVG_PRICE_STEP = Decimal("0.00000001")  # an order's average fill price, as its column keeps it
_REVISION = attrgetter("exec_revision")

# every batch runs these: built once (building a statement costs more than running it on SQLite),
# of the tables' Core columns but for the stored fills a batch may change (ORM objects); the Core
# SELECTs run through the driver (``fetch_all``)
_ORDERS = cast(Table, TradeOrder.__table__)
# The batch's orders are read locked until it commits (MariaDB; SQLite's batch holds the database's
# write lock from its start): another process's writer changing one of them in between (its
# broker's Cancelled while this one applies a Cancel All's CANCEL_REQUESTED) made this batch write
# its state over theirs, and a canceled order read CANCEL_REQUESTED for good. Locked, the second
# reads the first's state and the state machine decides from it.
_ORDERS_BY_REF = select(_ORDERS).where(_ORDERS.c.client_order_id.in_(bindparam("refs", expanding=True))).with_for_update()
# an order's state read again right before a cancel of it unsent applies, its row locked until the
# batch commits (MariaDB; a SQLite batch holds the database's write lock from its start): a claim
# (another connection's conditional update, NEW -> SENDING) comes before it or after it, whole
_UNSENT_NOW = select(_ORDERS.c.status, _ORDERS.c.ib_order_id, _ORDERS.c.ib_perm_id).where(
    _ORDERS.c.id == bindparam("order_id")).with_for_update()
_ORDERS_BY_PERM = (select(_ORDERS).where(_ORDERS.c.ib_perm_id.in_(bindparam("perms", expanding=True))).order_by(_ORDERS.c.id)
                   .with_for_update())
_FILLS_BY_BASE = select(TradeFill).where(TradeFill.exec_base_id.in_(bindparam("bases", expanding=True)))
_FILLS = cast(Table, TradeFill.__table__)
_ANY_FILL_OF_BASES = select(_FILLS.c.id).where(_FILLS.c.exec_base_id.in_(bindparam("bases", expanding=True))).limit(1)
_INSERT_FILLS = _FILLS.insert()
# IB's fractional shares may have more places than a quantity column keeps (both databases round
# half-up to its scale alike): an execution is booked as it will be stored, so that its order,
# its position and the change set count what a rebuild from the stored fills counts
_FILL_QUANTITY = cast(ExactDecimal, _FILLS.c.quantity.type)
_RUNS = cast(Table, TradeRun.__table__)
# with their params: the portfolio snapshots' plan ids (record_portfolio_snapshots' run_params)
_RUN_STATUSES = select(_RUNS.c.id, _RUNS.c.status, _RUNS.c.params).where(_RUNS.c.id.in_(bindparam("ids", expanding=True)))
# through the driver (``execute_many``): the row's ``updated_at`` (its column's onupdate) given
_SET_RUN = _RUNS.update().where(_RUNS.c.id == bindparam("run_id"))
_RUN_STATUS_COLUMNS = ("run_id", "status", "updated_at")
_RUN_END_COLUMNS = (*_RUN_STATUS_COLUMNS, "ended_at")
_FILL_IDS = select(_FILLS.c.id, _FILLS.c.exec_id).where(_FILLS.c.exec_id.in_(bindparam("exec_ids", expanding=True)))
# a run's orders but those replaced by another of the run (auto-recovery's re-placement, a
# cancel-and-new replace): the replacement accounts for them
_RUN_ORDER_STATES = select(_ORDERS.c.status, _ORDERS.c.filled_quantity).where(
    _ORDERS.c.run_id == bindparam("run_id"),
    _ORDERS.c.id.not_in(select(_ORDERS.c.replaces_order_id).where(
        _ORDERS.c.run_id == bindparam("run_id"), _ORDERS.c.replaces_order_id.is_not(None))))


def _scan(batch: Batch, events: list[object]) -> tuple[set[str], list[tuple[str | None, int]], set[str]]:
    """What the batch's events name, in one pass: their orderRefs (client_order_id), their
    (orderRef, permId) pairs, and the base execIds of their executions (each execId's split
    kept in ``batch.exec_splits`` for ``_on_execution``)."""
    refs: set[str] = set()
    perms: list[tuple[str | None, int]] = []
    bases: set[str] = set()
    splits = batch.exec_splits
    for ev in events:
        ref = getattr(ev, "order_ref", None) or getattr(ev, "client_order_id", None)
        if ref:
            refs.add(ref)
        perm = getattr(ev, "perm_id", None)
        if perm:
            perms.append((ref, perm))
        exec_id = getattr(ev, "exec_id", None)
        if exec_id:
            split = splits.get(exec_id)
            if split is None:
                split = splits[exec_id] = split_exec_id(exec_id)
            bases.add(split[0])
    return refs, perms, bases


class EventProjection:
    """Writes batches of events into the database. ``account``: executions and open orders of
    another account are ignored; ``stale_truth``: whether an IB position answer may predate a live
    execution the writer received (then it is not applied: see ``PositionTruth``)."""

    def __init__(self, db, *, account: str | None = None,
                 stale_truth: Callable[[PositionTruth], bool] = lambda _truth: False) -> None:
        self.db = db
        self.account = account
        self._stale_truth = stale_truth
        # commissions whose execution has not come yet, carried from batch to batch
        self._orphan_commissions: dict[str, CommissionEvent] = {}
        # the snapshots' cash carried between batches: only for a backtest's private books (the
        # engine sets it; see CashBook), else every snapshot sums the account's fills
        self.cash_book: CashBook | None = None
        # our orders' listing keys by their contract columns (position_key's inputs for an order
        # we sent): the listings an account trades, each worked out once
        self._listings: dict[tuple, str] = {}
        # the batch's server connection (MariaDB): which one waits, should a row lock keep it
        # (EventWriter.flush), and its lock wait ended when the writer stops (EventWriter.stop)
        self.work = InterruptibleWork()

    @property
    def connection_id(self) -> int | None:
        """The server's id of the last batch's connection (MariaDB; None on SQLite)."""
        return self.work.connection_id

    def end_lock_wait(self) -> bool:
        """End the lock wait of the batch under way (``InterruptibleWork.interrupt``): it fails,
        rolled back whole; False when no batch runs (or on SQLite)."""
        return self.work.interrupt(self.db)

    # ------------------------------------------------------------------ one transaction
    def write(self, events: list[object], *, changes: bool = True) -> ChangeSet:
        """Project ``events`` in one transaction; the change set of what it touched (with
        ``changes=False`` an empty one: nobody listens, and the records of the written rows,
        the positions read back among them, are not made)."""
        batch = Batch()
        batch.orphan_commissions = dict(self._orphan_commissions)
        if self.cash_book is not None:
            self.cash_book.rollback()  # what a failed batch summed is not carried
        with (self.db.unit_of_work() as session, session.no_autoflush,
              nullcontext() if self.db.is_sqlite else self.work.running(session)):
            self._prefetch(session, batch, events)
            for event in events:
                self._apply(session, batch, event)
            settle_positions(session, batch, self._stale_truth)
            write_positions(session, batch, records=changes)
            insert_order_events(session)
            write_orders(session, batch.by_ref.values())
            session.flush()  # the stored fills a correction or a late commission changed
            self._insert_fills(session, batch)
            record_truths(session, batch)
            self._roll_up_runs(session, batch)
            if self.cash_book is not None and any(not isinstance(f, NewFill) for f in batch.fills.values()):
                self.cash_book.forget()  # a stored fill changed: the next snapshots sum every fill again
            record_portfolio_snapshots(session, self._snapshot_keys(batch), batch.ended_runs, cash_book=self.cash_book,
                                       run_params=batch.run_params)
            session.flush()
            touched = ChangeSet(
                orders=tuple(to_order_record(o) for o in batch.orders.values()),  # type: ignore[arg-type]  # an OrderRow reads alike
                fills=tuple(to_fill_record(f) for f in batch.fills.values()),  # type: ignore[arg-type]  # a NewFill reads alike
                positions=tuple(batch.positions.values()),
                runs=tuple(sorted(batch.runs)),
            ) if changes else ChangeSet()
        self._orphan_commissions = batch.orphan_commissions  # only once committed
        if self.cash_book is not None:
            self.cash_book.commit()
        return touched

    def _prefetch(self, session, batch: Batch, events: list[object]) -> None:
        refs, ref_perms, bases = _scan(batch, events)
        for chunk in _chunks(sorted(refs)):
            for row in fetch_all(session, _ORDERS_BY_REF, {"refs": chunk}):
                self._cache_order(batch, OrderRow.loaded(row))
        # by permId only the orders an event cannot be matched to by its orderRef (``_find``
        # looks the ref up first): a broker's answers to our own orders carry both
        perms = {perm for ref, perm in ref_perms if ref not in batch.by_ref}
        for chunk in _chunks(sorted(perms)):
            for row in fetch_all(session, _ORDERS_BY_PERM, {"perms": chunk}):
                # one object per order (an order loaded by its ref already is that one)
                self._cache_order(batch, batch.by_ref.get(row.client_order_id) or OrderRow.loaded(row))
        for chunk in _chunks(sorted(bases)):
            if not fetch_all(session, _ANY_FILL_OF_BASES, {"bases": chunk}):
                continue  # new executions (nearly always): no ORM query for nothing
            for fill in session.scalars(_FILLS_BY_BASE, {"bases": chunk}):
                batch.fills_by_base.setdefault(fill.exec_base_id, []).append(fill)
                batch.fills_by_exec[fill.exec_id] = fill

    @staticmethod
    def _insert_fills(session, batch: Batch) -> None:
        if not batch.new_fills:
            return
        now = now_utc()
        execute_many(session, _INSERT_FILLS, (*NEW_FILL_COLUMNS, "created_at", "updated_at"),
                     [(*f.values(), now, now) for f in batch.new_fills])
        # the ids read back by exec_id (the driver's executemany returns no rows: MariaDB and MySQL
        # have no RETURNING with it, SQLite's has none either)
        by_exec = {f.exec_id: f for f in batch.new_fills}
        for chunk in _chunks(list(by_exec)):
            for fill_id, exec_id in fetch_all(session, _FILL_IDS, {"exec_ids": chunk}):
                by_exec[exec_id].id = fill_id
        for fill in batch.new_fills:
            fill_time = fill.fill_time
            fill.fill_time = fill_time if fill_time.tzinfo else fill_time.replace(tzinfo=UTC)
            assert fill.id is not None  # just read back
            batch.fills[fill.id] = fill

    @staticmethod
    def _cache_order(batch: Batch, order: OrderRow) -> None:
        batch.by_ref[order.client_order_id] = order
        if order.ib_perm_id:
            batch.by_perm[order.ib_perm_id] = order

    def _apply(self, session, batch: Batch, event: object) -> None:
        if isinstance(event, ExecutionEvent):
            self._on_execution(session, batch, event)
        elif isinstance(event, CommissionEvent):
            self._on_commission(session, batch, event)
        elif isinstance(event, OrderStatusEvent):
            self._on_status(session, batch, event)
        elif isinstance(event, OpenOrderEvent):
            self._on_open_order(session, batch, event)
        elif isinstance(event, BrokerErrorEvent):
            self._on_error(session, batch, event)
        elif isinstance(event, LocalOrderEvent):
            self._on_local(session, batch, event)
        elif isinstance(event, ReconciledStatus):
            self._on_reconciled(session, batch, event)
        elif isinstance(event, PositionTruth):
            self._on_position_truth(session, batch, event)
        else:
            log.debug("writer ignores %r", event)

    # ------------------------------------------------------------------ matching
    def _find(self, session, batch: Batch, order_ref: str | None, perm_id: int | None) -> OrderRow | None:
        """By orderRef (= client_order_id), then permId; never by IB's orderId alone."""
        if order_ref and order_ref in batch.by_ref:
            return batch.by_ref[order_ref]
        if perm_id and perm_id in batch.by_perm:
            return batch.by_perm[perm_id]
        return None

    def _touch(self, batch: Batch, order: OrderRow) -> None:
        batch.orders[order.id] = order
        if order.run_id is not None:
            batch.runs.add(order.run_id)

    def _bind_ids(self, batch: Batch, order: OrderRow, *, ib_order_id: int | None = None, perm_id: int | None = None,
                  client_id: int | None = None, account: str | None = None) -> None:
        if perm_id and order.ib_perm_id != perm_id:
            order.ib_perm_id = perm_id
            self._cache_order(batch, order)
        if ib_order_id and order.ib_order_id != ib_order_id:
            order.ib_order_id = ib_order_id
        if client_id is not None and client_id >= 0 and ib_order_id and order.ib_client_id != client_id:
            order.ib_client_id = client_id
        if account and not order.account:
            order.account = account

    def _external(self, session, batch: Batch, *, order_ref: str, perm_id: int, ib_order_id: int, client_id: int,
                  account: str, symbol: str, side: str, quantity: Decimal, order_type: str = "MKT",
                  limit_price: Decimal | None = None, raw: dict | None = None,
                  seen_at: datetime | None = None) -> OrderRow:
        """An order IB knows and we do not (TWS by hand, another client, this console's own under a
        database replaced since): recorded, never dropped. ``seen_at``: the broker's time for it
        (an execution's), its ``created_at``: IB gives no time an order was placed, and a
        reconciliation's moment made a filled order newer than its own fills."""
        client_order_id = order_ref or f"EXT-{perm_id or ib_order_id}"
        stored, created = OrderRepository(session).insert_once(
            client_order_id, symbol, Side(side), quantity,
            order_type=order_type if order_type in set(OrderType) else "MKT",
            limit_price=limit_price, status=OrderState.SUBMITTED, is_external=True,
            ib_order_id=ib_order_id or None, ib_perm_id=perm_id or None,
            ib_client_id=client_id if client_id is not None and client_id >= 0 else None,
            account=account or None, **({"created_at": seen_at} if seen_at is not None else {}),
        )
        order = OrderRow.of(stored)
        if created:
            add_order_event(session, order.id, source=EventSource.BROKER, event_type="external",
                            to_state=OrderState.SUBMITTED, flagged=True,
                            message="order unknown to the database: recorded as external", payload=raw)
        self._cache_order(batch, order)
        self._touch(batch, order)
        return order

    # ------------------------------------------------------------------ handlers
    def _on_execution(self, session, batch: Batch, ev: ExecutionEvent) -> None:
        if self.account and ev.account and ev.account != self.account:
            return
        existing = batch.fills_by_exec.get(ev.exec_id)
        if existing is not None:
            if ev.commission is not None and existing.commission is None:
                existing.commission = ev.commission
                if existing.id is not None:
                    batch.fills[existing.id] = existing
                    if not existing.superseded:
                        late_commission(session, batch, existing, ev.commission)
            return  # exactly once: a duplicate execDetails changes nothing
        exact = ev.shares
        kept = _FILL_QUANTITY.stored(exact)
        if kept != exact:
            ev = replace(ev, shares=kept,
                         cum_qty=None if ev.cum_qty is None else _FILL_QUANTITY.stored(ev.cum_qty))
        order = self._find(session, batch, ev.order_ref, ev.perm_id)
        if order is None:
            order = self._external(session, batch, order_ref=ev.order_ref, perm_id=ev.perm_id, ib_order_id=ev.ib_order_id,
                                   client_id=ev.client_id, account=ev.account, symbol=ev.symbol, side=ev.side,
                                   quantity=ev.cum_qty or ev.shares, raw=ev.raw, seen_at=ev.time)
        if ev.shares != exact:  # said on the order (IB's exact figure stays in the fill's raw payload)
            note = (f"execution {ev.exec_id}: IB's {exact} shares kept as {ev.shares} "
                    f"(the database keeps {_FILL_QUANTITY.scale} decimal places)")
            log.warning("order %s: %s", order.client_order_id, note)
            add_order_event(session, order.id, source=EventSource.BROKER, event_type="fill_rounded", flagged=True,
                            message=note, payload=ev.raw)
        self._bind_ids(batch, order, perm_id=ev.perm_id, account=ev.account)
        commission = ev.commission
        orphan = batch.orphan_commissions.pop(ev.exec_id, None)
        if commission is None and orphan is not None:
            commission = orphan.commission
        base, revision = batch.exec_splits.get(ev.exec_id) or split_exec_id(ev.exec_id)
        revisions = batch.fills_by_base.setdefault(base, [])
        newest = max(revisions, key=_REVISION) if revisions else None
        fill = NewFill(
            exec_id=ev.exec_id, exec_base_id=base, exec_revision=revision, superseded=False, order_id=order.id,
            symbol=ev.symbol, side=str(Side(ev.side)), quantity=ev.shares, price=ev.price, commission=commission,
            currency=ev.currency or "USD", exchange=ev.exchange or None, account=ev.account or None,
            perm_id=ev.perm_id or None, order_ref=ev.order_ref or None, fill_time=ev.time, raw_payload=ev.raw,
            client_order_id=order.client_order_id,
        )
        revisions.append(fill)
        batch.fills_by_exec[ev.exec_id] = fill
        batch.new_fills.append(fill)
        self._touch(batch, order)
        if newest is not None and newest.exec_revision > revision:
            # an older revision arriving late: stored superseded, nothing to count
            fill.superseded = True
            add_order_event(session, order.id, source=EventSource.BROKER, event_type="fill_correction",
                            message=f"late older revision {ev.exec_id}: stored superseded", payload=ev.raw)
            return
        old = newest  # the revision counted so far (None for a first execution)
        if old is not None:
            old.superseded = True
            if old.id is not None:
                batch.fills[old.id] = old
            add_order_event(session, order.id, source=EventSource.BROKER, event_type="fill_correction",
                            message=f"execution {old.exec_id} corrected by {ev.exec_id}", payload=ev.raw)
        before = sm_status(order)
        counted = before.exec_filled
        value = (order.avg_fill_price or ZERO) * counted if order.avg_fill_price is not None else ZERO
        delta = fill.quantity - (old.quantity if old is not None else ZERO)
        value += fill.quantity * fill.price - (old.quantity * old.price if old is not None else ZERO)
        if delta > 0:
            apply_to_order(session, order, SmEvent.fill(delta), source=EventSource.BROKER if ev.source == "broker" else EventSource.RECONCILE,
                           event_type="fill", payload=ev.raw, when=ev.time)
        elif delta < 0:
            st = replace(before, exec_filled=max(ZERO, before.exec_filled + delta))
            store_sm(order, st)
            order.filled_quantity = st.filled
        total = counted + delta
        if total > 0:
            order.avg_fill_price = (value / total).quantize(_AVG_PRICE_STEP)
        # positions (services.core.positions_book): a new execution is booked at the end of the
        # batch, with its commission if the batch brought it; a correction rebuilds the position
        for key in position_keys(order, ev.account, self._listing(order, ev)):
            batch.position_fills.setdefault(key, []).append(fill)
            if old is not None:
                batch.replay_keys.add(key)
            else:
                batch.position_ops.setdefault(key, []).append(fill)

    def _listing(self, order: OrderRow, ev: ExecutionEvent) -> str:
        """The listing key ``ev`` books its position under (``position_key``)."""
        if order.is_external:  # the listing the execution reports
            return position_key(order, ev)
        contract = (order.symbol, order.sec_type, order.exchange, order.primary_exchange, order.currency)
        listing = self._listings.get(contract)
        if listing is None:
            listing = self._listings[contract] = position_key(order, ev)
        return listing

    def _on_commission(self, session, batch: Batch, ev: CommissionEvent) -> None:
        fill = batch.fills_by_exec.get(ev.exec_id)
        if fill is None:
            batch.orphan_commissions[ev.exec_id] = ev  # the execution comes later
            return
        if fill.commission != ev.commission:
            booked = fill.commission or ZERO
            fill.commission = ev.commission
            if fill.id is not None and not fill.superseded:  # its position was booked by an earlier batch
                late_commission(session, batch, fill, ev.commission - booked)
            if ev.currency:
                fill.currency = ev.currency
            if fill.id is not None:
                batch.fills[fill.id] = fill

    def _on_status(self, session, batch: Batch, ev: OrderStatusEvent) -> None:
        order = self._find(session, batch, ev.order_ref, ev.perm_id)
        if order is None:
            log.debug("orderStatus for an order we cannot match (orderId %s permId %s): left to reconciliation", ev.ib_order_id, ev.perm_id)
            return
        self._bind_ids(batch, order, ib_order_id=ev.ib_order_id, perm_id=ev.perm_id, client_id=ev.client_id)
        changed = apply_to_order(session, order, SmEvent.ib_status(ev.status, ev.filled, ev.why_held),
                                 source=EventSource.BROKER, event_type="status", payload=ev.raw, when=ev.time)
        if ev.avg_fill_price and ev.filled and order.avg_fill_price is None:
            order.avg_fill_price = ev.avg_fill_price
            changed = True
        if changed or order.id not in batch.orders:
            self._touch(batch, order)

    def _on_open_order(self, session, batch: Batch, ev: OpenOrderEvent) -> None:
        if self.account and ev.account and ev.account != self.account:
            return
        order = self._find(session, batch, ev.order_ref, ev.perm_id)
        if order is None:
            order = self._external(session, batch, order_ref=ev.order_ref, perm_id=ev.perm_id, ib_order_id=ev.ib_order_id,
                                   client_id=ev.client_id, account=ev.account, symbol=ev.symbol, side=ev.side,
                                   quantity=ev.quantity, order_type=ev.order_type, limit_price=ev.limit_price, raw=ev.raw)
        self._bind_ids(batch, order, ib_order_id=ev.ib_order_id if not ev.completed else None, perm_id=ev.perm_id,
                       client_id=ev.client_id, account=ev.account)
        st = sm_status(order)
        if st.state is OrderState.REPLACE_REQUESTED:
            pending = (order.params or {}).get("pending_replace") or {}
            want_qty = Decimal(pending["quantity"]) if pending.get("quantity") else order.quantity
            want_lmt = Decimal(pending["limit_price"]) if pending.get("limit_price") else order.limit_price
            want_stop = Decimal(pending["stop_price"]) if pending.get("stop_price") else None  # None: unchanged
            if (ev.quantity == want_qty and (ev.limit_price is None or want_lmt is None or ev.limit_price == want_lmt)
                    and (want_stop is None or ev.stop_price is None or ev.stop_price == want_stop)):
                apply_to_order(session, order, SmEvent(EventKind.REPLACE_CONFIRMED), source=EventSource.BROKER,
                               event_type="replace_confirmed", payload=ev.raw, when=ev.time)
                order.limit_price = want_lmt
                params = dict(order.params or {})
                params.pop("pending_replace", None)
                if want_stop is not None:  # a stop order's stop lives with its draft (services.db.convert)
                    params["draft"] = {**(params.get("draft") or {}), "stop_price": str(want_stop)}
                order.params = params
        apply_to_order(session, order, SmEvent.ib_status(ev.status, None), source=EventSource.BROKER,
                       event_type="open_order", payload=ev.raw, when=ev.time)
        self._touch(batch, order)

    def _on_error(self, session, batch: Batch, ev: BrokerErrorEvent) -> None:
        if not ev.order_ref:
            return
        order = batch.by_ref.get(ev.order_ref)
        if order is None:
            return
        payload = ev.raw
        if is_warning(ev.code):
            # 10349 and warnings never cancel: recorded, no state change
            add_order_event(session, order.id, source=EventSource.BROKER, event_type="warning",
                            message=f"{ev.code}: {ev.message}", payload=payload)
            return
        if rejects_order(ev.code) and not OrderState(order.status).is_terminal and order.status is not OrderState.REPLACE_REQUESTED:
            order.rejected_reason = f"{ev.code}: {ev.message}".strip()
            st = sm_status(order)
            if st.reject_reason is None:
                    store_sm(order, replace(st, reject_reason=order.rejected_reason))
        apply_to_order(session, order, SmEvent.error(ev.code, ev.message), source=EventSource.BROKER,
                       event_type="error", payload=payload, when=ev.time)
        self._touch(batch, order)

    def _on_local(self, session, batch: Batch, ev: LocalOrderEvent) -> None:
        order = batch.by_ref.get(ev.client_order_id)
        if order is None:
            log.error("local event for unknown order %s", ev.client_order_id)
            return
        if ev.unsent_only and not self._still_unsent(session, order):
            # claimed for sending since the cancel was asked (its run's sender still at work, or one
            # started after a Cancel All): it goes to the broker, where only a cancel reaches it;
            # written as canceled here, it stayed working there, said CANCEL_REQUESTED
            log.warning("cancel of %s not applied: claimed for sending meanwhile (%s); left to its sender",
                        ev.client_order_id, order.status)
            return
        if ev.ib_order_id:
            self._bind_ids(batch, order, ib_order_id=ev.ib_order_id)
        if ev.kind is EventKind.REPLACE_REQUESTED:
            params = dict(order.params or {})
            params["pending_replace"] = {"quantity": decimal_text(ev.quantity), "limit_price": decimal_text(ev.limit_price),
                                         "stop_price": decimal_text(ev.stop_price)}
            order.params = params
        if ev.kind is EventKind.REPLACE_REJECTED:
            params = dict(order.params or {})
            params.pop("pending_replace", None)
            order.params = params
        event = SmEvent(ev.kind, quantity=ev.quantity, message=ev.message)
        apply_to_order(session, order, event, source=ev.source, event_type=str(ev.kind), payload=ev.payload or None)
        if ev.kind is EventKind.RISK_BLOCKED and order.status is OrderState.BLOCKED:
            order.rejected_reason = ev.message or order.rejected_reason
        self._touch(batch, order)

    @staticmethod
    def _still_unsent(session, order: OrderRow) -> bool:
        """Whether ``order`` is still NEW and never sent, in this batch and in the database."""
        if order.status is not OrderState.NEW or order.ib_order_id or order.ib_perm_id:
            return False
        status, ib_order_id, ib_perm_id = fetch_all(session, _UNSENT_NOW, {"order_id": order.id})[0]
        if OrderState(status) is OrderState.NEW and not ib_order_id and not ib_perm_id:
            return True
        order.status = OrderState(status)  # what the database says now: a later event of the batch applies to it
        return False

    def _on_reconciled(self, session, batch: Batch, ev: ReconciledStatus) -> None:
        order = batch.by_ref.get(ev.client_order_id)
        if order is None:
            return
        self._bind_ids(batch, order, ib_order_id=ev.ib_order_id, perm_id=ev.perm_id)
        apply_to_order(session, order, SmEvent.ib_status(ev.status, ev.filled), source=EventSource.RECONCILE,
                       event_type="reconcile", payload={"status": ev.status, "filled": decimal_text(ev.filled), "note": ev.message, **ev.payload},
                       # the order's history said "Cancelled: canceled" of an order the broker never
                       # had, as if it had canceled it: the reconciliation's reason comes first
                       note=ev.message)
        self._touch(batch, order)

    def _on_position_truth(self, session, batch: Batch, ev: PositionTruth) -> None:
        """IB's account position wins over ours when the quantities differ (booked in order with
        the batch's fills, and recorded so that a later rebuild keeps it; a position rebuilt from
        its fills in this batch keeps the fills' and the last recorded truth's view)."""
        batch.position_ops.setdefault((None, ev.account, ev.symbol), []).append(ev)

    # ------------------------------------------------------------------ runs
    def _roll_up_runs(self, session, batch: Batch) -> None:
        if not batch.runs:
            return
        # plain rows and Core statements: an ORM get and flush of each run cost more than its queries
        stored = {}
        for run_id, status, params in fetch_all(session, _RUN_STATUSES, {"ids": sorted(batch.runs)}):
            stored[run_id] = status
            batch.run_params[run_id] = params
        for run_id in sorted(stored):
            rows = fetch_all(session, _RUN_ORDER_STATES, {"run_id": run_id})
            status = run_status([(OrderState(s), q) for s, q in rows])
            if status is RunStatus.QUEUED and stored[run_id] is not RunStatus.QUEUED:
                continue  # never move a started run back to queued
            if status is not stored[run_id]:
                now = now_utc()
                if status in (RunStatus.DONE, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELED):
                    execute_many(session, _SET_RUN, _RUN_END_COLUMNS, [(run_id, status, now, now)])
                    batch.ended_runs.add(run_id)
                else:
                    execute_many(session, _SET_RUN, _RUN_STATUS_COLUMNS, [(run_id, status, now)])

    def _snapshot_keys(self, batch: Batch) -> set[tuple[int, int | None, str]]:
        """(run, project, account) of the batch's fills of run orders and of the runs it ended: one
        portfolio snapshot each for the decision trail, however many fills the batch held."""
        keys = set()
        for fill in batch.new_fills:
            order = batch.orders.get(fill.order_id)
            if order is not None and order.run_id is not None:
                keys.add((order.run_id, order.project_id, fill.account or order.account or self.account or ""))
        for order in batch.orders.values():
            if order.run_id in batch.ended_runs:
                keys.add((order.run_id, order.project_id, order.account or self.account or ""))
        return keys


def _chunks(items: list, size: int = 500):
    for i in range(0, len(items), size):
        yield items[i : i + size]

