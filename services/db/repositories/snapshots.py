"""Decision snapshots: an imported target list and its items, stored together or not at all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, bindparam, insert, select
from sqlalchemy.orm import Session

from services.db.models import DecisionSnapshot, DecisionSnapshotItem
from services.db.repositories.base import get_row, normalize_values
from services.db.types import utcnow


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


_ITEMS = (select(*(DecisionSnapshotItem.__table__.c[f.name] for f in fields(SnapshotItemInput)))
          .where(DecisionSnapshotItem.snapshot_id == bindparam("snapshot_id")).order_by(DecisionSnapshotItem.id))


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
        rows = [normalize_values(DecisionSnapshotItem, i if isinstance(i, Mapping) else i.__dict__) for i in items]
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
            if rows:  # one executemany (ORM objects are one INSERT ... RETURNING each on SQLite)
                self.session.execute(insert(DecisionSnapshotItem), [{"snapshot_id": snapshot.id, **row} for row in rows])
        return snapshot

    def get(self, snapshot_id: int) -> DecisionSnapshot:
        return get_row(self.session, DecisionSnapshot, snapshot_id)

    def items(self, snapshot_id: int) -> list[Row]:
        """The snapshot's items in their order, as plain rows of their fields (``SnapshotItemInput``'s):
        a preview reads them and changes nothing (ORM objects cost several times the query)."""
        return list(self.session.execute(_ITEMS, {"snapshot_id": snapshot_id}))

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
