"""Hash-chained audit log.

Each entry stores ``hash = sha256(prev_hash + canonical_json(entry))`` where the entry is
``{id, time, actor, action, entity_type, entity_id, payload}``; the first entry's ``prev_hash``
is 64 zeros. Changing any stored field, deleting or reordering entries breaks the chain, and
``verify()`` names the first entry where it breaks.

Verification walks from a stored checkpoint (``audit_checkpoint``: the newest entry a walk
found intact, its id and hash): after an action only the new entries are read, so its cost does
not grow with the chain. The checkpoint is itself checked against the row it names (a mismatch
means tampering or a broken chain and is reported). A checkpoint cannot vouch for the entries
before it: ``verify(full=True)`` walks the whole chain from the first entry; a walk that finds a
break drops the checkpoint, so every later verification walks in full and keeps reporting it.

Every action a writer records, with its payload's keys, is named by ``services.audit_actions``
(docs/audit-log.md); the chain itself hashes an action's text like any other field.

A ``plan.create`` entry holds its plan's *trail hash* (services.db.repositories.trail): a walk
also checks the decision records of the plans it passes, and an altered, added or removed record
fails the verification at that entry, naming the record (``AuditVerification.record``).

Appends are serialized so that concurrent writers (threads or processes) extend one chain:
every append first locks the one-row ``audit_chain_head`` table (``SELECT ... FOR UPDATE`` on
MySQL; on SQLite the unit of work already holds the database write lock, ``BEGIN IMMEDIATE``),
reads the previous hash from it and moves it forward in the same transaction. Passing
``session=`` appends inside the caller's transaction (use a ``Database.unit_of_work()``
session), so the audit entry commits or rolls back with the change it describes.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from services.audit_actions import AuditAction
from services.db import Database
from services.db.convert import to_audit_record
from services.db.errors import describe_db_error, is_database_gone, is_server_unreachable
from services.db.lock_conflicts import is_lock_wait_timeout, retry_lock_conflicts
from services.db.models import CHAIN_HEAD_ROW_ID, GENESIS_HASH, AuditChainHead, AuditCheckpoint
from services.db.models import AuditLog as AuditLogRow
from services.db.repositories import insert_once
from services.db.repositories.base import execute_many, fetch_first
from services.db.repositories.trail import TrailRepository
from services.db.session import SQLITE_BEGIN_OPTION
from services.db.types import utcnow
from services.domain import AuditRecord

log = logging.getLogger(__name__)

VERIFY_BATCH = 2000
BULK_CHUNK = 5000
CHECKPOINT_ROW_ID = 1


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


def as_stored(payload: dict | None) -> dict:
    """The payload as it will be read back, which is what is hashed: its JSON form (Decimal ->
    str, etc.), whose keys are text: {9: .., 10: ..} reads back as "10", "9", and a payload keyed
    by both numbers and text ({1: .., "all": ..}) could not even be sorted before that."""
    return json.loads(json.dumps(payload or {}, ensure_ascii=False, default=_canonical_default))


def _render_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime in an audit entry")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_text = json.JSONEncoder(ensure_ascii=False).encode  # a JSON string or null, as canonical_json writes it


def entry_hash(prev_hash: str, *, id: int, time: datetime, actor: str, action: str,
               entity_type: str | None, entity_id: str | None, payload: dict) -> str:
    """sha256 of ``prev_hash + canonical_json({id, time, actor, action, entity_type, entity_id,
    payload})``. The entry's own keys are written in their sorted order directly (only the
    payload goes through the general encoder): the same text, at half the cost of a full walk."""
    return _hash_text(prev_hash, id, _render_time(time), actor, action, entity_type, entity_id, canonical_json(payload))


def _hash_text(prev_hash: str, id: int, time_text: str, actor: str, action: str,
               entity_type: str | None, entity_id: str | None, payload_json: str) -> str:
    entry = (
        f'{{"action":{_text(action)},"actor":{_text(actor)},"entity_id":{_text(entity_id)},'
        f'"entity_type":{_text(entity_type)},"id":{int(id)},"payload":{payload_json},"time":"{time_text}"}}'
    )
    return hashlib.sha256((prev_hash + entry).encode("utf-8")).hexdigest()


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
    """``checked``: entries known intact (up to the checkpoint plus the ones walked now, or up to
    the break); ``walked``: entries read by this verification; ``since_id``: the checkpoint it
    started from (None: a walk from the first entry)."""

    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None
    walked: int = field(default=0, compare=False)
    since_id: int | None = field(default=None, compare=False)
    # a decision record that no longer matches the hash its entry holds: "trail_risk_decisions 12"
    record: str | None = field(default=None, compare=False)
    # the chain links, but an entry's decision records no longer hash to what it recorded
    records_altered: bool = field(default=False, compare=False)

    @property
    def full(self) -> bool:
        return self.since_id is None

    def describe(self, *, short: bool = False) -> str:
        """The one wording of this result, for ``audit verify`` and the window's audit panel
        alike (``short``: the panel's label, the whole sentence its tooltip). The two worded an
        altered decision record differently: the command said the entry no longer vouches for
        its records, the window "Chain broken", which it is not."""
        if self.ok:
            if short:
                return f"Chain verified{' in full' if self.full else ''} ({self.checked} entries)"
            if self.full:
                return f"audit chain intact: {self.checked} entries verified"
            return (f"audit chain intact: {self.checked} entries verified ({self.walked} new since the verified "
                    f"checkpoint at entry {self.since_id}; a full verification walks the whole chain)")
        if self.records_altered:
            if short:
                return f"Decision records altered at entry {self.first_broken_id}"
            record = f" (record {self.record})" if self.record else ""
            return f"audit entry {self.first_broken_id} no longer vouches for its decision records{record}: {self.reason}"
        if short:
            return f"Chain broken at entry {self.first_broken_id}"
        return (f"audit chain BROKEN at entry {self.first_broken_id}: {self.reason} "
                f"({self.checked} earlier entries verified)")


#: The audit panel's chain label: verified (green), broken or altered (red: tampering), or not
#: verified by the last attempt (it failed or did not finish: amber, never the green of before).
CHAIN_OK, CHAIN_BROKEN, CHAIN_UNVERIFIED = "ok", "broken", "unverified"
#: A full walk under way (no colour of its own: it says nothing of the chain yet).
CHAIN_VERIFYING = "verifying"


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """What the audit panel says of the chain: ``state`` (CHAIN_OK, CHAIN_BROKEN or
    CHAIN_UNVERIFIED) colours ``label``; ``details`` is the whole sentence (its tooltip)."""

    state: str
    label: str
    details: str


class ChainVerdicts:
    """The audit panel's verdict after each verification attempt, for the trading window and the
    monitor alike. A verification that fails (the database gone, anything else) or does not
    finish replaces the green "Chain verified (N entries)" with what happened and when the chain
    was last verified: it stayed green, a tamper-evidence panel claiming a check its last attempt
    could not make. A break shown stays shown (a break is never undone: every later walk finds
    it again), whatever a later attempt meets."""

    def __init__(self) -> None:
        self._last: AuditVerification | None = None  # the last verification shown
        self._last_at: datetime | None = None

    def verified(self, result: AuditVerification, at: datetime | None = None) -> ChainVerdict:
        self._last, self._last_at = result, at or datetime.now(UTC)
        return ChainVerdict(CHAIN_OK if result.ok else CHAIN_BROKEN, result.describe(short=True), result.describe())

    def verifying(self) -> ChainVerdict:
        """While a full verification walks the chain: the label kept the verdict of the one
        before (a green "Chain verified (N entries)") until the walk ended, seconds on a long
        chain, as if the check asked for were done. A break shown stays shown, said to be
        checked again."""
        last, at = self._last, self._last_at
        if last is not None and not last.ok:
            return ChainVerdict(CHAIN_BROKEN, f"{last.describe(short=True)} · verifying the full chain again…",
                                f"{last.describe()} (a full verification is walking the chain again)")
        details = "verifying the audit chain in full: walking every entry from the first one"
        if last is not None and at is not None:
            details += (f"; the last verification that finished, at {at.astimezone(UTC):%H:%M:%S} UTC, "
                        f"found {last.checked} entries intact")
        return ChainVerdict(CHAIN_VERIFYING, "Verifying the full chain…", details)

    def not_verified(self, error: BaseException | None, url: str | None = None) -> ChainVerdict:
        """``error``: why the attempt failed (None: it did not finish, cancelled)."""
        last, at = self._last, self._last_at
        if last is not None and not last.ok:
            why = "the last attempt failed" if error is not None else "the last attempt did not finish"
            return ChainVerdict(CHAIN_BROKEN, last.describe(short=True), f"{last.describe()} ({why})")
        if error is None:
            short, cause = "the check did not finish", "the verification did not finish"
        else:
            if isinstance(error, ChainReadInterrupted):
                short, cause = "the database was dropped or replaced during the check", str(error)
            else:
                short = "the database is unreachable" if is_server_unreachable(error) else "the check failed"
                cause = describe_db_error(error, url)
        if last is None or at is None:
            return ChainVerdict(CHAIN_UNVERIFIED, f"Chain not verified: {short}",
                                f"audit chain not verified: {cause}; no verification has finished in this window")
        when = f"{at.astimezone(UTC):%H:%M:%S} UTC"
        return ChainVerdict(CHAIN_UNVERIFIED, f"Chain not verified: {short} (last verified {when}, {last.checked} entries)",
                            f"audit chain not verified: {cause}; the last verification that finished, at {when}, "
                            f"found {last.checked} entries intact")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry for ``AuditLog.append_many`` (bulk import, benchmarks, tests: any action text;
    the product's writers name theirs with ``services.audit_actions.AuditAction``)."""

    actor: str
    action: str
    entity_type: str | None = None
    entity_id: str | int | None = None
    payload: dict | None = None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An ``AuditEntry`` as it will be stored, all but its place in the chain (id, hashes)."""

    entry: AuditEntry
    payload: dict
    payload_json: str
    time: datetime
    entity_id: str | None


# every append runs these: built once (building a statement costs more than running it on SQLite)
_LOCK_HEAD = (select(AuditChainHead).where(AuditChainHead.id == CHAIN_HEAD_ROW_ID).with_for_update()
              .execution_options(populate_existing=True))
# one append: the head locked (FOR UPDATE on MySQL; SQLite's unit of work holds the write lock)
# and the newest stored id read (in the same statement on SQLite), the entry inserted, the head
# moved; on the tables (a statement naming a mapped class's attributes crosses the ORM's layer:
# twice the cost of running it)
_HEAD = cast(Table, AuditChainHead.__table__)
_ENTRIES = cast(Table, AuditLogRow.__table__)
_MAX_ID = select(func.coalesce(func.max(_ENTRIES.c.id), 0))
_LOCK_HEAD_CORE = select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == CHAIN_HEAD_ROW_ID).with_for_update()
_LOCK_HEAD_AND_MAX = (select(_HEAD.c.last_id, _HEAD.c.last_hash, _MAX_ID.scalar_subquery())
                      .where(_HEAD.c.id == CHAIN_HEAD_ROW_ID).with_for_update())
_INSERT_ENTRY = _ENTRIES.insert()
_ENTRY_COLUMNS = ("id", "time", "actor", "action", "entity_type", "entity_id", "payload", "prev_hash", "hash")
_MOVE_HEAD = (update(_HEAD).where(_HEAD.c.id == bindparam("head_id"))
              .values(last_id=bindparam("last_id"), last_hash=bindparam("last_hash"), updated_at=bindparam("updated_at")))
_HEAD_COLUMNS = ("head_id", "last_id", "last_hash", "updated_at")


class ChainReadInterrupted(RuntimeError):
    """The database was dropped, or another created under its name, while its audit chain was
    read (``AuditLog.verify``): the chain is neither verified nor found broken."""

    def __init__(self) -> None:
        super().__init__("the audit chain was not verified: the database was dropped or replaced while it was read; "
                         "verify it again once the database is there")


def _first_hash(session: Session) -> str | None:
    """The chain's first entry's hash: no two databases share it (its time and content)."""
    return session.scalar(select(AuditLogRow.hash).order_by(AuditLogRow.id).limit(1))


def _same_chain(session: Session, first: str | None) -> str | None:
    """``first`` (the chain's first hash when the walk began), or ChainReadInterrupted when the
    database read now holds another chain (dropped and created again under the walk)."""
    now = _first_hash(session)
    if first is not None and now != first:
        raise ChainReadInterrupted()
    return now


class AuditLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- writing ---------------------------------------------------------------------------------

    def append(
        self,
        actor: str,
        action: AuditAction,
        entity_type: str | None = None,
        entity_id: str | int | None = None,
        payload: dict | None = None,
        *,
        session: Session | None = None,
        time: datetime | None = None,
    ) -> AuditRecord:
        """``action``: a member of the registry (services.audit_actions), which the type checker
        holds every writer to; the chain itself stores and hashes the name's text."""
        if session is not None:
            _require_write_lock(session)
            return self._append(session, actor, action, entity_type, entity_id, payload, time)
        return self._append_alone(actor, action, entity_type, entity_id, payload, time)

    # Its own unit of work, of the database alone: a lock another connection held on the chain's
    # head (a writer frozen in its transaction) rolls it back whole, and it runs again from
    # scratch. Within a caller's session it is the caller's unit of work that runs again, if any.
    @retry_lock_conflicts
    def _append_alone(self, actor, action, entity_type, entity_id, payload, time) -> AuditRecord:
        with self.database.unit_of_work() as own:
            return self._append(own, actor, action, entity_type, entity_id, payload, time)

    def _lock_head(self, session: Session) -> AuditChainHead:
        query = _LOCK_HEAD
        head = session.scalars(query).one_or_none()
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
        return session.scalars(query).one()

    def _append(self, session, actor, action, entity_type, entity_id, payload, time) -> AuditRecord:
        if not actor or not action:
            raise ValueError("an audit entry needs an actor and an action")
        action = str(action)  # the name's plain text, stored and hashed as a literal was before the registry
        if payload is not None and not isinstance(payload, dict):
            raise TypeError("the audit payload must be a dict")
        stored_payload = as_stored(payload)
        when = (time or utcnow()).astimezone(UTC)
        entity = str(entity_id) if entity_id is not None else None
        # the caller's pending changes first, as before the head was read through the ORM (its
        # query flushed them): the locks are taken in the same order as ever (no new deadlock)
        session.flush()
        # the session's connection (its transaction): Core statements need none of the ORM
        # session's handling of a statement, which cost as much as running these three
        connection = session.connection()
        if connection.dialect.name == "sqlite":
            # the unit of work holds the write lock since its BEGIN IMMEDIATE: nothing can move
            # between the two reads, so they are one statement
            locked = fetch_first(connection, _LOCK_HEAD_AND_MAX, {})
        else:
            # MySQL: the newest id is read only once the head is locked (a subquery of the locking
            # statement might be evaluated before its lock wait)
            head_row = connection.execute(_LOCK_HEAD_CORE).one_or_none()
            locked = None if head_row is None else (*head_row, self._max_id(connection))
        if locked is None:  # first append ever, or the head row was lost: created as before
            head = self._lock_head(session)
            last_id, prev_hash, max_id = head.last_id, head.last_hash, self._max_id(session)
        else:
            last_id, prev_hash, max_id = locked
        next_id = max(last_id or 0, max_id or 0) + 1
        digest = entry_hash(
            prev_hash,
            id=next_id,
            time=when,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity,
            payload=stored_payload,
        )
        # Core statements on the tables: an ORM object per entry and a unit-of-work flush cost
        # more than the two statements themselves (issue 11: a backtest audits three times a run)
        # (run as the writer's batches run: on SQLite straight on the driver's cursor)
        execute_many(connection, _INSERT_ENTRY, _ENTRY_COLUMNS,
                     [(next_id, when, actor, action, entity_type, entity, stored_payload, prev_hash, digest)])
        execute_many(connection, _MOVE_HEAD, _HEAD_COLUMNS, [(CHAIN_HEAD_ROW_ID, next_id, digest, utcnow())])
        return AuditRecord(id=next_id, time=when, actor=actor, action=action, entity_type=entity_type,
                           entity_id=entity, payload=dict(stored_payload), prev_hash=prev_hash, hash=digest)

    @staticmethod
    def _max_id(executor: Session | Connection) -> int:
        return executor.scalar(_MAX_ID) or 0

    def append_many(self, entries: Iterable[AuditEntry]) -> int:
        """Append many entries in one transaction: the hashes are computed here and the rows go
        in with multi-row INSERTs (one ``append`` per entry would cost a transaction each).
        Returns the number of entries appended. All or none: an entry without an actor or an
        action is refused before anything is written."""
        prepared = []
        for number, entry in enumerate(entries, 1):
            if not entry.actor or not entry.action:
                raise ValueError(f"audit entry {number} needs an actor and an action")
            payload = as_stored(entry.payload)
            prepared.append(_Prepared(entry, payload, canonical_json(payload), (entry.time or utcnow()).astimezone(UTC),
                                      str(entry.entity_id) if entry.entity_id is not None else None))
        if not prepared:
            return 0
        return self._append_prepared(prepared)

    # One unit of work: a lock wait or a deadlock rolls it back whole (no entry of it stays, the
    # head is where it was) and it runs again from the head it then reads: the entries are read
    # from ``entries`` once, before, so the run again appends the same ones, once.
    @retry_lock_conflicts
    def _append_prepared(self, prepared: builtins.list[_Prepared]) -> int:
        with self.database.unit_of_work() as session:
            head = self._lock_head(session)
            next_id = max(head.last_id or 0, self._max_id(session)) + 1
            prev_hash = head.last_hash
            rows: builtins.list[dict] = []
            table = cast(Table, AuditLogRow.__table__)  # a mapped class's table, typed as any FromClause
            for p in prepared:
                entry = p.entry
                digest = _hash_text(prev_hash, next_id, _render_time(p.time), entry.actor, entry.action, entry.entity_type,
                                    p.entity_id, p.payload_json)
                rows.append({"id": next_id, "time": p.time, "actor": entry.actor, "action": entry.action,
                             "entity_type": entry.entity_type, "entity_id": p.entity_id, "payload": p.payload,
                             "prev_hash": prev_hash, "hash": digest})
                prev_hash = digest
                next_id += 1
                if len(rows) >= BULK_CHUNK:
                    session.execute(table.insert(), rows)
                    rows = []
            if rows:
                session.execute(table.insert(), rows)
            head.last_id = next_id - 1
            head.last_hash = prev_hash
        return len(prepared)

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

    def entries_after(self, after_id: int, *, limit: int | None = None) -> builtins.list[AuditRecord]:  # `list` is a method here
        """Entries newer than ``after_id``, oldest first (the newest ``limit`` of them): what a
        view that already shows everything up to ``after_id`` still needs."""
        query = select(AuditLogRow).where(AuditLogRow.id > after_id).order_by(AuditLogRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.database.session() as session:
            return [to_audit_record(row) for row in reversed(list(session.scalars(query)))]

    def count(self) -> int:
        with self.database.session() as session:
            return session.scalar(select(func.count()).select_from(AuditLogRow)) or 0

    def verify(self, *, full: bool = False) -> AuditVerification:
        """Walk the chain in id order from the checkpoint (``full``: from the first entry); the
        first entry whose ``prev_hash`` does not match its predecessor or whose ``hash`` does not
        match its content is reported. An intact walk moves the checkpoint to its last entry.

        Each batch of the walk is a short transaction of its own: on MariaDB a transaction keeps
        a shared metadata lock on every table it read until it ends, and a DROP DATABASE waits
        for all of them (``lock_wait_timeout``, a day by default) with every later statement on
        those tables queued behind it: one transaction over a walk of 100,000 entries held the
        DROP, and the whole window's database work behind it, for the walk's length, and then
        failed on a table that no longer existed. Each batch reads the chain's first entry again:
        a database dropped or created again under the walk raises :class:`ChainReadInterrupted`,
        never a break (the new database's entries do not link to the old one's). Under READ
        COMMITTED one transaction saw each statement's own moment anyway: nothing is lost. A
        table missing before the walk began (not a walk interrupted) fails as it is."""
        with self.database.session() as session:
            # the head first: entries appended while we walk are left to the next verification
            head = session.get(AuditChainHead, CHAIN_HEAD_ROW_ID)
            first = _first_hash(session)
            checkpoint = None if full else session.get(AuditCheckpoint, CHECKPOINT_ROW_ID)
            if checkpoint is not None:
                since_id, expected_prev, checked = checkpoint.last_id, checkpoint.last_hash, checkpoint.entries
                problem = self._checkpoint_problem(session, checkpoint)
            else:
                since_id, expected_prev, checked, problem = None, GENESIS_HASH, 0, None
        if problem is not None:
            result = AuditVerification(False, 0, since_id, problem, 0, since_id)
            return self._keep_checkpoint(result, 0, GENESIS_HASH)
        try:
            trails: builtins.list[tuple[int, int, str]] = []
            result, last_id, last_hash = self._walk(head, first, since_id, expected_prev, checked, trails)
            if result.ok and trails:
                with self.database.session() as session:
                    _same_chain(session, first)
                    result = self._check_trails(session, trails, result)
            return self._keep_checkpoint(result, last_id, last_hash)
        except SQLAlchemyError as exc:
            if is_database_gone(exc):  # dropped (or its tables) under the walk
                raise ChainReadInterrupted() from exc
            raise

    def _keep_checkpoint(self, result: AuditVerification, last_id: int, last_hash: str) -> AuditVerification:
        if getattr(self.database, "read_only", False):
            return result  # a monitor verifies, the checkpoint is the trading side's to move
        if not result.ok:
            self._move_checkpoint(self._drop_checkpoint)
        elif result.walked:
            self._move_checkpoint(lambda: self._save_checkpoint(last_id, last_hash, result.checked))
        return result

    @staticmethod
    def _move_checkpoint(write: Callable[[], None]) -> None:
        """The checkpoint moved (or dropped) only if SQLite's write lock is free now: behind a writer
        frozen in its transaction a verification answers at once instead of waiting the busy
        timeout and failing. Left as it was, it is safe: the next verification walks from it
        again and finds again a break found after it."""
        try:
            write()
        except OperationalError as exc:
            if not is_lock_wait_timeout(exc):
                raise
            log.warning("audit checkpoint not moved: another connection holds the database's write lock")

    def _walk(self, head: AuditChainHead | None, first: str | None, since_id: int | None, expected_prev: str,
              checked: int, trails: builtins.list[tuple[int, int, str]]) -> tuple[AuditVerification, int, str]:
        """(result, id and hash of the last intact entry walked); ``trails`` gets (entry id, plan
        id, trail hash) of every plan entry walked that covers a decision trail. A batch per
        transaction, each in the chain whose first entry is ``first`` (``verify``)."""
        last_id = since_id or 0
        walked = 0
        upto = head.last_id if head is not None else None
        while True:
            query = select(AuditLogRow).where(AuditLogRow.id > last_id)
            if upto is not None:
                query = query.where(AuditLogRow.id <= upto)
            with self.database.session() as session:
                first = _same_chain(session, first)
                rows = list(session.scalars(query.order_by(AuditLogRow.id).limit(VERIFY_BATCH)))
            for row in rows:
                walked += 1
                if row.prev_hash != expected_prev:
                    reason = "prev_hash does not match the previous entry (an entry was removed, inserted or altered)"
                    return AuditVerification(False, checked, row.id, reason, walked, since_id), last_id, expected_prev
                if _row_hash(row) != row.hash:
                    reason = "hash does not match the entry's content (the entry was altered)"
                    return AuditVerification(False, checked, row.id, reason, walked, since_id), last_id, expected_prev
                expected_prev = row.hash
                last_id = row.id
                checked += 1
                if row.action == AuditAction.PLAN_CREATE and row.entity_id and isinstance(row.payload, dict) and row.payload.get("trail_hash"):
                    trails.append((row.id, int(row.entity_id), str(row.payload["trail_hash"])))
            if len(rows) < VERIFY_BATCH:
                break
        if head is not None and head.last_hash != expected_prev:
            reason = f"the chain head expects entry {head.last_id}, newest entries are missing or altered"
            return AuditVerification(False, checked, head.last_id, reason, walked, since_id), last_id, expected_prev
        return AuditVerification(True, checked, walked=walked, since_id=since_id), last_id, expected_prev

    @staticmethod
    def _check_trails(session: Session, trails: builtins.list[tuple[int, int, str]], result: AuditVerification) -> AuditVerification:
        """The decision records of the plans walked against the trail hashes their entries hold
        (an intact entry vouches for the records only if they still hash to what it recorded)."""
        repository = TrailRepository(session)
        for entry_id, plan_id, expected in trails:
            problem = repository.check(plan_id, expected)
            if problem is not None:
                record = f"{problem.table} {problem.record_id}" if problem.table else None
                return AuditVerification(False, result.checked, entry_id, problem.describe(), result.walked, result.since_id, record,
                                         records_altered=True)
        return result

    @staticmethod
    def _checkpoint_problem(session: Session, checkpoint: AuditCheckpoint) -> str | None:
        """Why the checkpoint cannot be trusted (None: it matches the entry it names)."""
        row = session.get(AuditLogRow, checkpoint.last_id)
        if row is None:
            return (f"the verified checkpoint names entry {checkpoint.last_id}, which no longer exists "
                    "(entries were removed: tampering or a broken chain)")
        if row.hash != checkpoint.last_hash or _row_hash(row) != row.hash:
            return (f"entry {checkpoint.last_id} no longer matches the verified checkpoint "
                    "(the entry was altered: tampering or a broken chain)")
        return None

    def _save_checkpoint(self, last_id: int, last_hash: str, entries: int) -> None:
        with self.database.unit_of_work_if_free() as session:
            # the entry walked last, in the database written to: one created again under its name
            # since the walk holds other entries, and a checkpoint naming an entry it does not
            # hold would make its next verification say entries were removed (tampering)
            if session.scalar(select(AuditLogRow.hash).where(AuditLogRow.id == last_id)) != last_hash:
                log.warning("audit checkpoint not moved: entry %s is not the one verified (the database was replaced)", last_id)
                return
            checkpoint = session.get(AuditCheckpoint, CHECKPOINT_ROW_ID)
            if checkpoint is None:
                insert_once(session, AuditCheckpoint, {"id": CHECKPOINT_ROW_ID, "last_id": last_id, "last_hash": last_hash,
                                                       "entries": entries, "verified_at": utcnow()}, ("id",))
            elif checkpoint.last_id <= last_id:  # a slower concurrent walk never moves it back
                checkpoint.last_id, checkpoint.last_hash, checkpoint.entries = last_id, last_hash, entries

    def _drop_checkpoint(self) -> None:
        with self.database.unit_of_work_if_free() as session:
            checkpoint = session.get(AuditCheckpoint, CHECKPOINT_ROW_ID)
            if checkpoint is not None:
                session.delete(checkpoint)

    def checkpoint(self) -> tuple[int, str] | None:
        """(last verified id, its hash), or None before the first intact walk."""
        with self.database.session() as session:
            row = session.get(AuditCheckpoint, CHECKPOINT_ROW_ID)
            return None if row is None else (row.last_id, row.last_hash)
