"""Executions: stored exactly once by ``exec_id``; a corrected revision supersedes the older ones."""

from __future__ import annotations

import builtins  # the repositories' own list() method shadows the type in their bodies
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.core.positions_book import split_exec_id  # the one definition, re-exported
from services.db.models import TradeFill
from services.db.repositories.base import get_row, insert_once
from services.db.types import as_decimal, utcnow
from services.domain import Side


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
        return get_row(self.session, TradeFill, fill_id)

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

    def list_by_order(self, order_id: int, *, include_superseded: bool = True) -> builtins.list[TradeFill]:
        return self.list(order_id=order_id, include_superseded=include_superseded)

    def filled_quantity(self, order_id: int) -> Decimal:
        """Sum of the current (non-superseded) executions of one order."""
        fills = self.list(order_id=order_id, include_superseded=False)
        return sum((f.quantity for f in fills), Decimal(0))
