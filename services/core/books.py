"""A book per project: what a project holds, its cash, and what the account holds that no project
owns (unassigned). Pure: no database, no broker (docs/project-books.md).

The positions table keeps one row per (project, account, listing), booked from the fills of the
project's orders (and from assignments), plus the account's own row, which every fill also moves
and which reconciliation sets to the broker's truth. From these:

* **unassigned** = the account's row - the sum of the projects' rows, per account and listing:
  manual TWS trades, external orders, differences reconciliation found. Its average cost is
  what is left of the account's cost basis once the projects' are taken out; its realized P&L
  what is left of the account's. It belongs to no project and is in no project's preview until
  ``trading-console assign`` moves it into a book;
* a project's **cash** = its capital - the net cost of what it holds + its realized P&L, where
  the net cost of a position is ``quantity * average cost`` (IB's average cost carries the
  commissions, so a long costs what was paid, a short brings what it was sold for, both net of
  commissions; realized P&L is net of every commission). For a project without capital the
  cash is unknown (None). Amounts in another currency than the base count at the account's
  rate (:func:`book_cash_in_base`: today's, or the rates the console stored; the books keep no
  FX history, so the cash of a book holding euros moves with the rate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .snapshots import NumericLimit, storage_problem
from .typed_numbers import NotANumber, must_be_said, not_a_number_said, plain, typed_decimal

ZERO = Decimal(0)
UNASSIGNED = "unassigned"  # the name unassigned rows show under; never a project's name


@dataclass(frozen=True, slots=True)
class BookLine:
    """One position of a book: a project's (``project`` its name), the account's own (None) or
    the unassigned rest (:data:`UNASSIGNED`)."""

    project: str | None
    account: str
    symbol: str  # the listing key
    quantity: Decimal
    average_cost: Decimal
    realized_pnl: Decimal = ZERO

    @property
    def net_cost(self) -> Decimal:
        return self.quantity * self.average_cost


class CapitalError(ValueError):
    """A project's capital as typed is not an amount (the message says why)."""


# What a plan's portfolio value and a project's capital keep (services.db.limits: Money on
# SQLite): below 1e<this>. A capital is a plan's portfolio value when none is given, so the
# setting is capped here too (it took up to 1e15, which no plan could then store).
MONEY_WHOLE_DIGITS = 10
# and its decimal places (the Money columns' scale): a finer amount typed is refused, not rounded
MONEY_LIMIT = NumericLimit(whole_digits=MONEY_WHOLE_DIGITS, scale=8)


def parse_capital(text: object, name: str = "capital") -> Decimal | None:
    """A capital as typed: a positive amount below 1e10 (``MONEY_WHOLE_DIGITS``; thousands may be
    grouped with commas), or ``off`` / empty for none. The one rule for the Settings dialog, the
    command line and the service that stores it; a refusal names ``name`` once, as typed
    (``project_capital.alpha`` on the command line, where "project_capital: capital: ..." named
    the field twice and not the project)."""
    raw = "" if text is None else str(text).strip()
    if raw.lower() in ("", "off", "none"):
        return None
    try:
        value = typed_decimal(raw)
    except NotANumber as exc:  # a misplaced comma says why
        raise CapitalError(not_a_number_said(raw, exc.hint, name=name)) from None
    if not value.is_finite() or value <= 0:
        raise CapitalError(must_be_said(raw, "a number > 0, or off (or left empty) for no capital", name=name))
    if value.adjusted() >= MONEY_WHOLE_DIGITS:
        raise CapitalError(must_be_said(
            raw, f"a number below 1e{MONEY_WHOLE_DIGITS} (a plan keeps no larger portfolio value)", name=name))
    problem = storage_problem(name, repr(raw), value, MONEY_LIMIT)
    if problem is not None:
        raise CapitalError(problem[1])
    return value


def flatten_order(quantity: Decimal) -> tuple[str, Decimal] | None:
    """The order that takes a holding of ``quantity`` (signed) to zero: (side, shares); None
    when it is flat. What the positions' Flatten puts in the order ticket."""
    if not quantity:
        return None
    return ("SELL" if quantity > 0 else "BUY"), abs(quantity)


def held_in_other_books(key: str, holders: Mapping[str, Decimal]) -> str:
    """Where the account's shares are when a project's sale of them would go short in its own
    book (the short-sale rule reads the project's book, not the account's): ``holders`` the other
    projects holding ``key``, by name. "the account's AAPL is in project desk's book (10 held):
    sell it as desk's order (the ticket's Project, `order --project desk`)"; "" with none. The
    ``order`` command without --project said "short_sale: AAPL: selling 5 of 0 held would go
    short" of shares desk held, and nothing of where they were or how to sell them."""
    if not holders:
        return ""
    if len(holders) == 1:
        [(name, quantity)] = holders.items()
        return (f"the account's {key} is in project {name}'s book ({plain(quantity)} held): sell it as {name}'s order "
                f"(the ticket's Project, `order --project {_quoted(name)}`)")
    held = ", ".join(f"{name} {plain(quantity)}" for name, quantity in sorted(holders.items()))
    return (f"the account's {key} is in other projects' books ({held}): sell it as the order of the project that "
            f"holds it (the ticket's Project, `order --project NAME`)")


def held_unassigned(key: str, project: str, unassigned: Decimal) -> str:
    """Where the account's shares are when a sale in ``project``'s book would go short while the
    account holds ``unassigned`` shares of ``key`` in no project's book (bought in TWS or by
    another client): how to move them into the book, in held_in_other_books' words. "the
    account's AAPL is unassigned, in no project's book (10 held): assign it to manual's book to
    sell it there (`assign --symbol AAPL --quantity 10 --project manual --cost PRICE`, PRICE what
    each share cost; or the Positions panel's Assign to project… on its unassigned line)"; "" with
    none. Both ways are named, as held_in_other_books names the ticket's and the command's: the
    words reach the window's ticket and the `order` command alike.
    The ticket's SELL 5 of 10 AAPL bought in TWS said "selling 5 of 0 held would go short (the
    account holds 10)" and nothing of why nor how."""
    if unassigned <= 0:
        return ""
    return (f"the account's {key} is unassigned, in no project's book ({plain(unassigned)} held): assign it to {project}'s "
            f"book to sell it there (`assign --symbol {_quoted(key)} --quantity {plain(unassigned)} --project "
            f"{_quoted(project)} --cost PRICE`, PRICE what each share cost; or the Positions panel's Assign to "
            f"project… on its unassigned line)")


def _quoted(name: str) -> str:
    import shlex

    return shlex.quote(name)


def unassigned_lines(account_lines: Iterable[BookLine], project_lines: Iterable[BookLine]) -> list[BookLine]:
    """Per account and listing, the account's row less every project's: the lines with a
    quantity (a flat rest is not shown: its realized P&L stays in the account's total)."""
    projects: dict[tuple[str, str], list[BookLine]] = {}
    for line in project_lines:
        projects.setdefault((line.account, line.symbol), []).append(line)
    out = []
    for total in account_lines:
        owned = projects.pop((total.account, total.symbol), [])
        quantity = total.quantity - sum((p.quantity for p in owned), ZERO)
        if not quantity:
            continue
        cost = total.net_cost - sum((p.net_cost for p in owned), ZERO)
        realized = total.realized_pnl - sum((p.realized_pnl for p in owned), ZERO)
        out.append(BookLine(UNASSIGNED, total.account, total.symbol, quantity, cost / quantity, realized))
    # projects holding a listing the account has no row for: a negative rest (a mismatch),
    # measured as from a flat account row (nothing held, nothing realized), as above
    for (account, symbol), owned in projects.items():
        quantity = -sum((p.quantity for p in owned), ZERO)
        if quantity:
            cost = -sum((p.net_cost for p in owned), ZERO)
            out.append(BookLine(UNASSIGNED, account, symbol, quantity, cost / quantity,
                                -sum((p.realized_pnl for p in owned), ZERO)))
    return sorted(out, key=lambda line: (line.account, line.symbol))


def unassigned_quantity(account_quantity: Decimal, project_quantities: Iterable[Decimal]) -> Decimal:
    return account_quantity - sum(project_quantities, ZERO)


def project_money(capital: Decimal | None, net_liquidation: Decimal | None) -> Decimal | None:
    """What a project's rules and its preview measure against: its capital, else (none set) the
    account's NetLiquidation."""
    return capital if capital is not None else net_liquidation


def project_cash(capital: Decimal | None, lines: Iterable[BookLine]) -> Decimal | None:
    """Capital - net cost of the holdings + realized P&L (None without a capital)."""
    if capital is None:
        return None
    lines = list(lines)
    return book_cash(capital, sum((line.net_cost for line in lines), ZERO), sum((line.realized_pnl for line in lines), ZERO))


def book_cash(capital: Decimal, net_cost: Decimal, realized_pnl: Decimal) -> Decimal:
    """The one cash rule of a book, from its rows: capital - net cost of the holdings + realized
    P&L. It counts everything the rows were booked from, fills and assignments alike (the
    decision trail's snapshots use it too, so their cash is the window's)."""
    return capital - net_cost + realized_pnl


def in_base(amounts: Iterable[tuple[str, Decimal]], rates: Mapping[str, Decimal]) -> Decimal:
    """The sum of amounts in several currencies ((currency, amount) pairs), each at its rate to
    the base currency (``rates``: base units per unit, 1 for the base itself; every currency of
    ``amounts`` must have one: services.core.contracts.rates_to_base says which do not)."""
    return sum((amount * rates[currency] for currency, amount in amounts), ZERO)


def book_cash_in_base(capital: Decimal, by_currency: Iterable[tuple[str, Decimal, Decimal]],
                      rates: Mapping[str, Decimal]) -> Decimal:
    """:func:`book_cash` of a book whose rows are in several currencies ((currency, net cost,
    realized P&L) per currency): the capital is in the base currency, each currency's cost and
    P&L count at its rate (today's, or the rates stored: the books keep no FX history). The
    decision trail's snapshots take it; the window's project cash sums each account's part at
    that account's rates the same way (services.console_books)."""
    by_currency = list(by_currency)
    return book_cash(capital, in_base(((c, cost) for c, cost, _ in by_currency), rates),
                     in_base(((c, realized) for c, _, realized in by_currency), rates))


@dataclass(frozen=True, slots=True)
class BookMismatch:
    """Where the books cannot add up to the broker: the projects together hold more than the
    broker (or the other side of it), so no unassigned rest can make up the difference."""

    account: str
    symbol: str
    broker: Decimal
    books: Decimal

    def to_dict(self) -> dict:
        return {"account": self.account, "symbol": self.symbol, "broker": plain(self.broker), "books": plain(self.books)}


def book_mismatches(broker: Mapping[tuple[str, str], Decimal], books: Mapping[tuple[str, str], Decimal]) -> list[BookMismatch]:
    """Per (account, listing): the broker's quantity against the sum of the projects' books. The
    rest is unassigned when it lies on the broker's side of zero and within it; otherwise the
    books claim shares the broker does not have."""
    out = []
    for key in sorted(set(broker) | set(books)):
        held, owned = broker.get(key, ZERO), books.get(key, ZERO)
        if not owned:
            continue
        if (held > 0 and 0 < owned <= held) or (held < 0 and held <= owned < 0):
            continue
        out.append(BookMismatch(key[0], key[1], held, owned))
    return out
