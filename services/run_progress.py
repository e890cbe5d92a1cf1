"""Run progress and slippage, computed once and Qt-free: the window's controller feeds it the
writer's change sets and hands the immutable result to the panels.

Every execution counts once, keyed by its base exec id: a correction (a later revision of the
same execution) replaces the earlier revision instead of adding to it. Slippage is volume
weighted against each order's reference price (the plan's), signed so that a positive number is a
cost (bought above, or sold below, the reference). Notionals are in the base currency (the
order's exchange rate from the plan).

Progress counts the filled shares at the plan's reference prices, as the plan's gross notional
counts the planned ones: like with like, so a plan filled in full reads "48,863 of 48,863", never
"48,903 of 48,863 filled" (the fills' prices, a trader read that as overfilled). What the fills
cost at their own prices is ``traded_notional``; the difference is the slippage, said apart.

Only the plan's own orders count (and the replacements that descend from them): the day's run of
a snapshot is reused, so a second preview of the same snapshot is a new plan of the same run, and
the first plan's fills must not be compared with the second plan's (small) gross notional.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from services.core.positions_book import split_exec_id
from services.core.shortfall import shortfall, shortfall_bps
from services.core.wording import counted, grouped, price
from services.domain import FillRecord, OrderRecord, RunStatus, Side

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """What the plan said of one order: the reference price, the rate to the base currency."""

    symbol: str
    side: Side
    reference_price: Decimal | None
    fx_rate: Decimal = Decimal(1)
    #: the quantity planned (its notional is in the target): a trader's Replace of the order to
    #: another quantity moves the target by the difference (``RunProgress._target``); None: not known
    quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SymbolSlippage:
    symbol: str
    quantity: Decimal
    average_price: Decimal
    reference: Decimal | None
    bps: Decimal | None  # volume-weighted, positive = a cost

    def describe(self) -> str:
        if self.bps is None:
            return f"{grouped(self.quantity)} filled at {price(self.average_price)} (no reference price)"
        return (f"{grouped(self.quantity)} filled at {price(self.average_price)} (volume-weighted), "
                f"{self.bps:+.1f} bps vs reference {price(self.reference)}")


@dataclass(frozen=True, slots=True)
class ProgressSnapshot:
    run_id: int | None
    filled_notional: Decimal  # the filled shares at the plan's reference prices: compares with target_notional
    target_notional: Decimal
    working: int
    points: tuple[tuple[datetime, Decimal], ...]  # cumulative filled_notional over time
    fill_points: Mapping[str, tuple[tuple[datetime, Decimal], ...]] = field(default_factory=dict)
    references: Mapping[str, Decimal] = field(default_factory=dict)
    slippage: Mapping[str, SymbolSlippage] = field(default_factory=dict)
    slippage_bps: Decimal | None = None  # the whole run's, volume-weighted
    plan_id: int | None = None  # the plan followed (a run's second plan is told apart from its first)
    status: RunStatus | None = None  # the run's stored state, when read (a run followed again after a restart)
    traded_notional: Decimal = ZERO  # the same fills at their own prices (in the base currency)
    project: str | None = None  # whose run it is (None: not known), what the chart's tab says
    orders: int = 0  # the followed plan's orders seen (and their replacements), whatever became of them
    ended_unfilled: int = 0  # of them, final with nothing filled (canceled, rejected, blocked, expired)
    currency: str | None = None  # what the notionals are in: the run's base currency (None: not known)
    # of them, shown as the broker reports them (the database did not answer) with more filled
    # than their stored fills: what "filled" does not count yet, said beside it
    unrecorded_fills: int = 0

    @property
    def settled(self) -> bool:
        """Nothing of the run is working any more and something filled: its decision trail and
        its TCA against the backtest are final enough to show."""
        return self.run_id is not None and self.working == 0 and self.filled_notional > 0

    @property
    def amounts(self) -> str:
        """The filled notional against the target, in what they count: "0 of 1,141 USD". The one
        wording of the progress bar's line and the chart's (services.console_charts.nothing_filled),
        for a rebalance's run and a ticket's alike. Without the currency, a ticket's SELL 5 read
        "0 of 1,141 filled · 1 working": 1,141 read as shares, where it is the plan's notional."""
        return f"{self.filled_notional:,.0f} of {self.target_notional:,.0f}{_unit(self.currency)}"

    @property
    def text(self) -> str:
        if self.run_id is None:
            return ""
        plan = f", plan {self.plan_id}" if self.plan_id is not None else ""
        state = f" ({self.status})" if self.status is not None else ""
        text = f"run {self.run_id}{plan}{state}: {self.amounts} filled"
        if self.filled_notional:
            text += " at the plan's prices"
        if self.working:
            text += f" · {self.working} working"
        if self.unrecorded_fills:
            text += f" · {counted(self.unrecorded_fills, 'order')} with fills at the broker not recorded yet"
        if self.slippage_bps is not None:
            text += f" · slippage {self.slippage_bps:+.1f} bps"
            if f"{self.traded_notional:,.0f}" != f"{self.filled_notional:,.0f}":
                text += f" ({self.traded_notional:,.0f}{_unit(self.currency)} at the fill prices)"
        return text


def _unit(currency: str | None) -> str:
    return f" {currency}" if currency else ""


class RunProgress:
    """The progress of one run's plan (the window's last sent one), from change sets."""

    def __init__(self) -> None:
        self.reset(None, {}, ZERO)

    def reset(self, run_id: int | None, planned: Mapping[str, PlannedOrder], target_notional: Decimal,
              plan_id: int | None = None, status: RunStatus | None = None, *, project: str | None = None,
              currency: str | None = None, ticket: bool = False) -> None:
        """A new run to follow; ``planned`` by client order id; ``status``: the run's stored
        state, when it was read (``set_status`` keeps it current); ``project``: whose run it is
        (a window may follow another project's run than the one it shows); ``currency``: the
        run's base currency, what its notionals are in (``ProgressSnapshot.amounts`` says it);
        ``ticket``: an order ticket's run, one resting order of it no reason to keep the progress
        from the next run sent (``gives_way_to``)."""
        self.run_id = run_id
        self.ticket = ticket
        self.project = project
        self.currency = currency
        self.plan_id = plan_id
        self.status = status
        self.planned = dict(planned)
        self.target_notional = target_notional
        self._orders: dict[int, OrderRecord] = {}  # this run's orders by id (every plan's)
        self._fills: dict[str, tuple[int, FillRecord]] = {}  # base exec id -> (revision, fill)
        self._pending: dict[int, list[FillRecord]] = {}  # fills whose order was not seen yet
        self._points: list[tuple[datetime, Decimal]] = []

    def newer_run(self, orders: Iterable[OrderRecord]) -> int | None:
        """The run to follow next: the newest run among ``orders`` when it is newer than the one
        followed (a monitor, with no project selection, follows the newest run of any project);
        None: keep following this one (an older run's order never takes the chart back)."""
        newest = max((o.run_id for o in orders if o.run_id is not None), default=None)
        if newest is None or (self.run_id is not None and newest <= self.run_id):
            return None
        return newest

    def apply(self, orders: Iterable[OrderRecord] = (), fills: Iterable[FillRecord] = (), *,
              now: datetime) -> ProgressSnapshot:
        for order in orders:
            if self.run_id is not None and order.run_id == self.run_id:
                known = self._orders.get(order.id)
                if known is not None and order.updated_at < known.updated_at:
                    continue  # a read of the run from before a newer state was handed (refresh_progress)
                self._orders[order.id] = order
                for fill in self._pending.pop(order.id, ()):
                    self._take(fill)
        for fill in fills:
            if fill.order_id in self._orders:
                self._take(fill)
            elif self.run_id is not None:
                self._pending.setdefault(fill.order_id, []).append(fill)
        snapshot = self._snapshot(now)
        if self.run_id is not None and not self._points and snapshot.filled_notional:
            # first seen with fills already (read back from the database: the monitor, a run not
            # sent here): as they came, from zero at the first one's time. One point at the moment
            # of reading drew nothing, the target alone, the run's time out of view.
            self._points.extend(self._filled_over_time())
            snapshot = self._snapshot(now)
        elif self.run_id is not None and (not self._points or self._points[-1][1] != snapshot.filled_notional):
            # the first point at the run's first order's time: read back with nothing filled (its
            # orders canceled unfilled), a point at the moment of reading put the run out of view
            when = now if self._points else min([now, *(order.created_at for order in self._orders.values())])
            self._points.append((when, snapshot.filled_notional))
            snapshot = self._snapshot(now)
        return snapshot

    def _take(self, fill: FillRecord) -> None:
        base, revision = split_exec_id(fill.exec_id)
        known = self._fills.get(base)
        if fill.superseded:
            if known is not None and known[1].exec_id == fill.exec_id:
                del self._fills[base]  # its correction follows (or came already)
            return
        if known is None or revision >= known[0]:
            self._fills[base] = (revision, fill)

    def snapshot(self, now: datetime) -> ProgressSnapshot:
        return self._snapshot(now)

    def set_status(self, status: RunStatus | None) -> None:
        """The followed run's state as read again from the database."""
        self.status = status

    def gives_way_to(self, sent_run_id: int) -> bool:
        """Whether a run sent besides Execute (the order ticket's one order, ``sent_run_id``) takes
        the progress from the run followed: not from a newer run, nor from a snapshot's run whose
        orders are still working (a rebalance filling is watched to its end; the ticket's order is
        in the blotter), else it does (a finished run's chart made way for nothing). Another
        ticket's run gives way working or not: its limit order resting far from the market kept
        the bar on it while the trader's next tickets went unseen."""
        if self.run_id is None:
            return True
        if self.run_id > sent_run_id:
            return False
        if self.ticket:
            return True
        counted = self._counted_orders()
        return not any(o.status.is_working for o in self._orders.values() if o.id in counted)

    def has_orders(self) -> bool:
        """Any order of the followed plan was seen (stored by a send, whatever became of it)."""
        return bool(self._counted_orders())

    def _counted_orders(self) -> set[int]:
        """The ids of the followed plan's orders and of the replacements descending from them."""
        counted = {o.id for o in self._orders.values() if o.client_order_id in self.planned}
        grew = True
        while grew:  # a replacement chain is short: a few passes at most
            more = {o.id for o in self._orders.values() if o.replaces_order_id in counted} - counted
            counted |= more
            grew = bool(more)
        return counted

    def _plan_of(self, order: OrderRecord) -> PlannedOrder | None:
        """The planned order ``order`` stands for: its own, else its root's along the replacement
        chain (recovery's or a cancel-and-new's replacement keeps the plan's reference price and
        rate, as the TCA reads them from its copied draft). Without it a replacement's fills
        counted at rate 1 and out of the slippage: +10 bps during the run, +55 in the TCA."""
        seen: set[int] = set()
        current: OrderRecord | None = order
        while current is not None and current.id not in seen:
            plan = self.planned.get(current.client_order_id)
            if plan is not None:
                return plan
            seen.add(current.id)
            current = self._orders.get(current.replaces_order_id) if current.replaces_order_id else None
        return None

    def _target(self) -> Decimal:
        """The plan's gross notional with each planned order at the quantity it now stands for:
        a trader's Replace to 5 of a planned 10 (modified in place, or canceled and sent anew for
        what had not filled) moves the target to 5's notional at the plan's reference price. It
        stayed at the plan's 10: a run replaced down and filled in full read "1,000 of 2,000
        filled" to its end."""
        target = self.target_notional
        replaced_by: dict[int, OrderRecord] = {}  # an order's id -> its newest replacement
        for order in self._orders.values():
            if order.replaces_order_id is not None:
                known = replaced_by.get(order.replaces_order_id)
                if known is None or order.id > known.id:
                    replaced_by[order.replaces_order_id] = order
        for order in self._orders.values():
            plan = self.planned.get(order.client_order_id)
            if plan is None or plan.quantity is None or plan.reference_price is None:
                continue
            now = _replaced_quantity(order, replaced_by)
            if now != plan.quantity:
                target += (now - plan.quantity) * abs(plan.reference_price) * plan.fx_rate
        return target

    def _filled_over_time(self) -> list[tuple[datetime, Decimal]]:
        """The counted fills' filled notional, cumulated in their time order, from zero at the
        run's first order's time (the progress of a run seen only once it had filled): read back,
        a limit order that rested 18 minutes drew its zero at its first fill, the wait out of
        view, where the window that sent it showed it flat (the chart draws steps)."""
        tally = self._tally()
        steps = tally.steps
        if not steps:
            return []
        sent = min((o.created_at for o in self._orders.values() if o.id in tally.counted), default=steps[0][0])
        return [(min(sent, steps[0][0]), ZERO), *steps]

    def _snapshot(self, now: datetime) -> ProgressSnapshot:
        tally = self._tally()
        references = {p.symbol: p.reference_price for p in self.planned.values() if p.reference_price is not None}
        slippage = {
            symbol: SymbolSlippage(symbol, t[0], t[1] / t[0], references.get(symbol), shortfall_bps(t[2], t[3]))
            for symbol, t in tally.per_symbol.items() if t[0]
        }
        counted = [o for o in self._orders.values() if o.id in tally.counted]
        working = sum(1 for o in counted if o.status.is_working)
        ended_unfilled = sum(1 for o in counted if o.status.is_terminal and not o.filled_quantity)
        unrecorded = self._unrecorded_fills(counted)
        return ProgressSnapshot(
            self.run_id, tally.filled, self._target(), working, tuple(self._points),
            {s: tuple(p) for s, p in tally.fill_points.items()}, references, slippage,
            shortfall_bps(tally.run_cost, tally.run_reference), self.plan_id, self.status, tally.traded,
            self.project, len(counted), ended_unfilled, self.currency, unrecorded)

    def _unrecorded_fills(self, counted: list[OrderRecord]) -> int:
        """Of ``counted``, the orders shown as the broker reports them with more filled than
        their stored fills (none but while the database does not answer: no walk of the fills
        for every change set then)."""
        shown = [o for o in counted if o.unrecorded_since is not None]
        if not shown:
            return 0
        stored: dict[int, Decimal] = {}
        for _revision, fill in self._fills.values():
            stored[fill.order_id] = stored.get(fill.order_id, ZERO) + fill.quantity
        return sum(1 for o in shown if (o.filled_quantity or ZERO) > stored.get(o.id, ZERO))

    def _tally(self) -> _Tally:
        """The followed plan's fills counted once each, in their time order (the one rule for the
        progress, its history and the slippage)."""
        counted = self._counted_orders()
        filled = traded = ZERO
        steps: list[tuple[datetime, Decimal]] = []
        per_symbol: dict[str, list[Decimal]] = {}  # symbol -> [quantity, quantity*price, signed cost, reference notional]
        fill_points: dict[str, list[tuple[datetime, Decimal]]] = {}
        run_cost = run_reference = ZERO
        for _revision, fill in sorted(self._fills.values(), key=lambda rf: (rf[1].fill_time, rf[1].exec_id)):
            if fill.order_id not in counted:
                continue  # another plan's order of the same run
            plan = self._plan_of(self._orders[fill.order_id])
            rate = plan.fx_rate if plan is not None else Decimal(1)
            reference = plan.reference_price if plan is not None else None
            traded += fill.quantity * fill.price * rate
            # an order the plan priced at nothing counts at its fill price (its notional is not in the target)
            filled += fill.quantity * (reference or fill.price) * rate
            steps.append((fill.fill_time, filled))
            totals = per_symbol.setdefault(fill.symbol, [ZERO, ZERO, ZERO, ZERO])
            totals[0] += fill.quantity
            totals[1] += fill.quantity * fill.price
            fill_points.setdefault(fill.symbol, []).append((fill.fill_time, fill.price))
            if reference:
                cost = shortfall(fill.side, fill.price, reference, fill.quantity)
                totals[2] += cost
                totals[3] += reference * fill.quantity
                run_cost += cost * rate
                run_reference += reference * fill.quantity * rate
        return _Tally(counted, filled, traded, steps, per_symbol, fill_points, run_cost, run_reference)


def _replaced_quantity(order: OrderRecord, replaced_by: Mapping[int, OrderRecord]) -> Decimal:
    """What a planned order stands for along its replacement chain: what each order canceled and
    sent anew had filled, and its last replacement's whole quantity (a cancel-and-new sends the
    new total less what had filled); its own quantity when never replaced so (a modify changes
    it in place)."""
    seen: set[int] = set()
    total = ZERO
    current = order
    while (following := replaced_by.get(current.id)) is not None and following.id not in seen:
        seen.add(current.id)
        total += current.filled_quantity or ZERO
        current = following
    return total + current.quantity


def settled_run_shown(settled_run_id: int, reading_run_id: int | None) -> bool:
    """Whether the Decisions panel and its TCA tab show by themselves the followed run that just
    settled (``ProgressSnapshot.settled``): only where they show nothing yet, or that very run
    (``reading_run_id``: the run of the trail the panel shows or was last asked for), which the
    trader previewed and sent: its preview's plan gives way to its executed trail and its cost,
    with nothing to click. The trail of another run stays: one the trader chose (the blotter's
    run filter, a run number, a rebalance) or the run shown before. The run chart follows an order
    ticket's run or another project's latest run (``RunProgress.gives_way_to``); when that run
    settled, the tabs went over to it too, and the trader reading another run lost their place."""
    return reading_run_id is None or reading_run_id == settled_run_id


@dataclass(slots=True)
class _Tally:
    """What the followed plan's fills add up to (RunProgress._tally)."""

    counted: set[int]  # the plan's orders and their replacements, by id
    filled: Decimal  # at the plan's reference prices
    traded: Decimal  # at the fills' own prices
    steps: list[tuple[datetime, Decimal]]  # (a fill's time, ``filled`` up to it), in time order
    per_symbol: dict[str, list[Decimal]]  # symbol -> [quantity, quantity*price, signed cost, reference notional]
    fill_points: dict[str, list[tuple[datetime, Decimal]]]
    run_cost: Decimal
    run_reference: Decimal
