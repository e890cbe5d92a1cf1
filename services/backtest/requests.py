"""A backtest asked for by a front end (the command, the window's panel): the raw values checked
together, every problem listed (nothing runs, nothing is stored when there is one), then the
backtest run and its results read back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from services import price_cache
from services.core.bars import DEFAULT_WHAT_TO_SHOW, WHAT_TO_SHOW, iso_day
from services.core.books import MONEY_WHOLE_DIGITS
from services.core.cash_buffer import BadCashBuffer, cash_buffer_ratio
from services.core.contracts import ContractSpec
from services.core.snapshot_dates import stored_day
from services.core.typed_numbers import NotANumber, must_be_said, not_a_number_said, typed_decimal
from services.core.wording import unknown_project
from services.db.models import Backtest, DecisionSnapshot, Project
from services.db.repositories import ProjectRepository, SnapshotRepository
from services.db.repositories.snapshots import decisions_only
from services.execution.errors import UnknownContract
from services.price_cache import DownloadReport

from .checks import check_spec
from .closing import close_abandoned
from .costs import BadSlippage, FillAt, parse_commission, read_slippage_bps
from .defaults import BACKTEST_DEFAULTS
from .failures import all_failed, failed_rebalances_of
from .inputs import DatedSnapshot, SnapshotInputError, read_snapshots
from .prices import PriceBook, PriceFileError, read_price_book
from .runner import Backtester, BacktestOutcome, BacktestSpec
from .summary import settings_line


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """Everything as typed (text): ``prices`` a bar file; ``snapshots`` a folder or a dated CSV,
    or None for the snapshots stored for ``projects``."""

    prices: str | None
    snapshots: str | None
    projects: tuple[str, ...] = ()
    initial_cash: str = BACKTEST_DEFAULTS["initial_cash"]
    fill: str = BACKTEST_DEFAULTS["fill"]
    slippage_bps: str = BACKTEST_DEFAULTS["slippage_bps"]
    commission: str = BACKTEST_DEFAULTS["commission"]
    rounding: str = BACKTEST_DEFAULTS["rounding"]
    lot_size: str = BACKTEST_DEFAULTS["lot_size"]
    cash_buffer_pct: str = BACKTEST_DEFAULTS["cash_buffer_pct"]
    cash_buffer_unit_shown: bool = False  # the window's field says "%": a fraction is meant as typed
    liquidate_unlisted: bool = True  # a snapshot is the whole target portfolio
    start: str | None = None
    end: str | None = None
    risk_overrides: tuple[str, ...] = field(default_factory=tuple)
    what_to_show: str = DEFAULT_WHAT_TO_SHOW  # the broker's series (``--from-broker`` only)


@dataclass
class PreparedBacktest:
    spec: BacktestSpec
    prices: PriceBook
    snapshots: list[DatedSnapshot]


class BadBacktest(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _number(name: str, text: str, problems: list[str], *, minimum: Decimal = Decimal(0), strict: bool = False,
            whole: bool = False) -> Decimal:
    try:
        value = typed_decimal(str(text))
    except NotANumber as exc:
        problems.append(not_a_number_said(text, exc.hint, name=name))
        return Decimal(0)
    if not value.is_finite() or value < minimum or (strict and value == minimum):
        problems.append(must_be_said(text, f"a number {'>' if strict else '>='} {minimum}", name=name))
    elif whole and value != value.to_integral_value():
        problems.append(must_be_said(text, "a whole number", name=name))
    return value


def _money_digits() -> int:
    """What a plan's portfolio value and the simulated account's cash keep: below 1e<this>."""
    return MONEY_WHOLE_DIGITS


def _day(name: str, text: str | None, problems: list[str]) -> date | None:
    if not text:
        return None
    day = iso_day(text)
    if day is None:
        problems.append(f"{name} {text!r} is not an ISO date (YYYY-MM-DD)")
    return day


def prepare(db, request: BacktestRequest, *, prices: PriceBook | None = None) -> PreparedBacktest:
    """The spec, the prices (``prices``, e.g. the price cache's, else ``request.prices``'s file)
    and the dated snapshots; ``BadBacktest`` lists every problem."""
    problems: list[str] = []
    spec, snapshots = _spec_and_snapshots(db, request, problems)
    if prices is None:
        if request.what_to_show != DEFAULT_WHAT_TO_SHOW:
            problems.append(f"--what-to-show {request.what_to_show} chooses the broker's bars: it goes with --from-broker")
        if not request.prices:
            problems.append("no prices: give --prices FILE, --from-broker or --cached")
        else:
            try:
                prices = read_price_book(request.prices)
            except PriceFileError as exc:
                problems.extend(f"--prices: {p}" for p in exc.problems)
            except (OSError, ValueError) as exc:
                problems.append(f"--prices {request.prices}: {exc}")
    if prices is not None and not problems:
        problems.extend(check_spec(spec, prices, snapshots))
    if problems:
        raise BadBacktest(problems)
    assert prices is not None
    return PreparedBacktest(spec, prices, snapshots)


@dataclass(frozen=True, slots=True)
class BarsWanted:
    """The daily bars a backtest from the broker needs: its snapshots' listings over its dates."""

    listings: tuple[ContractSpec, ...]
    first: date
    last: date
    what_to_show: str = DEFAULT_WHAT_TO_SHOW  # IB's: TRADES, ADJUSTED_LAST or MIDPOINT
    # listing key -> the snapshots that name it ("typo.csv of Momentum"): a refused listing's
    # message says where to correct it
    named_in: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


LOOKBACK = timedelta(days=7)  # a snapshot dated on a holiday is valued at the session before


def bars_wanted(db, request: BacktestRequest, *, today: date | None = None) -> BarsWanted:
    """Every other input checked (``BadBacktest`` lists every problem, before any connection),
    then what to download: the snapshots' listings from a week before the first day (``--from``,
    else the first snapshot's) to ``--to`` (else today: the price cache stops at the last closed
    session)."""
    problems: list[str] = []
    if request.prices:
        problems.append("give either --prices FILE or --from-broker, not both")
    if request.what_to_show not in WHAT_TO_SHOW:
        problems.append(f"--what-to-show {request.what_to_show!r}: use {', '.join(WHAT_TO_SHOW)}")
    spec, snapshots = _spec_and_snapshots(db, request, problems)
    if not problems and not snapshots:
        problems.append("no snapshots")
    if problems:
        raise BadBacktest(problems)
    first = spec.start or min(s.day for s in snapshots)
    last = spec.end or today or date.today()
    if last < first:
        raise BadBacktest([f"--to {last} is before --from {first}"])
    used = [snap for snap in snapshots if first <= snap.day <= last]
    if not used:
        # said before any download, as a bar file's backtest says it (checks.check_spec): with no
        # listing to ask bars of, the window and the command said a bare "no prices" of a From
        # after every snapshot (a trader's walk)
        dated = sorted({snap.day for snap in snapshots})
        raise BadBacktest([(f"no snapshot between {first} and {last} (the snapshots are dated "
                           f"{dated[0]}{'' if len(dated) == 1 else f' to {dated[-1]}'})")])
    listings = tuple(dict.fromkeys(item.spec for snap in used for item in snap.items))
    named_in: dict[str, list[str]] = {}
    for snap in used:
        for item in snap.items:
            names = named_in.setdefault(item.spec.key, [])
            where = f"{snap.source_name} of {snap.project}"
            if where not in names:
                names.append(where)
    return BarsWanted(listings, first - LOOKBACK, last, request.what_to_show,
                      {key: tuple(names) for key, names in named_in.items()})


class BrokerBarsFailed(BadBacktest):
    """Listings whose daily bars the broker refused: nothing runs (their prices would be missing)."""

    def __init__(self, report: DownloadReport, named_in: Mapping[str, tuple[str, ...]] | None = None) -> None:
        named_in = named_in or {}
        super().__init__([f"bars {item.symbol}: {item.error}{_where(named_in.get(item.symbol, ()))}" for item in report.failed])
        self.report = report


class UnknownListings(BadBacktest):
    """Listings the broker does not know: bad input, as ``bars download`` says it (exit 2, each
    named with the snapshots that name it, nothing downloaded, nothing run)."""

    code = "unknown_contract"


def _where(names: tuple[str, ...], shown: int = 3) -> str:
    """Which snapshots name a refused listing (" (in typo.csv of Momentum)"): where to correct it."""
    if not names:
        return ""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f" (in {', '.join(names[:shown])}{more})"


async def prepare_from_broker(db, provider, request: BacktestRequest, wanted: BarsWanted | None = None, *,
                              on_listing=None, canceled=None) -> tuple[PreparedBacktest, DownloadReport]:
    """A backtest on the broker's daily bars (the command's ``--from-broker``, the window's panel
    with no bar file): what it needs (``wanted``, else ``bars_wanted``: every other input checked
    first), the days the price cache lacks downloaded, then ``prepare`` on the cached bars.
    ``UnknownListings`` (nothing downloaded) when the broker knows one of the listings not
    (``price_cache.download_daily_bars`` checks them first, as for ``bars download``), ``BrokerBarsFailed`` when a
    listing's bars were refused later, ``BadBacktest`` for any other problem;
    a lost connection raises ``NotConnected``; ``canceled()`` true between listings raises
    ``price_cache.DownloadCanceled``."""
    if wanted is None:
        wanted = await asyncio.to_thread(bars_wanted, db, request)
    try:  # a typo in a snapshot is bad input: said before a bar of the others is downloaded
        prices, report = await broker_prices(db, provider, wanted, on_listing=on_listing, canceled=canceled)
    except UnknownContract as exc:
        raise UnknownListings([str(exc)]) from None
    if report.failed:
        raise BrokerBarsFailed(report, wanted.named_in)
    return await asyncio.to_thread(prepare, db, request, prices=prices), report


def prepare_from_cache(db, request: BacktestRequest, wanted: BarsWanted | None = None) -> PreparedBacktest:
    """A backtest on the daily bars already in the price cache, nothing downloaded and nothing
    connected (the command's ``--cached``): what an earlier ``--from-broker``, ``bars download``
    or the window's Backtest panel stored. The same inputs as from the broker (``bars_wanted``),
    then ``prepare`` on the cached bars: a listing the cache lacks is said as a missing price."""
    if wanted is None:
        wanted = bars_wanted(db, request)
    series = price_cache.load_series(db, [s.key for s in wanted.listings], wanted.first, wanted.last,
                                     what_to_show=wanted.what_to_show)
    if not series:  # said with where bars come from, not as a bare "no prices"
        raise BadBacktest([(f"no prices: the price cache holds no {wanted.what_to_show} daily bars of the snapshots' "
                           f"listings from {wanted.first} to {wanted.last}; download them with --from-broker (or "
                           "`bars download`, or the window's Backtest panel)")])
    return prepare(db, request, prices=PriceBook.from_columns(series))


async def broker_prices(db, provider, wanted: BarsWanted, *, on_listing=None,
                        canceled=None) -> tuple[PriceBook, DownloadReport]:
    """The bars the price cache lacks downloaded (``services.price_cache``: only missing days,
    within IB's pacing), then the cached bars of the wanted listings as the backtest's prices."""
    report = await price_cache.download_daily_bars(db, provider, wanted.listings, wanted.first, wanted.last,
                                                   what_to_show=wanted.what_to_show, on_listing=on_listing,
                                                   canceled=canceled, refuse_unknown=True,
                                                   where=lambda key: _where(wanted.named_in.get(key, ())))
    series = await asyncio.to_thread(price_cache.load_series, db, [s.key for s in wanted.listings], wanted.first,
                                     wanted.last, what_to_show=wanted.what_to_show)
    return PriceBook.from_columns(series), report


def _spec_and_snapshots(db, request: BacktestRequest, problems: list[str]) -> tuple[BacktestSpec, list[DatedSnapshot]]:
    cash = _number("--initial-cash", request.initial_cash, problems, strict=True)
    if cash.is_finite() and cash.adjusted() >= _money_digits():  # the database said it, after the run was stored
        problems.append(must_be_said(request.initial_cash, f"a number below 1e{_money_digits()} (the database keeps no larger amount)",
                                     name="--initial-cash"))
    try:
        slippage = read_slippage_bps(request.slippage_bps)
    except BadSlippage as exc:
        problems.append(str(exc))
        slippage = Decimal(0)
    lot = _number("--lot-size", request.lot_size, problems, strict=True, whole=True)
    try:
        buffer = cash_buffer_ratio(request.cash_buffer_pct, label="--cash-buffer", unit_shown=request.cash_buffer_unit_shown)
    except BadCashBuffer as exc:
        problems.append(str(exc))
        buffer = Decimal(0)
    try:
        fill = FillAt(request.fill)
    except ValueError:
        problems.append(f"--fill {request.fill!r}: use close or next-open")
        fill = FillAt.CLOSE
    if request.rounding not in ("floor", "nearest"):
        problems.append(f"--rounding {request.rounding!r}: use floor or nearest")
    try:
        parse_commission(request.commission)
    except ValueError as exc:
        problems.append(f"--commission: {exc}")
    start, end = _day("--from", request.start, problems), _day("--to", request.end, problems)
    snapshots: list[DatedSnapshot] = []
    # a project named twice is backtested once: its stored snapshots read twice rebalanced each
    # day twice (with next-open fills, every trade doubled), and a folder was refused as holding none
    projects = list(dict.fromkeys(request.projects))
    try:
        if request.snapshots:
            snapshots = read_snapshots(request.snapshots, projects)
        elif projects:
            snapshots = stored_snapshots(db, projects)
        else:
            problems.append("no snapshots: give --snapshots PATH or --project NAME (its stored snapshots)")
    except SnapshotInputError as exc:
        # named by the option given: a project's stored snapshots (--project) are no --snapshots
        # PATH, and "--snapshots: no project named 'Nope'" named an option nobody typed
        given = "--snapshots" if request.snapshots else "--project"
        problems.extend(f"{given}: {p}" for p in exc.problems)
    builder = {"rounding": request.rounding, "lot_size": lot, "cash_buffer": buffer,
               "liquidate_unlisted": request.liquidate_unlisted}
    spec = BacktestSpec(cash, fill, slippage, request.commission, builder, tuple(request.risk_overrides), start, end)
    return spec, snapshots


def stored_snapshots(db, projects: list[str]) -> list[DatedSnapshot]:
    """The snapshots the trader stored for these projects (a backtest's inputs left out), each
    dated (``services.core.snapshot_dates.stored_day``); of two of a day the one stored later, naming the one it
    replaces (``DatedSnapshot.left_out``: the backtest says it, ``inputs.left_out_line``)."""
    from services.core.snapshots import SnapshotItem

    problems: list[str] = []
    found: list[DatedSnapshot] = []
    with db.session() as session:
        for name in projects:
            project = session.scalars(select(Project).where(Project.name == name)).one_or_none()
            if project is None:
                problems.append(unknown_project(name, (p.name for p in ProjectRepository(session).list(with_backtest_only=False))))
                continue
            rows = list(session.scalars(select(DecisionSnapshot).where(*_replayed(project.id))
                                        .order_by(DecisionSnapshot.created_at, DecisionSnapshot.id)))
            if not rows:
                problems.append(f"project {name!r} has no stored snapshot")
            by_day: dict[date, DecisionSnapshot] = {}
            left_out: dict[date, list[str]] = {}
            for row in rows:  # the newest of a day is that day's decision; the others are named with it
                day = stored_day(row.source_file, row.created_at)
                if day in by_day:
                    left_out.setdefault(day, []).append(by_day[day].source_file)
                by_day[day] = row
            for day, row in sorted(by_day.items()):
                items = tuple(SnapshotItem(i.symbol, i.weight, n + 2, i.score, i.rank, i.price, i.sec_type, i.exchange,
                                           i.currency, i.primary_exchange or "")
                              for n, i in enumerate(SnapshotRepository(session).items(row.id)))
                found.append(DatedSnapshot(day, name, row.source_file, row.content_hash, items, snapshot_id=row.id,
                                           left_out=tuple(left_out.get(day, ()))))
    if problems:
        raise SnapshotInputError(problems)
    return found


def _replayed(project_id: int) -> tuple:
    """The stored snapshots a backtest of the project replays: the trader's decisions only (an
    earlier backtest's inputs, a what-if's files, are not the project's snapshots, and would
    replace the trader's of the same day)."""
    return DecisionSnapshot.project_id == project_id, decisions_only(DecisionSnapshot.note)


def first_stored_day(db, projects: Sequence[str]) -> date | None:
    """The day a backtest of these projects' stored snapshots begins when no --from is given
    (``checks.window``: the first snapshot's), each dated as ``stored_snapshots`` dates it;
    None when there is no such backtest to begin: no project, or one unknown or without a stored
    snapshot (``stored_snapshots`` refuses it). Only the dates are read, not the items: the
    panel asks it each time its projects change."""
    names = list(dict.fromkeys(projects))
    if not names:
        return None
    firsts: list[date] = []
    with db.session() as session:
        for name in names:
            project_id = session.scalars(select(Project.id).where(Project.name == name)).one_or_none()
            if project_id is None:
                return None
            rows = session.execute(select(DecisionSnapshot.source_file, DecisionSnapshot.created_at)
                                   .where(*_replayed(project_id))).all()
            if not rows:
                return None
            firsts.append(min(stored_day(source_file, created_at) for source_file, created_at in rows))
    return min(firsts)


@dataclass(frozen=True, slots=True)
class LastBar:
    """The day an empty --to ends at on the broker's bars, and when that day moves on next."""

    day: date
    moves_at: datetime  # the first close of the listings' exchanges after the moment it was read


def last_bar(db, projects: Sequence[str], *, now: datetime | None = None) -> LastBar | None:
    """The day a backtest of these projects' stored snapshots on the broker's bars ends when no
    --to is given (``checks.window``: the last bar's): ``bars_wanted`` asks for bars to today, and
    the price cache holds them to the last closed session of the snapshots' listings
    (``price_cache.last_bar_by``); and the moment it moves on (the next of those sessions'
    closes, ``price_cache.last_bar_moves_at``), when a panel still in view reads it again. None
    as ``first_stored_day``; a bar file's last day is the file's, read at the run only. Reads the
    snapshots' listings: the panel asks it off the GUI thread as its projects change."""
    names = list(dict.fromkeys(projects))
    if not names:
        return None
    try:
        snapshots = stored_snapshots(db, names)
    except SnapshotInputError:
        return None
    now = now or datetime.now(UTC)
    specs = list(dict.fromkeys(item.spec for snap in snapshots for item in snap.items))
    if not specs:
        return None
    return LastBar(price_cache.last_bar_by(specs, now.astimezone().date(), now), price_cache.last_bar_moves_at(specs, now))


async def run_backtest(db, prepared: PreparedBacktest, *, progress: Callable[[int, int, date], None] | None = None,
                       cancel: Callable[[], bool | str] | None = None, actor: str = "backtest",
                       on_begin: Callable[[int], None] | None = None) -> BacktestOutcome:
    """``on_begin(backtest id)`` once its row is stored: a failure after it is recorded there."""
    return await Backtester(db, prepared.prices, prepared.snapshots, prepared.spec, actor=actor,
                            progress=progress, cancel=cancel, on_begin=on_begin).run()


@dataclass(frozen=True, slots=True)
class BacktestInfo:
    id: int
    status: str
    params: dict
    results: dict
    message: str | None


def load_backtest(db, backtest_id: int) -> BacktestInfo | None:
    """The stored backtest; one whose process died while it ran is closed as failed first
    (``closing.close_abandoned``), not shown running."""
    close_abandoned(db)
    with db.session() as session:
        row = session.get(Backtest, backtest_id)
        if row is None:
            return None
        return BacktestInfo(row.id, row.status, dict(row.params or {}), dict(row.results or {}), row.message)


def as_json(outcome: BacktestOutcome) -> dict:
    """The command's ``--json`` object: ``run_id`` (the backtest's id) and, per project, the
    headline numbers and the daily equity. The same for a run just ended and for a stored one
    (``listing.stored_outcome``, ``backtests --show``)."""
    keys = ("final_equity", "total_return", "cagr", "volatility", "max_drawdown", "sharpe", "turnover", "commissions",
            "orders", "fills", "risk_blocked", "equity")
    # the rebalances that did not trade, read from the rebalances of a backtest stored before they were listed
    total_failed = {"failed_rebalances": all_failed(outcome.projects)} if outcome.total else {}
    return {"run_id": outcome.backtest_id, "status": outcome.status, "days": outcome.days,
            **({"canceled_at": outcome.last_day.isoformat()} if outcome.status == "canceled" and outcome.last_day else {}),
            # why it was canceled or failed; which rebalances failed
            **({"message": outcome.message} if outcome.message else {}),
            # the settings it ran with, stored with it, and said as `backtests --show` prints them
            **({"params": outcome.params, "settings": settings_line(outcome.backtest_id, outcome.params)}
               if outcome.params else {}),
            # traded_from: the first rebalance's day, the rates and turnover measured from it (None: stored before it was kept)
            "projects": {name: {**{k: p[k] for k in keys}, "traded_from": p.get("traded_from"),
                                "failed_rebalances": failed_rebalances_of(p),
                                "left_out_snapshots": list(p.get("left_out_snapshots") or ())}
                         for name, p in outcome.projects.items()},
            "total": {**{k: outcome.total[k] for k in keys if k in outcome.total},
                      **({"traded_from": outcome.total.get("traded_from")} if outcome.total else {}), **total_failed}}


def project_names(db) -> list[str]:
    """The projects whose stored snapshots a backtest can replay: the trader's, not those a
    backtest made for its input files alone (they have no stored snapshot of their own)."""
    with db.session() as session:
        return sorted(p.name for p in ProjectRepository(session).list(with_backtest_only=False))
