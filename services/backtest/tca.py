"""Transaction cost analysis of a paper or live run: per order, the plan's reference price, the
average fill price and the implementation shortfall (in basis points of the reference and in
the listing's currency, positive = a cost), and beside it what the same day's backtest of the
same plan would have filled at (the bar of the order's listing, its close or next open, after
the backtest's slippage, for an order with a limit only within its limit, else not filled and
said why: ``services.backtest.costs.simulated_order_fill``, the backtest broker's rule);
totals per run, the run's and the backtest's set side by side on the same orders. IB's
commissions of the order's executions are shown beside the shortfall, never in it; a
replacement order is measured against the plan of the order it replaced. The bars come
from a file (``tca --prices``) or from the price cache (``cached_tca``: the window's TCA view and
``tca`` without a file). ``ShownTca``: whether what the writer committed makes a shown TCA stale
(a commission report coming after the run settled), for the window's TCA view."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from services.core.contracts import MissingRate, rate_to_base
from services.core.shortfall import shortfall, shortfall_bps
from services.core.trading_hours import calendar_name, calendar_zone, is_session_day, next_session
from services.db.models import TradeFill, TradeOrder, TradeRun
from services.db.repositories.runs import run_base_currency
from services.db.types import as_decimal
from services.domain import FillRecord, OrderRecord, Side
from services.execution.listings import order_spec

from .costs import FillAt, fill_session, simulated_order_fill
from .prices import PriceBook
from .tca_text import NOT_COMPARED

COMPARED_MODES = ("paper", "live")  # a backtest run has nothing to be compared with
ZERO = Decimal(0)
ONE = Decimal(1)
BPS_PLACES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class TcaLine:
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    filled: Decimal
    reference_price: Decimal | None
    fill_price: Decimal | None
    shortfall_bps: Decimal | None
    shortfall: Decimal | None  # in the listing's currency, for the filled quantity
    backtest_price: Decimal | None = None
    backtest_shortfall_bps: Decimal | None = None
    backtest_shortfall: Decimal | None = None  # the backtest's fill for the same filled quantity
    # base-currency units per unit of the listing's currency (the plan's); None: none recorded (a
    # plan without one, of a run stored without its rates) for a listing not in the base currency:
    # its figures stay in its currency, outside the run's totals
    fx_rate: Decimal | None = ONE
    status: str = ""  # the order's state (OrderState): what became of what did not fill
    currency: str = "USD"  # the listing's: of the prices, the shortfalls and the commission
    # IB's commissions of the order's executions (a corrected one at its correction), as its
    # commission reports gave them; None: none reported. Not part of the shortfall.
    commission: Decimal | None = None
    commissions_unreported: int = 0  # executions whose commission report has not come
    # commissions reported in a currency the run has no rate for, per currency (sorted): reported,
    # but in neither ``commission`` nor the totals (a sum in another currency would be false)
    commissions_not_counted: tuple[tuple[str, Decimal], ...] = ()
    fill_days: tuple[str, ...] = ()  # the days (at its exchange) the order's executions came on
    replaced_by: str | None = None  # the client order id of the order that took its remainder
    # why the backtest would not have filled it though it had a price (the plan's limit not
    # reached: simulated_order_fill's words); None: it would have, or it had no bar
    backtest_not_filled: str | None = None

    def filled_another_day(self, trade_date: str) -> bool:
        return any(day != trade_date for day in self.fill_days)

    def to_dict(self) -> dict:
        def s(v):
            return None if v is None else str(v)

        return {"client_order_id": self.client_order_id, "symbol": self.symbol, "side": str(self.side),
                "status": self.status, "currency": self.currency,
                "quantity": s(self.quantity), "filled": s(self.filled), "reference_price": s(self.reference_price),
                "fill_price": s(self.fill_price), "shortfall_bps": s(self.shortfall_bps), "shortfall": s(self.shortfall),
                "backtest_price": s(self.backtest_price), "backtest_shortfall_bps": s(self.backtest_shortfall_bps),
                "backtest_shortfall": s(self.backtest_shortfall), "fx_rate": s(self.fx_rate),
                "commission": s(self.commission), "commissions_unreported": self.commissions_unreported,
                "commissions_not_counted": {currency: str(amount) for currency, amount in self.commissions_not_counted},
                "fill_days": list(self.fill_days), "replaced_by": self.replaced_by,
                "backtest_not_filled": self.backtest_not_filled}


@dataclass(frozen=True, slots=True)
class TcaReport:
    run_id: int
    mode: str
    trade_date: str
    lines: tuple[TcaLine, ...]
    base_currency: str = "USD"  # of the totals (the plan's; each line converted at its plan's rate)
    order_ids: frozenset[int] = frozenset()  # the run's orders as read: what a later change must touch (ShownTca)

    @property
    def commission(self) -> Decimal | None:
        """IB's commissions reported for the run's executions, in the base currency (None: none
        reported); beside the shortfall, not in it."""
        paid = [line.commission * line.fx_rate for line in self.lines if line.commission is not None and line.fx_rate is not None]
        return sum(paid, ZERO) if paid else None

    @property
    def commissions_unreported(self) -> int:
        return sum(line.commissions_unreported for line in self.lines)

    @property
    def commissions_not_counted(self) -> dict[str, Decimal]:
        """IB's commissions in currencies the run has no rate for, summed per currency: reported,
        outside ``commission`` (which cannot hold them), and said so."""
        amounts: dict[str, Decimal] = {}
        for line in self.lines:
            for currency, amount in line.commissions_not_counted:
                amounts[currency] = amounts.get(currency, ZERO) + amount
        return dict(sorted(amounts.items()))

    @property
    def measured(self) -> bool:
        """Whether any fill was measured against its reference and can be counted in the base
        currency (none: the run has no shortfall)."""
        return any(line.shortfall is not None for line in self._converted())

    def _converted(self) -> list[TcaLine]:
        """The lines the totals can hold: those with a rate to the base currency."""
        return [line for line in self.lines if line.fx_rate is not None]

    @property
    def orders_not_converted(self) -> dict[str, int]:
        """Filled orders left out of the totals for want of a recorded rate to the base currency,
        counted per listing currency (sorted): their lines keep their own currency."""
        counts: dict[str, int] = {}
        for line in self.lines:
            if line.fx_rate is None and line.filled:
                counts[line.currency] = counts.get(line.currency, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def orders_not_measured(self) -> int:
        """Filled orders without a shortfall (no reference price in their plan, or no average
        price from the broker yet): outside the run's totals, and said so."""
        return sum(1 for line in self.lines if line.filled and line.shortfall is None)

    @property
    def orders_filled_another_day(self) -> int:
        """Orders with an execution on another day than the run's: set beside the backtest's
        fill of the run's day all the same (the same plan's backtest), and said so."""
        return sum(1 for line in self.lines if line.filled_another_day(self.trade_date))

    @property
    def shortfall(self) -> Decimal:
        """The run's shortfall in the base currency (each order's at its plan's exchange rate)."""
        return sum((line.shortfall * line.fx_rate for line in self.lines
                    if line.shortfall is not None and line.fx_rate is not None), ZERO)

    @property
    def shortfall_bps(self) -> Decimal | None:
        """Shortfall over the filled reference notional, both in the base currency (as the run's
        progress measures its slippage: services.core.shortfall)."""
        notional = sum((line.filled * line.reference_price * line.fx_rate for line in self.lines
                        if line.reference_price and line.shortfall is not None and line.fx_rate is not None), ZERO)
        bps = shortfall_bps(self.shortfall, notional)
        return None if bps is None else bps.quantize(BPS_PLACES)

    @property
    def compared(self) -> bool:
        """A paper or live run (a backtest run is the comparison, not its subject)."""
        return self.mode in COMPARED_MODES

    @property
    def not_compared(self) -> str | None:
        """Why the run has no TCA (a backtest run), None for a paper or live run: what
        ``tca --run`` refuses with (exit 2) and the window's TCA tab says."""
        if self.compared:
            return None
        return f"run {self.run_id} is a {self.mode} run: {NOT_COMPARED}"

    @property
    def filled(self) -> bool:
        """Whether any order of the run filled (none: there is nothing to compare)."""
        return any(line.filled for line in self.lines)

    def _both_priced(self) -> list[TcaLine]:
        """The orders the run's and the backtest's totals are compared on: a shortfall of each
        (filled, with a reference, and a bar of the listing on the fill day)."""
        return [line for line in self._converted() if line.shortfall is not None and line.backtest_shortfall is not None]

    @property
    def orders_compared(self) -> int:
        return len(self._both_priced())

    @property
    def orders_without_bar(self) -> int:
        """Filled orders the backtest has no price for (no bar of their listing on the fill
        day): left out of both compared totals, not counted as zero on one side only."""
        return sum(1 for line in self._converted() if line.shortfall is not None and line.backtest_shortfall is None
                   and line.backtest_not_filled is None)

    @property
    def orders_beyond_limit(self) -> int:
        """Filled orders the backtest had a price for but would not have filled (beyond the
        plan's limit): left out of both compared totals as one without a bar is, and counted
        apart (a zero or a price the backtest never gives would falsify its side)."""
        return sum(1 for line in self._converted() if line.shortfall is not None and line.backtest_not_filled is not None)

    @property
    def compared_shortfall(self) -> Decimal | None:
        """The run's shortfall over the orders the backtest priced too, in the base currency
        (None: none): what ``backtest_shortfall`` is set beside."""
        both = self._both_priced()
        return sum((line.shortfall * line.fx_rate for line in both), ZERO) if both else None  # type: ignore[operator]

    @property
    def backtest_shortfall(self) -> Decimal | None:
        """The backtest's shortfall over the same orders as ``compared_shortfall``, in the base
        currency (None: no bars)."""
        both = self._both_priced()
        return sum((line.backtest_shortfall * line.fx_rate for line in both), ZERO) if both else None  # type: ignore[operator]

    def to_dict(self) -> dict:
        def s(v):
            return None if v is None else str(v)

        return {"run_id": self.run_id, "mode": self.mode, "trade_date": self.trade_date, "compared": self.compared,
                "base_currency": self.base_currency, "filled": self.filled, "orders": [line.to_dict() for line in self.lines],
                # nothing filled, or no fill measured: no shortfall, not a cost of nothing
                "totals": {"shortfall": s(self.shortfall) if self.measured else None, "shortfall_bps": s(self.shortfall_bps),
                           "compared_shortfall": s(self.compared_shortfall), "backtest_shortfall": s(self.backtest_shortfall),
                           "orders_compared": self.orders_compared, "orders_without_bar": self.orders_without_bar,
                           "orders_beyond_limit": self.orders_beyond_limit,
                           "commission": s(self.commission), "commissions_unreported": self.commissions_unreported,
                           "commissions_not_counted": {currency: str(amount) for currency, amount
                                                       in self.commissions_not_counted.items()},
                           "commission_in_shortfall": False, "orders_not_measured": self.orders_not_measured,
                           "orders_filled_another_day": self.orders_filled_another_day,
                           "orders_not_converted": self.orders_not_converted}}


def _bps(side: Side, price: Decimal, reference: Decimal) -> Decimal:
    """One share's shortfall in bps of its reference, to the hundredth."""
    return (shortfall_bps(shortfall(side, price, reference, ONE), reference) or ZERO).quantize(BPS_PLACES)


def _plan_draft(order: TradeOrder, by_id: dict[int, TradeOrder]) -> dict:
    """The plan's draft ``order`` was sent for: its own, else that of the order it replaces, up
    its replacement chain (a cancel-and-new replace stores its new order without the plan's
    draft, ``draft_params``; recovery's copies it). As the run's progress finds its plan
    (services.run_progress)."""
    seen: set[int] = set()
    current: TradeOrder | None = order
    while current is not None and current.id not in seen:
        draft = (current.params or {}).get("draft") or {}
        if draft.get("reference_price"):
            return draft
        seen.add(current.id)
        current = by_id.get(current.replaces_order_id) if current.replaces_order_id else None
    return {}


def _base_currency(session, run: TradeRun, orders: list[TradeOrder]) -> str:
    """The currency of the run's totals: its plan's base (``params["fx"]``), else (a ticket's run
    stored before it kept one) the base its account last reported, else USD (run_base_currency)."""
    return run_base_currency(session, run, next((order.account for order in orders if order.account), None))


def _run_rates(run: TradeRun) -> dict[str, Decimal]:
    """The exchange rates the run's plan was built at (``params["fx"]["rates"]``: base-currency
    units per unit of each currency), as the planning stored them; none for a run without them."""
    stored = ((run.params or {}).get("fx") or {}).get("rates") or {}
    return {str(currency): as_decimal(rate) for currency, rate in stored.items() if rate is not None}


def _fill_rows(session, order_ids: list[int]) -> dict[int, list[tuple[Decimal | None, str, datetime]]]:
    """Per order, the commission (None: no commission report yet), its currency and the time of
    each counted execution (a superseded revision counts for nothing, as in the fills' totals)."""
    rows: dict[int, list[tuple[Decimal | None, str, datetime]]] = {}
    if order_ids:
        for order_id, commission, currency, when in session.execute(
                select(TradeFill.order_id, TradeFill.commission, TradeFill.currency, TradeFill.fill_time)
                .where(TradeFill.order_id.in_(order_ids), TradeFill.superseded.is_(False))):
            rows.setdefault(order_id, []).append((commission, currency, when))
    return rows


def _fill_days(rows: list[tuple[Decimal | None, str, datetime]], order: TradeOrder, run_day: date) -> tuple[str, ...]:
    """The days of the order's executions at its exchange (19:30 in New York is that day, though
    00:30 UTC is the next). An execution on a day its exchange is closed belongs to the next
    session, as a run started that day does (``trading_day``): only the simulator's always-open
    demo fills on a Saturday, and its weekend run is Monday's. The calendar is asked only about
    a day other than the run's (building it takes half a second)."""
    if not rows:
        return ()
    calendar = calendar_name(order.primary_exchange or "", order.currency)
    zone = calendar_zone(calendar)
    days = {when.astimezone(zone).date() for _c, _cur, when in rows}
    return tuple(sorted({(day if day == run_day or is_session_day(day, calendar) else next_session(day, calendar)).isoformat()
                         for day in days}))


def _line_rate(draft: dict, listing: str, base: str, run_rates: dict[str, Decimal]) -> Decimal | None:
    """Base-currency units per unit of the order's ``listing`` currency: its plan's rate, else (a
    plan that recorded none) 1 for the base currency itself or the run's stored rate; None when
    none was recorded. Never 1 by default: a run stored without ``params["fx"]`` added a USD
    shortfall to EUR totals at 1:1, and the account's rate of today is not the run's."""
    if draft.get("fx_rate"):
        return as_decimal(draft["fx_rate"])
    try:
        return rate_to_base(listing, run_rates, base)
    except MissingRate:
        return None


def _commission(rows: list[tuple[Decimal | None, str, datetime]], listing: str, base: str, rate: Decimal | None,
                run_rates: dict[str, Decimal]) -> tuple[Decimal | None, int, tuple[tuple[str, Decimal], ...]]:
    """An order's commissions in its listing's currency (None: none counted), how many of its
    executions have no commission report yet, and the reported ones that cannot be counted, per
    currency. IB reports each in a currency of its own (the writer keeps it as the fill's): the
    listing's counts as it is; another goes to the base currency at the run's rates (the base's
    own at 1: ``rate_to_base``, as the plan converted) and from there to the listing's at the
    plan's ``rate``; one in a currency the run has no rate for (or, without a ``rate``, any other
    than the listing's) was reported all the same, and is kept apart in its own currency, not
    counted as one not reported yet."""
    paid: Decimal | None = None
    unreported = 0
    not_counted: dict[str, Decimal] = {}
    for commission, currency, _when in rows:
        if commission is None:
            unreported += 1
            continue
        if currency == listing:
            paid = (paid or ZERO) + commission
            continue
        try:
            to_base = rate_to_base(currency, run_rates, base)
        except MissingRate:
            to_base = None
        if to_base is None or rate is None:
            not_counted[currency] = not_counted.get(currency, ZERO) + commission
            continue
        paid = (paid or ZERO) + commission * to_base / rate
    return paid, unreported, tuple(sorted(not_counted.items()))


def run_tca(db, run_id: int, prices: PriceBook | None = None, fill: FillAt = FillAt.CLOSE,
            slippage_bps: Decimal = ZERO) -> TcaReport:
    """Raises LookupError for an unknown run."""
    with db.session() as session:
        run = session.get(TradeRun, run_id)
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        orders = list(session.scalars(select(TradeOrder).where(TradeOrder.run_id == run_id).order_by(TradeOrder.id)))
        day = run.trade_date
        mode = str(run.mode)
        base = _base_currency(session, run, orders)
        run_rates = _run_rates(run)
        fills = _fill_rows(session, [order.id for order in orders])
    by_id = {order.id: order for order in orders}
    replacements = {order.replaces_order_id: order.client_order_id for order in orders if order.replaces_order_id}
    fill_day = fill_session(day, fill)
    lines = []
    for order in orders:
        side = Side(order.side)
        draft = _plan_draft(order, by_id)
        reference = as_decimal(draft["reference_price"]) if draft.get("reference_price") else None
        rate = _line_rate(draft, order.currency, base, run_rates)
        filled = order.filled_quantity
        price = order.avg_fill_price if filled else None
        fill_bps = fill_shortfall = None
        if reference and price is not None:
            fill_bps = _bps(side, price, reference)
            fill_shortfall = shortfall(side, price, reference, filled)
        backtest = backtest_bps = backtest_shortfall = not_filled = None
        if prices is not None:
            # the order's listing, as the backtest keys its bars: a CAD SHOP is not the US SHOP;
            # the plan's type and limit, as the same plan's backtest places it (a modified limit
            # is the run's, not the plan's), else (a draft without them) the order's own
            order_type = draft.get("order_type") or order.order_type
            limit = draft.get("limit_price") if draft.get("order_type") else order.limit_price
            simulated = simulated_order_fill(prices, order_spec(order).key, fill_day, fill, side, slippage_bps,
                                             order_type, as_decimal(limit))
            backtest, not_filled = simulated.price, simulated.not_filled
            if backtest is not None and reference:
                backtest_bps = _bps(side, backtest, reference)
                # on the quantity the run filled: an order that filled nothing has no cost to set
                # beside (its price and bps say what the backtest would have paid), not a zero one
                backtest_shortfall = shortfall(side, backtest, reference, filled) if filled else None
        executions = fills.get(order.id, [])
        commission, unreported, not_counted = _commission(executions, order.currency, base, rate, run_rates)
        lines.append(TcaLine(order.client_order_id, order.symbol, side, order.quantity, filled, reference,
                             price, fill_bps, fill_shortfall, backtest, backtest_bps, backtest_shortfall, rate,
                             str(order.status), order.currency, commission, unreported, not_counted,
                             _fill_days(executions, order, day), replacements.get(order.id), not_filled))
    return TcaReport(run_id, mode, day.isoformat(), tuple(lines), base, frozenset(by_id))


def cached_tca(db, run_id: int, fill: FillAt = FillAt.CLOSE, slippage_bps: Decimal = ZERO) -> TcaReport:
    """``run_tca`` with the price cache's daily bars of the run's listings (the backtest column is
    empty where the cache has no bar for the fill day). Raises LookupError for an unknown run."""
    from services import price_cache

    with db.session() as session:
        run = session.get(TradeRun, run_id)
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        day = run.trade_date
        listings = sorted({order_spec(o).key for o in session.scalars(select(TradeOrder).where(TradeOrder.run_id == run_id))})
    fill_day = fill_session(day, fill)
    bars = price_cache.load_bars(db, listings, fill_day, fill_day) if listings else []
    return run_tca(db, run_id, PriceBook(bars), fill, slippage_bps)


class ShownTca:
    """Whether the TCA a window shows is behind what the writer has committed since it was read:
    a commission report of one of its run's executions (IB sends it after the execution, at
    times seconds after the run has settled and its TCA was shown), an execution or a correction
    of one, an order of the run changed. Qt-free: the window hands it each committed change set
    and reads the run's TCA again when it says so (coalesced: a burst of commission reports, one
    per execution, is one read). A change committed while a read is under way may be in that
    read's answer or not: it is kept, and weighed against the answer once that is shown."""

    def __init__(self) -> None:
        self.run_id: int | None = None  # the run shown (None: none)
        self._order_ids: frozenset[int] = frozenset()
        self._reading = False
        # what was committed during the newest read, by the ids a report is matched on: bounded
        # by the orders and runs touched, however many changes come
        self._orders_while_reading: set[int] = set()
        self._runs_while_reading: set[int] = set()

    def asked(self) -> None:
        """A read of a run's TCA starts: what is committed from now on may be missing in its
        answer (what was committed before, a read started now sees)."""
        self._reading = True
        self._orders_while_reading.clear()
        self._runs_while_reading.clear()

    def shown(self, report: TcaReport) -> bool:
        """The newest read's ``report`` is shown; True: a change committed during the read
        touches its run, so its answer may lack it (read it again)."""
        self.run_id, self._order_ids, self._reading = report.run_id, report.order_ids, False
        stale = bool(self._orders_while_reading & self._order_ids) or report.run_id in self._runs_while_reading
        self._orders_while_reading.clear()
        self._runs_while_reading.clear()
        return stale

    def cleared(self) -> None:
        """No run's TCA is shown (an unknown run was asked for)."""
        self.run_id, self._order_ids, self._reading = None, frozenset(), False
        self._orders_while_reading.clear()
        self._runs_while_reading.clear()

    def stale_after(self, orders: Iterable[OrderRecord], fills: Iterable[FillRecord]) -> bool:
        """Whether the shown TCA is stale once these committed changes are in the database: a
        fill of one of its orders (a commission report rewrites its execution's row) or an order
        of its run."""
        order_ids = {fill.order_id for fill in fills}
        run_ids = {order.run_id for order in orders if order.run_id is not None}
        if self._reading:
            self._orders_while_reading |= order_ids
            self._runs_while_reading |= run_ids
        return self.run_id is not None and (bool(order_ids & self._order_ids) or self.run_id in run_ids)
