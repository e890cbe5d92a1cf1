"""Project books as a use case: each project's capital, the account's unassigned shares, and
assigning them into a project's book at a stated cost, audited (docs/project-books.md). The
window's settings, ``trade-settings set project_capital.NAME=...``, ``trading-console assign``
and the preview all go through here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, union_all

from services.audit_actions import AuditAction
from services.console_books import BookGroup, GroupFigures, Rates, position_tree
from services.core.books import UNASSIGNED, BookLine, CapitalError, unassigned_lines
from services.core.books import parse_capital as parse_core_capital
from services.core.positions_book import PositionState, apply_fill
from services.core.snapshots import storage_problem
from services.core.trading_hours import trading_day_start
from services.core.typed_numbers import NotANumber, exponent_said, not_a_number_said, plain, typed_decimal
from services.core.wording import unknown_project
from services.db.convert import to_position_record
from services.db.limits import numeric_limit
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.models import Position, PositionAssignment, Project, TradeFill, TradeOrder
from services.db.repositories import PositionRepository, ProjectRepository
from services.db.repositories.base import fetch_all
from services.db.repositories.portfolio import EquityRepository
from services.db.scope import not_backtest
from services.domain import INTENT_ORDER_STATES, OrderState, Side
from services.execution.ib_contracts import FxRates
from services.execution.listings import order_spec


class BooksError(ValueError):
    """Input the user can fix; the message says what and why."""


@dataclass(frozen=True, slots=True)
class Assignment:
    id: int
    project: str
    account: str
    symbol: str
    quantity: Decimal
    cost: Decimal
    position: Decimal  # the project's quantity afterwards
    unassigned_left: Decimal

    def headline(self) -> str:
        """The one line saying what was done, for the window's status bar and the ``assign``
        command alike (each wrote its own: a cost typed 229.50 read "at 229.50" in one and "at
        229.5" in the other)."""
        return (f"assigned {plain(self.quantity)} {self.symbol} on {self.account} to {self.project} at "
                f"{plain(self.cost)}: the project holds {plain(self.position)}, "
                f"{plain(self.unassigned_left)} left unassigned")


# what the window's Assign dialog requires of the cost per share: no default (the market price
# would book the shares at a price the trader never paid; the assignment is audited at it)
COST_REQUIRED = "cost per share: required: what each share cost (the project's book holds them at it)"


def typed_assignment_number(name: str, typed: str) -> Decimal:
    """A quantity or cost per share as typed in the window's Assign dialog, read as the order
    ticket reads its figures (digits, no exponent), refused in the one wording as a BooksError."""
    if not typed.strip():
        raise BooksError(COST_REQUIRED if name == "cost per share" else f"{name}: required")
    exponent = exponent_said(typed, name=name)
    if exponent is not None:
        raise BooksError(exponent)
    try:
        return typed_decimal(typed)
    except NotANumber as exc:
        raise BooksError(not_a_number_said(typed, exc.hint, name=name)) from None


def parse_capital(text: object, name: str = "capital") -> Decimal | None:
    """``services.core.books.parse_capital``, its refusal as a BooksError."""
    try:
        return parse_core_capital(text, name)
    except CapitalError as exc:
        raise BooksError(str(exc)) from None


def book_lines(session, account: str | None = None) -> tuple[list[BookLine], list[BookLine]]:
    """(the account's rows, every project's rows by project name), non-zero or with realized P&L;
    every real account's when ``account`` is not given (a backtest's books are its own: a project
    backtested keeps its real cash and P&L)."""
    names = {p.id: p.name for p in session.scalars(select(Project))}
    query = select(Position).where(Position.account == account) if account else select(Position).where(not_backtest(Position.account))
    accounts: list[BookLine] = []
    projects: list[BookLine] = []
    for row in session.scalars(query.order_by(Position.account, Position.symbol)):
        line = BookLine(names.get(row.project_id) if row.project_id is not None else None, row.account, row.symbol,
                        row.quantity, row.average_cost, row.realized_pnl)
        (accounts if row.project_id is None else projects).append(line)
    return accounts, projects


# every preview reads its project's book: the statements built once (building one cost more
# than SQLite took to run it), on the table's columns (a mapped attribute made it an ORM statement,
# loaded through the ORM's machinery)
_POSITIONS = cast(Table, Position.__table__)
_PROJECT_POSITIONS = select(_POSITIONS.c.symbol, _POSITIONS.c.quantity).where(
    _POSITIONS.c.project_key == bindparam("project_id"), _POSITIONS.c.quantity != 0)
_PROJECT_POSITIONS_ON = _PROJECT_POSITIONS.where(_POSITIONS.c.account == bindparam("account"))


def project_positions(session, project_id: int, account: str | None) -> dict[str, Decimal]:
    """A project's own positions (listing key -> quantity) on ``account`` (every account when
    the session's account is not known)."""
    query, params = ((_PROJECT_POSITIONS_ON, {"project_id": project_id, "account": account}) if account
                     else (_PROJECT_POSITIONS, {"project_id": project_id}))
    out: dict[str, Decimal] = {}
    for symbol, quantity in fetch_all(session, query, params):
        out[symbol] = out.get(symbol, Decimal(0)) + quantity
    return out


def other_holders(session, key: str, account: str | None, project_id: int | None) -> dict[str, Decimal]:
    """The projects other than ``project_id`` whose books hold the listing ``key`` long on
    ``account`` (every real account when not known), by name: where a sale that goes short in
    ``project_id``'s book finds the account's shares (services.core.books.held_in_other_books)."""
    where = _POSITIONS.c.account == account if account else not_backtest(_POSITIONS.c.account)
    query = (select(Project.name, _POSITIONS.c.quantity).join(Project, Project.id == _POSITIONS.c.project_id)
             .where(where, _POSITIONS.c.symbol == key, _POSITIONS.c.quantity > 0))
    if project_id is not None:
        query = query.where(_POSITIONS.c.project_id != project_id)
    out: dict[str, Decimal] = {}
    for name, quantity in session.execute(query):
        out[name] = out.get(name, Decimal(0)) + quantity
    return out


def held_in_books(session, key: str, account: str | None) -> Decimal:
    """What every project's book together holds of the listing ``key`` on ``account`` (every
    real account when not known): the account's position less this is unassigned (bought in
    TWS, by another client, not booked yet), which a sale that goes short in its project's book
    could sell once assigned (services.core.books.held_unassigned)."""
    where = _POSITIONS.c.account == account if account else not_backtest(_POSITIONS.c.account)
    query = select(func.sum(_POSITIONS.c.quantity)).where(where, _POSITIONS.c.symbol == key, _POSITIONS.c.project_id.is_not(None))
    return session.execute(query).scalar() or Decimal(0)


def held_marks(session, account: str | None) -> dict[str, Decimal]:
    """The price of each listing held on ``account`` (every real account when not known) as the
    positions panel values it: its stored mark (the last fill's price or a quote's), or its
    average cost while it was never marked (as a portfolio snapshot values it). One order's check
    (services.execution.order_risk) prices its own listing from the market and the holdings
    here: max_gross_exposure leaves a holding without a price out of its sum, and a quote of
    every held listing at each check would spend IB's market data lines."""
    where = _POSITIONS.c.account == account if account else not_backtest(_POSITIONS.c.account)
    query = (select(_POSITIONS.c.symbol, _POSITIONS.c.market_price, _POSITIONS.c.average_cost, _POSITIONS.c.marked_at)
             .where(where, _POSITIONS.c.quantity != 0))
    marks: dict[str, tuple[Decimal, datetime | None]] = {}
    for symbol, market_price, average_cost, marked_at in session.execute(query):
        price = market_price if market_price is not None else average_cost
        if price is None or price <= 0:
            continue
        seen = marks.get(symbol)
        # the rows of one listing share its mark (PositionRepository.mark): the newest one wins
        if seen is None or (marked_at is not None and (seen[1] is None or marked_at > seen[1])):
            marks[symbol] = (Decimal(price), marked_at)
    return {symbol: price for symbol, (price, _at) in marks.items()}


@dataclass(frozen=True, slots=True)
class WorkingOrder:
    """One order still working at the broker, or stored and still to be sent (``unsent``), or
    reported filled by IB before its executions were booked (``unbooked``), as the shares it
    would add to its project's book if it filled."""

    client_order_id: str
    project_id: int | None  # None: an order of no project (placed in TWS, entered by hand)
    key: str  # the listing key
    quantity: Decimal  # signed: what is left to fill plus what filled and is not booked yet, negative for a sell
    unsent: bool = False  # stored NEW, not sent yet: recovery or a resumed execute sends it
    # of ``quantity``, unsigned: what IB's orderStatus says filled and no booked execution holds
    # yet (the positions are booked from executions, which IB sends apart and may send later)
    unbooked: Decimal = Decimal(0)


# A NEW order is intent only when something will send it: an order of a run (recovery sends a
# stuck run's NEW orders, `execute RUN` resumes them, whatever the run's day), recovery's own
# replacement included (retry_count > 0). Nothing sends a NEW order of no run (an `order` command
# whose placeOrder failed: "the trader's to send again") nor a manual replace's NEW replacement
# (the replace action's: neither recovery nor a resumed run takes it), so they are not counted.
_STILL_TO_TRADE = or_(
    TradeOrder.status != OrderState.NEW,
    TradeOrder.run_id.is_not(None) & (TradeOrder.replaces_order_id.is_(None) | (TradeOrder.retry_count > 0)))

# What of an order the positions hold: the sum of its booked executions, a corrected one at its
# current revision only (the writer marks the revisions it replaced ``superseded`` and rebuilds the
# position without them). The writer books a fill into the positions in the transaction that
# stores it, so this sum and ``project_positions`` read in one session agree. Correlated: the
# fills' order_id index, a few rows per order.
_BOOKED = (select(func.sum(TradeFill.quantity))
           .where(TradeFill.order_id == TradeOrder.id, TradeFill.superseded.is_(False))
           .correlate(TradeOrder).scalar_subquery())
# what working_orders reads of an order: plain rows (order_spec reads the listing's columns)
_WORKING_COLUMNS = (TradeOrder.id, TradeOrder.client_order_id, TradeOrder.project_id, TradeOrder.symbol, TradeOrder.sec_type,
                    TradeOrder.exchange, TradeOrder.primary_exchange, TradeOrder.currency, TradeOrder.side, TradeOrder.quantity,
                    TradeOrder.status, TradeOrder.filled_quantity, TradeOrder.last_status_time, TradeOrder.created_at,
                    _BOOKED.label("booked"))


def working_orders(session, account: str | None, *, except_run: int | None = None,
                   except_orders: Iterable[str] = (), now: datetime | None = None) -> list[WorkingOrder]:
    """Every project's orders on ``account`` (every real account when it is not known) that
    still add to their project's book if they fill, with what they add: what its positions do not
    hold yet of what the order will or did buy or sell. The positions are booked from executions
    (``trade_fills``), while an order's status and ``filled_quantity`` may come first from IB's
    orderStatus (sent apart from execDetails, and often before it): counted from the status
    alone, an order reported filled whose execution was not booked yet was in neither the
    positions nor the working orders, and a preview in that gap built it again. So an order adds

    * ``quantity - filled_quantity``, what is left to fill, while it will or may still trade:
      working at the broker, or stored NEW and still to be sent (``INTENT_ORDER_STATES``,
      ``_STILL_TO_TRADE``); plus
    * ``filled_quantity - booked`` (``unbooked``), what IB reported filled and no booked
      execution holds yet (``_BOOKED``), in any state (FILLED, and CANCELED or EXPIRED after a
      partial fill, included), while the order's last status change (its creation when it has
      none) falls in the current trading day (``trading_day_start(now)``): the executions of the
      day come in its execDetails or, after a reconnection, in reconciliation's reqExecutions,
      which asks for the day's. One whose executions never came (lost, an earlier day's) is not
      counted forever: reconciliation sets the account's position to the broker's, never a
      project's, and the project's book stays without them (assign the shares to it).

    ``except_run``: the run being previewed (its own orders are the ones the preview is about);
    ``except_orders``: client order ids left out (an order being replaced: its replacement is
    the order checked). One query (docs/project-books.md)."""
    day_start = trading_day_start(now)
    where = [not_backtest(TradeOrder.account)]
    if account:
        where.append(TradeOrder.account == account)
    if except_run is not None:  # an order of no run (placed in TWS, entered by hand) is never the run's
        where.append(or_(TradeOrder.run_id.is_(None), TradeOrder.run_id != except_run))
    except_orders = list(except_orders)
    if except_orders:
        where.append(TradeOrder.client_order_id.not_in(except_orders))
    # two parts that never share an order, each read through its own index (status; updated_at,
    # which a status change today wrote): one OR of both made the database read every order ever
    # stored. The first: the orders that will or may still trade; the second: any other order
    # reported filled beyond what is booked, its last status change of the trading day
    intent = select(*_WORKING_COLUMNS).where(TradeOrder.status.in_(INTENT_ORDER_STATES), _STILL_TO_TRADE, *where)
    unbooked_today = select(*_WORKING_COLUMNS).where(
        TradeOrder.updated_at >= day_start, TradeOrder.status.not_in(INTENT_ORDER_STATES), TradeOrder.filled_quantity > 0,
        TradeOrder.filled_quantity > func.coalesce(_BOOKED, 0),
        func.coalesce(TradeOrder.last_status_time, TradeOrder.created_at) >= day_start, *where)
    zero = Decimal(0)
    out = []
    # in id order, sorted here: an ORDER BY of the union made SQLite read the second part by id,
    # every order ever stored, instead of through its index
    for order in sorted(session.execute(union_all(intent, unbooked_today)), key=lambda row: row.id):
        state = OrderState(order.status)
        filled = order.filled_quantity or zero
        left = order.quantity - filled if state in INTENT_ORDER_STATES else zero
        # the second part's bound, for the first's orders
        today = (order.last_status_time or order.created_at) >= day_start
        unbooked = max(zero, filled - (order.booked or zero)) if today else zero
        if left > 0 or unbooked > 0:
            out.append(WorkingOrder(order.client_order_id, order.project_id, order_spec(order).key,
                                    Side(order.side).sign * (max(left, zero) + unbooked), state is OrderState.NEW, unbooked))
    return out


def net_quantities(orders: Iterable[WorkingOrder]) -> dict[str, Decimal]:
    """Listing key -> the signed quantity ``orders`` would add together if they filled."""
    out: dict[str, Decimal] = {}
    for order in orders:
        out[order.key] = out.get(order.key, Decimal(0)) + order.quantity
    return out


def buying_quantities(orders: Iterable[WorkingOrder]) -> dict[str, Decimal]:
    """Listing key -> what the buys among ``orders`` still buy, gross: never netted against the
    sells (the short-sale rule counts on no working buy, netted or not)."""
    return net_quantities(o for o in orders if o.quantity > 0)


def working_quantities(session, account: str | None, *, except_run: int | None = None,
                       except_orders: Iterable[str] = ()) -> dict[str, Decimal]:
    """``working_orders`` as the shares they would add if they filled: listing key -> signed
    quantity left. The account-level exposure counts every project's, unsent ones included
    (docs/project-books.md): two projects' orders in flight at once must not each pass alone."""
    return net_quantities(working_orders(session, account, except_run=except_run, except_orders=except_orders))


@dataclass(frozen=True, slots=True)
class StoredRates:
    """The exchange rates an account last reported, as the equity recorder stored them."""

    account: str
    fx: FxRates
    rated_at: datetime


def stored_rates_by_account(db) -> dict[str, StoredRates]:
    """Each account's rates as stored last (account -> its rates; an account never sampled is
    absent): what a process with no broker to ask (the ``positions`` command) converts each
    account's lines at, and the window the lines of an account it is not connected to."""
    with db.session() as session:
        return {row[0]: _stored(row) for row in EquityRepository(session).every_accounts_rates()}


def _stored(row: tuple[str, str, dict[str, Decimal], datetime]) -> StoredRates:
    account, base, rates, when = row
    return StoredRates(account, FxRates(base, rates, as_of=when), when)


@dataclass(frozen=True, slots=True)
class ProjectBook:
    """One project's money, summed as the window's positions tree sums the project's group
    (``services.console_books.BookGroup.figures``, one rule): its capital (None: not set), and
    ``figures``: the market value, unrealized and realized P&L in one currency (the lines' own,
    else the base currency at the account's rates; None with a rate missing: "mixed") and the
    cash in the base currency (None without a capital or with a rate missing)."""

    project: str
    capital: Decimal | None
    figures: GroupFigures

    @property
    def cash(self) -> Decimal | None:
        return self.figures.cash

    @property
    def realized_pnl(self) -> Decimal | None:
        return self.figures.realized_pnl


def project_books(db, fx: Rates = None) -> tuple[ProjectBook, ...]:
    """Every project's book, by name, each account's lines at that account's rates ``fx``
    (``services.console_books.Rates``; None: each account's as stored last, an account without
    any stored: its base currency not known, as the window has it before the broker said, and a
    project's cash in it not worked out)."""
    if fx is None:
        fx = {account: stored.fx for account, stored in stored_rates_by_account(db).items()}
    with db.session() as session:
        projects = ProjectRepository(session).list(with_backtest_only=False)
        capitals = {p.name: p.capital for p in projects}
        names = {p.id: p.name for p in session.scalars(select(Project))}
        records = [to_position_record(p) for p in session.scalars(select(Position).where(not_backtest(Position.account)))]
    groups = {g.name: g for g in position_tree(records, names, capitals, fx) if g.kind == "project"}
    return tuple(ProjectBook(name, capitals[name], groups.get(name, BookGroup("project", name, (), capitals[name], fx)).figures())
                 for name in sorted(capitals))


class BooksService:
    def __init__(self, db, actor: str) -> None:
        self.db = db
        self.actor = actor

    def capitals(self) -> dict[str, Decimal | None]:
        with self.db.session() as session:
            return {p.name: p.capital for p in ProjectRepository(session).list(with_backtest_only=False)}

    def set_capitals(self, changes: Mapping[str, object], *, session=None) -> dict[str, Decimal | None]:
        """Set (or clear, with None / ``off``) the capital of existing projects, all or nothing,
        audited. Returns every project's capital. With ``session``, inside the caller's unit of
        work (which the caller runs again after a lock conflict, if it does)."""
        parsed = {name: parse_capital(value) for name, value in changes.items()}
        if session is None:
            self._store_capitals_alone(parsed)
        else:
            self._store_capitals(session, parsed)
        return self.capitals()

    @retry_lock_conflicts  # one unit of work of the database alone: runs again from scratch
    def _store_capitals_alone(self, parsed: dict[str, Decimal | None]) -> None:
        with self.db.unit_of_work() as session:
            self._store_capitals(session, parsed)

    def _store_capitals(self, session, parsed: dict[str, Decimal | None]) -> None:
        from services.execution.audit import audit

        projects = {p.name: p for p in session.scalars(select(Project).where(Project.name.in_(list(parsed))))} if parsed else {}
        missing = sorted(set(parsed) - set(projects))
        if missing:
            raise BooksError("; ".join(unknown_project(name, _trader_projects(session)) for name in missing))
        changed = {}
        for name, capital in parsed.items():
            if projects[name].capital != capital:
                projects[name].capital = capital
                changed[name] = None if capital is None else str(capital)
        if changed:
            audit(self.db, self.actor, AuditAction.PROJECT_CAPITAL, "project", None, {"capital": changed}, session=session)

    def unassigned(self, account: str | None = None) -> list[BookLine]:
        with self.db.session() as session:
            return unassigned_lines(*book_lines(session, account))

    def assign_typed(self, symbol: str, quantity: str, project: str, cost: str, account: str | None = None) -> Assignment:
        """``assign`` with the quantity and the cost per share as typed in the window's Assign
        dialog (the ``assign`` command's parser reads its own): the same assignment, audited,
        and its refusals as a BooksError for the dialog to show."""
        if not project.strip():
            raise BooksError("choose the project whose book takes the shares")
        return self.assign(symbol, typed_assignment_number("quantity", quantity), project.strip(),
                           typed_assignment_number("cost per share", cost), account)

    def assign(self, symbol: str, quantity: Decimal, project: str, cost: Decimal, account: str | None = None) -> Assignment:
        """Move ``quantity`` unassigned shares of ``symbol`` (a listing key; negative: a short)
        into ``project``'s book at ``cost`` per share. The project's position books them as an
        opening fill; the account's row is unchanged (it held them already)."""
        if not quantity or not quantity.is_finite():
            raise BooksError("the quantity to assign must be a non-zero number")
        if not cost.is_finite() or cost <= 0:
            raise BooksError(f"the cost must be a positive price per share, got {cost}")
        # what the assignment's columns keep (SQLite's smaller range: both databases alike): a
        # finer number was stored rounded, the audit entry saying it as typed
        columns = PositionAssignment.__table__.c
        for name, value in (("quantity", quantity), ("cost", cost)):
            problem = storage_problem(name, f"{value:f}", value, numeric_limit(columns[name]))
            if problem is not None:
                raise BooksError(problem[1])
        if project == UNASSIGNED:
            raise BooksError(f"{UNASSIGNED!r} is not a project: name the project that takes the shares")
        # as typed: listing keys and IB account ids are upper case (a lower-case "aapl" found no
        # unassigned share on SQLite, and on MariaDB's case-blind collation was booked as "aapl")
        symbol, account = symbol.strip().upper(), (account or "").strip().upper() or None
        return self._assign(symbol, quantity, project, cost, account)

    # One unit of work of the database alone: a lock wait or a deadlock (its audit entry waiting
    # for the chain's head another writer holds) rolls back the assignment, the project's position
    # and the entry together, and it runs again from scratch, reading the unassigned shares anew.
    @retry_lock_conflicts
    def _assign(self, symbol: str, quantity: Decimal, project: str, cost: Decimal, account: str | None) -> Assignment:
        from services.execution.audit import audit

        with self.db.unit_of_work() as session:
            target = session.scalars(select(Project).where(Project.name == project)).one_or_none()
            if target is None:
                raise BooksError(unknown_project(project, _trader_projects(session)))
            rows = list(session.scalars(select(Position).where(Position.symbol == symbol, *(
                [Position.account == account] if account else [])).with_for_update()))
            held = {r.account: r.quantity for r in rows if r.project_id is None}
            rest = {a: q - sum((r.quantity for r in rows if r.project_id is not None and r.account == a), Decimal(0))
                    for a, q in held.items()}
            candidates = {a: q for a, q in rest.items() if q}
            if account is None and len(candidates) > 1:
                raise BooksError(f"{symbol} is unassigned on several accounts ({', '.join(sorted(candidates))}): name one with --account")
            where = account or (next(iter(candidates)) if candidates else "")
            free = rest.get(where, Decimal(0))
            if not free or (free > 0) != (quantity > 0) or abs(quantity) > abs(free):
                place = f" on account {where}" if where else ""
                raise BooksError(f"not enough unassigned {symbol}{place}: {free.normalize():f} unassigned, "
                                 f"{quantity.normalize():f} asked (see `trading-console positions --project {UNASSIGNED}`)")
            repo = PositionRepository(session)
            row = repo.get(where, symbol, project_id=target.id)
            state = PositionState() if row is None else PositionState(row.quantity, row.average_cost, row.realized_pnl)
            state, _ = apply_fill(state, quantity, cost, Decimal(0))
            record = PositionAssignment(project_id=target.id, account=where, symbol=symbol, quantity=quantity, cost=cost,
                                        actor=self.actor[:64])
            session.add(record)
            session.flush()
            repo.upsert(where, symbol, state.quantity, state.average_cost, realized_pnl=state.realized_pnl, project_id=target.id)
            audit(self.db, self.actor, AuditAction.POSITION_ASSIGN, "position_assignment", record.id,
                  {"project": project, "account": where, "symbol": symbol, "quantity": str(quantity), "cost": str(cost),
                   "unassigned_before": str(free)}, session=session)
            return Assignment(record.id, project, where, symbol, quantity, cost, state.quantity, free - quantity)


def _trader_projects(session) -> list[str]:
    """The names of the trader's projects (a backtest's own left out), for ``unknown_project``."""
    return [p.name for p in ProjectRepository(session).list(with_backtest_only=False)]
