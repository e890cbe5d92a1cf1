"""Market marks for the held positions, so the positions panel can show unrealized P&L (Qt-free).

Which symbols are marked is decided from the positions the database holds, not from a table's
rows; market data shares IB's message budget, hence the cap on symbols per refresh.

Which price values a position is one rule (``newest_mark``): the newer of the stored mark (the
latest fill's price at its time, or the equity recorder's) and the last quote the window was
given, by their times. A quote seen before the position's last fill does not replace that
fill's price; a quote seen since does. The ``positions`` command has no broker, so no quotes:
it shows the stored mark (``console_queries.position_lines``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from services.domain import PositionRecord
from services.execution.errors import UnknownContract

log = logging.getLogger(__name__)

MAX_MARKED_SYMBOLS = 40
# what a position's stored mark is (the ``positions`` command's MARK, the window's Price before a
# quote of its own): the writer marks a position with each fill's price at its time, the equity
# recorder with the quote it sampled while the console was connected, the newer kept
# (services.db.repositories.portfolio: PositionRepository.mark, the upsert's _marking)
STORED_MARK = "the newer of its last fill's price and the last quote the console stored while connected"


def newest_mark(position: PositionRecord, price: Decimal, seen_at: datetime) -> PositionRecord:
    """``position`` valued at the quote ``price`` seen at ``seen_at``, unless its stored mark is
    newer (a fill after the quote, or the equity recorder's later sample): then as it is. A
    position never marked takes the quote; so does one marked at the quote's very time (IB
    stamps a fill to the second, a quote of that second may well be after it)."""
    if position.marked_at is not None and seen_at < position.marked_at:
        return position
    return replace(position, market_price=price, marked_at=seen_at, quoted=True)


def newest_marks(rows: Iterable) -> dict[tuple[str, str], tuple[Decimal, datetime | None]]:
    """(account, listing) -> the newest stored mark any of its rows holds (the account's row and
    each project's): the writer marks only the rows a fill moves, so a project's row kept its own
    last fill's price while the account's had a newer fill's, one listing at two prices side by
    side (the ``positions`` command; the window's tree until a quote came). ``rows``: anything
    with ``account``, ``symbol``, ``market_price`` and ``marked_at`` (a Position, a
    PositionRecord)."""
    newest: dict[tuple[str, str], tuple[Decimal, datetime | None]] = {}
    for row in rows:
        if row.market_price is None:
            continue
        key = (row.account, row.symbol)
        held = newest.get(key)
        if held is None or (row.marked_at is not None and (held[1] is None or row.marked_at > held[1])):
            newest[key] = (row.market_price, row.marked_at)
    return newest


def at_newest_marks(positions: Iterable[PositionRecord]) -> tuple[PositionRecord, ...]:
    """``positions``, each at its listing's newest stored mark (``newest_marks``)."""
    positions = tuple(positions)
    marks = newest_marks(positions)
    out = []
    for p in positions:
        price, at = marks.get((p.account, p.symbol), (p.market_price, p.marked_at))
        out.append(p if (price, at) == (p.market_price, p.marked_at) else replace(p, market_price=price, marked_at=at))
    return tuple(out)


NOT_LISTED = "not listed"


def symbol_said(position: PositionRecord) -> str:
    """The position's symbol as its row shows it: a holding the broker does not list says so
    there, in view (its P&L is at its stored mark, not the market's: a tooltip alone went unseen)."""
    return f"{position.symbol} ({NOT_LISTED})" if position.unlisted else position.symbol


def mark_said(position: PositionRecord) -> str | None:
    """Where the position's market price comes from and when it was the price, in a tooltip's
    words (a holding the broker does not list: why no quote marks it, first); None without a
    mark (and listed)."""
    if position.market_price is None:
        stored = None if not position.unlisted else "no mark"
    elif position.marked_at is None:
        stored = "stored mark (time not stored)"
    else:
        when = f"{position.marked_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        stored = f"quote seen {when}" if position.quoted else f"stored mark of {when} (the last fill or a quote)"
    if position.unlisted:
        return f"not marked: the broker does not list {position.symbol}, so no quote values it; {stored}"
    return stored


class PositionMarks:
    def __init__(self, max_symbols: int = MAX_MARKED_SYMBOLS, clock: Callable[[], datetime] | None = None) -> None:
        self.max_symbols = max_symbols
        self.clock = clock or (lambda: datetime.now(UTC))  # a quote's time when the provider says none
        self._marks: dict[str, tuple[Decimal, datetime]] = {}  # last market price per held symbol, and when seen
        self.unlisted: set[str] = set()  # held symbols the broker said it does not know (said once)

    def symbols_to_mark(self, positions: Iterable[PositionRecord]) -> list[str]:
        return sorted({p.symbol for p in positions if p.quantity})[: self.max_symbols]

    async def _prices(self, provider, symbols: list[str]) -> dict:
        """The broker's prices of ``symbols``; a holding it does not list (another process's
        fill of a listing this broker does not know, one delisted since) is left out and the
        others asked again: they are marked all the same, it keeps its stored mark, and it is
        not an error of every pass (said once in the log)."""
        for _attempt in range(2):
            try:
                prices = await provider.market_prices(symbols)
            except UnknownContract as exc:
                unknown = set(exc.keys)
                if unknown - self.unlisted:
                    log.warning("positions not marked, unknown to the broker: %s", ", ".join(sorted(unknown)))
                self.unlisted |= unknown
                rest = [s for s in symbols if s not in unknown]
                if not rest or len(rest) == len(symbols):
                    return {}
                symbols = rest
            else:
                self.unlisted -= set(symbols)  # listed again (another gateway, a listing back): marked as any
                return prices
        return {}

    def apply(self, positions: Iterable[PositionRecord]) -> list[PositionRecord]:
        """The positions, each valued at the newer of its stored mark and its symbol's last quote;
        one the broker does not list says so (``unlisted``: its row tells the trader)."""
        return [self._listed_or_not(p if p.symbol not in self._marks else newest_mark(p, *self._marks[p.symbol]))
                for p in positions]

    def _listed_or_not(self, position: PositionRecord) -> PositionRecord:
        unlisted = position.symbol in self.unlisted
        return position if position.unlisted == unlisted else replace(position, unlisted=unlisted)

    async def refresh(self, provider, positions: Iterable[PositionRecord]) -> list[PositionRecord]:
        """Ask the broker for the held symbols' prices; returns the held positions, marked."""
        held = [p for p in positions if p.quantity]
        symbols = self.symbols_to_mark(held)
        if not symbols:
            return []
        prices = await self._prices(provider, symbols)
        now = self.clock()
        seen = getattr(provider, "quote_info", {})  # when each price was seen (a stream's last tick: maybe earlier)
        self._marks.update({s: (p, seen.get(s, (now,))[0]) for s, p in prices.items() if p is not None})
        return self.apply(held)
