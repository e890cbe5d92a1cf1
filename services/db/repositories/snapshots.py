"""Decision snapshots: an imported target list and its items, stored together or not at all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, insert, or_, select
from sqlalchemy.orm import Session

from services.db.models import DecisionSnapshot, DecisionSnapshotItem
from services.db.repositories.base import cursor_result, fetch_all, get_row, normalize_values
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


class NewSnapshot(NamedTuple):
    """A snapshot to store (``SnapshotRepository.store_once``)."""

    project_id: int
    source_file: str
    content_hash: str
    items: Iterable[SnapshotItemInput | Mapping[str, Any]]


# (on the table's columns alone: a mapped attribute anywhere in it made it an ORM statement, loaded
# through the ORM's machinery, which cost more than the query)
_ITEM_TABLE = cast(Table, DecisionSnapshotItem.__table__)
_ITEMS = (select(*(_ITEM_TABLE.c[f.name] for f in fields(SnapshotItemInput)))
          .where(_ITEM_TABLE.c.snapshot_id == bindparam("snapshot_id")).order_by(_ITEM_TABLE.c.id))
# storing snapshots: Core statements on the tables, built once
_SNAPSHOTS = cast(Table, DecisionSnapshot.__table__)
_INSERT_SNAPSHOT = insert(_SNAPSHOTS)
_INSERT_ITEMS = insert(cast(Table, DecisionSnapshotItem.__table__))
# an item's columns it may leave out, at their defaults (the column defaults' values)
_ITEM_DEFAULTS = {f.name: f.default for f in fields(SnapshotItemInput) if f.default is not MISSING}

#: The note of a snapshot stored only as a backtest's input (services.backtest.runner): kept for
#: the backtest's plans and trail, never listed among the trader's decisions; importing the same
#: file for trading makes it one (services.console_queries.store_snapshot clears the note).
BACKTEST_INPUT_NOTE = "backtest input"


def decisions_only(note_column):
    """Snapshots the trader imported for trading: not a backtest's inputs alone."""
    return or_(note_column.is_(None), note_column != BACKTEST_INPUT_NOTE)
_NEWEST_BY_HASH = (select(_SNAPSHOTS.c.id, _SNAPSHOTS.c.content_hash, _SNAPSHOTS.c.source_file)
                   .where(_SNAPSHOTS.c.project_id == bindparam("project_id"),
                          _SNAPSHOTS.c.content_hash.in_(bindparam("hashes", expanding=True)))
                   .order_by(_SNAPSHOTS.c.id))


def snapshot_items(executor: Session | Connection, snapshot_id: int) -> list[Any]:
    """The snapshot's items in their order, as plain rows (named tuples) of their fields
    (``SnapshotItemInput``'s): a preview reads them and changes nothing (ORM objects cost
    several times the query), on a plain connection too (``Database.core``)."""
    return fetch_all(executor, _ITEMS, {"snapshot_id": snapshot_id})


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
        with self.session.begin_nested():
            snapshot_id, rows = self._insert(NewSnapshot(project_id, source_file, content_hash, items), note, created_at)
            self._insert_items(rows)
        return self.get(snapshot_id)

    def store_once(self, snapshots: Sequence[NewSnapshot], *, note: str | None = None) -> list[int]:
        """Each snapshot's id, in order: the newest stored one of its project with the same
        content and source file (as ``find_by_hash`` finds it, a snapshot stored by an earlier
        entry included; another file of the same content stored since does not hide it), else a
        new one stored with its items. All new ones or none (a
        savepoint). One lookup per project and one INSERT of every new item (a backtest stores
        a snapshot per rebalance: an ORM lookup, object and flush each cost more than storing)."""
        newest: dict[tuple[int, str, str], int] = {}  # (project, hash, source file) -> id
        for project_id in dict.fromkeys(s.project_id for s in snapshots):
            hashes = list(dict.fromkeys(s.content_hash for s in snapshots if s.project_id == project_id))
            for start in range(0, len(hashes), 500):  # keep IN lists short on both databases
                for snapshot_id, content_hash, source_file in self.session.execute(
                        _NEWEST_BY_HASH, {"project_id": project_id, "hashes": hashes[start:start + 500]}):
                    newest[(project_id, content_hash, source_file)] = snapshot_id  # ascending ids: the newest wins
        ids: list[int] = []
        item_rows: list[dict[str, Any]] = []
        with self.session.begin_nested():
            for snapshot in snapshots:
                known = newest.get((snapshot.project_id, snapshot.content_hash, snapshot.source_file))
                if known is not None:
                    ids.append(known)
                    continue
                snapshot_id, rows = self._insert(snapshot, note, None)
                newest[(snapshot.project_id, snapshot.content_hash, snapshot.source_file)] = snapshot_id
                ids.append(snapshot_id)
                item_rows.extend(rows)
            self._insert_items(item_rows)
        return ids

    def _insert(self, snapshot: NewSnapshot, note: str | None, created_at: datetime | None) -> tuple[int, list[dict[str, Any]]]:
        """The snapshot's row inserted (Core: its id from the cursor on SQLite and MySQL alike)
        and its items' rows, every column given (one executemany takes rows of one shape)."""
        self.session.flush()  # the project it belongs to, when the caller just added it
        rows = [normalize_values(DecisionSnapshotItem, i if isinstance(i, Mapping) else i.__dict__) for i in snapshot.items]
        values = {"project_id": snapshot.project_id, "source_file": snapshot.source_file,
                  "content_hash": snapshot.content_hash, "item_count": len(rows), "note": note,
                  "created_at": created_at or utcnow()}
        snapshot_id = cursor_result(self.session.execute(_INSERT_SNAPSHOT, values)).lastrowid
        return snapshot_id, [{**_ITEM_DEFAULTS, **row, "snapshot_id": snapshot_id} for row in rows]

    def _insert_items(self, rows: list[dict[str, Any]]) -> None:
        if rows:  # one executemany (ORM objects are one INSERT ... RETURNING each on SQLite)
            self.session.execute(_INSERT_ITEMS, rows)

    def get(self, snapshot_id: int) -> DecisionSnapshot:
        return get_row(self.session, DecisionSnapshot, snapshot_id)

    def items(self, snapshot_id: int) -> list[Any]:
        """The snapshot's items in their order (``snapshot_items``)."""
        return snapshot_items(self.session, snapshot_id)

    def find_by_hash(self, project_id: int, content_hash: str, source_file: str | None = None) -> DecisionSnapshot | None:
        """The newest snapshot of the project with this content (and, given, this source file:
        the one a file imported again is, though another file of the same content came since)."""
        query = select(DecisionSnapshot).where(
            DecisionSnapshot.project_id == project_id, DecisionSnapshot.content_hash == content_hash
        )
        if source_file is not None:
            query = query.where(DecisionSnapshot.source_file == source_file)
        return self.session.scalars(query.order_by(DecisionSnapshot.id.desc()).limit(1)).first()
