"""Hash-chained audit log.

Each entry stores ``hash = sha256(prev_hash + canonical_json(entry))`` where the entry is
``{id, time, actor, action, entity_type, entity_id, payload}``; the first entry's ``prev_hash``
is 64 zeros. Changing any stored field, deleting or reordering entries breaks the chain, and
``verify()`` names the first entry where it breaks.

Appends are serialized so that concurrent writers (threads or processes) extend one chain:
every append first locks the one-row ``audit_chain_head`` table (``SELECT ... FOR UPDATE`` on
MySQL; on SQLite the unit of work already holds the database write lock, ``BEGIN IMMEDIATE``),
reads the previous hash from it and moves it forward in the same transaction. Passing
``session=`` appends inside the caller's transaction (use a ``Database.unit_of_work()``
session), so the audit entry commits or rolls back with the change it describes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.db import Database
from services.db.session import SQLITE_BEGIN_OPTION
from services.db.convert import to_audit_record
from services.db.models import CHAIN_HEAD_ROW_ID, GENESIS_HASH, AuditChainHead
from services.db.models import AuditLog as AuditLogRow
from services.db.repositories import insert_once
from services.db.types import utcnow
from services.domain import AuditRecord

UTC = timezone.utc
VERIFY_BATCH = 2000


def _canonical_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _render_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} cannot go into an audit payload")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, Decimals as their exact string, datetimes as UTC ISO 8601."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canonical_default)


def _render_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime in an audit entry")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, *, id: int, time: datetime, actor: str, action: str,  # noqa: A002
               entity_type: str | None, entity_id: str | None, payload: dict) -> str:
    entry = {
        "id": id,
        "time": _render_time(time),
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "payload": payload,
    }
    return hashlib.sha256((prev_hash + canonical_json(entry)).encode("utf-8")).hexdigest()


def _row_hash(row: AuditLogRow) -> str:
    return entry_hash(
        row.prev_hash,
        id=row.id,
        time=row.time,
        actor=row.actor,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        payload=row.payload if row.payload is not None else {},
    )


def _require_write_lock(session: Session) -> None:
    """On SQLite the chain is serialized by the write lock taken at BEGIN IMMEDIATE; a deferred
    transaction (``Database.session()``) could not take it later without failing at random."""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and connection.get_execution_options().get(SQLITE_BEGIN_OPTION) != "BEGIN IMMEDIATE":
        raise ValueError("append the audit entry inside a Database.unit_of_work() session (it holds the write lock)")


@dataclass(frozen=True, slots=True)
class AuditVerification:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None


class AuditLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- writing ---------------------------------------------------------------------------------

    def append(
        self,
        actor: str,
        action: str,
        entity_type: str | None = None,
        entity_id: str | int | None = None,
        payload: dict | None = None,
        *,
        session: Session | None = None,
        time: datetime | None = None,
    ) -> AuditRecord:
        if session is not None:
            _require_write_lock(session)
            return self._append(session, actor, action, entity_type, entity_id, payload, time)
        with self.database.unit_of_work() as own:
            return self._append(own, actor, action, entity_type, entity_id, payload, time)

    def _lock_head(self, session: Session) -> AuditChainHead:
        query = select(AuditChainHead).where(AuditChainHead.id == CHAIN_HEAD_ROW_ID).with_for_update()
        head = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
        if head is not None:
            return head
        # First append ever (or the head row was lost): start from the newest stored entry so
        # that the chain never forks. Two racing creators: the second insert is a no-op.
        last = session.scalars(select(AuditLogRow).order_by(AuditLogRow.id.desc()).limit(1)).first()
        insert_once(
            session,
            AuditChainHead,
            {
                "id": CHAIN_HEAD_ROW_ID,
                "last_id": last.id if last else None,
                "last_hash": last.hash if last else GENESIS_HASH,
            },
            ("id",),
        )
        return session.scalars(query.execution_options(populate_existing=True)).one()

    def _append(self, session, actor, action, entity_type, entity_id, payload, time) -> AuditRecord:
        if not actor or not action:
            raise ValueError("an audit entry needs an actor and an action")
        if payload is not None and not isinstance(payload, dict):
            raise TypeError("the audit payload must be a dict")
        # Store exactly what will be read back: the JSON form (Decimal -> str, etc.).
        stored_payload = json.loads(canonical_json(payload or {}))
        when = (time or utcnow()).astimezone(UTC)
        entity = str(entity_id) if entity_id is not None else None
        head = self._lock_head(session)
        next_id = max(head.last_id or 0, self._max_id(session)) + 1
        digest = entry_hash(
            head.last_hash,
            id=next_id,
            time=when,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity,
            payload=stored_payload,
        )
        row = AuditLogRow(
            id=next_id,
            time=when,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity,
            payload=stored_payload,
            prev_hash=head.last_hash,
            hash=digest,
        )
        session.add(row)
        head.last_id = next_id
        head.last_hash = digest
        session.flush()
        return to_audit_record(row)

    @staticmethod
    def _max_id(session: Session) -> int:
        return session.scalar(select(func.coalesce(func.max(AuditLogRow.id), 0))) or 0

    # -- reading ---------------------------------------------------------------------------------

    def list(
        self,
        *,
        action: str | None = None,
        entity_type: str | None = None,
        entity_id: str | int | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditRecord]:
        query = select(AuditLogRow)
        if action is not None:
            query = query.where(AuditLogRow.action == action)
        if entity_type is not None:
            query = query.where(AuditLogRow.entity_type == entity_type)
        if entity_id is not None:
            query = query.where(AuditLogRow.entity_id == str(entity_id))
        if since is not None:
            query = query.where(AuditLogRow.time >= since)
        query = query.order_by(AuditLogRow.id.desc() if newest_first else AuditLogRow.id)
        if limit is not None:
            query = query.limit(limit)
        with self.database.session() as session:
            return [to_audit_record(row) for row in session.scalars(query)]

    def count(self) -> int:
        with self.database.session() as session:
            return session.scalar(select(func.count()).select_from(AuditLogRow)) or 0

    def verify(self) -> AuditVerification:
        """Walk the whole chain in id order; the first entry whose ``prev_hash`` does not match
        its predecessor or whose ``hash`` does not match its content is reported."""
        checked = 0
        expected_prev = GENESIS_HASH
        last_id = 0
        with self.database.session() as session:
            while True:
                query = select(AuditLogRow).where(AuditLogRow.id > last_id).order_by(AuditLogRow.id).limit(VERIFY_BATCH)
                rows = list(session.scalars(query))
                if not rows:
                    break
                for row in rows:
                    if row.prev_hash != expected_prev:
                        return AuditVerification(
                            False, checked, row.id, "prev_hash does not match the previous entry (an entry was removed, inserted or altered)"
                        )
                    if _row_hash(row) != row.hash:
                        return AuditVerification(False, checked, row.id, "hash does not match the entry's content (the entry was altered)")
                    expected_prev = row.hash
                    last_id = row.id
                    checked += 1
                session.expunge_all()
            head = session.get(AuditChainHead, CHAIN_HEAD_ROW_ID)
            if head is not None and head.last_hash != expected_prev:
                return AuditVerification(
                    False, checked, head.last_id, f"the chain head expects entry {head.last_id}, newest entries are missing or altered"
                )
        return AuditVerification(True, checked)
