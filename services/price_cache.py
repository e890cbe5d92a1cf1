"""The historical-price cache (table ``price_bars``): daily bars downloaded from the broker,
imported from CSV / Parquet files, and read back (the backtest's prices).

Download is incremental: for each listing, the trading days of its exchange calendar from the
first to the last day asked (up to the last session that has closed: a session still trading has
no final bar) that the cache lacks are asked for, one request per run of consecutive missing
days (one request over all of them when there are more than ``MAX_SPANS`` runs); days the cache
has are never asked again, so a second download of the same range sends nothing. The broker's
answer is filtered to the missing days and stored in one unit of work per request. Requests go through the provider, which keeps IB's historical-data pacing
(services/execution/history_pacing.py, docs/ib-pacing.md "Historical data").

Import reads the whole file first (services/core/bar_files.py): any problem and nothing is
stored; a valid file is stored in one unit of work (a day already cached with other values is
overwritten; one cached with the same values is left and counted unchanged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from services.core.bar_files import read_bar_file
from services.core.bars import DEFAULT_WHAT_TO_SHOW, WHAT_TO_SHOW, Bar
from services.core.contracts import ContractSpec, spec_of
from services.core.trading_hours import calendar_zone, listing_calendar, regular_session, session_days
from services.core.wording import counted
from services.db import Database
from services.db.limits import bar_limits
from services.db.repositories.price_bars import BarCoverage, PriceBarRepository, SavedBars
from services.execution.errors import BrokerError, NotConnected, QueryFailed, UnknownContract
from services.execution.provider import ExecutionProvider

MAX_SPANS = 3  # more gaps than this in one listing's cache: one request over all of them


@dataclass(frozen=True, slots=True)
class ListingDownload:
    """What one listing's download did."""

    symbol: str
    missing: int  # trading days the cache lacked before
    requests: int  # requests sent to the broker
    stored: int  # bars stored
    still_missing: tuple[date, ...] = ()  # trading days the broker had no bar for
    error: str | None = None

    @property
    def requested(self) -> bool:
        return self.requests > 0

    def outcome_words(self) -> str:
        """What came of it, as `bars download`, `backtest --from-broker` and the Backtest panel
        all say it (they each had words of their own: the panel's error lacked "error:")."""
        if self.error:
            return f"error: {self.error}"
        return counted(self.stored, "new bar") if self.requested else "cached"

    def line(self) -> str:
        """The listing's download as `backtest --from-broker` and the Backtest panel say it as
        it comes: "bars AAPL: 3 new bars" (each composed the line itself)."""
        return f"bars {self.symbol}: {self.outcome_words()}"


@dataclass(frozen=True, slots=True)
class DownloadReport:
    first: date
    last: date  # the last day that could be asked for (the last closed session at most)
    what_to_show: str
    listings: tuple[ListingDownload, ...]

    @property
    def requests(self) -> int:
        return sum(item.requests for item in self.listings)

    @property
    def stored(self) -> int:
        return sum(item.stored for item in self.listings)

    @property
    def failed(self) -> tuple[ListingDownload, ...]:
        return tuple(item for item in self.listings if item.error)

    def summary(self) -> str:
        """The download in one line, for the commands and the Backtest panel alike."""
        return f"{counted(self.requests, 'request')}, {counted(self.stored, 'bar')} stored ({self.first} to {self.last})"


class DownloadCanceled(Exception):
    """The download was asked to stop (the Backtest panel's Cancel): it stops before the next
    listing, the bars stored so far stay in the cache."""

    def __init__(self, done: tuple[ListingDownload, ...], total: int) -> None:
        super().__init__(f"canceled after {len(done)} of {counted(total, 'listing')}")
        self.done = done
        self.total = total

    def words(self) -> str:
        """What it did before it stopped, as the panel says it."""
        stored = sum(item.stored for item in self.done)
        return (f"canceled while fetching the broker's bars: {len(self.done)} of {counted(self.total, 'listing')} "
                f"done, {counted(stored, 'new bar')} kept in the price cache; nothing was backtested")


@dataclass(frozen=True, slots=True)
class ImportReport:
    source: str
    bars: int
    inserted: int  # days the cache did not have
    changed: int  # cached days overwritten with other values
    unchanged: int  # cached days that already held the same bar
    symbols: int
    first: date
    last: date


def last_closed_session(calendar: str, now: datetime) -> date:
    """The last session whose regular close is at or before ``now``."""
    today = now.astimezone(calendar_zone(calendar)).date()
    for day in reversed(session_days(today - timedelta(days=14), today, calendar)):
        session = regular_session(day, calendar)
        if session is not None and session.end <= now:
            return day
    return today - timedelta(days=15)


def next_close(calendar: str, now: datetime) -> datetime:
    """The first regular close after ``now``: when ``last_closed_session`` moves on next."""
    today = now.astimezone(calendar_zone(calendar)).date()
    for day in session_days(today, today + timedelta(days=14), calendar):
        session = regular_session(day, calendar)
        if session is not None and session.end > now:
            return session.end
    return now + timedelta(days=1)  # no session in two weeks (past the calendar's years): ask again tomorrow


def expected_days(spec: ContractSpec, first: date, last: date, now: datetime) -> list[date]:
    """The trading days from ``first`` to ``last`` that have a final daily bar by ``now``."""
    calendar = listing_calendar(spec)
    return session_days(first, min(last, last_closed_session(calendar, now)), calendar)


def last_bar_by(specs: Sequence[ContractSpec], last: date, now: datetime) -> date:
    """The last day whose bar a download of these listings up to ``last`` can hold by ``now``:
    the latest of their last closed sessions, ``last`` at most (``last`` itself without a listing)."""
    return max((min(last, last_closed_session(listing_calendar(s), now)) for s in specs), default=last)


def last_bar_moves_at(specs: Sequence[ContractSpec], now: datetime) -> datetime:
    """When ``last_bar_by(specs, today, now)`` can next say a later day: the first of the
    listings' next regular closes; or this machine's next midnight, if that comes first and
    today's date caps a listing whose last session closed on a later date (an exchange far east
    of here)."""
    calendars = {listing_calendar(s) for s in specs}
    local = now.astimezone()
    moments = [next_close(calendar, now) for calendar in calendars]
    if any(last_closed_session(calendar, now) > local.date() for calendar in calendars):
        moments.append(datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), local.tzinfo))
    return min(moments)


def request_spans(missing: list[date], expected: list[date], max_spans: int = MAX_SPANS) -> list[tuple[date, date]]:
    """The (first, last) day spans to ask for: each run of consecutive missing trading days on
    its own (a one-day gap in 2016 must not mean ten years of bars on every download), or one
    span over all of them when there are more than ``max_spans`` runs (fewer requests)."""
    if not missing:
        return []
    position = {day: i for i, day in enumerate(expected)}
    spans = [[missing[0], missing[0]]]
    for day in missing[1:]:
        if position[day] == position[spans[-1][1]] + 1:
            spans[-1][1] = day
        else:
            spans.append([day, day])
    if len(spans) > max_spans:
        return [(missing[0], missing[-1])]
    return [(first, last) for first, last in spans]


def missing_days(db: Database, spec: ContractSpec, first: date, last: date, *, what_to_show: str = DEFAULT_WHAT_TO_SHOW,
                 now: datetime | None = None) -> list[date]:
    expected = expected_days(spec, first, last, now or datetime.now(UTC))
    if not expected:
        return []
    with db.session() as session:
        stored = PriceBarRepository(session).stored_days(spec.key, expected[0], expected[-1], what_to_show)
    return [day for day in expected if day not in stored]


def _store(db: Database, bars: list[Bar], what_to_show: str, source: str) -> SavedBars:
    with db.unit_of_work() as session:
        return PriceBarRepository(session).save(bars, source=source, what_to_show=what_to_show)


async def check_listings(provider: ExecutionProvider, listings: Sequence[str | ContractSpec], *,
                         where: Callable[[str], str] | None = None) -> None:
    """Before a bar is asked for, every listing the broker knows: else ``UnknownContract`` naming
    each it does not (with ``where(key)`` after it: which snapshots name it, for a backtest), and
    nothing is downloaded. A listing typed wrong is bad input, and a
    download that stored the others' bars around it was half done, where `bars import` and
    `snapshot import` store nothing of an input with any problem and a preview is refused for one
    unknown listing. A query that fails here is left to each listing's download, which says it."""
    specs = list(dict.fromkeys(spec_of(item) for item in listings))
    try:
        await provider.check_listings(specs)
    except UnknownContract as exc:
        none = "no such listing" if len(exc.keys) < 2 else "none of these listings"
        named = str(exc)
        if where is not None and exc.keys:
            named = f"unknown contract{'s' if len(exc.keys) > 1 else ''}: " + ", ".join(f"{key}{where(key)}" for key in exc.keys)
        raise UnknownContract(f"{named}: the broker knows {none}; nothing was downloaded", exc.keys) from None
    except QueryFailed:
        return


async def download_daily_bars(db: Database, provider: ExecutionProvider, listings: Sequence[str | ContractSpec],
                              first: date, last: date, *, what_to_show: str = DEFAULT_WHAT_TO_SHOW,
                              now: datetime | None = None,
                              on_listing: Callable[[ListingDownload], None] | None = None,
                              canceled: Callable[[], bool] | None = None, refuse_unknown: bool = False,
                              where: Callable[[str], str] | None = None) -> DownloadReport:
    """Fetch and store the daily bars the cache lacks (see the module docstring). With
    ``refuse_unknown`` (``bars download``, a backtest on the broker's bars) the listings with days
    to fetch are checked first (``check_listings``, ``where`` naming where each comes from): one
    the broker does not know refuses the whole download, nothing fetched; a listing whose bars are
    all cached is asked nothing (a backtest on cached bars asked the broker about every listing).
    A listing the broker refuses is reported and the others go on; a lost connection ends the
    download; ``canceled()`` true before a listing ends it with ``DownloadCanceled`` (within IB's
    pacing a long download takes minutes, and a Cancel that waited for all of it was no Cancel),
    while the listings' missing days are read too, before the broker is asked anything."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    if what_to_show not in WHAT_TO_SHOW:
        raise ValueError(f"what to show must be one of {', '.join(WHAT_TO_SHOW)}")
    now = now or datetime.now(UTC)
    specs = list(dict.fromkeys(spec_of(item) for item in listings))

    def stop_if_canceled() -> None:
        # before each listing's missing days are read, and before the broker is asked anything:
        # every listing's days were read (one query and its calendar each) and the broker asked
        # about them before the first look at ``canceled``, so a Cancel waited for all of that
        if canceled is not None and canceled():
            raise DownloadCanceled((), len(specs))

    lacking: dict[ContractSpec, list[date]] = {}
    for spec in specs:
        stop_if_canceled()
        lacking[spec] = await asyncio.to_thread(missing_days, db, spec, first, last, what_to_show=what_to_show, now=now)
    stop_if_canceled()
    if refuse_unknown:  # a range without a session of a listing has nothing to fetch: still checked
        await check_listings(provider, [spec for spec, missing in lacking.items()
                                        if missing or not expected_days(spec, first, last, now)], where=where)
    results: list[ListingDownload] = []
    for spec, missing in lacking.items():
        if canceled is not None and canceled():
            raise DownloadCanceled(tuple(results), len(specs))
        if not missing:
            result = ListingDownload(spec.key, 0, 0, 0)
        else:
            expected = expected_days(spec, first, last, now)
            wanted = set(missing)
            inserted, got, error, sent = 0, set(), None, 0
            try:
                for span_first, span_last in request_spans(missing, expected):
                    sent += 1
                    bars = await provider.daily_bars(spec, span_first, span_last, what_to_show)
                    keep = [bar for bar in bars if bar.day in wanted and bar.symbol == spec.key and bar.day not in got]
                    if keep:  # stored span by span: what arrived is kept if a later span fails
                        inserted += (await asyncio.to_thread(_store, db, keep, what_to_show, "broker")).inserted
                        got |= {bar.day for bar in keep}
            except NotConnected:
                raise
            except BrokerError as exc:
                error = str(exc)
            result = ListingDownload(spec.key, len(missing), sent, inserted, tuple(d for d in missing if d not in got), error)
        results.append(result)
        if on_listing is not None:
            on_listing(result)
    return DownloadReport(first, last_bar_by(specs, last, now), what_to_show, tuple(results))


def import_bar_file(db: Database, path: str | Path, *, what_to_show: str = DEFAULT_WHAT_TO_SHOW) -> ImportReport:
    """Read and check the whole file (``BarFileError`` lists every problem; nothing stored), then
    store its bars in one unit of work."""
    return store_imported(db, Path(path).name, read_file_for_storage(path), what_to_show=what_to_show)


def read_file_for_storage(path: str | Path) -> list[Bar]:
    """The file's bars, checked against what the cache's columns keep (``BarFileError``)."""
    return read_bar_file(path, bar_limits())


def store_imported(db: Database, source: str, bars: list[Bar], *, what_to_show: str = DEFAULT_WHAT_TO_SHOW) -> ImportReport:
    """Store checked bars (``read_file_for_storage``) in one unit of work."""
    if what_to_show not in WHAT_TO_SHOW:
        raise ValueError(f"what to show must be one of {', '.join(WHAT_TO_SHOW)}")
    saved = _store(db, bars, what_to_show, "file")
    return ImportReport(source, len(bars), saved.inserted, saved.changed, saved.unchanged, len({b.symbol for b in bars}),
                        min(b.day for b in bars), max(b.day for b in bars))


def load_bars(db: Database, symbols: Sequence[str] | None = None, first: date | None = None, last: date | None = None,
              *, what_to_show: str = DEFAULT_WHAT_TO_SHOW) -> list[Bar]:
    """The cached bars (by day, then listing): the backtest's prices from the cache."""
    with db.session() as session:
        return PriceBarRepository(session).load(symbols, first, last, what_to_show)


def load_series(db: Database, symbols: Sequence[str] | None = None, first: date | None = None, last: date | None = None,
                *, what_to_show: str = DEFAULT_WHAT_TO_SHOW) -> dict[str, tuple[list[date], list[Decimal], list[Decimal]]]:
    """The cached bars as ``listing -> (days ascending, opens, closes)``: a backtest's price book
    (``PriceBook.from_columns``) without a Bar per cached day."""
    with db.session() as session:
        return PriceBarRepository(session).series(symbols, first, last, what_to_show)


def coverage(db: Database, symbols: Sequence[str] | None = None) -> list[BarCoverage]:
    with db.session() as session:
        return PriceBarRepository(session).coverage(symbols)
