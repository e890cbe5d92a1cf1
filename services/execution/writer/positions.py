"""Positions booked from a batch's fills, late commissions and IB's account positions (one book:
``services.core.positions_book``, IB's average-cost method, docs/ib-average-cost.md).

A new execution is booked at the end of its batch, with its commission if the batch brought it;
a late commission for the last fill of its position is booked incrementally; anything else (a
correction, a commission for an older fill) rebuilds the position from its stored fills, the
account's with the last truth reconciliation applied to it booked at its place. Each row a
batch's fills moved is marked at the latest of them (``write_positions``): a fill is a trade at
a real price and time, and the row's market value and unrealized P&L need a mark."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from services.core.positions_book import (
    ZERO,
    BookedFill,
    PositionBook,
    PositionState,
    apply_fill,
    apply_late_commission,
    apply_truth,
)
from services.db.models import AppliedPositionTruth, PositionAssignment, TradeFill, TradeOrder
from services.db.repositories import PositionRepository
from services.db.repositories.portfolio import PositionWrite
from services.domain import Side

from ..listings import position_key
from .batch import Batch, LateCommission, NewFill, OrderRow, PositionKey, StoredFill
from .events import PositionTruth


def settle_positions(session, batch: Batch, stale_truth: Callable[[PositionTruth], bool]) -> None:
    """Book this batch's fills, late commissions and IB's truths into the positions (a truth
    that ``stale_truth`` says may predate a live execution is not applied)."""
    for key in sorted(batch.replay_keys, key=key_order):
        batch.position_state[key] = _replay(session, batch, key)
        batch.dirty_positions.add(key)
    # the three amounts are all the book needs: plain rows, no ORM objects
    stored = PositionRepository(session).amounts_many([k for k in batch.position_ops if k not in batch.replay_keys])
    # a fill books its project's row and the account's row alike: the same fills and commissions
    # on the same stored amounts give the same state (the book is a function of them), booked once
    # (IB's truths are not: each is checked and recorded for its own row)
    # (the operations' identities -> the stored state they started from and the state booked:
    # compared, not hashed, as a decimal's hash costs more than booking the fill)
    booked: dict[tuple[int, ...], tuple[PositionState, PositionState]] = {}
    for key, ops in batch.position_ops.items():
        if key in batch.replay_keys:
            continue
        row = stored.get(key_order(key))
        state = PositionState() if row is None else PositionState(row.quantity, row.average_cost, row.realized_pnl)
        alike = None if any(isinstance(op, PositionTruth) for op in ops) else tuple(map(id, ops))
        earlier = booked.get(alike) if alike is not None else None
        if earlier is not None and earlier[0] == state:
            batch.position_state[key] = earlier[1]
            batch.dirty_positions.add(key)
            continue
        start = state
        previous: NewFill | None = None  # the batch's last fill of the position so far
        for op in ops:
            if isinstance(op, NewFill):
                previous = op
                if not op.superseded:
                    state, _ = apply_fill(state, Side(op.side).sign * op.quantity, op.price, op.commission)
            elif isinstance(op, LateCommission):
                state = apply_late_commission(state, op.signed_quantity, op.amount)
            elif isinstance(op, PositionTruth) and state.quantity != op.quantity and not stale_truth(op):
                state = apply_truth(state, op.quantity, op.average_cost)
                # recorded for a later rebuild of the position (_replay), placed after the fills
                # stored before it: the batch's previous fill (its id once inserted) or every stored one
                stored_before = session.scalar(select(func.max(TradeFill.id))) if previous is None else None
                batch.applied_truths.append((op, previous, stored_before or 0))
        if alike is not None:
            booked[alike] = (start, state)
        batch.position_state[key] = state
        batch.dirty_positions.add(key)


def _replay(session, batch: Batch, key: PositionKey) -> PositionState:
    """The position rebuilt from its stored fills (and this batch's), in arrival order: each
    execution at its first revision's place, with its current revision and commission."""
    project_id, account, listing = key  # the listing key: a bare symbol is the US stock
    bare = listing.partition("@")[0]
    query = (select(TradeFill, TradeOrder)
             .join(TradeOrder, TradeFill.order_id == TradeOrder.id)
             .where(TradeFill.symbol == bare).order_by(TradeFill.id))
    if project_id is not None:
        query = query.where(TradeOrder.project_id == project_id)
    # an order of this batch as the batch changed it (its account may have been bound just now)
    rows = [(f, batch.orders.get(order.id) or order) for f, order in session.execute(query)]
    candidates: list[tuple[StoredFill, str]] = [
        (f, (f.account or order.account or "")) for f, order in rows if position_key(order, f) == listing]
    for new in batch.new_fills:
        order = batch.orders.get(new.order_id) or session.get(TradeOrder, new.order_id)
        if new.symbol == bare and position_key(order, new) == listing and (project_id is None or order.project_id == project_id):
            candidates.append((new, new.account or order.account or ""))
    first_id: dict[str, int | None] = {}  # base execId -> the id of its first revision (None: of this batch)
    current: dict[str, StoredFill] = {}
    for fill, fill_account in candidates:
        if fill_account != account:
            continue
        first_id.setdefault(fill.exec_base_id, fill.id)
        if not fill.superseded:
            current[fill.exec_base_id] = fill
    booked = [(first, current[base]) for base, first in first_id.items() if base in current]  # in arrival order
    fills = [(f.fill_time, BookedFill(f.exec_id, Side(f.side).sign * f.quantity, f.price, f.commission)) for _, f in booked]
    if project_id is not None:
        fills = _with_assignments(session, project_id, account, listing, fills)
        return PositionBook.replay(fill for _, fill in fills).state
    # the account's row: IB's figures set by reconciliation hold what no fill of ours explains
    # (shares held before the console ran), so the last truth is booked where it was applied
    truth = session.scalars(select(AppliedPositionTruth).where(
        AppliedPositionTruth.account == account, AppliedPositionTruth.symbol == listing)
        .order_by(AppliedPositionTruth.id.desc()).limit(1)).first()
    if truth is None:
        return PositionBook.replay(fill for _, fill in fills).state
    cut = next((i for i, (first, _) in enumerate(booked) if first is None or first > truth.after_fill_id), len(booked))
    before = PositionBook.replay(fill for _, fill in fills[:cut]).state
    opening = apply_truth(before, truth.quantity, truth.average_cost)
    return PositionBook.replay((fill for _, fill in fills[cut:]), opening).state


def record_truths(session, batch: Batch) -> None:
    """The truths the batch applied (settle_positions), once its fills have ids: each placed after
    the batch's fill that preceded it, or after every fill stored before the batch."""
    for truth, previous, stored_before in batch.applied_truths:
        after = previous.id if previous is not None and previous.id is not None else stored_before
        session.add(AppliedPositionTruth(account=truth.account, symbol=truth.symbol, quantity=truth.quantity,
                                         average_cost=truth.average_cost, after_fill_id=after))


def _with_assignments(session, project_id: int, account: str, listing: str,
                      fills: list[tuple[datetime, BookedFill]]) -> list[tuple[datetime, BookedFill]]:
    """A project's fills with its assignments (docs/project-books.md) as opening fills at their
    cost, each before the first fill executed after it was made."""
    assignments = list(session.scalars(select(PositionAssignment).where(
        PositionAssignment.project_id == project_id, PositionAssignment.account == account,
        PositionAssignment.symbol == listing).order_by(PositionAssignment.created_at, PositionAssignment.id)))
    if not assignments:
        return fills
    out: list[tuple[datetime, BookedFill]] = []
    pending = [(a.created_at, BookedFill(f"assign:{a.id}", a.quantity, a.cost, ZERO)) for a in assignments]
    for when, fill in fills:
        while pending and when is not None and pending[0][0] <= when:
            out.append(pending.pop(0))
        out.append((when, fill))
    return out + pending


def write_positions(session, batch: Batch, *, records: bool = True) -> None:
    """Every position the batch changed, in one bulk upsert, each one the batch's fills moved
    marked at the latest of them (``_mark_fill``); with ``records``, their records for the change
    set (what the upsert did not write read back with one SELECT per account: ``upsert_records``)."""
    writes = []
    for key in sorted(batch.dirty_positions, key=key_order):
        project_id, account, symbol = key
        state = batch.position_state[key]
        mark = _mark_fill(batch.position_fills.get(key, ()))
        writes.append(PositionWrite(project_id, account, symbol, state.quantity, state.average_cost, state.realized_pnl,
                                    *((None, None) if mark is None else (mark.price, mark.fill_time))))
    if not writes:
        return
    repository = PositionRepository(session)
    if records:
        batch.positions.update(repository.upsert_records(writes))
    else:
        repository.write_many(writes)


def _mark_fill(fills: Iterable[NewFill]) -> NewFill | None:
    """The batch's latest fill of a position still counted (a correction later in the batch
    supersedes one), the last to arrive of equal times: its price and time are the position's
    mark, kept by the upsert unless the row holds a newer one. None (no fill: a rebuild, a late
    commission, IB's truth): the stored mark stays."""
    latest = None
    for fill in fills:
        if not fill.superseded and (latest is None or fill.fill_time >= latest.fill_time):
            latest = fill
    return latest


def late_commission(session, batch: Batch, fill: StoredFill, amount: Decimal) -> None:
    """A commission for a fill an earlier batch booked: incremental when that fill is still the
    last of its symbol, else the position is rebuilt from its fills."""
    order = batch.orders.get(fill.order_id) or session.get(TradeOrder, fill.order_id)
    keys = position_keys(order, fill.account, position_key(order, fill))
    # a range scan of the primary key from this fill on: a few rows when the report follows its fill
    later = session.scalar(select(TradeFill.id).where(TradeFill.id > fill.id, TradeFill.symbol == fill.symbol,
                                                      TradeFill.superseded.is_(False)).limit(1))
    if later is not None or any(k in batch.position_ops or k in batch.replay_keys for k in keys):
        batch.replay_keys.update(keys)
        return
    for key in keys:
        batch.position_ops.setdefault(key, []).append(LateCommission(Side(fill.side).sign * fill.quantity, amount))


def position_keys(order: OrderRow | TradeOrder, account: str | None, symbol: str) -> list[PositionKey]:
    """A fill moves its project's row and the account's row (project None)."""
    account = account or order.account or ""
    return [(project_id, account, symbol) for project_id in dict.fromkeys((order.project_id, None))]


def key_order(key: PositionKey) -> tuple:
    return (key[0] or 0, key[1], key[2])
