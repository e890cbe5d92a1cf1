"""The positions panel's tree (Qt-free): the account's totals, each project's book by name, then
what no project owns (docs/project-books.md), each with its P&L. Built from the frozen position
records the window already holds, so the tree and the flat records can never disagree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from services.core.books import UNASSIGNED, BookLine, project_cash, unassigned_lines
from services.domain import PositionRecord

ZERO = Decimal(0)
UNNAMED = "(project name not loaded)"


@dataclass(frozen=True, slots=True)
class BookGroup:
    kind: str  # "account" (every project together, per account), "project" or "unassigned"
    name: str  # the account id, the project's name, or "unassigned"
    lines: tuple[PositionRecord, ...]
    capital: Decimal | None = None  # a project's (None: not set, or not a project)

    @property
    def cash(self) -> Decimal | None:
        """A project's capital - net cost of its holdings + realized P&L (None without capital)."""
        if self.kind != "project":
            return None
        return project_cash(self.capital, [BookLine(self.name, p.account, p.symbol, p.quantity, p.average_cost, p.realized_pnl)
                                           for p in self.lines])

    @property
    def unrealized_pnl(self) -> Decimal:
        return _sum_known(p.unrealized_pnl for p in self.lines)

    @property
    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.lines), ZERO)

    @property
    def market_value(self) -> Decimal | None:
        if any(p.market_price is None and p.quantity for p in self.lines):
            return None
        return sum((p.quantity * (p.market_price or ZERO) for p in self.lines), ZERO)


@dataclass(frozen=True, slots=True)
class CurrencyPnl:
    """The P&L of the positions of one currency (a listing's P&L is in its currency)."""

    currency: str
    unrealized_pnl: Decimal  # over the positions with a mark
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class BookTotals:
    """The positions panel's totals line over the positions it shows: their count, and their P&L
    per currency (a Xetra holding's euros are never added to a US one's dollars)."""

    count: int
    pnl: tuple[CurrencyPnl, ...]  # by currency, alphabetical; empty with no position


def in_books(position: PositionRecord) -> bool:
    """Whether a position row is a line of the books (the tree) and counts in their totals: a
    holding, or a closed one with realized P&L; a flat row with nothing realized is neither."""
    return bool(position.quantity or position.realized_pnl)


def book_totals(shown: Iterable[PositionRecord]) -> BookTotals:
    """Account-level rows (no project: every project's holdings together) are the total when
    they are among those shown; the project rows beside them are their breakdown, counted again
    they would read 12 holdings of one project as 24 positions and double the P&L."""
    shown = [p for p in shown if in_books(p)]  # what the tree lists: a flat row with nothing realized is not
    counted = [p for p in shown if p.project_id is None] or shown
    currencies = sorted({p.currency for p in counted})
    return BookTotals(len(counted), tuple(
        CurrencyPnl(c, _sum_known(p.unrealized_pnl for p in counted if p.currency == c),
                    sum((p.realized_pnl for p in counted if p.currency == c), ZERO)) for c in currencies))


def _sum_known(values: Iterable[Decimal | None]) -> Decimal:
    """The sum of the values known (a position's unrealized P&L is None without a mark; each is
    worked out from the mark when asked: asked once here)."""
    return sum((value for value in values if value is not None), ZERO)


def position_tree(records: Iterable[PositionRecord], project_names: Mapping[int, str],
                  capitals: Mapping[str, Decimal | None] | None = None) -> tuple[BookGroup, ...]:
    """Account groups (by account), project groups (by name), then the unassigned group (when
    anything is unassigned). Lines within a group by account and symbol; flat rows with no
    realized P&L are left out."""
    every = list(records)
    rows = [r for r in every if in_books(r)]
    accounts: dict[str, list[PositionRecord]] = {}
    projects: dict[str, list[PositionRecord]] = {}
    for r in rows:
        if r.project_id is None:
            accounts.setdefault(r.account, []).append(r)
        else:
            projects.setdefault(project_names.get(r.project_id, UNNAMED), []).append(r)
    # the rest from every row, as the `positions` command works it out: the account's flat row
    # (IB says flat while a project still books shares) is what the rest is measured from, and
    # holds the mark; filtering it out first left the rest without its cost and its mark
    by_key = {(r.account, r.symbol): r for r in every if r.project_id is None}
    rests = unassigned_lines(
        [BookLine(None, r.account, r.symbol, r.quantity, r.average_cost, r.realized_pnl) for r in every if r.project_id is None],
        [BookLine("", r.account, r.symbol, r.quantity, r.average_cost, r.realized_pnl) for r in every if r.project_id is not None])
    unassigned = []
    for rest in rests:
        like = by_key.get((rest.account, rest.symbol))
        base = like or next(r for r in every if (r.account, r.symbol) == (rest.account, rest.symbol))
        unassigned.append(replace(base, project_id=None, quantity=rest.quantity, average_cost=rest.average_cost,
                                  realized_pnl=rest.realized_pnl, market_price=like.market_price if like else None))

    def ordered(lines: list[PositionRecord]) -> tuple[PositionRecord, ...]:
        return tuple(sorted(lines, key=lambda p: (p.account, p.symbol)))

    groups = [BookGroup("account", account, ordered(lines)) for account, lines in sorted(accounts.items())]
    capitals = capitals or {}
    groups += [BookGroup("project", name, ordered(lines), capitals.get(name)) for name, lines in sorted(projects.items())]
    if unassigned:
        groups.append(BookGroup("unassigned", UNASSIGNED, ordered(unassigned)))
    return tuple(groups)
