"""Repositories: create / get / list for every entity, on one caller-owned ``Session``.

    with database.unit_of_work() as session:
        repos = Repositories(session)
        order, created = repos.orders.insert_once(client_order_id="r1-AAPL", symbol="AAPL",
                                                  side=Side.BUY, quantity=Decimal(10))

Exactly-once: ``OrderRepository.insert_once`` (key ``client_order_id``) and
``FillRepository.insert_once`` (key ``exec_id``) run one statement that cannot fail on a
duplicate -- ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite, ``INSERT ... ON DUPLICATE KEY
UPDATE id=id`` on MySQL -- then read the row back. Two processes racing on one key get one row
and no error: MySQL makes the second insert wait for the first transaction and then treats it as
a duplicate; SQLite serializes writers (``BEGIN IMMEDIATE``). The flag says which caller created
the row.

Repositories never commit: the unit of work does. They return ORM rows, which stay inside
``services``; ``services.db.convert`` turns them into the frozen records the GUI receives.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.positions_book import split_exec_id  # the one definition, re-exported
from services.db.models import (
    AUTO_RECOVERY_DEFAULTS,
    EXECUTION_DEFAULTS,
    SETTINGS_ROW_ID,
    Base,
    ContractCache,
    DecisionSnapshot,
    DecisionSnapshotItem,
    EquitySnapshot,
    OrderEvent,
    Position,
    Project,
    TradeFill,
    TradeOrder,
    TradeRun,
    TradeSettings,
)
from services.db.types import as_decimal, utcnow
from services.domain import (
    TERMINAL_ORDER_STATES,
    WORKING_ORDER_STATES,
    EventSource,
    OrderState,
    OrderType,
    RunStatus,
    Side,
    TimeInForce,
    TradeMode,
    TradingState,
)

M = TypeVar("M", bound=Base)

_DECIMAL_COLUMNS = {
    "quantity",
    "limit_price",
    "filled_quantity",
    "avg_fill_price",
    "price",
    "commission",
    "average_cost",
    "realized_pnl",
    "unrealized_pnl",
    "cash",
    "equity",
    "weight",
    "score",
    "min_tick",
}


class RepositoryError(ValueError):
    """A request the data cannot satisfy (unknown id, invalid field)."""


class NotFound(RepositoryError):
    pass


def _normalize(model: type[Base], values: Mapping[str, Any]) -> dict[str, Any]:
    columns = model.__table__.columns
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in columns:
            raise RepositoryError(f"{model.__tablename__} has no column {key!r}")
        if key in _DECIMAL_COLUMNS and value is not None:
            value = as_decimal(value)
        elif key in ("side", "order_type", "tif") and value is not None:
            value = str(value)
        out[key] = value
    return out


def _with_insert_defaults(model: type[Base], values: dict[str, Any]) -> dict[str, Any]:
    """Core INSERTs apply scalar and callable column defaults themselves; nothing to add except
    ``updated_at``/``created_at`` equal to one instant (nicer to read than two clock calls)."""
    now = utcnow()
    columns = model.__table__.columns
    for name in ("created_at", "updated_at"):
        if name in columns and values.get(name) is None:
            values[name] = now
    return values


def insert_once(session: Session, model: type[M], values: Mapping[str, Any], key: Sequence[str]) -> tuple[M, bool]:
    """Insert ``values`` unless a row with the same unique ``key`` exists; return the row and
    whether this call created it. Never raises on a duplicate. (On MySQL the flag relies on the
    AUTO_INCREMENT id: for a table whose id the caller supplies it is always False.)"""
    values = _with_insert_defaults(model, _normalize(model, values))
    missing = [k for k in key if values.get(k) is None]
    if missing:
        raise RepositoryError(f"{model.__tablename__}: {', '.join(missing)} required")
    table = model.__table__
    dialect = session.get_bind().dialect.name
    created: bool
    if dialect == "sqlite":
        stmt = sqlite_dialect.insert(table).values(values).on_conflict_do_nothing(index_elements=list(key))
        created = session.execute(stmt).rowcount == 1
    elif dialect in ("mysql", "mariadb"):
        # rowcount cannot tell (the dialect sets CLIENT_FOUND_ROWS); the insert id can: it is
        # the new id for an insert and 0 when the duplicate branch ran.
        stmt = mysql_dialect.insert(table).values(values).on_duplicate_key_update(id=table.c.id)
        created = bool(session.execute(stmt).lastrowid)
    else:  # pragma: no cover - other databases: savepoint and catch the duplicate
        try:
            with session.begin_nested():
                session.execute(table.insert().values(values))
            created = True
        except IntegrityError:
            created = False
    condition = and_(*(getattr(model, k) == values[k] for k in key))
    row = session.scalars(select(model).where(condition).execution_options(populate_existing=True)).one()
    return row, created


def _get(session: Session, model: type[M], row_id: int) -> M:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"{model.__tablename__} {row_id} does not exist")
    return row


# ---------------------------------------------------------------------------------------------


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, name: str, description: str | None = None) -> Project:
        project = Project(name=name, description=description)
        self.session.add(project)
        self.session.flush()
        return project

    def get(self, project_id: int) -> Project:
        return _get(self.session, Project, project_id)

    def get_by_name(self, name: str) -> Project | None:
        return self.session.scalars(select(Project).where(Project.name == name)).one_or_none()

    def get_or_create(self, name: str, description: str | None = None) -> Project:
        # The same limit on both databases (SQLite would store a name MariaDB refuses).
        limit = Project.__table__.c.name.type.length
        if not name or not name.strip():
            raise RepositoryError("the project name is empty")
        if len(name) > limit:
            raise RepositoryError(f"the project name has {len(name)} characters; at most {limit} can be stored")
        project, _ = insert_once(self.session, Project, {"name": name, "description": description}, ("name",))
        return project

    def list(self) -> list[Project]:
        return list(self.session.scalars(select(Project).order_by(Project.name)))


@dataclass(frozen=True)
class SnapshotItemInput:
    symbol: str
    weight: Decimal
    score: Decimal | None = None
    rank: int | None = None
    price: Decimal | None = None
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    primary_exchange: str | None = None


class SnapshotRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create_with_items(
        self,
        project_id: int,
        source_file: str,
        content_hash: str,
        items: Iterable[SnapshotItemInput | Mapping[str, Any]],
        *,
        note: str | None = None,
        created_at: datetime | None = None,
    ) -> DecisionSnapshot:
        """Store a snapshot and all its items, or nothing (a savepoint undoes a partial write)."""
        rows = [_normalize(DecisionSnapshotItem, i if isinstance(i, Mapping) else i.__dict__) for i in items]
        with self.session.begin_nested():
            snapshot = DecisionSnapshot(
                project_id=project_id,
                source_file=source_file,
                content_hash=content_hash,
                item_count=len(rows),
                note=note,
                created_at=created_at or utcnow(),
            )
            self.session.add(snapshot)
            self.session.flush()
            self.session.add_all(DecisionSnapshotItem(snapshot_id=snapshot.id, **row) for row in rows)
            self.session.flush()
        return snapshot

    def get(self, snapshot_id: int) -> DecisionSnapshot:
        return _get(self.session, DecisionSnapshot, snapshot_id)

    def items(self, snapshot_id: int) -> list[DecisionSnapshotItem]:
        query = select(DecisionSnapshotItem).where(DecisionSnapshotItem.snapshot_id == snapshot_id)
        return list(self.session.scalars(query.order_by(DecisionSnapshotItem.id)))

    def find_by_hash(self, project_id: int, content_hash: str) -> DecisionSnapshot | None:
        query = select(DecisionSnapshot).where(
            DecisionSnapshot.project_id == project_id, DecisionSnapshot.content_hash == content_hash
        )
        return self.session.scalars(query.order_by(DecisionSnapshot.id.desc()).limit(1)).first()

    def latest(self, project_id: int) -> DecisionSnapshot | None:
        query = select(DecisionSnapshot).where(DecisionSnapshot.project_id == project_id)
        return self.session.scalars(query.order_by(DecisionSnapshot.id.desc()).limit(1)).first()

    def list(self, project_id: int | None = None, *, limit: int | None = None) -> list[DecisionSnapshot]:
        query = select(DecisionSnapshot).order_by(DecisionSnapshot.id.desc())
        if project_id is not None:
            query = query.where(DecisionSnapshot.project_id == project_id)
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))


def run_idempotency_key(project_id: int, snapshot_id: int | None, mode: TradeMode | str, trade_date: date) -> str:
    """Seed 000: one run per project + snapshot + mode + trading day."""
    return f"{project_id}:{snapshot_id if snapshot_id is not None else '-'}:{TradeMode(mode)}:{trade_date.isoformat()}"


class RunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        project_id: int,
        *,
        mode: TradeMode | str = TradeMode.PAPER,
        snapshot_id: int | None = None,
        trade_date: date | None = None,
        params: dict | None = None,
        status: RunStatus | str = RunStatus.QUEUED,
        message: str | None = None,
        idempotency_key: str | None = None,
    ) -> TradeRun:
        """A new run, always (no idempotency key unless given)."""
        run = TradeRun(
            project_id=project_id,
            snapshot_id=snapshot_id,
            mode=TradeMode(mode),
            status=RunStatus(status),
            trade_date=trade_date or utcnow().date(),
            params=params,
            message=message,
            idempotency_key=idempotency_key,
        )
        self.session.add(run)
        self.session.flush()
        return run

    def create_once(
        self,
        project_id: int,
        *,
        mode: TradeMode | str,
        trade_date: date,
        snapshot_id: int | None = None,
        params: dict | None = None,
        message: str | None = None,
    ) -> tuple[TradeRun, bool]:
        """The run of this project + snapshot + mode + trading day: created on the first call,
        returned as it is on every later one (even from another process)."""
        key = run_idempotency_key(project_id, snapshot_id, mode, trade_date)
        values = {
            "project_id": project_id,
            "snapshot_id": snapshot_id,
            "mode": TradeMode(mode),
            "status": RunStatus.QUEUED,
            "trade_date": trade_date,
            "params": params,
            "message": message,
            "idempotency_key": key,
        }
        return insert_once(self.session, TradeRun, values, ("idempotency_key",))

    def get(self, run_id: int) -> TradeRun:
        return _get(self.session, TradeRun, run_id)

    def list(
        self,
        *,
        project_id: int | None = None,
        status: RunStatus | Iterable[RunStatus] | None = None,
        limit: int | None = None,
    ) -> list[TradeRun]:
        query = select(TradeRun).order_by(TradeRun.id.desc())
        if project_id is not None:
            query = query.where(TradeRun.project_id == project_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            query = query.where(TradeRun.status.in_([RunStatus(s) for s in statuses]))
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def update_status(
        self,
        run_id: int,
        status: RunStatus | str,
        *,
        message: str | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        params: dict | None = None,
    ) -> TradeRun:
        run = self.get(run_id)
        run.status = RunStatus(status)
        if message is not None:
            run.message = message
        if started_at is not None:
            run.started_at = started_at
        if ended_at is not None:
            run.ended_at = ended_at
        if params is not None:
            run.params = params
        self.session.flush()
        return run


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_once(
        self,
        client_order_id: str,
        symbol: str,
        side: Side | str,
        quantity: Decimal | int | str,
        **fields: Any,
    ) -> tuple[TradeOrder, bool]:
        """Store the order unless ``client_order_id`` exists; returns (row, created)."""
        values = {
            "client_order_id": client_order_id,
            "symbol": symbol,
            "side": Side(side),
            "quantity": quantity,
            "order_type": OrderType(fields.pop("order_type", OrderType.MKT)),
            "tif": TimeInForce(fields.pop("tif", TimeInForce.DAY)),
            "status": OrderState(fields.pop("status", OrderState.NEW)),
            **fields,
        }
        return insert_once(self.session, TradeOrder, values, ("client_order_id",))

    def create(self, client_order_id: str, symbol: str, side: Side | str, quantity: Any, **fields: Any) -> TradeOrder:
        """Store a new order; a duplicate ``client_order_id`` raises ``RepositoryError``."""
        order, created = self.insert_once(client_order_id, symbol, side, quantity, **fields)
        if not created:
            raise RepositoryError(f"order {client_order_id!r} already exists (id {order.id})")
        return order

    def get(self, order_id: int) -> TradeOrder:
        return _get(self.session, TradeOrder, order_id)

    def get_by_client_id(self, client_order_id: str) -> TradeOrder | None:
        return self.session.scalars(select(TradeOrder).where(TradeOrder.client_order_id == client_order_id)).one_or_none()

    def get_by_perm_id(self, perm_id: int) -> TradeOrder | None:
        query = select(TradeOrder).where(TradeOrder.ib_perm_id == perm_id).order_by(TradeOrder.id.desc())
        return self.session.scalars(query.limit(1)).first()

    def list(
        self,
        *,
        run_id: int | None = None,
        project_id: int | None = None,
        status: OrderState | str | Iterable[OrderState | str] | None = None,
        since: datetime | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[TradeOrder]:
        query = select(TradeOrder)
        if run_id is not None:
            query = query.where(TradeOrder.run_id == run_id)
        if project_id is not None:
            query = query.where(TradeOrder.project_id == project_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            query = query.where(TradeOrder.status.in_([OrderState(s) for s in statuses]))
        if since is not None:
            query = query.where(TradeOrder.created_at >= since)
        query = query.order_by(TradeOrder.id.desc() if newest_first else TradeOrder.id)
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def list_by_run(self, run_id: int) -> list[TradeOrder]:
        return self.list(run_id=run_id)

    def list_by_status(self, *statuses: OrderState | str) -> list[TradeOrder]:
        return self.list(status=statuses)

    def list_working(self) -> list[TradeOrder]:
        """At the broker or on its way there (``OrderState.is_working``)."""
        return self.list(status=WORKING_ORDER_STATES)

    def list_open(self) -> list[TradeOrder]:
        """Every order that is not final (NEW included)."""
        return self.list(status=[s for s in OrderState if s not in TERMINAL_ORDER_STATES])

    def update_fields(self, order_id: int, **fields: Any) -> TradeOrder:
        order = self.get(order_id)
        for key, value in _normalize(TradeOrder, fields).items():
            setattr(order, key, value)
        self.session.flush()
        return order

    def update_status(
        self,
        order_id: int,
        status: OrderState | str,
        *,
        source: EventSource | str | None = None,
        event_type: str = "status",
        payload: dict | None = None,
        message: str | None = None,
        flagged: bool = False,
        at: datetime | None = None,
        **fields: Any,
    ) -> TradeOrder:
        """Set the status (and any status fields: filled_quantity, avg_fill_price, ib_order_id,
        ib_perm_id, account, rejected_reason ...). With ``source`` it also appends the
        ``order_events`` row (from -> to) in the same transaction. No transition rules here:
        the order state machine decides; this only records."""
        order = self.get(order_id)
        previous = order.status
        when = at or utcnow()
        order.status = OrderState(status)
        order.last_status_time = when
        for key, value in _normalize(TradeOrder, fields).items():
            setattr(order, key, value)
        if source is not None:
            OrderEventRepository(self.session).append(
                order_id,
                source=source,
                event_type=event_type,
                from_state=previous,
                to_state=order.status,
                payload=payload,
                message=message,
                flagged=flagged,
                time=when,
            )
        self.session.flush()
        return order


class FillRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_once(
        self,
        exec_id: str,
        order_id: int,
        symbol: str,
        side: Side | str,
        quantity: Decimal | int | str,
        price: Decimal | int | str,
        fill_time: datetime,
        **fields: Any,
    ) -> tuple[TradeFill, bool]:
        """Store the execution unless ``exec_id`` exists; returns (row, created).

        A new revision of an execution (same base id, higher revision) marks the older
        revisions ``superseded``; a late older revision is stored already superseded. So the
        sum over non-superseded fills never double counts a correction."""
        base, revision = split_exec_id(exec_id)
        values = {
            "exec_id": exec_id,
            "exec_base_id": fields.pop("exec_base_id", base),
            "exec_revision": fields.pop("exec_revision", revision),
            "order_id": order_id,
            "symbol": symbol,
            "side": Side(side),
            "quantity": quantity,
            "price": price,
            "fill_time": fill_time,
            **fields,
        }
        fill, created = insert_once(self.session, TradeFill, values, ("exec_id",))
        if created:
            self._resolve_revisions(fill.exec_base_id)
            self.session.refresh(fill)
        return fill, created

    def _resolve_revisions(self, base_id: str) -> None:
        newest = self.session.scalar(select(func.max(TradeFill.exec_revision)).where(TradeFill.exec_base_id == base_id))
        self.session.execute(
            update(TradeFill)
            .where(TradeFill.exec_base_id == base_id)
            .values(superseded=TradeFill.exec_revision < newest, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    def set_commission(self, exec_id: str, commission: Decimal | str, *, currency: str | None = None) -> TradeFill | None:
        """Commission reports arrive after the execution (sometimes much later); ``None``
        when the execution is not stored (yet)."""
        fill = self.get_by_exec_id(exec_id)
        if fill is None:
            return None
        fill.commission = as_decimal(commission)
        if currency:
            fill.currency = currency
        self.session.flush()
        return fill

    def get(self, fill_id: int) -> TradeFill:
        return _get(self.session, TradeFill, fill_id)

    def get_by_exec_id(self, exec_id: str) -> TradeFill | None:
        query = select(TradeFill).where(TradeFill.exec_id == exec_id).execution_options(populate_existing=True)
        return self.session.scalars(query).one_or_none()

    def list(
        self,
        *,
        order_id: int | None = None,
        since: datetime | None = None,
        include_superseded: bool = True,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[TradeFill]:
        query = select(TradeFill).execution_options(populate_existing=True)
        if order_id is not None:
            query = query.where(TradeFill.order_id == order_id)
        if since is not None:
            query = query.where(TradeFill.fill_time >= since)
        if not include_superseded:
            query = query.where(TradeFill.superseded.is_(False))
        order = (TradeFill.fill_time.desc(), TradeFill.id.desc()) if newest_first else (TradeFill.fill_time, TradeFill.id)
        query = query.order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def list_by_order(self, order_id: int, *, include_superseded: bool = True) -> list[TradeFill]:
        return self.list(order_id=order_id, include_superseded=include_superseded)

    def filled_quantity(self, order_id: int) -> Decimal:
        """Sum of the current (non-superseded) executions of one order."""
        fills = self.list(order_id=order_id, include_superseded=False)
        return sum((f.quantity for f in fills), Decimal(0))


class OrderEventRepository:
    """Append-only: there is no update or delete."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        order_id: int,
        *,
        source: EventSource | str,
        event_type: str,
        from_state: OrderState | str | None = None,
        to_state: OrderState | str | None = None,
        flagged: bool = False,
        message: str | None = None,
        payload: dict | None = None,
        time: datetime | None = None,
    ) -> OrderEvent:
        event = OrderEvent(
            order_id=order_id,
            source=EventSource(source),
            event_type=event_type,
            from_state=OrderState(from_state) if from_state is not None else None,
            to_state=OrderState(to_state) if to_state is not None else None,
            flagged=flagged,
            message=message,
            payload=payload,
            time=time or utcnow(),
        )
        self.session.add(event)
        self.session.flush()
        return event

    def list_by_order(self, order_id: int) -> list[OrderEvent]:
        query = select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
        return list(self.session.scalars(query))

    def list(self, *, flagged: bool | None = None, since: datetime | None = None, limit: int | None = None) -> list[OrderEvent]:
        query = select(OrderEvent).order_by(OrderEvent.id)
        if flagged is not None:
            query = query.where(OrderEvent.flagged.is_(flagged))
        if since is not None:
            query = query.where(OrderEvent.time >= since)
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))


class PositionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(
        self,
        account: str,
        symbol: str,
        quantity: Decimal | int | str,
        average_cost: Decimal | int | str,
        *,
        realized_pnl: Decimal | int | str | None = None,
        project_id: int | None = None,
        updated_at: datetime | None = None,
    ) -> Position:
        """Set the position of (project, account, symbol), creating it if needed, in one
        statement (safe against a concurrent writer). ``realized_pnl=None`` keeps the stored value.
        ``symbol`` is the listing key (``ContractSpec.key``); its currency and venue are stored
        beside it."""
        from services.core.contracts import ContractSpec

        listing = ContractSpec.from_key(symbol)
        now = updated_at or utcnow()
        values = _normalize(
            Position,
            {
                "project_id": project_id,
                "project_key": project_id or 0,
                "account": account,
                "symbol": symbol,
                "currency": listing.currency,
                "exchange": listing.venue,
                "quantity": quantity,
                "average_cost": average_cost,
                "realized_pnl": realized_pnl if realized_pnl is not None else Decimal(0),
                "updated_at": now,
            },
        )
        changing = ["quantity", "average_cost", "updated_at"] + (["realized_pnl"] if realized_pnl is not None else [])
        table = Position.__table__
        dialect = self.session.get_bind().dialect.name
        if dialect == "sqlite":
            stmt = sqlite_dialect.insert(table).values(values)
            stmt = stmt.on_conflict_do_update(
                index_elements=["project_key", "account", "symbol"],
                set_={name: stmt.excluded[name] for name in changing},
            )
        elif dialect in ("mysql", "mariadb"):
            stmt = mysql_dialect.insert(table).values(values)
            stmt = stmt.on_duplicate_key_update({name: stmt.inserted[name] for name in changing})
        else:  # pragma: no cover
            raise RepositoryError(f"upsert not implemented for {dialect}")
        self.session.execute(stmt)
        position = self.get(account, symbol, project_id=project_id)
        assert position is not None
        return position

    def get(self, account: str, symbol: str, *, project_id: int | None = None) -> Position | None:
        query = select(Position).where(
            Position.project_key == (project_id or 0), Position.account == account, Position.symbol == symbol
        )
        return self.session.scalars(query.execution_options(populate_existing=True)).one_or_none()

    def list(self, *, account: str | None = None, project_id: int | None = None, nonzero_only: bool = False) -> list[Position]:
        query = select(Position).execution_options(populate_existing=True)
        if account is not None:
            query = query.where(Position.account == account)
        if project_id is not None:
            query = query.where(Position.project_key == project_id)
        if nonzero_only:
            query = query.where(Position.quantity != 0)
        return list(self.session.scalars(query.order_by(Position.account, Position.symbol, Position.project_key)))


    def mark(self, account: str, prices: Mapping[str, Decimal], when: datetime | None = None) -> int:
        """Store the last market price of each symbol on every row of the account (project rows
        included). Returns how many rows were marked."""
        when = when or utcnow()
        marked = 0
        for symbol, price in sorted(prices.items()):
            result = self.session.execute(
                update(Position).where(Position.account == account, Position.symbol == symbol)
                .values(market_price=as_decimal(price), marked_at=when)
                .execution_options(synchronize_session=False))
            marked += result.rowcount or 0
        return marked


class EquityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        account: str,
        cash: Decimal | int | str,
        equity: Decimal | int | str,
        *,
        realized_pnl: Decimal | int | str = 0,
        unrealized_pnl: Decimal | int | str = 0,
        project_id: int | None = None,
        time: datetime | None = None,
    ) -> EquitySnapshot:
        row = EquitySnapshot(
            **_normalize(
                EquitySnapshot,
                {
                    "account": account,
                    "cash": cash,
                    "equity": equity,
                    "realized_pnl": realized_pnl,
                    "unrealized_pnl": unrealized_pnl,
                    "project_id": project_id,
                    "time": time or utcnow(),
                },
            )
        )
        self.session.add(row)
        self.session.flush()
        return row

    def list(
        self,
        *,
        account: str | None = None,
        project_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[EquitySnapshot]:
        query = select(EquitySnapshot)
        if account is not None:
            query = query.where(EquitySnapshot.account == account)
        if project_id is not None:
            query = query.where(EquitySnapshot.project_id == project_id)
        if since is not None:
            query = query.where(EquitySnapshot.time >= since)
        if until is not None:
            query = query.where(EquitySnapshot.time <= until)
        return list(self.session.scalars(query.order_by(EquitySnapshot.time, EquitySnapshot.id)))

    def latest(self, account: str) -> EquitySnapshot | None:
        query = select(EquitySnapshot).where(EquitySnapshot.account == account)
        return self.session.scalars(query.order_by(EquitySnapshot.time.desc(), EquitySnapshot.id.desc()).limit(1)).first()


class ContractRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, symbol: str, *, sec_type: str = "STK", exchange: str = "SMART", currency: str = "USD") -> ContractCache | None:
        query = select(ContractCache).where(
            ContractCache.symbol == symbol,
            ContractCache.sec_type == sec_type,
            ContractCache.exchange == exchange,
            ContractCache.currency == currency,
        )
        return self.session.scalars(query).one_or_none()

    def save(self, symbol: str, *, sec_type: str = "STK", exchange: str = "SMART", currency: str = "USD", **fields: Any) -> ContractCache:
        key = {"symbol": symbol, "sec_type": sec_type, "exchange": exchange, "currency": currency}
        row, _ = insert_once(self.session, ContractCache, {**key, **fields}, tuple(key))
        for name, value in _normalize(ContractCache, fields).items():
            setattr(row, name, value)
        self.session.flush()
        return row


INSTALLATION_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely


def new_installation_id() -> str:
    """6 random characters (30 bits): the part of a client order id that differs between
    databases."""
    return "".join(secrets.choice(INSTALLATION_ID_ALPHABET) for _ in range(6))


class SettingsRepository:
    """The single ``trade_settings`` row, created with the defaults on first use."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self) -> TradeSettings:
        row = self.session.get(TradeSettings, SETTINGS_ROW_ID)
        if row is not None:
            return row
        row, _ = insert_once(
            self.session,
            TradeSettings,
            {
                "id": SETTINGS_ROW_ID,
                "risk_defaults": {},
                "execution_data_source": "ib",
                "auto_recovery": dict(AUTO_RECOVERY_DEFAULTS),
                "execution": dict(EXECUTION_DEFAULTS),
                "trading_state": TradingState.ACTIVE,
                "installation_id": new_installation_id(),
            },
            ("id",),
        )
        return row

    def installation_id(self) -> str:
        """This database's installation id (generated once, then never changed)."""
        row = self.get()
        if row.installation_id:
            return row.installation_id
        row = self.get_for_update()
        if not row.installation_id:
            row.installation_id = new_installation_id()
            self.session.flush()
        return row.installation_id

    def get_for_update(self) -> TradeSettings:
        """The row locked until the transaction ends (MySQL ``FOR UPDATE``; SQLite's unit of
        work already holds the write lock)."""
        self.get()
        query = select(TradeSettings).where(TradeSettings.id == SETTINGS_ROW_ID).with_for_update()
        return self.session.scalars(query.execution_options(populate_existing=True)).one()

    def trading_state(self) -> TradingState:
        return self.get().trading_state

    def set_trading_state(self, state: TradingState | str) -> TradingState:
        row = self.get_for_update()
        row.trading_state = TradingState(state)
        self.session.flush()
        return row.trading_state

    def risk_defaults(self) -> dict:
        return dict(self.get().risk_defaults or {})

    def set_risk_defaults(self, values: Mapping[str, Any]) -> dict:
        row = self.get_for_update()
        row.risk_defaults = dict(values)
        self.session.flush()
        return dict(row.risk_defaults)

    def auto_recovery(self) -> dict:
        """Stored values over the defaults of docs/plans.md, plan 003 (a partial dict keeps the other defaults)."""
        return {**AUTO_RECOVERY_DEFAULTS, **(self.get().auto_recovery or {})}

    def set_auto_recovery(self, values: Mapping[str, Any]) -> dict:
        unknown = set(values) - set(AUTO_RECOVERY_DEFAULTS)
        if unknown:
            raise RepositoryError(f"unknown auto-recovery settings: {', '.join(sorted(unknown))}")
        row = self.get_for_update()
        row.auto_recovery = {**AUTO_RECOVERY_DEFAULTS, **(row.auto_recovery or {}), **values}
        self.session.flush()
        return dict(row.auto_recovery)

    def execution(self) -> dict:
        """Plan limits (``plan_max_age_seconds``, ``plan_max_price_move_pct``) over the defaults."""
        return {**EXECUTION_DEFAULTS, **(self.get().execution or {})}

    def set_execution(self, values: Mapping[str, Any]) -> dict:
        unknown = set(values) - set(EXECUTION_DEFAULTS)
        if unknown:
            raise RepositoryError(f"unknown execution settings: {', '.join(sorted(unknown))}")
        row = self.get_for_update()
        row.execution = {**EXECUTION_DEFAULTS, **(row.execution or {}), **values}
        self.session.flush()
        return dict(row.execution)

    def execution_data_source(self) -> str:
        return self.get().execution_data_source

    def set_execution_data_source(self, source: str) -> str:
        row = self.get_for_update()
        row.execution_data_source = source
        self.session.flush()
        return row.execution_data_source


class Repositories:
    """Every repository on one session: ``Repositories(session).orders.list_working()``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.projects = ProjectRepository(session)
        self.snapshots = SnapshotRepository(session)
        self.runs = RunRepository(session)
        self.orders = OrderRepository(session)
        self.fills = FillRepository(session)
        self.events = OrderEventRepository(session)
        self.positions = PositionRepository(session)
        self.equity = EquityRepository(session)
        self.contracts = ContractRepository(session)
        self.settings = SettingsRepository(session)
