"""ORM rows -> the frozen records of ``services.domain`` (what the GUI and the CLI receive)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from services.db.models import AuditLog, Position, TradeFill, TradeOrder
from services.domain import (
    AuditRecord,
    FillRecord,
    OrderRecord,
    OrderState,
    OrderType,
    PositionRecord,
    Side,
)


def to_order_record(order: TradeOrder) -> OrderRecord:
    return OrderRecord(
        id=order.id,
        client_order_id=order.client_order_id,
        run_id=order.run_id,
        symbol=order.symbol,
        side=Side(order.side),
        quantity=order.quantity,
        order_type=OrderType(order.order_type),
        limit_price=order.limit_price,
        status=OrderState(order.status),
        filled_quantity=order.filled_quantity if order.filled_quantity is not None else Decimal(0),
        avg_fill_price=order.avg_fill_price,
        created_at=order.created_at,
        updated_at=order.updated_at,
        ib_order_id=order.ib_order_id,
        ib_perm_id=order.ib_perm_id,
        ib_client_id=order.ib_client_id,
        account=order.account,
        rejected_reason=order.rejected_reason,
        replaces_order_id=order.replaces_order_id,
        external=bool(order.is_external),
        stop_price=_stop_price(order),
        tif=str(order.tif or "DAY"),
    )


def _stop_price(order: TradeOrder) -> Decimal | None:
    """A stop order's stop price: kept with the order's draft (``params``), no column of its own."""
    value = ((order.params or {}).get("draft") or {}).get("stop_price")
    return None if value is None else Decimal(str(value))


def to_fill_record(fill: TradeFill) -> FillRecord:
    return FillRecord(
        id=fill.id,
        order_id=fill.order_id,
        exec_id=fill.exec_id,
        symbol=fill.symbol,
        side=Side(fill.side),
        quantity=fill.quantity,
        price=fill.price,
        commission=fill.commission,
        fill_time=fill.fill_time,
        currency=fill.currency,
        exchange=fill.exchange,
        superseded=bool(fill.superseded),
        client_order_id=fill.client_order_id,
    )


def to_position_record(position: Position, market_price: Decimal | None = None) -> PositionRecord:
    return position_record(
        position.project_id, position.account, position.symbol, position.quantity, position.average_cost,
        position.realized_pnl, position.updated_at,
        market_price if market_price is not None else position.market_price,  # else the stored mark
        position.currency, position.exchange, None if market_price is not None else position.marked_at,
    )


def position_record(project_id: int | None, account: str, symbol: str, quantity: Decimal, average_cost: Decimal,
                    realized_pnl: Decimal, updated_at: datetime, market_price: Decimal | None, currency: str | None,
                    exchange: str | None, marked_at: datetime | None) -> PositionRecord:
    """The record of a ``positions`` row's values (a row without currency and venue was written
    before they were stored: a US stock)."""
    return PositionRecord(project_id, account, symbol, quantity, average_cost, realized_pnl, updated_at, market_price,
                          currency or "USD", exchange or "SMART", marked_at)


def to_audit_record(entry: AuditLog) -> AuditRecord:
    return AuditRecord(
        id=entry.id,
        time=entry.time,
        actor=entry.actor,
        action=entry.action,
        entity_type=entry.entity_type,
        entity_id=entry.entity_id,
        payload=dict(entry.payload or {}),
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )
