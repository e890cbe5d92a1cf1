"""What the console window reads and the one write it makes outside the execution layer
(storing an imported snapshot). Every function is synchronous and meant to run off the GUI
thread; each returns frozen values, never ORM rows, so nothing lazy-loads on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import func, select

from services.audit import AuditLog
from services.audit_actions import AuditAction
from services.console_charts import run_name
from services.core.books import UNASSIGNED, BookLine, unassigned_lines
from services.core.positions_book import PositionState
from services.core.snapshot_dates import stored_day
from services.core.snapshots import (
    SNAPSHOT_FILE,
    ParsedSnapshot,
    SnapshotFormatError,
    SnapshotItem,
    SnapshotProblem,
    parse_snapshot_file,
    project_name,
    project_name_problem,
    project_problems,
)
from services.core.wording import counted, percent, refused_file, unknown_project, unreadable_file
from services.db.convert import to_fill_record, to_order_record, to_position_record
from services.db.limits import TEXT_BYTES, snapshot_limits
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import (
    DecisionSnapshot,
    DecisionSnapshotItem,
    EquitySnapshot,
    OrderEvent,
    Position,
    Project,
    TradeFill,
    TradeOrder,
    TradeRun,
)
from services.db.repositories import ProjectRepository, SnapshotItemInput, SnapshotRepository
from services.db.repositories.snapshots import BACKTEST_INPUT_NOTE, decisions_only
from services.db.scope import not_backtest
from services.domain import FillRecord, OrderDetails, OrderEventInfo, OrderRecord, OrderState, PositionRecord
from services.execution.listings import position_key
from services.position_marks import at_newest_marks, newest_marks


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    id: int
    project_id: int
    source_name: str
    item_count: int
    created_at: datetime
    content_hash: str
    note: str | None = None


class NoSuchProject(LookupError):
    """A project named that the trader has not got (none, or one a backtest made for its inputs alone)."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        super().__init__(unknown_project(name, known))


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    parsed: ParsedSnapshot
    snapshot_id: int | None = None
    project_id: int | None = None
    created: bool = False

    @property
    def ok(self) -> bool:
        return self.snapshot_id is not None

    def headline(self, project: str) -> str:
        """A stored import in the words of `snapshot import` and the window's activity log alike
        (the window said "Imported" of a file found already stored: nothing new was)."""
        parsed = self.parsed
        what = (f"imported as snapshot {self.snapshot_id} into" if self.created
                else f"already stored (same content) as snapshot {self.snapshot_id} of")
        return (f"{parsed.source_name}: {what} project {project}: {counted(len(parsed.items), 'item')}, "
                f"gross weight {percent(parsed.gross_weight)}")


def refused_import_line(parsed: ParsedSnapshot) -> str:
    """A snapshot file refused for its problems (nothing stored), in the words of `snapshot import`
    and the window's activity log alike: "broken.csv: 2 problems; nothing was stored" (the window
    said "2 problems, nothing imported", the command's --json message only "2 problems"); the
    Snapshots panel's label says it too (``services.core.wording.refused_file``)."""
    return refused_file(parsed.source_name, len(parsed.errors))


def unreadable_snapshot_line(path: str | Path, refusal: OSError | ValueError) -> str:
    """A snapshot file that could not be read at all (nothing stored), in the words of `snapshot
    import` and the window alike: "cannot read targets.csv: No such file or directory", or the
    format's refusal, which names the file ("x.txt: unknown snapshot format ..."). The window said
    "<path>: [Errno 2] No such file or directory: '<path>'", the path twice, and a format's
    refusal with its file named twice."""
    if isinstance(refusal, OSError):  # a folder: "x is a folder, not a snapshot file (CSV or JSON)"
        return unreadable_file(path, refusal, SNAPSHOT_FILE)
    return str(refusal) if isinstance(refusal, SnapshotFormatError) else f"{path}: {refusal}"


def parse_for_storage(path: str | Path, *, project: str | None = None, max_gross_weight: Decimal = Decimal("1.0"),
                      allow_short: bool = False) -> ParsedSnapshot:
    """Parse and validate a snapshot file against everything the database can keep (column
    types, lengths, the project name): every problem with its line, before anything is stored,
    identically on SQLite and MariaDB."""
    parsed = parse_snapshot_file(path, max_gross_weight=max_gross_weight, allow_short=allow_short,
                                 limits=snapshot_limits())
    return with_project_check(parsed, project)


def with_project_check(parsed: ParsedSnapshot, project: str | None) -> ParsedSnapshot:
    if project is None:
        return parsed
    problem = project_name_problem(project, snapshot_limits())
    others = tuple(p for p in project_problems(parsed, project) if p not in parsed.errors)
    if (problem is None or problem in parsed.errors) and not others:
        return parsed
    added = (problem,) if problem is not None and problem not in parsed.errors else ()
    return replace(parsed, errors=tuple(sorted((*added, *parsed.errors, *others), key=lambda p: p.line or 0)))


def with_note_check(parsed: ParsedSnapshot, note: str | None) -> ParsedSnapshot:
    """A note longer than every database keeps is a problem of the import (MariaDB refused it as
    "database error: Data too long for column 'note'", exit 5; SQLite kept it)."""
    size = len(note.encode("utf-8", "surrogatepass")) if note else 0
    if size <= TEXT_BYTES:
        return parsed
    problem = SnapshotProblem(None, "note", "note_too_long", f"the note has {size:,} bytes of UTF-8; at most {TEXT_BYTES:,} can be stored")
    return replace(parsed, errors=(problem, *parsed.errors))


def import_snapshot(db, path: str | Path, project: str, *, actor: str, max_gross_weight: Decimal = Decimal("1.0"),
                    allow_short: bool = False, note: str | None = None) -> ImportOutcome:
    """Validate the whole file; store it only when it has no problem, audited (see store_snapshot)."""
    parsed = parse_for_storage(path, project=project, max_gross_weight=max_gross_weight, allow_short=allow_short)
    return store_snapshot(db, parsed, project, note=note, actor=actor)


# one unit of work of the database alone (the file was parsed before): a deadlock or a lock wait
# on the audit chain's head ends it whole and it runs again from scratch
@retry_lock_conflicts
def store_snapshot(db, parsed: ParsedSnapshot, project: str, *, actor: str, note: str | None = None) -> ImportOutcome:
    """The one way a snapshot file is stored (``snapshot import``, the window's import, ``preview
    --save`` and ``execute`` of a FILE, the demo's sample data): all items in one unit of work, or
    nothing when the parse found any problem. The same file with the same content in the same
    project returns the stored snapshot instead of a copy (one a backtest stored becomes the
    trader's). Every one is on the audit record (``snapshot.import``, ``actor`` its author), in the
    same transaction: the demo's samples, stored with no actor, were stored unaudited."""
    parsed = with_note_check(with_project_check(parsed, project), note)
    if not parsed.ok:
        return ImportOutcome(parsed)
    project = project_name(project)  # as stored: the audit entry names the project it went into
    with db.unit_of_work() as session:
        outcome = _store(session, parsed, project, note)
        AuditLog(db).append(actor, AuditAction.SNAPSHOT_IMPORT, "decision_snapshot", str(outcome.snapshot_id),
                            {"source": parsed.source_name, "project": project, "items": len(parsed.items),
                             "created": outcome.created}, session=session)
        return outcome


def store_parsed_snapshot(db, parsed: ParsedSnapshot, project: str | None, actor: str) -> int:
    """``store_snapshot`` for a command that parsed the file before connecting (``execute`` and
    ``preview --save`` of a FILE): the stored snapshot's id, or ``BadInput`` naming the problems
    (the project name is checked again here)."""
    from services.execution.errors import BadInput

    outcome = store_snapshot(db, parsed, project or "", actor=actor)
    if outcome.snapshot_id is None:
        raise BadInput("; ".join(str(p) for p in outcome.parsed.errors[:5]))
    return outcome.snapshot_id


def _store(session, parsed: ParsedSnapshot, project: str, note: str | None) -> ImportOutcome:
    project_row = ProjectRepository(session).get_or_create(project)
    snapshots = SnapshotRepository(session)
    # the same file again is the stored snapshot, though another file of the same content came
    # since: a copy would be a new snapshot, so a new run of the day, and its orders sent twice
    existing = snapshots.find_by_hash(project_row.id, parsed.content_hash, parsed.source_name)
    if existing is not None:
        if existing.note == BACKTEST_INPUT_NOTE:  # stored for a backtest only: now the trader's too
            existing.note = note
        return ImportOutcome(parsed, existing.id, project_row.id, False)
    items = [
        SnapshotItemInput(i.symbol, i.weight, i.score, i.rank, i.price, i.sec_type, i.exchange, i.currency,
                          i.primary_exchange or None)
        for i in parsed.items
    ]
    created = snapshots.create_with_items(project_row.id, parsed.source_name, parsed.content_hash, items, note=note)
    return ImportOutcome(parsed, created.id, project_row.id, True)


def snapshot_recency(snapshot: SnapshotInfo) -> tuple[date, datetime, int]:
    """How new a stored snapshot is, for "newest first" and the snapshot the window opens on:
    by its date, the YYYY-MM-DD date in its name, else the New York day it was stored (the date a
    backtest gives it: ``services.core.snapshot_dates.stored_day``); of two of one day the one stored
    later (a backtest trades that one too). By the time stored alone, a file backfilled after the
    others (momentum_2026-11-19.csv imported after momentum_2026-11-21.json) was the newest."""
    return stored_day(snapshot.source_name, snapshot.created_at), snapshot.created_at, snapshot.id


def projects_and_snapshots(db, *, project: str | None = None,
                           limit: int | None = None) -> tuple[tuple[ProjectInfo, ...], tuple[SnapshotInfo, ...]]:
    """The trader's projects and snapshots, newest first by ``snapshot_recency`` (a backtest's
    inputs left out): the window's Snapshots list and ``snapshot list``. ``project``: only that
    project's snapshots (``NoSuchProject`` when the trader has none of that name); ``limit``:
    only the newest (all are read: a name's date is not the database's to sort by)."""
    def listed_projects(session) -> tuple[ProjectInfo, ...]:
        return tuple(ProjectInfo(p.id, p.name) for p in ProjectRepository(session).list(with_backtest_only=False))

    with db.session() as session:
        query = select(DecisionSnapshot).where(decisions_only(DecisionSnapshot.note))
        if project is not None:
            known = listed_projects(session)
            wanted = project_name(project)  # as the repository stores it
            project_id = next((p.id for p in known if p.name == wanted), None)
            if project_id is None:
                raise NoSuchProject(project, (p.name for p in known))
            query = query.where(DecisionSnapshot.project_id == project_id)
        snapshots = sorted(
            (SnapshotInfo(s.id, s.project_id, s.source_file, s.item_count, s.created_at, s.content_hash, s.note)
             for s in session.scalars(query)), key=snapshot_recency, reverse=True)
        # the projects read after the snapshots: under READ COMMITTED (MariaDB) each statement sees its
        # own moment, and an import committed between two reads, projects first, gave a snapshot whose
        # new project was not listed (the tree leaves such a snapshot out, and the window's import then
        # found nothing to select: "Select a snapshot first"); a project is stored before its snapshots
        projects = listed_projects(session)
    return projects, tuple(snapshots[:limit] if limit is not None else snapshots)


def snapshot_items(db, snapshot_id: int) -> tuple[SnapshotItem, ...]:
    with db.session() as session:
        rows = session.scalars(
            select(DecisionSnapshotItem).where(DecisionSnapshotItem.snapshot_id == snapshot_id).order_by(DecisionSnapshotItem.id)
        )
        return tuple(
            SnapshotItem(r.symbol, r.weight, index + 1, r.score, r.rank, r.price, r.sec_type, r.exchange, r.currency,
                         r.primary_exchange or "")
            for index, r in enumerate(rows)
        )


def recent_orders(db, limit: int = 20_000) -> tuple[OrderRecord, ...]:
    with db.session() as session:
        rows = session.scalars(select(TradeOrder).where(not_backtest(TradeOrder.account))
                               .order_by(TradeOrder.id.desc()).limit(limit))
        return tuple(to_order_record(r) for r in rows)


def recent_fills(db, limit: int = 50_000) -> tuple[FillRecord, ...]:
    with db.session() as session:
        rows = session.scalars(select(TradeFill).where(not_backtest(TradeFill.account)).order_by(TradeFill.id.desc()).limit(limit))
        return tuple(to_fill_record(r) for r in rows)


def run_names(db, run_ids: Iterable[int], profile: str | None) -> dict[int, str]:
    """``run_ids`` named as a window of ``profile`` names a run to choose (``run_name``); a run
    not found (deleted since its orders were read) is left out: its "Run N" stays."""
    wanted = sorted(set(run_ids))
    if not wanted:
        return {}
    with db.session() as session:
        rows = session.execute(select(TradeRun.id, Project.name, TradeRun.mode, TradeRun.trade_date)
                               .join(Project, Project.id == TradeRun.project_id).where(TradeRun.id.in_(wanted)))
        return {run_id: run_name(project, run_id, str(mode), day.isoformat(), profile) for run_id, project, mode, day in rows}


def _run_named(session, run_id: int | None) -> None:
    """A run named that does not exist is a typo, not a run without orders or fills: said as
    ``tca`` and ``trail`` say it (LookupError)."""
    if run_id is not None and session.get(TradeRun, run_id) is None:
        raise LookupError(f"run {run_id} does not exist")


def order_list(db, *, run_id: int | None = None, statuses: Iterable[OrderState] | None = None) -> tuple[OrderRecord, ...]:
    """What ``trading-console orders`` lists, newest first (as its help says and the blotter
    shows them): the broker's orders (paper or live); a backtest's only when its run is named
    (never mixed into the others). LookupError: ``run_id`` names no run."""
    query = select(TradeOrder).order_by(TradeOrder.id.desc())
    if run_id is not None:
        query = query.where(TradeOrder.run_id == run_id)
    else:
        query = query.where(not_backtest(TradeOrder.account))
    if statuses is not None:
        query = query.where(TradeOrder.status.in_(list(statuses)))
    with db.session() as session:
        _run_named(session, run_id)
        return tuple(to_order_record(r) for r in session.scalars(query))


def fill_list(db, *, run_id: int | None = None, all_revisions: bool = False) -> tuple[FillRecord, ...]:
    """What ``trading-console fills`` lists, newest fill time first (as the window's fills panel
    and ``orders`` list theirs): the broker's fills (a backtest's only when its run is named); a
    corrected execution's superseded revisions with ``all_revisions``. LookupError: ``run_id``
    names no run."""
    query = select(TradeFill).order_by(TradeFill.fill_time.desc(), TradeFill.id.desc())
    if run_id is not None:
        query = query.join(TradeOrder, TradeOrder.id == TradeFill.order_id).where(TradeOrder.run_id == run_id)
    else:
        query = query.where(not_backtest(TradeFill.account))
    if not all_revisions:
        query = query.where(TradeFill.superseded.is_(False))
    with db.session() as session:
        _run_named(session, run_id)
        return tuple(to_fill_record(f) for f in session.scalars(query))


def positions(db) -> tuple[PositionRecord, ...]:
    """Every stored position (a backtest's left out), each at its listing's newest stored mark
    (services.position_marks.newest_marks: the account's row and its projects' at one price)."""
    with db.session() as session:
        return at_newest_marks(to_position_record(p) for p in session.scalars(
            select(Position).where(not_backtest(Position.account)).order_by(Position.symbol)))


@dataclass(frozen=True, slots=True)
class PositionLine:
    """One position with its valuation (the positions command and the portfolio view)."""

    project: str | None  # None: the account's own row (every project together)
    account: str
    symbol: str
    quantity: Decimal
    average_cost: Decimal
    market_price: Decimal | None  # the last stored mark; None: never marked
    marked_at: datetime | None
    realized_pnl: Decimal
    commissions: Decimal

    @property
    def market_value(self) -> Decimal | None:
        return None if self.market_price is None else self.quantity * self.market_price

    @property
    def unrealized_pnl(self) -> Decimal | None:
        if self.market_price is None:
            return None
        return PositionState(self.quantity, self.average_cost, self.realized_pnl).unrealized_pnl(self.market_price)


def position_lines(db, project: str | None = None) -> tuple[PositionLine, ...]:
    """Every stored position (or one project's), sorted by project, account, symbol, with the
    commissions of its current (non-superseded) fills, and the account's unassigned rest
    (docs/project-books.md) under the project ``unassigned`` (``project="unassigned"``: only
    those). Raises LookupError for an unknown project."""
    with db.session() as session:
        names = {p.id: p.name for p in session.scalars(select(Project))}
        rows = list(session.scalars(select(Position).where(not_backtest(Position.account))))  # a backtest's books are its own
        fill_account = func.coalesce(TradeFill.account, TradeOrder.account, "")
        # summed per listing, the key positions are booked under (the writer's position_key: the
        # order's contract, an external order's execution): by bare symbol a Xetra SAP's
        # commissions were shown on the US SAP row
        listing = (TradeOrder.is_external, TradeOrder.symbol, TradeOrder.sec_type, TradeOrder.exchange,
                   TradeOrder.primary_exchange, TradeOrder.currency, TradeFill.symbol, TradeFill.exchange, TradeFill.currency)
        paid = (select(TradeOrder.project_id, fill_account, *listing, func.sum(TradeFill.commission))
                .join(TradeOrder, TradeFill.order_id == TradeOrder.id)
                .where(TradeFill.superseded.is_(False), TradeFill.commission.is_not(None), not_backtest(TradeOrder.account))
                .group_by(TradeOrder.project_id, fill_account, *listing))
        by_project: dict[tuple, Decimal] = {}
        by_account: dict[tuple, Decimal] = {}
        for (project_id, account, is_external, symbol, sec_type, exchange, primary_exchange, currency,
             fill_symbol, fill_exchange, fill_currency, total) in session.execute(paid):
            key = position_key(
                SimpleNamespace(is_external=is_external, symbol=symbol, sec_type=sec_type, exchange=exchange,
                                primary_exchange=primary_exchange, currency=currency),
                SimpleNamespace(symbol=fill_symbol, exchange=fill_exchange, currency=fill_currency))
            total = Decimal(total or 0)
            by_project[(project_id, account, key)] = by_project.get((project_id, account, key), Decimal(0)) + total
            by_account[(account, key)] = by_account.get((account, key), Decimal(0)) + total
    marks = newest_marks(rows)  # one listing at one price, whichever of its rows a fill moved last

    def mark_of(account: str, symbol: str) -> tuple[Decimal | None, datetime | None]:
        return marks.get((account, symbol), (None, None))

    lines = [
        PositionLine(
            names.get(r.project_id) if r.project_id is not None else None, r.account, r.symbol, r.quantity,
            r.average_cost, *mark_of(r.account, r.symbol), r.realized_pnl,
            (by_project.get((r.project_id, r.account, r.symbol)) if r.project_id is not None
             else by_account.get((r.account, r.symbol))) or Decimal(0),
        )
        for r in rows
    ]
    book = [BookLine(line.project, line.account, line.symbol, line.quantity, line.average_cost, line.realized_pnl)
            for line in lines]
    for rest in unassigned_lines([b for b in book if b.project is None], [b for b in book if b.project is not None]):
        price, when = mark_of(rest.account, rest.symbol)
        # the commissions of orders no project placed (manual, external)
        lines.append(PositionLine(UNASSIGNED, rest.account, rest.symbol, rest.quantity, rest.average_cost, price, when,
                                  rest.realized_pnl, by_project.get((None, rest.account, rest.symbol)) or Decimal(0)))
    if project is not None:
        if project != UNASSIGNED and project not in names.values():
            with db.session() as session:
                raise NoSuchProject(project, (p.name for p in ProjectRepository(session).list(with_backtest_only=False)))
        lines = [line for line in lines if line.project == project]
    return tuple(sorted(lines, key=lambda x: (x.project is not None, x.project == UNASSIGNED, x.project or "", x.account, x.symbol)))


def equity_history(db, account: str | None = None, limit: int = 5000) -> tuple[tuple[datetime, Decimal], ...]:
    """One account's stored equity snapshots (oldest first, the newest ``limit``): what the chart
    shows, also after a restart. ``account`` None: the account of the newest snapshot (a
    monitor, which has no broker to ask). Never two accounts in one series: a paper and a live
    account in the same database drew one zig-zag line, its P&L measured across both."""
    return account_equity(db, account, limit)[1]


def account_equity(db, account: str | None = None,
                   limit: int = 5000) -> tuple[str | None, tuple[tuple[datetime, Decimal], ...]]:
    """(the account, ``equity_history`` of it): what the equity chart shows and whose it is (a
    monitor's chart is the newest snapshot's account, which it did not say; None: none stored)."""
    with db.session() as session:
        query = select(EquitySnapshot.time, EquitySnapshot.equity).where(EquitySnapshot.project_id.is_(None))
        if not account:
            account = session.scalar(select(EquitySnapshot.account).where(EquitySnapshot.project_id.is_(None))
                                     .order_by(EquitySnapshot.time.desc(), EquitySnapshot.id.desc()).limit(1))
            if account is None:
                return None, ()
        query = query.where(EquitySnapshot.account == account)
        rows = session.execute(query.order_by(EquitySnapshot.time.desc(), EquitySnapshot.id.desc()).limit(limit)).all()
    return account, tuple((t, e) for t, e in reversed(rows))


def last_event_time(db) -> datetime | None:
    """When the newest stored order or fill change was written (a backtest's not counted): the
    "last event" both windows show at their start, before anything new comes (they said "no
    events yet" over a database holding a day's orders, which a trader read as nothing having
    happened). None: none stored."""
    with db.session() as session:
        times = [session.scalar(select(func.max(model.updated_at)).where(not_backtest(model.account)))
                 for model in (TradeOrder, TradeFill)]
    known = [t if t.tzinfo is not None else t.replace(tzinfo=UTC) for t in times if t is not None]
    return max(known) if known else None


def project_names(db) -> dict[int, str]:
    with db.session() as session:
        return {p.id: p.name for p in session.scalars(select(Project))}


def order_details(db, order_id: int) -> OrderDetails:
    with db.session() as session:
        order = session.get(TradeOrder, order_id)
        if order is None:
            raise LookupError(f"order {order_id} does not exist")
        fills = tuple(
            to_fill_record(f)
            for f in session.scalars(select(TradeFill).where(TradeFill.order_id == order_id).order_by(TradeFill.fill_time, TradeFill.id))
        )
        events = tuple(
            OrderEventInfo(
                e.time, str(e.source), e.event_type,
                None if e.from_state is None else str(e.from_state),
                None if e.to_state is None else str(e.to_state),
                bool(e.flagged), e.message, e.payload,
            )
            for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id))
        )
        return OrderDetails(to_order_record(order), fills, events)
