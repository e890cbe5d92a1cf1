"""Orders and their append-only event journal (a status change can write both in one transaction).

Exactly-once: ``OrderRepository.insert_once`` is keyed on ``client_order_id``.
"""

from __future__ import annotations

import builtins  # the repositories' own list() method shadows the type in their bodies
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from services.db.models import OrderEvent, TradeOrder
from services.db.repositories.base import (
    RepositoryError,
    execute_many,
    get_row,
    insert_many_once,
    insert_once,
    normalize_values,
)
from services.db.types import utcnow
from services.domain import (
    TERMINAL_ORDER_STATES,
    WORKING_ORDER_STATES,
    EventSource,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
)

# a run's orders are read each time a run is waited on: built once
_BY_RUN = select(TradeOrder).where(TradeOrder.run_id == bindparam("run_id")).order_by(TradeOrder.id)


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

    def insert_many_once(self, orders: list[dict[str, Any]]) -> None:
        """``insert_once`` for many orders of one shape (one executemany; existing ones are left
        as they are). Each dict holds ``insert_once``'s arguments by name."""
        rows = [{**o, "side": Side(o["side"]), "order_type": OrderType(o.get("order_type", OrderType.MKT)),
                 "tif": TimeInForce(o.get("tif", TimeInForce.DAY)), "status": OrderState(o.get("status", OrderState.NEW))}
                for o in orders]  # one new dict a row (its keys in the given order, the missing ones after)
        insert_many_once(self.session, TradeOrder, rows, "client_order_id")

    def create(self, client_order_id: str, symbol: str, side: Side | str, quantity: Any, **fields: Any) -> TradeOrder:
        """Store a new order; a duplicate ``client_order_id`` raises ``RepositoryError``."""
        order, created = self.insert_once(client_order_id, symbol, side, quantity, **fields)
        if not created:
            raise RepositoryError(f"order {client_order_id!r} already exists (id {order.id})")
        return order

    def get(self, order_id: int) -> TradeOrder:
        return get_row(self.session, TradeOrder, order_id)

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

    def list_by_run(self, run_id: int) -> builtins.list[TradeOrder]:
        return list(self.session.scalars(_BY_RUN, {"run_id": run_id}))

    def list_by_status(self, *statuses: OrderState | str) -> builtins.list[TradeOrder]:
        return self.list(status=statuses)

    def list_working(self) -> builtins.list[TradeOrder]:
        """At the broker or on its way there (``OrderState.is_working``)."""
        return self.list(status=WORKING_ORDER_STATES)

    def list_open(self) -> builtins.list[TradeOrder]:
        """Every order that is not final (NEW included)."""
        return self.list(status=[s for s in OrderState if s not in TERMINAL_ORDER_STATES])

    def update_fields(self, order_id: int, **fields: Any) -> TradeOrder:
        order = self.get(order_id)
        for key, value in normalize_values(TradeOrder, fields).items():
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
        for key, value in normalize_values(TradeOrder, fields).items():
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


# on the table: a plain executemany, not the ORM's bulk insert (as ORM objects SQLite inserted
# them one statement with RETURNING each); built once
_INSERT_EVENTS = cast(Table, OrderEvent.__table__).insert()
# what ``insert_rows``' rows hold, in this order
EVENT_COLUMNS = ("order_id", "source", "event_type", "from_state", "to_state", "flagged", "message", "payload", "time")


class OrderEventRepository:
    """Append-only: there is no update or delete."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_rows(self, rows: builtins.list[tuple[Any, ...]]) -> None:
        """Many events in one executemany through the driver (``execute_many``): each row a tuple
        of ``EVENT_COLUMNS`` (ids follow the rows' order)."""
        execute_many(self.session, _INSERT_EVENTS, EVENT_COLUMNS, rows)

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
