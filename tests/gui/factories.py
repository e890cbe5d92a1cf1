"""Builders of domain records for the GUI tests (plain frozen values, as the services give)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.domain import AuditRecord, FillRecord, OrderRecord, OrderState, OrderType, PositionRecord, Side

T0 = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "SPY", "QQQ", "IBM", "NVDA")


def order(i: int, *, status: OrderState = OrderState.ACCEPTED, run_id: int | None = 1, symbol: str | None = None,
          side: Side = Side.BUY, quantity: str = "100", filled: str = "0", order_type: OrderType = OrderType.LMT,
          limit: str | None = "100.25", avg: str | None = None, stop: str | None = None) -> OrderRecord:
    return OrderRecord(
        id=i,
        client_order_id=f"r{run_id}-{symbol or SYMBOLS[i % len(SYMBOLS)]}-B-{i:04d}",
        run_id=run_id,
        symbol=symbol or SYMBOLS[i % len(SYMBOLS)],
        side=side,
        quantity=Decimal(quantity),
        order_type=order_type,
        limit_price=None if limit is None else Decimal(limit),
        status=status,
        filled_quantity=Decimal(filled),
        avg_fill_price=None if avg is None else Decimal(avg),
        created_at=T0 + timedelta(milliseconds=i),
        updated_at=T0 + timedelta(milliseconds=i),
        ib_order_id=1000 + i,
        stop_price=None if stop is None else Decimal(stop),
    )


def fill(i: int, order_id: int = 1, *, side: Side = Side.BUY, quantity: str = "10", price: str = "100.5",
         commission: str | None = "1.00", symbol: str = "AAPL", superseded: bool = False) -> FillRecord:
    return FillRecord(
        id=i, order_id=order_id, exec_id=f"0000e{i:06d}.01", symbol=symbol, side=side, quantity=Decimal(quantity),
        price=Decimal(price), commission=None if commission is None else Decimal(commission),
        fill_time=T0 + timedelta(seconds=i), superseded=superseded,
    )


def position(symbol: str, *, project_id: int | None = 1, account: str = "DU123", quantity: str = "10",
             cost: str = "100", realized: str = "0", market: str | None = "110") -> PositionRecord:
    return PositionRecord(project_id, account, symbol, Decimal(quantity), Decimal(cost), Decimal(realized), T0,
                          None if market is None else Decimal(market))


def audit(i: int, action: str = "order.submitted") -> AuditRecord:
    return AuditRecord(i, T0 + timedelta(seconds=i), "user", action, "order", str(i), {"n": i}, f"{i - 1:064x}",
                       f"{i:064x}")


__all__ = ["T0", "audit", "fill", "order", "position", "replace"]
