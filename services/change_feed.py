"""What changed in the database since the last look: the change feed that monitor windows and
``trading-console watch`` follow while another process (a trading window, ``execute``, ``serve``)
writes. Read-only, incremental, no Qt; docs/change-feed.md explains the design.

Two kinds of watermark, one per kind of table:

* tables whose rows change (``trade_orders``, ``trade_fills``, ``positions``): the newest
  ``updated_at`` seen. Each poll re-reads the (id, updated_at) of the rows updated since
  ``watermark - overlap`` (an indexed range: 0013) and loads and passes on the rows whose version
  differs from the one it passed on last.
  The overlap catches a row whose ``updated_at`` was set (at flush, by the writer's clock) before
  a row already seen but which committed after it, and rows of the same microsecond.
* the trading state (``trade_settings.trading_state``, one row read by its key): the state
  passed on last; a batch carries it only when it changed (``trading-console halt`` in another
  process).
* append-only tables (``order_events``, ``equity_snapshots``, ``decision_snapshots``): the highest id seen, plus the gaps below it. MariaDB hands out AUTO_INCREMENT ids at insert and the rows
  become visible at commit, so id 11 can be seen before id 10; a missing id stays a gap (read
  again each poll) until it appears or ``gap_patience`` passes (a rolled-back insert never will).

* the audit log (``audit_logs``): its newest id only, passed on when it moved. A window reads the
  entries itself, bounded (app.controllers.audit.AuditShown): a burst another process appended
  came as one batch of every row into the GUI thread. Its appends are serialized by the chain's
  head lock, so its ids become visible in order: no gaps to watch.

Every poll is a few indexed range reads of recent rows; nothing grows with the history.

A backtest's orders, fills, positions and order events (its ``BACKTEST-`` accounts,
services.db.scope) and the snapshots it stored as its inputs alone (``decisions_only``) are never
passed on: a monitor following the database while a backtest runs in another process shows the
broker's records only, as the trading window does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from services.core.typed_numbers import plain
from services.core.wording import counted, price
from services.db.convert import to_fill_record, to_order_record, to_position_record
from services.db.errors import describe_db_error, is_database_gone
from services.db.models import (
    SETTINGS_ROW_ID,
    AuditLog,
    DecisionSnapshot,
    EquitySnapshot,
    OrderEvent,
    Position,
    Project,
    TradeFill,
    TradeOrder,
    TradeSettings,
)
from services.db.repositories.snapshots import BACKTEST_INPUT_NOTE
from services.db.scope import not_backtest
from services.domain import (
    ChangeSet,
    FillRecord,
    OrderRecord,
    PositionRecord,
    TradingState,
    is_backtest_account,
)

DEFAULT_OVERLAP = timedelta(seconds=5)  # longest flush-to-commit delay (plus writers' clock skew) covered
DEFAULT_GAP_PATIENCE = 10.0  # seconds an id gap is read again before it counts as a rolled-back insert
LOAD_CHUNK = 500  # ids per IN (...) when loading changed rows
BACKFILL_IDS = 1_000  # at start, the id gaps among the newest this many ids are watched too


@dataclass(frozen=True, slots=True)
class OrderEventLine:
    """One row of ``order_events`` (an order's state change or a broker message about it)."""

    id: int
    order_id: int
    time: datetime
    source: str
    event_type: str
    from_state: str | None
    to_state: str | None
    flagged: bool
    message: str | None


@dataclass(frozen=True, slots=True)
class SnapshotLine:
    """One decision snapshot stored (``snapshot import`` in a terminal or a scheduled job,
    another window's import): which, into which project, how many items."""

    id: int
    project_id: int
    project: str
    source_name: str
    item_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FeedBatch:
    """What one poll found new or changed. ``observed_at``: the feed's UTC clock when the poll's
    reads ended (a record's latency is ``observed_at - record.updated_at``)."""

    observed_at: datetime
    orders: tuple[OrderRecord, ...] = ()
    fills: tuple[FillRecord, ...] = ()
    positions: tuple[PositionRecord, ...] = ()
    events: tuple[OrderEventLine, ...] = ()
    audit_newest: int | None = None  # the audit log's newest id when entries were appended, else None
    equity_snapshots: int = 0  # new equity samples (the chart reads its history again)
    trading_state: TradingState | None = None  # HALTED / ACTIVE when it changed, else None
    snapshots: tuple[SnapshotLine, ...] = ()  # decision snapshots stored (a backtest's inputs alone left out)
    #: the database followed is another one now (dropped and created again, restored): the feed
    #: started again from its rows; a follower reads what it holds afresh (REPLACED_LINE)
    replaced: bool = False

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.positions or self.events or self.audit_newest is not None
                    or self.equity_snapshots
                    or self.trading_state is not None or self.snapshots or self.replaced)

    @property
    def changes(self) -> ChangeSet:
        """The orders, fills and positions as the window's models take them from the writer."""
        runs = tuple(sorted({o.run_id for o in self.orders if o.run_id is not None}))
        return ChangeSet(self.orders, self.fills, self.positions, runs)


@dataclass
class _UpdatedScan:
    """A table whose rows change: the newest ``updated_at`` seen and, for the rows inside the
    overlap window, the version (``updated_at``, microseconds on both databases) passed on last.
    The overlap is re-read as (id, updated_at) pairs only; whole rows are loaded for new versions."""

    model: Any
    convert: Callable[[Any], Any]
    watermark: datetime | None = None
    passed: dict[int, datetime] = field(default_factory=dict)

    def prime(self, session, overlap: timedelta) -> None:
        """Start from now: remember the rows inside the overlap window without passing them on."""
        self.watermark = session.scalar(select(func.max(self.model.updated_at)).where(not_backtest(self.model.account)))
        self.poll(session, overlap)

    def poll(self, session, overlap: timedelta) -> list:
        model = self.model
        query = select(model.id, model.updated_at).where(not_backtest(model.account))
        if self.watermark is not None:
            query = query.where(model.updated_at >= self.watermark - overlap)
        versions = {row_id: updated for row_id, updated in session.execute(query)}
        fresh = [row_id for row_id, updated in versions.items() if self.passed.get(row_id) != updated]
        rows = []
        for start in range(0, len(fresh), LOAD_CHUNK):
            rows.extend(session.scalars(select(model).where(model.id.in_(fresh[start:start + LOAD_CHUNK]))))
        rows.sort(key=lambda row: (row.updated_at, row.id))
        changed = []
        for row in rows:
            changed.append(self.convert(row))
            self.passed[row.id] = row.updated_at  # the version loaded (it may be newer than listed)
        newest = max([*versions.values(), *(row.updated_at for row in rows)], default=None)
        if newest is not None and (self.watermark is None or newest > self.watermark):
            self.watermark = newest
        if self.watermark is not None:
            horizon = self.watermark - overlap
            self.passed = {key: updated for key, updated in self.passed.items() if updated >= horizon}
        return changed


@dataclass
class _AppendScan:
    """An append-only table: the highest id seen and the ids below it not seen yet (gaps, with
    the monotonic time each was noticed)."""

    model: Any
    high: int = 0
    gaps: dict[int, float] = field(default_factory=dict)
    # order events: their order's account, joined; a backtest's are counted as seen, not passed on
    order_of: Any = None
    # the rows passed on (the others counted as seen): decision snapshots without a backtest's inputs
    keep: Callable[[Any], bool] | None = None

    def prime(self, session, now: float) -> None:
        self.high = session.scalar(select(func.max(self.model.id))) or 0
        low = max(0, self.high - BACKFILL_IDS)
        present = set(session.scalars(select(self.model.id).where(self.model.id > low)))
        self.gaps = {i: now for i in range(low + 1, self.high + 1) if i not in present}

    def poll(self, session, now: float, patience: float) -> list:
        self.gaps = {i: since for i, since in self.gaps.items() if now - since < patience}
        low = min(self.gaps, default=self.high + 1) - 1
        query = select(self.model).where(self.model.id > low).order_by(self.model.id)
        if self.order_of is None:
            found = [(row, None) for row in session.scalars(query)]
        else:
            found = list(session.execute(query.add_columns(TradeOrder.account)
                                         .outerjoin(TradeOrder, TradeOrder.id == self.order_of)))
        rows = []
        for row, account in found:
            if row.id <= self.high and row.id not in self.gaps:
                continue
            self.gaps.pop(row.id, None)
            if row.id > self.high:
                self.gaps.update((i, now) for i in range(self.high + 1, row.id))
                self.high = row.id
            if not is_backtest_account(account) and (self.keep is None or self.keep(row)):
                rows.append(row)
        return rows


def _newest_audit_id(session) -> int:
    return session.scalar(select(func.max(AuditLog.id))) or 0


@dataclass(frozen=True, slots=True)
class _Lineage:
    """What tells one database from another created under the same name: its audit chain's first
    entry (a hash of its time and content: no two databases share it), and the highest audit and
    order ids, which never go down in one database (the audit log is append-only, orders are never
    deleted)."""

    first_audit: str | None
    newest_audit: int
    newest_order: int

    @classmethod
    def read(cls, session) -> _Lineage:
        first = session.scalar(select(AuditLog.hash).order_by(AuditLog.id).limit(1))
        return cls(first, _newest_audit_id(session), session.scalar(select(func.max(TradeOrder.id))) or 0)

    def replaced_by(self, now: _Lineage) -> bool:
        """Whether ``now`` is another database's (read later than this)."""
        return ((self.first_audit is not None and now.first_audit != self.first_audit)
                or now.newest_audit < self.newest_audit or now.newest_order < self.newest_order)


def _stored_trading_state(session) -> TradingState:
    """The trading state in force (ACTIVE while the settings row is not created yet: a reader
    never creates it)."""
    state = session.scalar(select(TradeSettings.trading_state).where(TradeSettings.id == SETTINGS_ROW_ID))
    return TradingState.ACTIVE if state is None else TradingState(state)


def _snapshot_lines(session, rows: list[DecisionSnapshot]) -> tuple[SnapshotLine, ...]:
    """The snapshots as values, each with its project's name (one read of those projects)."""
    if not rows:
        return ()
    named = select(Project.id, Project.name).where(Project.id.in_({row.project_id for row in rows}))
    names = {project_id: name for project_id, name in session.execute(named)}
    return tuple(SnapshotLine(row.id, row.project_id, names.get(row.project_id, str(row.project_id)), row.source_file,
                              row.item_count, row.created_at) for row in rows)


def _trader_snapshot(row: DecisionSnapshot) -> bool:
    return row.note != BACKTEST_INPUT_NOTE  # as services.db.repositories.snapshots.decisions_only


def _event_line(row: OrderEvent) -> OrderEventLine:
    return OrderEventLine(row.id, row.order_id, row.time, str(row.source), row.event_type,
                          None if row.from_state is None else str(row.from_state),
                          None if row.to_state is None else str(row.to_state), bool(row.flagged), row.message)


class ChangeFeed:
    """``feed.prime()`` once (start from now), then ``feed.poll()`` as often as wanted: each
    returns a :class:`FeedBatch` of what landed since. ``trading_state``: the state in force at
    prime (a window shows it at start), then as last passed on. Synchronous (run it off the GUI thread);
    one feed per follower; it never writes."""

    def __init__(self, db, *, overlap: timedelta = DEFAULT_OVERLAP, gap_patience: float = DEFAULT_GAP_PATIENCE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.overlap = overlap
        self.gap_patience = gap_patience
        self._clock = clock
        self._orders = _UpdatedScan(TradeOrder, to_order_record)
        self._fills = _UpdatedScan(TradeFill, to_fill_record)
        self._positions = _UpdatedScan(Position, to_position_record)
        self._events = _AppendScan(OrderEvent, order_of=OrderEvent.order_id)
        self._audit_newest = 0  # the audit log's newest id passed on (or read at prime)
        self._equity = _AppendScan(EquitySnapshot)
        self._snapshots = _AppendScan(DecisionSnapshot, keep=_trader_snapshot)
        self.trading_state: TradingState | None = None  # in force at prime, then as passed on last
        self.primed = False
        self.polls = 0
        self._lineage: _Lineage | None = None  # the database followed (a replaced one starts the feed again)
        self._replaced = False  # found replaced, not said yet

    def prime(self) -> None:
        """Take the watermarks of now: what is already stored is not passed on (a window loads it
        itself, ``watch`` starts from now)."""
        with self.db.session() as session:
            self._prime(session)

    def _prime(self, session) -> None:
        now = self._clock()
        self._orders = _UpdatedScan(TradeOrder, to_order_record)
        self._fills = _UpdatedScan(TradeFill, to_fill_record)
        self._positions = _UpdatedScan(Position, to_position_record)
        self._events = _AppendScan(OrderEvent, order_of=OrderEvent.order_id)
        self._equity = _AppendScan(EquitySnapshot)
        self._snapshots = _AppendScan(DecisionSnapshot, keep=_trader_snapshot)
        self._lineage = _Lineage.read(session)
        for scan in (self._orders, self._fills, self._positions):
            scan.prime(session, self.overlap)
        for append in (self._events, self._equity, self._snapshots):
            append.prime(session, now)
        self._audit_newest = _newest_audit_id(session)
        self.trading_state = _stored_trading_state(session)
        self.primed = True

    def poll(self) -> FeedBatch:
        try:
            return self._poll()
        except SQLAlchemyError as exc:
            if self.primed and is_database_gone(exc):
                # the database followed is not there (dropped; created again, its tables not made
                # yet): whatever answers under its name next is read whole, as a replaced one (a
                # database restored with the old one's lineage held other rows meanwhile). Not
                # before a first prime: there was no database read yet to replace
                self._replaced = True
            raise

    def _poll(self) -> FeedBatch:
        if not self.primed:
            self.prime()
        now = self._clock()
        with self.db.session() as session:
            lineage = _Lineage.read(session)
            assert self._lineage is not None  # primed
            if self._lineage.replaced_by(lineage):
                # another database under the same name (dropped and created again): the watermarks
                # were the old one's, its new rows under the old ids went unseen and the window
                # kept the old rows; the feed starts again from what the new one holds. Kept until
                # said: a prime that fails (the new one's tables still being created) is tried again
                self._replaced = True
            if self._replaced:
                self._prime(session)
                self._replaced = False
                self.polls += 1
                return FeedBatch(observed_at=datetime.now(UTC), trading_state=self.trading_state, replaced=True)
            self._lineage = lineage
            orders = self._orders.poll(session, self.overlap)
            fills = self._fills.poll(session, self.overlap)
            positions = self._positions.poll(session, self.overlap)
            events = self._events.poll(session, now, self.gap_patience)
            audit_newest = lineage.newest_audit  # read with the lineage, in this session
            audit_grew = audit_newest > self._audit_newest
            self._audit_newest = max(self._audit_newest, audit_newest)
            equity = self._equity.poll(session, now, self.gap_patience)
            snapshots = _snapshot_lines(session, self._snapshots.poll(session, now, self.gap_patience))
            state = _stored_trading_state(session)
            changed_state = None if state is self.trading_state else state
            self.trading_state = state
            batch = FeedBatch(
                observed_at=datetime.now(UTC),
                orders=tuple(orders), fills=tuple(fills), positions=tuple(positions),
                events=tuple(_event_line(e) for e in events),
                audit_newest=audit_newest if audit_grew else None,
                equity_snapshots=len(equity),
                trading_state=changed_state,
                snapshots=snapshots,
            )
        self.polls += 1
        return batch


def batch_lines(batch: FeedBatch, project_names: Mapping[int, str] | None = None) -> Iterable[dict]:
    """One plain dict per order, fill or position change and per snapshot stored (what ``watch``
    prints), oldest first within each kind; every value JSON-ready (Decimals as :func:`plain` text, as ``orders`` and
    ``fills`` write them; times ISO 8601). ``project_names``: a position's project by its name, as
    ``positions`` and the window say it ("project 1" was said of alpha's book)."""
    names = project_names or {}
    seen = batch.observed_at.isoformat()
    for o in batch.orders:
        yield {"kind": "order", "id": o.id, "client_order_id": o.client_order_id, "run_id": o.run_id,
               "symbol": o.symbol, "side": str(o.side), "quantity": plain(o.quantity), "order_type": str(o.order_type),
               "limit_price": _text(o.limit_price), "status": str(o.status), "filled_quantity": plain(o.filled_quantity),
               "avg_fill_price": _text(o.avg_fill_price), "rejected_reason": o.rejected_reason,
               "updated_at": o.updated_at.isoformat(), "observed_at": seen}
    for f in batch.fills:
        yield {"kind": "fill", "id": f.id, "order_id": f.order_id, "exec_id": f.exec_id, "symbol": f.symbol,
               "side": str(f.side), "quantity": plain(f.quantity), "price": plain(f.price),
               "commission": _text(f.commission), "currency": f.currency, "superseded": f.superseded,
               "fill_time": f.fill_time.isoformat(), "observed_at": seen}
    for p in batch.positions:
        project = None if p.project_id is None else names.get(p.project_id, str(p.project_id))
        yield {"kind": "position", "project_id": p.project_id, "project": project, "account": p.account, "symbol": p.symbol,
               "quantity": plain(p.quantity), "average_cost": plain(p.average_cost), "realized_pnl": plain(p.realized_pnl),
               "currency": p.currency, "updated_at": p.updated_at.isoformat(), "observed_at": seen}
    for s in batch.snapshots:
        yield {"kind": "snapshot", "id": s.id, "project_id": s.project_id, "project": s.project,
               "source_name": s.source_name, "item_count": s.item_count, "created_at": s.created_at.isoformat(),
               "observed_at": seen}


def line_text(line: dict) -> str:
    """The human form of one :func:`batch_lines` entry."""
    kind = line["kind"]
    if kind == "order":
        # its prices as the blotter and the fills panel read them (services.core.wording.price);
        # --json keeps them exact
        average = f" @ {price(Decimal(line['avg_fill_price']))}" if line["avg_fill_price"] else ""
        reason = f" ({line['rejected_reason']})" if line["rejected_reason"] else ""
        return (f"{line['updated_at']}  order    #{line['id']:<6} run {line['run_id'] or '-':<5} {line['side']:<4} "
                f"{line['symbol']:<10} {line['status']:<16} {line['filled_quantity']}/{line['quantity']}{average}{reason}")
    if kind == "fill":
        fix = "  (superseded)" if line["superseded"] else ""
        return (f"{line['fill_time']}  fill     #{line['id']:<6} order {line['order_id']:<6} {line['side']:<4} "
                f"{line['symbol']:<10} {line['quantity']} @ {price(Decimal(line['price']))} {line['currency']}{fix}")
    if kind == "snapshot":
        return (f"{line['created_at']}  snapshot #{line['id']:<6} imported into project {line['project']}: "
                f"{counted(line['item_count'], 'item')} "
                f"({line['source_name']})")
    project = line.get("project") or line["project_id"] or "-"  # the account's own row: every project together
    return (f"{line['updated_at']}  position {line['account']:<10} project {project:<5} "
            f"{line['symbol']:<10} {line['quantity']} avg {line['average_cost']} realized {line['realized_pnl']}")


def reach_line(lost: BaseException | None, url: str | None = None, *, watching: bool = True) -> str:
    """The followed database lost (``lost``: the poll's error) or reachable again (None), as the
    monitor window's status bar and ``watch``'s stderr say it: "Database unreachable, still
    watching: <why, in the words every other database error is said in (describe_db_error), any
    password hidden>", then "Database reachable again". The monitor said "Database unreachable;
    the monitor keeps trying", without the why, and ``watch`` "database unreachable, still
    watching: ..."; then both the driver's own repr, "(pymysql.err.OperationalError) (2013, 'Lost
    connection to MySQL server during ...", cut off in the window's status bar, where the same
    window's other errors said "database server unreachable at 127.0.0.1:3306 (...)". A database
    dropped under the follower (the server answering) is said so, not "unreachable".
    ``watching``: said by a follower (a monitor, ``watch``); a trading window says it without."""
    if lost is None:
        return "Database reachable again"
    why = describe_db_error(lost, url)
    still = ", still watching" if watching else ""
    if is_database_gone(lost):  # the server answers: the database itself is not there (dropped, being created again)
        return f"Database not there any more (dropped, or created again without its tables yet){still}: {why}"
    return f"Database unreachable{still}: {why}"


#: What a follower says when the database it follows turned out to be another one (FeedBatch.replaced).
REPLACED_LINE = ("The database was dropped and created again (or restored) under the same name: "
                 "the window shows what the new one holds")


#: What a trading window answers a sending asked between the database found replaced and read again
#: (its rows on screen are the old database's: under their ids the new one may hold other orders).
READING_AGAIN = ("{what} not done: the database was dropped or replaced under this window, "
                 "whose rows are still the old one's: nothing is sent until it is read again")

#: What a trading window says, once, when its change feed finds the database itself gone (MariaDB's
#: unknown database or missing tables: dropped, or created again and not migrated yet), before any
#: replacement is there to read: from then on it refuses sendings as while reading again (READING_AGAIN)
DATABASE_GONE = ("The database is not there any more (dropped, or created again without its tables yet): "
                 "nothing is sent until it is back and read again")

#: What a window says, once, of a timer's pass over the database (its position marks, its equity chart,
#: the automatic recovery) or of the audit panel's refresh that found the database not answering: its
#: tables being created again under the window (a reset, a restore: the re-read follows, REPLACED_LINE)
#: or the server away; the next pass or refresh reads it again
PASS_NOT_READ = "{what}: the database did not answer; tried again next time"

#: What a trading window says of a verification of the audit chain asked while it knows its database
#: gone (DATABASE_GONE): the label says "not verified"; the re-read verifies the new database's chain
CHAIN_NOT_READ = ("Audit chain not verified: the database is not there any more (dropped, or created again "
                  "without its tables yet); its chain is verified once it is back and read again")

#: What an open order ticket says in place of its verdict once the database is found replaced: the
#: verdict was checked against the old database's book (its positions, working orders, project);
#: Send waits for the verdict asked again once the new one is read (and reconciled)
TICKET_READING_AGAIN = ("The database was dropped or replaced under this window: "
                        "this order's risk is checked again once it is read again")


#: What a monitor's panels say before the database was first read (a monitor started while the
#: server is away waits for it): "No run yet" and "0 fills" said an account that had traded nothing.
NOT_READ_YET = "Database not reached yet: what it holds shows here once it answers"

MONITOR_FOLLOWING = "monitor — no broker connection"
MONITOR_FOLLOWING_TIP = "the monitor's only connection is the database it follows, read-only; it has no broker"
#: The monitor's "last event": as the trading window's, with no broker connection to count.
MONITOR_LAST_EVENT_TIP = "when the monitor last read an order, fill or position change from the database (UTC)"


def monitor_state(lost_at: datetime | None) -> str:
    """The monitor window's connection state, in its status bar's permanent part: its only
    connection is the database's. While that cannot be reached: since when (its panels show what
    was read before then), its first word "disconnected" as a trading window's lost connection
    is said (and coloured). The loss was said only as a status-bar message, which the next
    message (an error of the same outage: Verify full chain) replaced and whose timeout then left
    the bar blank, the window looking current while the database was still gone."""
    if lost_at is None:
        return MONITOR_FOLLOWING
    return f"disconnected — {unreachable_since(lost_at)}"


def unreachable_since(lost_at: datetime) -> str:
    """A database that stopped answering at ``lost_at``, as the monitor's connection state and the
    trading window's database label say it."""
    return f"database unreachable since {lost_at.astimezone(UTC):%H:%M:%S} UTC"


def _text(value) -> str | None:
    return None if value is None else plain(value)


class NewerOnly:
    """The trading window takes its rows from two sources: its own writer's change sets and the
    change feed, which also reads back every row that writer commits (and the rows other
    processes write, which only the feed brings). ``fresh(changes)`` keeps what the window was
    not handed yet: each version of a row once, from whichever source brings it first, and never a
    version older than one handed (a feed poll read before the writer's next commit and handed
    after it would take the blotter back). A version: an order's or position's ``updated_at``
    (set by the writer at each flush, the value stored); a fill (whose record has no
    ``updated_at``) changes only by gaining its commission or being superseded, never back.

    What it holds is pruned once it passes ``prune_above`` rows (a window left open for weeks
    held every order, position and fill it ever saw): the rows whose version (a fill's time) is
    more than ``HORIZON`` older than the newest version seen go. A stale read comes within a
    poll or two of the write it trails (seconds), so a row quiet for an hour has none on the way;
    a row changed again later is newer than anything handed anyway."""

    HORIZON = timedelta(hours=1)
    PRUNE_ABOVE = 20_000

    def __init__(self, prune_above: int = PRUNE_ABOVE) -> None:
        self._orders: dict[int, datetime] = {}
        self._positions: dict[tuple[int | None, str, str], datetime] = {}
        self._fills: dict[int, FillRecord] = {}
        self._newest: datetime | None = None
        self._prune_at = self._prune_above = prune_above

    def __len__(self) -> int:
        """The rows held (orders, positions and fills)."""
        return len(self._orders) + len(self._positions) + len(self._fills)

    def fresh(self, changes: ChangeSet) -> ChangeSet:
        orders = tuple(o for o in changes.orders if _newer(self._orders, o.id, o.updated_at))
        positions = tuple(p for p in changes.positions
                          if _newer(self._positions, (p.project_id, p.account, p.symbol), p.updated_at))
        fills = []
        for fill in changes.fills:
            held = self._fills.get(fill.id)
            if held is None or (fill != held and _fill_stage(fill) >= _fill_stage(held)):
                self._fills[fill.id] = fill
                fills.append(fill)
        for version in (*(o.updated_at for o in orders), *(p.updated_at for p in positions), *(f.fill_time for f in fills)):
            version = _aware(version)
            if self._newest is None or version > self._newest:
                self._newest = version
        if len(self) > self._prune_at:
            self._prune()
        return ChangeSet(orders, tuple(fills), positions, changes.runs)

    def not_behind(self, positions: Iterable[PositionRecord]) -> list[PositionRecord]:
        """The positions of a read not older than the version of each the window was handed
        since (the position marks read the positions, then wait for the broker's prices: a fill
        handed meanwhile was taken back by the older read's rows). Nothing is recorded."""
        return [p for p in positions
                if (held := self._positions.get((p.project_id, p.account, p.symbol))) is None or p.updated_at >= held]

    def _prune(self) -> None:
        assert self._newest is not None  # rows are held
        cutoff = self._newest - self.HORIZON
        self._orders = {k: v for k, v in self._orders.items() if _aware(v) > cutoff}
        self._positions = {k: v for k, v in self._positions.items() if _aware(v) > cutoff}
        self._fills = {k: f for k, f in self._fills.items() if _aware(f.fill_time) > cutoff}
        # the next prune once as many rows again came (an hour's worth held can exceed the bound)
        self._prune_at = max(self._prune_above, 2 * len(self))


def moves_last_event(changes: ChangeSet, holdings_moved: bool) -> bool:
    """Whether ``changes`` move a window's "last event" (both windows, the label's tooltip): an
    order or a fill, or a holding that changed (``holdings_moved``: ``HoldingsSeen.changed`` of
    the same positions); an audit entry, an equity sample, a snapshot or a new mark alone do not."""
    return bool(changes.orders or changes.fills or holdings_moved)


class HoldingsSeen:
    """What a position change is to a window's "last event" (both windows, with the order and
    fill changes): a position new to the window, or whose quantity, average cost or realized P&L
    moved. A new mark alone is none: the trading window's equity recorder re-marks every held
    position each 30 s (services.execution.equity: market_price, marked_at and so updated_at),
    and a monitor's "last event" followed those marks, the time of no order, fill or position
    change (read after a `trading-console halt` that changed none, as the halt's own time)."""

    def __init__(self) -> None:
        self._held: dict[tuple[int | None, str, str], tuple[Decimal, Decimal, Decimal]] = {}

    def load(self, positions: Iterable[PositionRecord]) -> None:
        """The positions the window shows at start (none of them an event)."""
        self._held = {}
        self.changed(positions)

    def changed(self, positions: Iterable[PositionRecord]) -> bool:
        """Whether any of ``positions`` changed the holding shown; each is remembered."""
        moved = False
        for p in positions:
            key, holding = (p.project_id, p.account, p.symbol), (p.quantity, p.average_cost, p.realized_pnl)
            if self._held.get(key) != holding:
                self._held[key] = holding
                moved = True
        return moved


def _aware(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (a version of another kind is compared with it)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _newer(held: dict, key, version: datetime) -> bool:
    last = held.get(key)
    if last is not None and version <= last:
        return False
    held[key] = version
    return True


def _fill_stage(fill: FillRecord) -> tuple[bool, bool]:
    return fill.superseded, fill.commission is not None
