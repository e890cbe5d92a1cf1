"""The positions panel's tree (Qt-free): the account's totals, each project's book by name, then
what no project owns (docs/project-books.md), each with its P&L. Built from the frozen position
records the window already holds, so the tree and the flat records can never disagree. A group's
sums never add currencies at face value: in its lines' one currency, else in the account's base
currency at the rates the window has from the broker, else each currency's apart
(docs/currencies.md, "Totals"). Until the broker said which the base currency is, nothing is
converted into it: a project's cash (its capital, in the base currency, less costs in the lines'
currencies) is unknown then, never worked out at a guessed base."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from services.core.books import UNASSIGNED, BookLine, book_cash_in_base, in_base, unassigned_lines
from services.core.contracts import rates_to_base
from services.core.typed_numbers import plain
from services.domain import PositionRecord
from services.execution.ib_contracts import FxRates

ZERO = Decimal(0)
UNNAMED = "(project name not loaded)"
MIXED = "mixed"  # a group's sum over several currencies that no rate can add (its notes give each)
NO_RATES_YET = "no rates yet"  # a cash before the broker said the account's base currency


@dataclass(frozen=True, slots=True)
class CurrencySums:
    """A group's lines of one currency, summed (a listing's values are in its currency)."""

    currency: str
    market_value: Decimal | None  # None: a holding without a mark
    unrealized_pnl: Decimal  # over the lines with a mark
    realized_pnl: Decimal
    net_cost: Decimal


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """What a group's row shows: sums in ``currency``, never currencies added at face value.

    ``currency`` is the lines' own when they share one, the base currency when the lines' several
    currencies were converted at the account's rates (``rates``: the ones used), None when they
    cannot be (a rate missing: ``missing_rates``; ``mixed``): then the sums are None and
    ``by_currency`` holds each currency's. A group of no lines has zero sums in the base currency
    (None when it is not known). A project's ``cash`` is in the base currency (its capital's), each
    currency's cost and realized P&L converted; None without a capital or with a rate missing.
    ``base`` None: the account's base currency is not known yet (no rates from the broker): every
    line's currency is then a rate missing."""

    currency: str | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal | None
    cash: Decimal | None
    by_currency: tuple[CurrencySums, ...]  # alphabetical
    base: str | None
    rates: tuple[tuple[str, Decimal], ...]  # (currency, base units per unit) of the lines' other currencies
    missing_rates: tuple[str, ...]  # the lines' currencies without a rate to the base
    rates_as_of: datetime | None = None  # None: the broker's rates of now; else when they were stored

    @property
    def rates_said(self) -> str:
        """Which rates converted the sums, in a note's words."""
        return "today's rates" if self.rates_as_of is None else stored_rates_said(self.rates_as_of)

    @property
    def converted(self) -> bool:
        """Whether the sums are of several currencies, in the base currency at the account's rates."""
        return len(self.by_currency) > 1 and self.currency is not None

    @property
    def mixed(self) -> bool:
        """Whether the sums are of several currencies that could not be added ("mixed")."""
        return self.currency is None and bool(self.by_currency)

    @property
    def no_cash_because(self) -> str:
        """Why a project's cash is not shown (it has a capital, its cash is None), in a cell's words."""
        return NO_RATES_YET if self.base is None else f"no {'/'.join(self.missing_rates)} rate"


@dataclass(frozen=True, slots=True)
class BookGroup:
    kind: str  # "account" (every project together, per account), "project" or "unassigned"
    name: str  # the account id, the project's name, or "unassigned"
    lines: tuple[PositionRecord, ...]
    capital: Decimal | None = None  # a project's, in the base currency (None: not set, or not a project)
    # the account's base currency and rates as the window last had them from the broker (a
    # provider that trades one currency says so: ``FxRates()``); None: not known yet. Taking it
    # to be USD then showed a EUR account's project holding dollars with its cash as euros of
    # capital less dollars of cost, one for one
    fx: FxRates | None = None

    def figures(self) -> GroupFigures:
        """The group's sums per currency and what its row shows (see GroupFigures); worked out
        at each call: ask once per row."""
        fx = self.fx
        base = fx.base if fx is not None else None
        as_of = fx.as_of if fx is not None else None
        sums = _sums_by_currency(self.lines)
        rates, missing = rates_to_base((s.currency for s in sums), fx.rates if fx is not None else {}, base)
        cash = None
        if self.kind == "project" and self.capital is not None and not missing:  # no lines: the capital, any base
            cash = book_cash_in_base(self.capital, ((s.currency, s.net_cost, s.realized_pnl) for s in sums), rates)
        used = tuple((c, r) for c, r in sorted(rates.items()) if c != base)
        if not sums:  # nothing held: zeros, in no currency in particular (the base's when it is known)
            return GroupFigures(base, ZERO, ZERO, ZERO, cash, sums, base, used, (), as_of)
        if len(sums) == 1:  # one currency: its own sums, as they are
            [only] = sums
            return GroupFigures(only.currency, only.market_value, only.unrealized_pnl, only.realized_pnl, cash, sums,
                                base, used, missing, as_of)
        if missing:
            return GroupFigures(None, None, None, None, cash, sums, base, used, missing, as_of)
        unmarked = any(s.market_value is None for s in sums)
        return GroupFigures(
            base,
            None if unmarked else in_base(((s.currency, s.market_value or ZERO) for s in sums), rates),
            in_base(((s.currency, s.unrealized_pnl) for s in sums), rates),
            in_base(((s.currency, s.realized_pnl) for s in sums), rates),
            cash, sums, base, used, (), as_of)


def stored_rates_said(as_of: datetime) -> str:
    """Rates the console stored at ``as_of``, in a note's words (the window's notes, the decision
    trail's snapshots)."""
    return f"the rates stored {as_of:%Y-%m-%d %H:%M} UTC"


def rates_listed(rates: Iterable[tuple[str, Decimal]], base: str | None) -> str:
    """``1 EUR = 1.1 USD, ...``: the rates (currency, base units per unit) as the notes give them."""
    return ", ".join(f"1 {currency} = {plain(rate)} {base}" for currency, rate in rates)


def currency_notes(figures: GroupFigures, has_capital: bool, money: Callable[[Decimal | None], str]) -> list[str]:
    """The lines that say which currency a group's sums are in (and its cash), and each
    currency's own sums when the group holds several: the window's tooltip and the ``positions``
    command's notes say the same. ``money``: how an amount is written (None: no mark)."""
    notes = []
    if len(figures.by_currency) > 1:
        notes += [f"{s.currency}: market {money(s.market_value)} · unrealized "
                  f"{money(s.unrealized_pnl)} · realized {money(s.realized_pnl)}" for s in figures.by_currency]
    missing = "/".join(figures.missing_rates)
    rates = rates_listed(figures.rates, figures.base)
    converted = figures.converted
    cash_converted = has_capital and figures.cash is not None and bool(figures.rates)
    if figures.mixed:
        notes.append("not added up: " + (f"no {missing} rate" if figures.base else "no base currency or rates") +
                     " from the broker yet")
    elif converted:
        what = "sums and cash" if cash_converted else "sums"
        notes.append(f"{what} in {figures.base} at {figures.rates_said} ({rates})")
    elif figures.currency != figures.base and figures.by_currency:
        notes.append(f"sums in {figures.currency}")
    if has_capital and figures.cash is None:
        notes.append(f"cash in {figures.base} needs the {missing} rate from the broker" if figures.base
                     else "cash needs the account's base currency and rates from the broker")
    elif cash_converted and not converted:
        notes.append(f"cash in {figures.base} at {figures.rates_said} ({rates})")
    return notes


def _sums_by_currency(lines: Iterable[PositionRecord]) -> tuple[CurrencySums, ...]:
    by: dict[str, list[PositionRecord]] = {}
    for line in lines:
        by.setdefault(line.currency, []).append(line)
    return tuple(CurrencySums(
        currency,
        None if any(p.market_price is None and p.quantity for p in held)
        else sum((p.quantity * (p.market_price or ZERO) for p in held), ZERO),
        _sum_known(p.unrealized_pnl for p in held),
        sum((p.realized_pnl for p in held), ZERO),
        sum((_book_line(p).net_cost for p in held), ZERO)) for currency, held in sorted(by.items()))


def _book_line(position: PositionRecord, project: str | None = None) -> BookLine:
    return BookLine(project, position.account, position.symbol, position.quantity, position.average_cost,
                    position.realized_pnl)


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
                  capitals: Mapping[str, Decimal | None] | None = None,
                  fx: FxRates | None = None) -> tuple[BookGroup, ...]:
    """Account groups (by account), project groups (by name), then the unassigned group (when
    anything is unassigned). Lines within a group by account and symbol; flat rows with no
    realized P&L are left out. ``fx``: the account's rates, for the groups' sums and cash."""
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
        [_book_line(r) for r in every if r.project_id is None], [_book_line(r, "") for r in every if r.project_id is not None])
    unassigned = []
    for rest in rests:
        like = by_key.get((rest.account, rest.symbol))
        base = like or next(r for r in every if (r.account, r.symbol) == (rest.account, rest.symbol))
        unassigned.append(replace(base, project_id=None, quantity=rest.quantity, average_cost=rest.average_cost,
                                  realized_pnl=rest.realized_pnl, market_price=like.market_price if like else None))

    def ordered(lines: list[PositionRecord]) -> tuple[PositionRecord, ...]:
        return tuple(sorted(lines, key=lambda p: (p.account, p.symbol)))

    groups = [BookGroup("account", account, ordered(lines), fx=fx) for account, lines in sorted(accounts.items())]
    capitals = capitals or {}
    groups += [BookGroup("project", name, ordered(lines), capitals.get(name), fx)
               for name, lines in sorted(projects.items())]
    if unassigned:
        groups.append(BookGroup("unassigned", UNASSIGNED, ordered(unassigned), fx=fx))
    return tuple(groups)
