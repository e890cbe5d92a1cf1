"""The positions panel's tree (Qt-free): the account's totals, each project's book by name, then
what no project owns (docs/project-books.md), each with its P&L. Built from the frozen position
records the window already holds, so the tree and the flat records can never disagree. A group's
sums never add currencies at face value: in its lines' one currency, else in the account's base
currency at the rates of the lines' account, else each currency's apart (docs/currencies.md,
"Totals"). Rates are per account: the lines of each account count at that account's rates, and
lines of accounts of different base currencies are never added up. Until the broker said which
the base currency is, nothing is converted into it: a project's cash (its capital, in the base
currency, less costs in the lines' currencies) is unknown then, never worked out at a guessed
base."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from services.core.books import UNASSIGNED, BookLine, book_cash, in_base, unassigned_lines
from services.core.contracts import rates_to_base
from services.core.typed_numbers import plain
from services.core.wording import counted, money
from services.domain import PositionRecord
from services.execution.ib_contracts import FxRates

ZERO = Decimal(0)
UNNAMED = "(project name not loaded)"
MIXED = "mixed"  # a group's sum over several currencies that no rate can add (its notes give each)
NO_RATES_YET = "no rates yet"  # a cash before the broker said the account's base currency
NO_MARK = "no mark"  # an amount that needs a market price none has given yet (the window's and the command's word)
SEVERAL_BASES = "several base currencies"  # a cash of lines in accounts of different base currencies

# The rates a tree converts at: each account's (account -> its rates; an account without any is
# left out), or one ``FxRates`` for every account (a caller of one account: a test, a backtest)
Rates = FxRates | Mapping[str, FxRates] | None


def rates_shown(stored: Mapping[str, FxRates], brokers: FxRates | None, account: str) -> FxRates | dict[str, FxRates]:
    """The rates the window's tree converts at: each account's as stored last
    (``services.books.stored_rates_by_account``), the connected ``account``'s replaced by the
    broker's ``brokers`` once they came (None: not yet). Connected without an account said (the
    login's one account), the broker's are every line's."""
    if brokers is not None and not account:
        return brokers
    rates = dict(stored)
    if brokers is not None:
        rates[account] = brokers
    return rates


def names_lacking(positions: Iterable[PositionRecord], names: Mapping[int, str]) -> bool:
    """Whether the tree must read the project names again to head ``positions``: one of them is
    of a project ``names`` (as read last) does not know, one created since (its first position,
    written by this window's writer or by another process); headed ``UNNAMED`` until the names
    are read. A line without a project (the account's) has no name to read. The trading window
    and the monitor window ask this of each change they take (app/controllers/positions.py)."""
    return any(p.project_id is not None and p.project_id not in names for p in positions)


@dataclass(frozen=True, slots=True)
class CurrencySums:
    """A group's lines of one currency, summed (a listing's values are in its currency)."""

    currency: str
    market_value: Decimal | None  # over the lines with a mark, as ``unrealized_pnl``; None: no holding has one
    unrealized_pnl: Decimal | None  # over the lines with a mark; None: no holding has one (``_unrealized``)
    realized_pnl: Decimal
    net_cost: Decimal


@dataclass(frozen=True, slots=True)
class RatesUsed:
    """The rates one account's lines of a group took: ``fx``, the account's, of which ``rates``
    (currency, base units per unit) converted a currency of its lines other than the base."""

    account: str | None  # None: the one ``FxRates`` given for every account
    fx: FxRates
    named: bool  # the notes name the account: the rates of several accounts were given
    rates: tuple[tuple[str, Decimal], ...] = ()

    @property
    def said(self) -> str:
        """``today's rates (1 EUR = 1.1 USD)``, with ``of account DU1`` when named, in a note's words."""
        when = "today's rates" if self.fx.as_of is None else stored_rates_said(self.fx.as_of)
        of = f" of account {self.account}" if self.named and self.account else ""
        return f"{when}{of} ({rates_listed(self.rates, self.fx.base)})"


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """What a group's row shows: sums in ``currency``, never currencies added at face value.

    ``currency`` is the lines' own when they share one, the base currency when the lines' several
    currencies were converted, each line at its own account's rates (``used``: each account's;
    ``rates``: the ones used when they are of one account), None when they cannot be (a rate
    missing: ``missing_rates``; lines of accounts of different base currencies: ``bases_differ``;
    ``mixed``): then the sums are None and ``by_currency`` holds each currency's. A group of no
    lines has zero sums in the base currency (None when it is not known: its account's rates are
    taken when one account's alone are known). A project's ``cash`` is in the base currency (its
    capital's), each currency's cost and realized P&L converted; None without a capital, with a
    rate missing or with several base currencies. ``base`` None: the base currency is not known
    (no rates from the broker for an account of the lines, or several): every line's currency is
    then a rate missing, unless the bases differ. ``market_value`` and ``unrealized_pnl`` are
    both over the lines with a mark, None (not known: no mark yet) when none of the holdings has
    one; converted, they add the currencies of lines with a mark (a currency none of whose
    holdings has one adds nothing), and are None when no holding of any currency has one. One row's
    two figures are of one set of holdings: the market value was left blank for one holding
    without a mark while the unrealized P&L beside it summed the others. ``unpriced``: how many
    holdings have no mark (the notes say the sums leave them out)."""

    currency: str | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal | None
    cash: Decimal | None
    by_currency: tuple[CurrencySums, ...]  # alphabetical
    base: str | None
    rates: tuple[tuple[str, Decimal], ...]  # (currency, base units per unit) of the lines' other currencies
    missing_rates: tuple[str, ...]  # the lines' currencies without a rate to the base
    rates_as_of: datetime | None = None  # None: the broker's rates of now (or several accounts'); else when stored
    used: tuple[RatesUsed, ...] = ()  # each account's rates the lines took (by account; one: the group's account)
    unpriced: int = 0  # holdings without a mark (left out of the sums)

    @property
    def rates_said(self) -> str:
        """Which rates converted the sums, in a note's words: each account's that converted a
        currency (``today's rates (1 EUR = 1.1 USD)``, naming the account when several were given)."""
        return " and ".join(u.said for u in self.used if u.rates)

    @property
    def bases_differ(self) -> bool:
        """Whether the lines are in accounts of different base currencies (never added up)."""
        return len({u.fx.base for u in self.used}) > 1

    @property
    def converts(self) -> bool:
        """Whether a currency other than the base was converted (at a rate of ``used``)."""
        return self.base is not None and not self.missing_rates and any(u.rates for u in self.used)

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
        if self.bases_differ:
            return SEVERAL_BASES
        return NO_RATES_YET if self.base is None else f"no {'/'.join(self.missing_rates)} rate"


def sum_said(value: Decimal | None, figures: GroupFigures, no_mark: str) -> str:
    """A group's sum as the window's tree and the ``positions`` command write it: "mixed" when
    its currencies cannot be added (its notes give each), else the amount to the cent. ``no_mark``
    is what each says for an amount no holding has a mark for yet: the tree a blank cell, as its
    lines' cells; the command's table NO_MARK, as its lines'."""
    if figures.mixed:
        return MIXED
    return no_mark if value is None else money(value)


def cash_said(figures: GroupFigures) -> str:
    """A project's cash (it has a capital) as the tree and the command write it: the amount to
    the cent, else why it is not known (``no_cash_because``)."""
    return figures.no_cash_because if figures.cash is None else money(figures.cash)


@dataclass(frozen=True, slots=True)
class BookGroup:
    kind: str  # "account" (every project together, per account), "project" or "unassigned"
    name: str  # the account id, the project's name, or "unassigned"
    lines: tuple[PositionRecord, ...]
    capital: Decimal | None = None  # a project's, in the base currency (None: not set, or not a project)
    # the rates of each account (``Rates``): the window's the broker's for the connected account
    # and the stored ones for the others, the ``positions`` command's the stored ones (a provider
    # that trades one currency says so: ``FxRates()``); an account without any: not known yet.
    # Taking the base to be USD then showed a EUR account's project holding dollars with its cash
    # as euros of capital less dollars of cost, one for one; taking one account's rates for
    # every account's lines did the same to a project of a USD account beside a EUR one
    fx: Rates = None

    def figures(self) -> GroupFigures:
        """The group's sums per currency and what its row shows (see GroupFigures); worked out
        at each call: ask once per row."""
        sums = _sums_by_currency(self.lines)
        by_account: dict[str, list[PositionRecord]] = {}
        for line in self.lines:
            by_account.setdefault(line.account, []).append(line)
        given = _rates_given(self.fx, sorted(by_account))
        bases = {fx.base for _, fx, _ in given}
        # the base is known when every account of the lines has rates, all of one base (a group
        # of no lines: the one account's); no rate adds a dollar account's lines to a euro one's
        every_account_rated = len(given) == max(1, len(by_account))
        base = next(iter(bases)) if every_account_rated and len(bases) == 1 else None
        parts: list[tuple[tuple[CurrencySums, ...], dict[str, Decimal]]] = []  # each account's sums, at its rates
        used = []
        missing = set() if base is not None else {s.currency for s in sums}
        for account, fx, named in given:
            part = sums if account is None else _sums_by_currency(by_account.get(account, ()))
            rates, lacking = rates_to_base((s.currency for s in part), fx.rates, base)
            parts.append((part, rates))
            missing.update(lacking)
            used.append(RatesUsed(account, fx, named, tuple((c, r) for c, r in sorted(rates.items()) if c != base)))
        if len(bases) > 1:  # the bases differ: no rate is missing, none would add them up
            missing.clear()
        convertible = base is not None and not missing

        def in_base_of(amount: Callable[[CurrencySums], Decimal]) -> Decimal:
            return sum((in_base(((s.currency, amount(s)) for s in part), rates) for part, rates in parts), ZERO)

        cash = None
        if self.kind == "project" and self.capital is not None:
            if not sums:  # nothing held: the capital, in whichever base
                cash = self.capital
            elif convertible:
                cash = book_cash(self.capital, in_base_of(lambda s: s.net_cost), in_base_of(lambda s: s.realized_pnl))
        # ``rates`` and ``rates_as_of`` are the rates of one account; several accounts': ``used``
        said, as_of = (used[0].rates, used[0].fx.as_of) if len(used) == 1 else ((), None)
        missing_rates = tuple(s.currency for s in sums if s.currency in missing)

        def figures(currency, market_value, unrealized, realized) -> GroupFigures:
            return GroupFigures(currency, market_value, unrealized, realized, cash, sums, base, said, missing_rates,
                                as_of, tuple(used), _unpriced(self.lines))

        if not sums:  # nothing held: zeros, in no currency in particular (the base's when it is known)
            return figures(base, ZERO, ZERO, ZERO)
        if len(sums) == 1:  # one currency: its own sums, as they are (of one account or several)
            [only] = sums
            return figures(only.currency, only.market_value, only.unrealized_pnl, only.realized_pnl)
        if not convertible:
            return figures(None, None, None, None)
        # over the lines with a mark, as in one currency: a currency none of whose holdings has
        # a mark adds nothing; no holding of any currency with a mark: not known (None)
        if _no_mark(self.lines):
            market, unrealized = None, None
        else:
            market = in_base_of(lambda s: s.market_value or ZERO)
            unrealized = in_base_of(lambda s: s.unrealized_pnl or ZERO)
        return figures(base, market, unrealized, in_base_of(lambda s: s.realized_pnl))


def _rates_given(fx: Rates, accounts: list[str]) -> list[tuple[str | None, FxRates, bool]]:
    """(account, its rates, whether the notes name it) of each of ``accounts`` (a group's
    lines') that has rates; a group of no lines (whose account is not known) takes the one
    account's when one alone has rates, else none. One ``FxRates``: every account's (account None)."""
    if fx is None:
        return []
    if isinstance(fx, FxRates):
        return [(None, fx, False)]
    named = len(fx) > 1
    if not accounts:
        return [(account, rates, False) for account, rates in fx.items()] if len(fx) == 1 else []
    return [(account, fx[account], named) for account in accounts if account in fx]


def stored_rates_said(as_of: datetime) -> str:
    """Rates the console stored at ``as_of``, in a note's words (the window's notes, the decision
    trail's snapshots)."""
    return f"the rates stored {as_of:%Y-%m-%d %H:%M} UTC"


def rates_listed(rates: Iterable[tuple[str, Decimal]], base: str | None) -> str:
    """``1 EUR = 1.1 USD, ...``: the rates (currency, base units per unit) as the notes give them."""
    return ", ".join(f"1 {currency} = {plain(rate)} {base}" for currency, rate in rates)


def amount_said(value: Decimal | None) -> str:
    """An amount in a note: to the cent, NO_MARK when no holding has a mark for it."""
    return money(value) or NO_MARK


def currency_notes(figures: GroupFigures, has_capital: bool, said: Callable[[Decimal | None], str] = amount_said) -> list[str]:
    """The lines that say which currency a group's sums are in (and its cash), and each
    currency's own sums when the group holds several: the window's tooltip and the ``positions``
    command's notes say the same. ``said``: how an amount is written (``amount_said``)."""
    notes = []
    if figures.unpriced and (figures.market_value is not None or figures.mixed):
        notes.append(f"market and unrealized over the priced holdings: {counted(figures.unpriced, 'holding')} not priced")
    if len(figures.by_currency) > 1:
        notes += [f"{s.currency}: market {said(s.market_value)} · unrealized "
                  f"{said(s.unrealized_pnl)} · realized {said(s.realized_pnl)}" for s in figures.by_currency]
    missing = "/".join(figures.missing_rates)
    converted = figures.converted
    cash_converted = has_capital and figures.cash is not None and figures.converts
    bases = ", ".join(f"{u.account} {u.fx.base}" for u in figures.used)
    if figures.mixed:
        notes.append("not added up: " + (f"its accounts' base currencies differ ({bases})" if figures.bases_differ
                                         else (f"no {missing} rate" if figures.base else "no base currency or rates") +
                                         " from the broker yet"))
    elif converted:
        what = "sums and cash" if cash_converted else "sums"
        notes.append(f"{what} in {figures.base} at {figures.rates_said}")
    elif figures.currency != figures.base and figures.by_currency:
        notes.append(f"sums in {figures.currency}")
    if has_capital and figures.cash is None:
        if figures.bases_differ:
            notes.append(f"cash needs one base currency: its accounts' differ ({bases})")
        else:
            notes.append(f"cash in {figures.base} needs the {missing} rate from the broker" if figures.base
                         else "cash needs the account's base currency and rates from the broker")
    elif cash_converted and not converted:
        notes.append(f"cash in {figures.base} at {figures.rates_said}")
    return notes


def _sums_by_currency(lines: Iterable[PositionRecord]) -> tuple[CurrencySums, ...]:
    by: dict[str, list[PositionRecord]] = {}
    for line in lines:
        by.setdefault(line.currency, []).append(line)
    return tuple(CurrencySums(
        currency,
        None if _no_mark(held) else sum((value for p in held if (value := p.market_value) is not None), ZERO),
        _unrealized(held),
        sum((p.realized_pnl for p in held), ZERO),
        sum((_book_line(p).net_cost for p in held), ZERO)) for currency, held in sorted(by.items()))


def _book_line(position: PositionRecord, project: str | None = None) -> BookLine:
    return BookLine(project, position.account, position.symbol, position.quantity, position.average_cost,
                    position.realized_pnl)


@dataclass(frozen=True, slots=True)
class CurrencyPnl:
    """The P&L of the positions of one currency (a listing's P&L is in its currency)."""

    currency: str
    unrealized_pnl: Decimal | None  # over the positions with a mark; None: no holding has one
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
        CurrencyPnl(c, _unrealized(p for p in counted if p.currency == c),
                    sum((p.realized_pnl for p in counted if p.currency == c), ZERO)) for c in currencies))


def _unrealized(lines: Iterable[PositionRecord]) -> Decimal | None:
    """The unrealized P&L of lines of one currency: the sum over the lines with a mark; None
    (not known) when none of the holdings has a mark yet. Summed over no mark it read 0.00 right
    after a fill, which a trader takes for a flat P&L. A flat line (realized only) holds no
    unrealized P&L: lines all flat sum to 0. (A position's unrealized P&L is worked out from its
    mark at each ask: asked once here.)"""
    lines = list(lines)
    if _no_mark(lines):
        return None
    return sum((value for p in lines if (value := p.unrealized_pnl) is not None), ZERO)


def _unpriced(lines: Iterable[PositionRecord]) -> int:
    """How many of the lines are holdings without a mark yet."""
    return sum(1 for p in lines if p.quantity and p.market_price is None)


def _no_mark(lines: Iterable[PositionRecord]) -> bool:
    """Whether the lines hold something and none of their holdings has a mark yet."""
    held = [p for p in lines if p.quantity]
    return bool(held) and all(p.market_price is None for p in held)


def position_tree(records: Iterable[PositionRecord], project_names: Mapping[int, str],
                  capitals: Mapping[str, Decimal | None] | None = None,
                  fx: Rates = None) -> tuple[BookGroup, ...]:
    """Account groups (by account), project groups (by name), then the unassigned group (when
    anything is unassigned). Lines within a group by account and symbol; flat rows with no
    realized P&L are left out. ``fx``: each account's rates (account -> ``FxRates``), for the
    groups' sums and cash: every group converts each line at its own account's rates
    (``BookGroup.figures``); one ``FxRates``: the rates of every account (a caller of one)."""
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
        mark = (like.market_price, like.marked_at, like.quoted) if like else (None, None, False)
        unassigned.append(replace(base, project_id=None, quantity=rest.quantity, average_cost=rest.average_cost,
                                  realized_pnl=rest.realized_pnl, market_price=mark[0], marked_at=mark[1], quoted=mark[2]))

    def ordered(lines: list[PositionRecord]) -> tuple[PositionRecord, ...]:
        return tuple(sorted(lines, key=lambda p: (p.account, p.symbol)))

    groups = [BookGroup("account", account, ordered(lines), fx=fx) for account, lines in sorted(accounts.items())]
    capitals = capitals or {}
    groups += [BookGroup("project", name, ordered(lines), capitals.get(name), fx)
               for name, lines in sorted(projects.items())]
    if unassigned:
        groups.append(BookGroup("unassigned", UNASSIGNED, ordered(unassigned), fx=fx))
    return tuple(groups)
