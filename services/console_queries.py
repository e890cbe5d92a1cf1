"""What the console window reads and the one write it makes outside the execution layer
(storing an imported snapshot). Every function is synchronous and meant to run off the GUI
thread; each returns frozen values, never ORM rows, so nothing lazy-loads on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from services.core.snapshots import ParsedSnapshot, SnapshotItem, parse_snapshot_file
from services.db.convert import to_fill_record, to_order_record, to_position_record
from services.db.models import (
    DecisionSnapshot,
    DecisionSnapshotItem,
    OrderEvent,
    Position,
    Project,
    TradeFill,
    TradeOrder,
    TradeRun,
)
from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository
from services.domain import FillRecord, OrderRecord, PositionRecord


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    id: int
    project_id: int
    source_name: str
    item_count: int
    created_at: datetime
    content_hash: str


@dataclass(frozen=True, slots=True)
class OrderEventInfo:
    time: datetime
    source: str
    event_type: str
    from_state: str | None
    to_state: str | None
    flagged: bool
    message: str | None
    payload: dict | None


@dataclass(frozen=True, slots=True)
class OrderDetails:
    order: OrderRecord
    fills: tuple[FillRecord, ...]
    events: tuple[OrderEventInfo, ...]


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    parsed: ParsedSnapshot
    snapshot_id: int | None = None
    project_id: int | None = None
    created: bool = False

    @property
    def ok(self) -> bool:
        return self.snapshot_id is not None


def import_snapshot(db, path: str | Path, project: str, *, max_gross_weight: Decimal = Decimal("1.0"),
                    allow_short: bool = False, note: str | None = None) -> ImportOutcome:
    """Validate the whole file; store it only when it has no problem (see store_snapshot)."""
    parsed = parse_snapshot_file(path, max_gross_weight=max_gross_weight, allow_short=allow_short)
    return store_snapshot(db, parsed, project, note=note)


def store_snapshot(db, parsed: ParsedSnapshot, project: str, *, note: str | None = None) -> ImportOutcome:
    """All items in one unit of work, or nothing when the parse found any problem. The same file
    with the same content in the same project returns the stored snapshot instead of a copy."""
    if not parsed.ok:
        return ImportOutcome(parsed)
    with db.unit_of_work() as session:
        project_row = ProjectRepository(session).get_or_create(project)
        snapshots = SnapshotRepository(session)
        existing = snapshots.find_by_hash(project_row.id, parsed.content_hash)
        if existing is not None and existing.source_file == parsed.source_name:
            return ImportOutcome(parsed, existing.id, project_row.id, False)
        items = [
            SnapshotItemInput(i.symbol, i.weight, i.score, i.rank, i.price, i.sec_type, i.exchange, i.currency,
                              i.primary_exchange or None)
            for i in parsed.items
        ]
        created = snapshots.create_with_items(project_row.id, parsed.source_name, parsed.content_hash, items, note=note)
        return ImportOutcome(parsed, created.id, project_row.id, True)


def projects_and_snapshots(db) -> tuple[tuple[ProjectInfo, ...], tuple[SnapshotInfo, ...]]:
    with db.session() as session:
        projects = tuple(ProjectInfo(p.id, p.name) for p in session.scalars(select(Project).order_by(Project.name)))
        snapshots = tuple(
            SnapshotInfo(s.id, s.project_id, s.source_file, s.item_count, s.created_at, s.content_hash)
            for s in session.scalars(select(DecisionSnapshot).order_by(DecisionSnapshot.created_at.desc()))
        )
    return projects, snapshots


def snapshot_items(db, snapshot_id: int) -> tuple[SnapshotItem, ...]:
    with db.session() as session:
        rows = session.scalars(
            select(DecisionSnapshotItem).where(DecisionSnapshotItem.snapshot_id == snapshot_id).order_by(DecisionSnapshotItem.id)
        )
        return tuple(
            SnapshotItem(r.symbol, r.weight, index + 1, r.score, r.rank, r.price, r.sec_type, r.exchange, r.currency,
                         r.primary_exchange or "")
            for index, r in enumerate(rows)
        )


def recent_orders(db, limit: int = 20_000) -> tuple[OrderRecord, ...]:
    with db.session() as session:
        rows = session.scalars(select(TradeOrder).order_by(TradeOrder.id.desc()).limit(limit))
        return tuple(to_order_record(r) for r in rows)


def recent_fills(db, limit: int = 50_000) -> tuple[FillRecord, ...]:
    with db.session() as session:
        rows = session.scalars(select(TradeFill).order_by(TradeFill.id.desc()).limit(limit))
        return tuple(to_fill_record(r) for r in rows)


def positions(db) -> tuple[PositionRecord, ...]:
    with db.session() as session:
        return tuple(to_position_record(p) for p in session.scalars(select(Position).order_by(Position.symbol)))


def project_names(db) -> dict[int, str]:
    with db.session() as session:
        return {p.id: p.name for p in session.scalars(select(Project))}


def order_details(db, order_id: int) -> OrderDetails:
    with db.session() as session:
        order = session.get(TradeOrder, order_id)
        if order is None:
            raise LookupError(f"order {order_id} does not exist")
        fills = tuple(
            to_fill_record(f)
            for f in session.scalars(select(TradeFill).where(TradeFill.order_id == order_id).order_by(TradeFill.fill_time, TradeFill.id))
        )
        events = tuple(
            OrderEventInfo(
                e.time, str(e.source), e.event_type,
                None if e.from_state is None else str(e.from_state),
                None if e.to_state is None else str(e.to_state),
                bool(e.flagged), e.message, e.payload,
            )
            for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id))
        )
        return OrderDetails(to_order_record(order), fills, events)


def prepare_run_params(db, run_id: int, builder: dict) -> bool:
    """Store the preview panel's builder parameters on a run that has sent nothing yet.
    Returns False (and changes nothing) once the run has orders: its parameters are history."""
    from sqlalchemy import func

    with db.unit_of_work() as session:
        run = session.get(TradeRun, run_id)
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        sent = session.scalar(select(func.count(TradeOrder.id)).where(TradeOrder.run_id == run_id)) or 0
        if sent:
            return False
        params = dict(run.params or {})
        params["builder"] = dict(builder)
        run.params = params
        return True
