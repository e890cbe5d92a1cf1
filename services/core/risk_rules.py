"""The project's pre-trade rules, each a :class:`~services.core.risk_base.RiskRule` with its parameters.

Per order: the order's size and quantity (``MaxOrderNotional``, ``MaxOrderQuantity``), the
position after it (``MaxPositionRatio``), its price (``PriceCheck``: missing, stale or delayed;
``PriceCollar``: a limit too far from the market), a short sale (``ShortSale``) and the trading
state (``TradingStateRule``, and ``trading_state_allows`` for a single order, cancel or
replace). Per run: gross exposure after it, orders in it, orders today and duplicates. Each
rule sees the whole run in one ``evaluate`` call, so the per-order ones run as one tight loop
(a backtest evaluates them thousands of times): keep lookups out of those loops.

Orders are valued as ``services.core.order_values`` says (a limit at its limit, a market order
at its reference price, in the base currency); positions, prices and duplicates go by the
listing key (``OrderDraft.key``), so a same-named US and EUR listing are two positions. Which
rules a run gets, with which limits, is ``services.core.risk_limits``' business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

from services.core.contracts import MissingRate
from services.domain import OrderType, Side, TradingState

from .builder import OrderDraft
from .order_values import order_size
from .risk_base import PASS, Block, RiskContext, RiskRule, RuleResult
from .typed_numbers import plain
from .wording import money, percent
from .wording import price as price_text

ZERO = Decimal(0)
HUNDRED = Decimal(100)

TRADING_HALTED = "trading_halted"  # the block code of every order while trading is HALTED (services.console_risk reads it)
DELAYED_KINDS = frozenset({"delayed", "delayed_frozen"})  # plans.PRICE_KINDS that lag the market


@dataclass(repr=False)
class MaxOrderNotional(RiskRule):
    limit: Decimal
    name: ClassVar[str] = "max_order_notional"

    def params(self):
        return {"limit": self.limit}

    def evaluate(self, orders, ctx):
        limit = self.limit
        out = []
        for i, o in enumerate(orders):
            value = order_size(o)
            if value is not None and value > limit:
                # money as every panel shows it (the risk panel's limit reads 25,000.00 beside it)
                out.append((i, self.block(f"{o.symbol}: order value {money(value)} above {money(limit)}", o.symbol)))
        return out


@dataclass(repr=False)
class MaxOrderQuantity(RiskRule):
    limit: Decimal
    name: ClassVar[str] = "max_order_quantity"

    def params(self):
        return {"limit": self.limit}

    def evaluate(self, orders, ctx):
        limit = self.limit
        return [
            (i, self.block(f"{o.symbol}: quantity {plain(o.quantity)} above {plain(limit)}", o.symbol))
            for i, o in enumerate(orders)
            if o.quantity > limit
        ]


def _after(order: OrderDraft, positions: Mapping[str, Decimal]) -> tuple[Decimal, Decimal]:
    before = positions.get(order.key, ZERO)
    return before, before + order.quantity if order.side is Side.BUY else before - order.quantity


@dataclass(repr=False)
class MaxPositionRatio(RiskRule):
    limit: Decimal
    name: ClassVar[str] = "max_position_ratio"

    def params(self):
        return {"limit": self.limit}

    def evaluate(self, orders, ctx):
        pv = ctx.portfolio_value
        if pv <= 0:
            return [(None, self.block(f"portfolio value {money(pv)} is not positive"))]
        cap = self.limit * pv
        positions = ctx.positions
        out = []
        for i, o in enumerate(orders):
            price = o.reference_price
            if price is None:
                continue
            _, after = _after(o, positions)
            value = abs(after) * price * o.fx_rate
            if value > cap:
                ratio = value / pv
                out.append((i, self.block(f"{o.symbol}: position after the trade {plain(after)} is {percent(ratio)} of the portfolio, above {percent(self.limit)}", o.symbol)))
        return out


@dataclass(repr=False)
class MaxGrossExposure(RiskRule):
    limit: Decimal
    name: ClassVar[str] = "max_gross_exposure"

    def params(self):
        return {"limit": self.limit}

    def evaluate(self, orders, ctx):
        pv = ctx.portfolio_value
        if pv <= 0:
            return [(None, self.block(f"portfolio value {money(pv)} is not positive"))]
        after = dict(ctx.positions)
        price_of = dict(ctx.prices)
        rate_of: dict[str, Decimal] = {}
        for o in orders:
            q = after.get(o.key, ZERO)
            after[o.key] = q + o.quantity if o.side is Side.BUY else q - o.quantity
            rate_of[o.key] = o.fx_rate
            if o.reference_price is not None:
                price_of[o.key] = o.reference_price
        gross = ZERO
        for key, q in after.items():
            if q:
                price = price_of.get(key)
                if price is not None:
                    try:
                        rate = rate_of[key] if key in rate_of else ctx.rate_of(key)
                    except MissingRate as exc:
                        return [(None, self.block(f"{key}: {exc}: the gross exposure cannot be valued", key, "missing_rate"))]
                    gross += abs(q) * price * rate
        if gross > self.limit * pv:
            return [(None, self.block(f"gross exposure after the run {percent(gross / pv)} of the portfolio, above {percent(self.limit)}"))]
        return []


@dataclass(repr=False)
class MaxOrdersPerRun(RiskRule):
    limit: int
    name: ClassVar[str] = "max_orders_per_run"

    def params(self):
        return {"limit": self.limit}

    def evaluate(self, orders, ctx):
        if len(orders) > self.limit:
            return [(None, self.block(f"{len(orders)} orders in the run, above {self.limit}"))]
        return []


@dataclass(repr=False)
class DailyOrderCount(RiskRule):
    limit: int
    name: ClassVar[str] = "max_daily_orders"

    def params(self):
        return {"limit": self.limit}

    def evaluate(self, orders, ctx):
        room = max(0, self.limit - ctx.orders_today)
        return [
            (i, self.block(f"{o.symbol}: would be order {ctx.orders_today + i + 1} today, above {self.limit}", o.symbol, "daily_order_count"))
            for i, o in enumerate(orders)
            if i >= room
        ]


@dataclass(repr=False)
class PriceCheck(RiskRule):
    """Missing or stale reference price (older than ``max_price_age_seconds`` by the time it was
    seen), or a delayed one where delayed data is not allowed (live mode unless configured);
    symbols the builder could not price block the run."""

    max_age_seconds: Decimal | None = None
    name: ClassVar[str] = "price"

    def params(self):
        return {"max_age_seconds": self.max_age_seconds}

    def check_order(self, order, ctx):
        # the run's unpriced targets are not this order's business
        return super().check_order(order, replace(ctx, unpriced_symbols=()))

    def evaluate(self, orders, ctx):
        out: list[Block] = [
            (None, self.block(f"{symbol}: no price", symbol, "missing_price")) for symbol in ctx.unpriced_symbols
        ]
        times = ctx.price_times
        kinds = ctx.price_kinds
        max_age = self.max_age_seconds
        now = ctx.now or datetime.now(UTC)
        for i, o in enumerate(orders):
            if o.reference_price is None or o.reference_price <= 0:
                out.append((i, self.block(f"{o.symbol}: no price", o.symbol, "missing_price")))
            elif not ctx.allow_delayed and kinds.get(o.key) in DELAYED_KINDS:
                out.append((i, self.block(f"{o.symbol}: the price is {kinds[o.key]} data, not allowed in this mode "
                                          "(trade settings: execution.allow_delayed_prices_live)", o.symbol, "delayed_price")))
            elif max_age is not None and times:
                seen = times.get(o.key)
                if seen is not None:
                    age = Decimal(str((now - seen).total_seconds()))
                    if age > max_age:
                        out.append((i, self.block(f"{o.symbol}: price is {format(age.normalize(), 'f')} s old, older than {max_age} s", o.symbol, "stale_price")))
        return out


@dataclass(repr=False)
class DuplicateOrder(RiskRule):
    """The same listing or client order id twice in a run, or an id already sent."""

    name: ClassVar[str] = "duplicate_order"

    def evaluate(self, orders, ctx):
        seen_symbols: dict[str, int] = {}
        seen_ids: set[str] = set(ctx.sent_client_order_ids)
        out = []
        for i, o in enumerate(orders):
            if o.client_order_id in seen_ids:
                out.append((i, self.block(f"{o.symbol}: client order id {o.client_order_id} already used", o.symbol)))
            elif o.key in seen_symbols:
                out.append((i, self.block(f"{o.key}: second order for the listing in this run (first is #{seen_symbols[o.key]})", o.symbol)))
            seen_ids.add(o.client_order_id)
            seen_symbols.setdefault(o.key, o.sequence)
        return out


def short_after(order: OrderDraft, ctx: RiskContext) -> Decimal:
    """The position after ``order`` should the project's working buys of its listing not fill:
    a sell may count on the working sells (they only lower what is held, so they are in
    ``positions`` already) but never on shares still being bought (a sell that fills before the
    buy it counted on would be a short sale at the broker)."""
    _, after = _after(order, ctx.positions)
    return after - ctx.working_buys.get(order.key, ZERO) if ctx.working_buys else after


@dataclass(repr=False)
class ShortSale(RiskRule):
    allow: bool = False
    name: ClassVar[str] = "short_sale"

    def params(self):
        return {"allow": self.allow}

    def evaluate(self, orders, ctx):
        if self.allow:
            return []
        positions = ctx.positions
        out = []
        for i, o in enumerate(orders):
            if o.side is Side.SELL:
                before, after = _after(o, positions)
                if after < 0:
                    out.append((i, self.block(f"{o.symbol}: selling {plain(o.quantity)} of {plain(before)} held would go short", o.symbol)))
                elif short_after(o, ctx) < 0:
                    buying = ctx.working_buys[o.key]
                    out.append((i, self.block(
                        f"{o.symbol}: selling {plain(o.quantity)} counts on the buy of {plain(buying)} not yet filled (the book holds "
                        f"{plain(before - buying)} without it): should the sell fill first it goes short; cancel the buy instead",
                        o.symbol)))
        return out


@dataclass(repr=False)
class PriceCollar(RiskRule):
    pct: Decimal
    name: ClassVar[str] = "price_collar"

    def params(self):
        return {"pct": self.pct}

    def evaluate(self, orders, ctx):
        pct = self.pct
        out = []
        for i, o in enumerate(orders):
            if not o.order_type.has_limit or o.reference_price is None:
                continue
            if o.limit_price is None:
                out.append((i, self.block(f"{o.symbol}: limit order without a limit price", o.symbol)))
                continue
            # a stop limit works from its stop price on: the limit is collared against the stop
            ref = o.stop_price if o.order_type is OrderType.STP_LMT and o.stop_price else o.reference_price
            if abs(o.limit_price - ref) * HUNDRED > pct * ref:
                away = abs(o.limit_price - ref) / ref
                what = "stop" if ref is not o.reference_price else "reference"
                out.append((i, self.block(f"{o.symbol}: limit {price_text(o.limit_price)} is {percent(away)} from the {what} "
                                          f"{price_text(ref)}, beyond {percent(pct / HUNDRED)}", o.symbol)))
        return out


def grows_exposure(before: Decimal, after: Decimal) -> bool:
    """True when a trade from ``before`` to ``after`` adds risk: a bigger position, or one
    that crosses zero to the other side."""
    if not after:
        return False
    if not before:
        return True
    return (before > 0) != (after > 0) or abs(after) > abs(before)


def trading_state_allows(state: TradingState, *, is_cancel: bool = False, before: Decimal = ZERO, after: Decimal = ZERO) -> RuleResult:
    """Single check for the execution layer (manual orders, cancels, replaces). Cancels always pass."""
    rule = TradingStateRule()
    if is_cancel or state is TradingState.ACTIVE:
        return PASS
    if state is TradingState.HALTED:
        return rule.block("trading is HALTED: only cancels are allowed", code=TRADING_HALTED)
    if grows_exposure(before, after):
        return rule.block(f"trading is REDUCING: {plain(before)} -> {plain(after)} grows exposure", code="reducing_only")
    return PASS


@dataclass(repr=False)
class TradingStateRule(RiskRule):
    name: ClassVar[str] = "trading_state"

    def evaluate(self, orders, ctx):
        state = ctx.trading_state
        if state is TradingState.ACTIVE:
            return []
        if state is TradingState.HALTED:
            return [(i, self.block(f"{o.symbol}: trading is HALTED", o.symbol, TRADING_HALTED)) for i, o in enumerate(orders)]
        positions = ctx.positions
        out = []
        for i, o in enumerate(orders):
            before, after = _after(o, positions)
            if grows_exposure(before, after):
                out.append((i, self.block(f"{o.symbol}: trading is REDUCING and {plain(before)} -> {plain(after)} grows exposure", o.symbol, "reducing_only")))
        return out
