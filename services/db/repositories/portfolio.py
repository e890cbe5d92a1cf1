"""What an account holds: positions (one row per project + account + listing) and the equity curve."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import Session

from services.db.models import EquitySnapshot, Position
from services.db.repositories.base import RepositoryError, cursor_result, normalize_values
from services.db.types import as_decimal, utcnow


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
        values = normalize_values(
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
        table = cast(Table, Position.__table__)
        dialect = self.session.get_bind().dialect.name
        if dialect == "sqlite":
            sqlite_insert = sqlite_dialect.insert(table).values(values)
            sqlite_upsert = sqlite_insert.on_conflict_do_update(
                index_elements=["project_key", "account", "symbol"],
                set_={name: sqlite_insert.excluded[name] for name in changing},
            )
            self.session.execute(sqlite_upsert)
        elif dialect in ("mysql", "mariadb"):
            mysql_insert = mysql_dialect.insert(table).values(values)
            mysql_upsert = mysql_insert.on_duplicate_key_update({name: mysql_insert.inserted[name] for name in changing})
            self.session.execute(mysql_upsert)
        else:  # pragma: no cover
            raise RepositoryError(f"upsert not implemented for {dialect}")
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
            result = cursor_result(self.session.execute(
                update(Position).where(Position.account == account, Position.symbol == symbol)
                .values(market_price=as_decimal(price), marked_at=when)
                .execution_options(synchronize_session=False)))
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
            **normalize_values(
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
