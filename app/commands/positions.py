"""`trading-console positions [--project NAME] [--json]`: the stored positions, read-only.

Per project, account and symbol: quantity, average cost (IB's, commissions included), its mark
(MARK: the newer of its last fill's price and the last quote the console stored while connected,
services.position_marks.STORED_MARK; "no mark" when neither was ever stored), market value,
unrealized and realized P&L (net of commissions) and the commissions paid. The mark is the price
the window's positions tree starts from (the same stored records); the window shows a quote it
was given since over it, which a command without a broker has not: so the column is not headed
a market price, which read as the market's price now. Rows with
project "(account)" are the account's own totals over every project; rows with project
"unassigned" what the account holds that no project owns (the account's row less every project's:
manual and external trades; `assign` moves them into a book; docs/project-books.md). Below the
table, each project's capital, cash (capital - net cost of its holdings + realized P&L) and value,
summed as the window's positions tree sums them: each account's lines at that account's exchange
rates as the console last stored them (never another account's), in its base currency; "mixed"
without them, or when a project's lines are in accounts of different base currencies
(docs/currencies.md).

``--json``: one object, ``positions`` (the table's rows), ``books`` (each project's capital, cash
and sums, with the currency they are in: null for "mixed", each currency's own sums beside, and
``rates_by_account``: each account's rates its lines took), ``rates_by_account`` (each account's
stored exchange rates) and ``rates`` (those of the one account with rates stored; null with none
or several: see ``rates_by_account``); amounts are strings. A line's ``market_price`` is its mark
(the table's MARK), ``marked_at`` when it was the price. A book's unrealized P&L is over its
lines with a mark: "no mark" (null) while none of its holdings has one yet, never 0.
"""

from __future__ import annotations

import argparse
import json

from app.cli import EXIT_BAD_INPUT, EXIT_OK, say_failure
from app.commands.db import run_guarded
from services.core.typed_numbers import plain
from services.core.wording import grouped, money, price, price_places


def register(subparsers) -> None:
    parser = subparsers.add_parser("positions", help="positions per project, account and symbol, with P&L and commissions")
    parser.add_argument("--project", default=None, help="only this project's positions (`unassigned`: what no project owns)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object (positions, books, rates, rates_by_account) instead of the tables; "
                             "each account's lines convert at its own stored rates")
    parser.set_defaults(handler=_positions)


def _money(value) -> str:
    return money(value)


def _text(value) -> str | None:
    return None if value is None else plain(value)


def _as_dict(line) -> dict:
    return {
        "project": line.project,
        "account": line.account,
        "symbol": line.symbol,
        "quantity": plain(line.quantity),
        "average_cost": plain(line.average_cost),
        "market_price": _text(line.market_price),
        "marked_at": None if line.marked_at is None else line.marked_at.isoformat(),
        "market_value": _text(line.market_value),
        "unrealized_pnl": _text(line.unrealized_pnl),
        "realized_pnl": plain(line.realized_pnl),
        "commissions": plain(line.commissions),
    }


def _book_dict(book) -> dict:
    """A project's book as its row and notes say it: ``currency`` null with sums null is "mixed"
    (a rate missing, ``missing_rates``), ``by_currency`` then each currency's own; ``base`` null:
    the account's base currency not known yet (no rates stored), its cash then null."""
    f = book.figures
    return {
        "project": book.project,
        "capital": _text(book.capital),
        "cash": _text(book.cash),
        "currency": f.currency,
        "market_value": _text(f.market_value),  # null with a currency: no holding has a mark (else over the marked ones)
        "unrealized_pnl": _text(f.unrealized_pnl),  # null with a currency: no holding has a mark yet
        "realized_pnl": _text(f.realized_pnl),
        "base": f.base,
        "rates": {currency: plain(rate) for currency, rate in f.rates},  # of one account (its lines')
        "rates_by_account": {u.account: {"base": u.fx.base, "rates": {c: plain(r) for c, r in u.rates}}
                             for u in f.used if u.account is not None},
        "missing_rates": list(f.missing_rates),
        "by_currency": [{"currency": s.currency, "market_value": _text(s.market_value), "unrealized_pnl": _text(s.unrealized_pnl),
                         "realized_pnl": plain(s.realized_pnl)} for s in f.by_currency],
    }


def _rates_dict(stored) -> dict | None:
    if stored is None:
        return None
    return {"account": stored.account, "base": stored.fx.base, "rated_at": stored.rated_at.isoformat(),
            "rates": {currency: plain(rate) for currency, rate in sorted(stored.fx.rates.items())}}


def _table(lines) -> str:
    from services.console_books import NO_MARK

    # MARK: the stored mark (STORED_MARK), not the market's price now: "MARKET PRICE" said that
    # of a fill's price hours old
    header = ("PROJECT", "ACCOUNT", "SYMBOL", "QUANTITY", "AVG COST", "MARK", "MARKET VALUE", "UNREALIZED",
              "REALIZED", "COMMISSIONS")
    rows = [header]
    # as the window's positions tree shows them (its ColumnPlaces): each column of prices to one
    # number of places, its most precise price's (two to four); each price to its own read
    # 221.645 above 229.2927, and the decimal points did not line up
    cost_places = price_places(line.average_cost for line in lines)
    mark_places = price_places(line.market_price for line in lines)
    for line in lines:
        rows.append((
            line.project or "(account)", line.account, line.symbol, grouped(line.quantity),
            price(line.average_cost, cost_places),
            NO_MARK if line.market_price is None else price(line.market_price, mark_places),
            _money(line.market_value) if line.market_price is not None else NO_MARK,
            _money(line.unrealized_pnl) if line.market_price is not None else NO_MARK,
            _money(line.realized_pnl), _money(line.commissions),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    out = []
    for row in rows:
        out.append("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    return "\n".join(out)


def _books_table(books) -> str:
    """Each project's capital, cash (capital - net cost of its holdings + realized P&L) and
    value, summed as the window's tree sums a project (``services.books.project_books``): in the
    lines' currency, else the base currency at the account's rates, else "mixed"; the notes under
    a project say which."""
    from services.console_books import NO_MARK, cash_said, currency_notes, sum_said

    header = ("PROJECT", "CAPITAL", "CASH", "MARKET VALUE", "UNREALIZED", "REALIZED")
    rows = [header]
    below: dict[int, list[str]] = {}  # a row's index -> the notes printed under it
    for b in books:
        f = b.figures
        # the window's tree says the same (services.console_books); a sum without a mark reads
        # NO_MARK here, as this command's lines do
        rows.append((b.project, "not set" if b.capital is None else _money(b.capital), "" if b.capital is None else cash_said(f),
                     *(sum_said(value, f, NO_MARK) for value in (f.market_value, f.unrealized_pnl, f.realized_pnl))))
        below[len(rows) - 1] = currency_notes(f, b.capital is not None)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    out = []
    for index, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip())
        out += [f"  {note}" for note in below.get(index, [])]
    return "\n".join(out)


def _rates_lines(stored) -> list[str]:
    """Which account's rates the books took: each account's own (``stored``: account -> its rates)."""
    from services.console_books import rates_listed

    if not stored:
        return ["exchange rates: none stored yet (the console stores the account's while connected)"]
    out = []
    for rates in stored.values():
        listed = rates_listed(sorted(rates.fx.rates.items()), rates.fx.base) or "none"
        out.append(f"exchange rates of account {rates.account} (base {rates.fx.base}) as stored "
                   f"{rates.rated_at:%Y-%m-%d %H:%M} UTC: {listed}")
    if len(stored) > 1:
        out.append("each account's lines at its own rates")
    return out


def _positions(args: argparse.Namespace, settings) -> int:
    from app.composition import open_existing_database
    from services import console_queries as queries
    from services.books import project_books, stored_rates_by_account
    from services.console_books import NO_MARK
    from services.position_marks import STORED_MARK

    url = settings.effective_db_url

    def action() -> int:
        database = open_existing_database(url)
        try:
            lines = queries.position_lines(database, args.project)
            # the window converts at the rates the broker gives it; a command has no broker: each
            # account's rates as the console stored them last, the same rule (services.console_books)
            stored = stored_rates_by_account(database)
            books = [b for b in project_books(database, {account: rates.fx for account, rates in stored.items()})
                     if args.project in (None, b.project)]
        except LookupError as exc:
            return say_failure(args, "not_found", exc.args[0], EXIT_BAD_INPUT)
        finally:
            database.dispose()
        if args.json:
            only = next(iter(stored.values())) if len(stored) == 1 else None  # `rates`: as before, for one account
            print(json.dumps({"positions": [_as_dict(line) for line in lines], "books": [_book_dict(b) for b in books],
                              "rates": _rates_dict(only),
                              "rates_by_account": {account: _rates_dict(rates) for account, rates in stored.items()}},
                             indent=2))
            return EXIT_OK
        if not lines:
            print("no positions" + (f" in project {args.project}" if args.project else ""))
        else:
            print(_table(lines))
            print(f"\nMARK: each line's stored mark, {STORED_MARK}")
            if any(line.market_price is None for line in lines):
                print(f"{NO_MARK}: neither stored yet (a fill of the console's marks its position; quotes are stored "
                      "while the console is connected)")
        if any(b.capital is not None or b.figures.by_currency for b in books):
            print("\n" + _books_table(books))
            if any(len(b.figures.by_currency) > 1 or b.figures.converts or b.figures.bases_differ or b.figures.missing_rates
                   for b in books):
                print("\n".join(_rates_lines(stored)))
        return EXIT_OK

    return run_guarded(url, action, args)
