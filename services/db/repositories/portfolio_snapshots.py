"""Portfolio snapshots of the decision trail: a project's positions, cash and equity in an
account at each event-writer batch and at a run's end (docs/decision-trail.md). History, not
decisions: not covered by a plan's trail hash (services.db.repositories.trail)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from services.core.books import book_cash_in_base, in_base
from services.core.contracts import US_CURRENCY, rates_to_base
from services.db.models import Position, Project, TradeFill, TradeOrder, TradeRun, TrailPortfolioSnapshot
from services.db.repositories.base import execute_many, fetch_all
from services.db.repositories.portfolio import EquityRepository
from services.db.types import utcnow
from services.domain import Side, is_backtest_account

ZERO = Decimal(0)


def _exact(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


# the writer's portfolio snapshots run these in every batch: built once (building a statement
# costs more than running it on SQLite), the SELECTs through the driver (``fetch_all``)
# Core columns (the tables', not the mapped classes'): an ORM-enabled select costs more than
# the statement itself on SQLite
_POSITIONS = cast(Table, Position.__table__)
_FILLS = cast(Table, TradeFill.__table__)
_ORDERS = cast(Table, TradeOrder.__table__)
_BOOK = (_POSITIONS.c.project_key == bindparam("project_key"), _POSITIONS.c.account == bindparam("account"))
_REALIZED = select(func.sum(_POSITIONS.c.realized_pnl)).where(*_BOOK)
# the rows held, each with the realized P&L of the whole book (one statement; a book holding
# nothing reads _REALIZED alone); plain columns, not Position objects (a snapshot only reads them)
_HELD = (select(_POSITIONS.c.symbol, _POSITIONS.c.quantity, _POSITIONS.c.average_cost, _POSITIONS.c.market_price,
                _POSITIONS.c.realized_pnl, _REALIZED.scalar_subquery())
         .where(*_BOOK, _POSITIONS.c.quantity != 0).order_by(_POSITIONS.c.symbol))
_FILL_CASH = (select(_FILLS.c.id, _FILLS.c.side, _FILLS.c.quantity, _FILLS.c.price, _FILLS.c.commission)
              .join(_ORDERS, _FILLS.c.order_id == _ORDERS.c.id)
              .where(_FILLS.c.superseded.is_(False), _FILLS.c.account == bindparam("account"), _FILLS.c.id > bindparam("after")))
_PROJECT_FILL_CASH = _FILL_CASH.where(_ORDERS.c.project_id == bindparam("project_id"))
_UNASSIGNED_FILL_CASH = _FILL_CASH.where(_ORDERS.c.project_id.is_(None))
# a real account's book, each row with its listing's currency (services.db.convert: NULL in a row
# from before listings had one, a US stock), and its realized P&L of all rows per currency
_HELD_IN_CURRENCY = (select(_POSITIONS.c.symbol, _POSITIONS.c.quantity, _POSITIONS.c.average_cost,
                            _POSITIONS.c.market_price, _POSITIONS.c.realized_pnl, _POSITIONS.c.currency)
                     .where(*_BOOK, _POSITIONS.c.quantity != 0).order_by(_POSITIONS.c.symbol))
_REALIZED_BY_CURRENCY = select(_POSITIONS.c.currency, func.sum(_POSITIONS.c.realized_pnl)).where(*_BOOK).group_by(
    _POSITIONS.c.currency)
_RUNS = cast(Table, TradeRun.__table__)
_RUN_PARAMS = select(_RUNS.c.params).where(_RUNS.c.id == bindparam("run_id"))
_INSERT_SNAPSHOT = insert(cast(Table, TrailPortfolioSnapshot.__table__))
# what a snapshot row holds, in this order (``execute_many``)
_SNAPSHOT_COLUMNS = ("run_id", "plan_id", "project_id", "account", "time", "reason", "positions", "market_value", "cash",
                     "equity", "realized_pnl")
_REAL_SNAPSHOT_COLUMNS = (*_SNAPSHOT_COLUMNS, "rates")

# the rates stored for an account: (account, base, rates, when), EquityRepository.rates_of
StoredRates = tuple[str, str, dict[str, Decimal], datetime]


def _cash_of(session: Session, project_id: int | None, account: str, after: int = 0,
             book: CashBook | None = None) -> Decimal:
    """Net cash the project's fills in the account moved: sells in, buys out, commissions out
    (only the fills after id ``after`` when a ``book`` carries the sum of the earlier ones)."""
    if project_id is not None:
        query, params = _PROJECT_FILL_CASH, {"account": account, "after": after, "project_id": project_id}
    else:
        query, params = _UNASSIGNED_FILL_CASH, {"account": account, "after": after}
    cash, last = book.carried(project_id, account) if book is not None else (ZERO, 0)
    for fill_id, side, quantity, price, commission in fetch_all(session, query, params):
        cash -= Side(side).sign * quantity * price + (commission or ZERO)
        last = max(last, fill_id)
    if book is not None:
        book.pending[(project_id, account)] = (cash, last)
    return cash


class CashBook:
    """The net cash of (project, account) up to a fill id, carried from one writer batch to the
    next so that a portfolio snapshot reads only the fills since the last one instead of all of
    the account's history (quadratic over a ten-year backtest). Only for books no other process
    writes to (a backtest's private account): ``forget`` whenever a batch changed a stored fill
    (a correction, a late commission), after which the next snapshot sums all fills again. What a
    batch summed is ``pending`` until its transaction committed (``commit``; ``rollback`` else)."""

    def __init__(self) -> None:
        self.known: dict[tuple[int | None, str], tuple[Decimal, int]] = {}
        self.pending: dict[tuple[int | None, str], tuple[Decimal, int]] = {}

    def carried(self, project_id: int | None, account: str) -> tuple[Decimal, int]:
        key = (project_id, account)
        return self.pending.get(key) or self.known.get(key) or (ZERO, 0)

    def forget(self) -> None:
        self.known.clear()
        self.pending.clear()

    def commit(self) -> None:
        self.known.update(self.pending)
        self.pending.clear()

    def rollback(self) -> None:
        self.pending.clear()

    def cash(self, session: Session, project_id: int | None, account: str) -> Decimal:
        return _cash_of(session, project_id, account, self.carried(project_id, account)[1], self)


def record_portfolio_snapshots(session: Session, keys: Iterable[tuple[int, int | None, str]], ended_runs: set[int],
                               when: datetime | None = None, cash_book: CashBook | None = None,
                               run_params: Mapping[int, dict | None] | None = None) -> int:
    """One snapshot per (run, project, account) of a writer batch: the project's positions in
    the account, its cash and equity; ``reason`` is ``run_end`` when the batch ended the run.
    A real account's money is in its base currency at the rates stored for it (``_real_book``).
    ``run_params``: the params of runs the caller read in this transaction already (the writer,
    with their status), the others are read here. Returns the number written."""
    now = when or utcnow()
    snapshots = []  # a backtest's (_SNAPSHOT_COLUMNS)
    real = []  # a real account's, with the rates they were converted at (_REAL_SNAPSHOT_COLUMNS)
    rates_of: dict[str, StoredRates | None] = {}  # per account, read once a call
    for run_id, project_id, account in sorted(set(keys), key=lambda k: (k[0], k[1] or 0, k[2])):
        book = {"project_key": project_id or 0, "account": account}
        if run_params is not None and run_id in run_params:
            params = run_params[run_id]
        else:
            params = next((params for params, in fetch_all(session, _RUN_PARAMS, {"run_id": run_id})), None)
        plan_id = (params or {}).get("plan_id")
        head = (run_id, None if plan_id is None else int(plan_id), project_id, account, now,
                "run_end" if run_id in ended_runs else "fills")
        if not is_backtest_account(account):
            if account not in rates_of:
                rates_of[account] = EquityRepository(session).rates_of(account)
            real.append((*head, *_real_book(session, book, project_id, rates_of[account])))
            continue
        # a backtest's private account (no assignments, no reconciliation, one currency): the
        # net cash of its fills, summed exactly and carried between batches (CashBook); the same
        # amount as the book's rule (_real_book) but for the stored average cost's rounding.
        # The rows held, and the realized P&L of all (a closed row is worth nothing but keeps its
        # realized P&L): a book collects a closed row per symbol it ever traded, which read one
        # by one made each snapshot grow with the book's history
        positions = fetch_all(session, _HELD, book)
        realized = (positions[0][5] if positions else fetch_all(session, _REALIZED, book)[0][0]) or ZERO
        held = []
        market_value = ZERO
        for symbol, quantity, average_cost, market_price, realized_pnl, _ in positions:
            mark = market_price if market_price is not None else average_cost  # the last mark (see _real_book)
            market_value += quantity * mark
            if quantity:
                held.append({"symbol": symbol, "quantity": _exact(quantity), "average_cost": _exact(average_cost),
                             "market_price": None if market_price is None else _exact(market_price),
                             "realized_pnl": _exact(realized_pnl)})
        cash = cash_book.cash(session, project_id, account) if cash_book is not None else _cash_of(session, project_id, account)
        snapshots.append((*head, held, market_value, cash, cash + market_value, realized))
    # through the driver: no ORM object (nor RETURNING of its id) per row, nor SQLAlchemy's statement handling
    execute_many(session, _INSERT_SNAPSHOT, _SNAPSHOT_COLUMNS, snapshots)
    execute_many(session, _INSERT_SNAPSHOT, _REAL_SNAPSHOT_COLUMNS, real)
    return len(snapshots) + len(real)


def _real_book(session: Session, book: dict, project_id: int | None,
               stored: StoredRates | None) -> tuple[list[dict], Decimal | None, Decimal | None, Decimal | None,
                                                    Decimal | None, dict]:
    """(held, market value, cash, equity, realized P&L, rates) of a real account's book.

    Its cash is the book's as the window and `positions` compute it (services.core.books): from
    its rows, so assigned shares count as they cost; a project's book starts from its capital
    (docs/project-books.md), without one from nothing. Each listing's amounts are in its
    currency: the figures are in the account's base currency, each currency at the rate the
    console stored for the account (``stored``; services.core.books.book_cash_in_base, as the
    window converts a project's cash), the capital being in the base currency already. No rates
    stored: the base is not known, so only a book of one currency and no capital has figures
    (in that currency). A currency without a rate leaves the money None (NULL), never summed at
    face value: ``rates`` says which currencies were missing (docs/currencies.md)."""
    rows = fetch_all(session, _HELD_IN_CURRENCY, book)
    realized_by: dict[str, Decimal] = {}
    for currency, realized_pnl in fetch_all(session, _REALIZED_BY_CURRENCY, book):
        key = currency or US_CURRENCY  # a row from before listings had a currency: a US stock
        if realized_pnl:
            realized_by[key] = realized_by.get(key, ZERO) + realized_pnl
    held = []
    value_by: dict[str, Decimal] = {}
    cost_by: dict[str, Decimal] = {}
    for symbol, quantity, average_cost, market_price, realized_pnl, currency in rows:
        currency = currency or US_CURRENCY
        # the last mark: each fill marks the rows it moved (the writer), so the average cost (with
        # its commission, which made equity hide the commissions paid) values only a holding no
        # mark and no fill of ours priced: shares assigned from what reconciliation found
        mark = market_price if market_price is not None else average_cost
        value_by[currency] = value_by.get(currency, ZERO) + quantity * mark
        cost_by[currency] = cost_by.get(currency, ZERO) + quantity * average_cost
        held.append({"symbol": symbol, "currency": currency, "quantity": _exact(quantity),
                     "average_cost": _exact(average_cost),
                     "market_price": None if market_price is None else _exact(market_price),
                     "realized_pnl": _exact(realized_pnl)})
    currencies = sorted(value_by.keys() | realized_by.keys())
    project = session.get(Project, project_id) if project_id is not None else None
    capital = project.capital if project is not None else None
    base: str | None
    if stored is not None:
        _, base, stored_rates, as_of = stored
        said_base = base
    else:  # no base known: amounts of one currency and no capital (in the base) need none
        base = currencies[0] if len(currencies) == 1 and capital is None else None
        said_base, stored_rates, as_of = None, {}, None
    rates, missing = rates_to_base(currencies, stored_rates, base)
    said = {"currency": None if missing else base, "base": said_base,
            "rates": {c: _exact(r) for c, r in sorted(rates.items()) if c != base},
            "as_of": as_of.astimezone(UTC).isoformat() if as_of is not None else None, "missing": list(missing)}
    if missing:
        return held, None, None, None, None, said
    market_value = in_base(value_by.items(), rates)
    cash = book_cash_in_base(capital if capital is not None else ZERO,
                             ((c, cost_by.get(c, ZERO), realized_by.get(c, ZERO)) for c in currencies), rates)
    return held, market_value, cash, cash + market_value, in_base(realized_by.items(), rates), said
