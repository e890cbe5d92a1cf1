"""The contract cache: details the broker resolved once for a symbol + type + venue + currency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.db.models import ContractCache
from services.db.repositories.base import insert_once, normalize_values


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
        for name, value in normalize_values(ContractCache, fields).items():
            setattr(row, name, value)
        self.session.flush()
        return row
