"""Pre-trade risk: rule objects with parameters, a report per run, and a run verdict.

Every rule answers pass, or block with a reason code (the rule's name, or a more specific code
such as ``stale_price``) and a message. A run with any blocking result is BLOCKED and nothing
of it may be sent. Rules see the whole run at once (``evaluate``), so run-wide rules (gross
exposure, orders per run, daily count, duplicates) and per-order rules share one interface and
the per-order ones run as one tight loop; ``check_order`` checks a single order (a manual order
from the GUI).

Limits are a plain dict, :data:`DEFAULT_RISK_LIMITS`, which the database keeps in
``trade_settings.risk_defaults``; :func:`rules_from_params` turns such a dict plus
``NAME=VALUE`` overrides (command line ``--risk``) into rule objects. A value of ``None``
(``NAME=off`` on the command line) switches a rule off. Missing prices, duplicates and the
trading state are always checked.

Market orders are valued at their reference price (vn.py skips market orders; we do not), limit
orders at their limit price. Values are in the account's base currency: an order's prices are
in its listing's currency and convert at the draft's ``fx_rate``; a held position not traded
converts at ``RiskContext.fx_rates`` (its currency comes from its listing key). Positions,
prices and duplicates go by the listing key (``OrderDraft.key``), so a same-named US and EUR
listing are two positions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from services.core.contracts import ContractSpec, MissingRate, rate_to_base
from services.domain import OrderType, Side, TradingState

from .builder import OrderDraft
from .order_values import order_size, order_value, plan_value_rows, value_words
from .typed_numbers import NotANumber, typed_decimal
from .wording import ANOTHER_VERSION, how_to_remove, money, percent
from .wording import price as price_text

# The engine's face: what its callers and tests import from here, wherever it is defined.
__all__ = [
    "DEFAULT_RISK_LIMITS",
    "MAX_STORED_LIMIT",
    "DailyOrderCount",
    "DuplicateOrder",
    "MaxGrossExposure",
    "MaxOrderNotional",
    "MaxOrderQuantity",
    "MaxOrdersPerRun",
    "MaxPositionRatio",
    "OrderRisk",
    "PriceCheck",
    "PriceCollar",
    "RiskContext",
    "RiskParamError",
    "RiskReport",
    "RiskRule",
    "RuleResult",
    "ShortSale",
    "TradingStateRule",
    "UnknownStoredLimit",
    "Verdict",
    "evaluate_risk",
    "grows_exposure",
    "order_size",
    "order_value",
    "parse_risk_overrides",
    "plan_value_rows",
    "risk_limits",
    "rules_from_params",
    "stored_risk_value",
    "trading_state_allows",
    "value_words",
]

ZERO = Decimal(0)
HUNDRED = Decimal(100)

DEFAULT_RISK_LIMITS: dict[str, Any] = {
    "max_order_notional": 25000,  # base currency per order (order_size: a limit at its limit, a sell limit under the market and a market order at the reference price)
    "max_position_ratio": 0.2,  # |position after the trade| * price / portfolio value
    "max_gross_exposure": 1.0,  # sum |position after the run| * price / portfolio value
    "max_orders_per_run": 100,
    "max_order_quantity": 10000,  # shares per order
    "max_price_age_seconds": 300,  # older reference prices are stale
    "allow_short": False,
    "price_collar_pct": 3,  # a limit more than 3 % away from the reference is blocked
    "max_daily_orders": 500,  # orders sent today (before this run) + this run
}


NEW_YORK = ZoneInfo("America/New_York")
DELAYED_KINDS = frozenset({"delayed", "delayed_frozen"})  # plans.PRICE_KINDS that lag the market


class RiskParamError(ValueError):
    """A risk parameter the user can fix (unknown name, bad value)."""


class UnknownStoredLimit(RiskParamError):
    """A stored limit (``params``: trade_settings.risk_defaults) this version has no rule for, a
    newer version's or one written by hand. Refused, never skipped: on a live account a limit
    nobody checks lets through what it was set to block. Said with where it comes from and how
    to remove it: "unknown risk parameter" and the known names read as a typo in ``--risk``."""

    def __init__(self, name: str, value: Any) -> None:
        key = f"risk.{name}"
        super().__init__(f"{key} = {value} is {ANOTHER_VERSION}: previews and orders are refused while it is "
                         f"stored; {how_to_remove(key)}")
        self.key = key


class Verdict(StrEnum):
    READY = "ready"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    passed: bool
    code: str = ""
    message: str = ""
    symbol: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "passed": self.passed, "code": self.code, "message": self.message, "symbol": self.symbol}


PASS = RuleResult("", True)


@dataclass(frozen=True, slots=True)
class RiskContext:
    portfolio_value: Decimal
    positions: Mapping[str, Decimal] = field(default_factory=dict)  # listing key -> signed quantity
    # the project's orders still working, counted in ``positions`` as if they filled
    # (services.core.builder.held_as_if_filled); the short-sale rule does not count on their buys
    working: Mapping[str, Decimal] = field(default_factory=dict)
    # what the project's working buys of each listing still buy, gross: never netted against its
    # working sells (a sell that counts on a buy netted away would be short at the broker too)
    working_buys: Mapping[str, Decimal] = field(default_factory=dict)
    prices: Mapping[str, Decimal] = field(default_factory=dict)  # to value positions not traded (listing's currency)
    price_times: Mapping[str, datetime] = field(default_factory=dict)  # when each price was seen
    price_kinds: Mapping[str, str] = field(default_factory=dict)  # how (plans.PRICE_KINDS): live, delayed, close...
    allow_delayed: bool = True  # delayed prices may price an order (paper mode, or configured for live)
    now: datetime | None = None  # default: the current UTC time
    trading_state: TradingState = TradingState.ACTIVE
    orders_today: int = 0  # orders already sent today
    unpriced_symbols: tuple[str, ...] = ()  # targets the builder could not price
    sent_client_order_ids: frozenset[str] = frozenset()  # already sent (a rerun must not resend)
    base_currency: str = "USD"  # of the portfolio value
    fx_rates: Mapping[str, Decimal] = field(default_factory=dict)  # currency -> base units per unit

    def rate_of(self, key: str) -> Decimal:
        """The rate of a listing known by its key; raises ``MissingRate``."""
        return rate_to_base(ContractSpec.from_key(key).currency, self.fx_rates, self.base_currency)


@dataclass(frozen=True, slots=True)
class OrderRisk:
    order: OrderDraft
    blocks: tuple[RuleResult, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.blocks

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_order_id": self.order.client_order_id,
            "symbol": self.order.symbol,
            "status": "pass" if self.passed else "block",
            "blocks": [b.to_dict() for b in self.blocks],
        }


@dataclass(frozen=True, slots=True)
class RiskReport:
    drafts: tuple[OrderDraft, ...]
    order_blocks: Mapping[int, tuple[RuleResult, ...]]  # index in drafts -> its blocks (absent: passed)
    run_blocks: tuple[RuleResult, ...]
    rules: tuple[str, ...]  # names of the rules that were checked
    # what the rules saw, for each rule's measured value and limit (services.core.risk_measures)
    context: RiskContext | None = field(default=None, compare=False)
    checked_rules: tuple[RiskRule, ...] = field(default=(), compare=False)

    @property
    def orders(self) -> tuple[OrderRisk, ...]:
        """Each order with its results (built on access: the report itself stays cheap)."""
        blocks = self.order_blocks
        return tuple(OrderRisk(o, blocks.get(i, ())) for i, o in enumerate(self.drafts))

    @property
    def verdict(self) -> Verdict:
        if self.run_blocks or self.order_blocks:
            return Verdict.BLOCKED
        return Verdict.READY

    @property
    def blocked(self) -> bool:
        return self.verdict is Verdict.BLOCKED

    def all_blocks(self) -> list[RuleResult]:
        out = list(self.run_blocks)
        for i in sorted(self.order_blocks):
            out.extend(self.order_blocks[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "rules": list(self.rules),
            "run": [b.to_dict() for b in self.run_blocks],
            "results": [o.to_dict() for o in self.orders],
        }


# ---------------------------------------------------------------------------------------------
# Rules

Block = tuple[int | None, RuleResult]  # (order index or None for the run, result)


class RiskRule:
    name: ClassVar[str] = ""

    def params(self) -> dict[str, Any]:
        return {}

    def check_order(self, order: OrderDraft, ctx: RiskContext) -> RuleResult:
        """One order alone (a manual order): its own block first, else a run-wide one."""
        blocks = self.evaluate((order,), ctx)
        for index, result in blocks:
            if index == 0:
                return result
        return blocks[0][1] if blocks else PASS

    def evaluate(self, orders: Sequence[OrderDraft], ctx: RiskContext) -> list[Block]:
        raise NotImplementedError

    def block(self, message: str, symbol: str | None = None, code: str | None = None) -> RuleResult:
        return RuleResult(self.name, False, code or self.name, message, symbol)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


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
            (i, self.block(f"{o.symbol}: quantity {o.quantity} above {limit}", o.symbol))
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
            return [(None, self.block(f"portfolio value {pv} is not positive"))]
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
                out.append((i, self.block(f"{o.symbol}: position after the trade {after} is {percent(ratio)} of the portfolio, above {percent(self.limit)}", o.symbol)))
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
            return [(None, self.block(f"portfolio value {pv} is not positive"))]
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
                    out.append((i, self.block(f"{o.symbol}: selling {o.quantity} of {before} held would go short", o.symbol)))
                elif short_after(o, ctx) < 0:
                    buying = ctx.working_buys[o.key]
                    out.append((i, self.block(
                        f"{o.symbol}: selling {o.quantity} counts on the buy of {buying} not yet filled (the book holds "
                        f"{before - buying} without it): should the sell fill first it goes short; cancel the buy instead",
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
                away = abs(o.limit_price - ref) * HUNDRED / ref
                what = "stop" if ref is not o.reference_price else "reference"
                out.append((i, self.block(f"{o.symbol}: limit {price_text(o.limit_price)} is {away:.2f} % from the {what} {price_text(ref)}, beyond {pct} %", o.symbol)))
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
        return rule.block("trading is HALTED: only cancels are allowed", code="trading_halted")
    if grows_exposure(before, after):
        return rule.block(f"trading is REDUCING: {before} -> {after} grows exposure", code="reducing_only")
    return PASS


@dataclass(repr=False)
class TradingStateRule(RiskRule):
    name: ClassVar[str] = "trading_state"

    def evaluate(self, orders, ctx):
        state = ctx.trading_state
        if state is TradingState.ACTIVE:
            return []
        if state is TradingState.HALTED:
            return [(i, self.block(f"{o.symbol}: trading is HALTED", o.symbol, "trading_halted")) for i, o in enumerate(orders)]
        positions = ctx.positions
        out = []
        for i, o in enumerate(orders):
            before, after = _after(o, positions)
            if grows_exposure(before, after):
                out.append((i, self.block(f"{o.symbol}: trading is REDUCING and {before} -> {after} grows exposure", o.symbol, "reducing_only")))
        return out


# ---------------------------------------------------------------------------------------------
# Parameters


def _decimal_param(name: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise RiskParamError(f"{name} must be a number, got {value!r}")
    try:
        result = typed_decimal(value if isinstance(value, Decimal | int | float) else str(value))
    except NotANumber as exc:
        reason = f" ({exc.hint})" if exc.hint else ""  # a misplaced comma says why
        raise RiskParamError(f"{name} must be a number, got {value!r}{reason}") from None
    if not result.is_finite() or result < 0:
        raise RiskParamError(f"{name} must be a finite number >= 0, got {value!r}")
    return result


def _int_param(name: str, value: Any) -> int:
    number = _decimal_param(name, value)
    if number != number.to_integral_value():
        raise RiskParamError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def _bool_param(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise RiskParamError(f"{name} must be true or false, got {value!r}")


_OFF = ("", "none", "off", "null")


# The limits a rule takes, each read by its own converter: the rules built from them and a
# stored limit (stored_risk_value) read a value alike.
_LIMIT_RULES: tuple[tuple[str, Callable[[Any], RiskRule], Callable[[str, Any], Decimal | int]], ...] = (
    ("max_order_notional", MaxOrderNotional, _decimal_param),
    ("max_order_quantity", MaxOrderQuantity, _decimal_param),
    ("max_position_ratio", MaxPositionRatio, _decimal_param),
    ("max_gross_exposure", MaxGrossExposure, _decimal_param),
    ("max_orders_per_run", MaxOrdersPerRun, _int_param),
    ("max_daily_orders", DailyOrderCount, _int_param),
    ("price_collar_pct", PriceCollar, _decimal_param),
)
_CONVERTERS = {name: conv for name, _, conv in _LIMIT_RULES}


# The largest value a stored setting holds: a risk limit here, every other trade setting
# (services.trade_settings_keys.MAX_SETTING) the same.
MAX_STORED_LIMIT = Decimal("1e12")


def stored_risk_value(name: str, value: Any) -> Any:
    """A risk limit as the settings store it, whoever typed it (the Settings dialog, ``trade-settings
    set``): None (off), a bool (``allow_short``), an int for a whole number, else a Decimal; read
    by the risk engine's own rules (``RiskParamError`` naming the limit). "25,000" was stored as
    that text by the command line, and the window's risk panel failed on it."""
    if name not in DEFAULT_RISK_LIMITS:
        raise RiskParamError(f"unknown risk parameter {name!r}; known: {', '.join(DEFAULT_RISK_LIMITS)}")
    if isinstance(DEFAULT_RISK_LIMITS[name], bool):
        return _bool_param(name, value)
    if value is None or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    # a whole-number limit is refused here, in the words typed: the rules refused 2.5 orders per
    # run only once built, naming "Decimal('2.5')", after the Settings dialog had let it through
    number = _CONVERTERS.get(name, _decimal_param)(name, value)
    if number > MAX_STORED_LIMIT:  # 1e400 was stored as the text "1E+400" (nan was refused)
        raise RiskParamError(f"{name} must be a number from 0 to 1e{MAX_STORED_LIMIT.adjusted()}, got {value!r}")
    if isinstance(number, int):
        return number
    # 1e3 is the whole number 1000 (it was stored and shown as the text "1E+3"); 1.0 keeps its text
    return int(number) if number == number.to_integral_value() and int(number.as_tuple().exponent) >= 0 else number


def parse_risk_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["max_order_notional=5000", "allow_short=true", "max_daily_orders=off"]`` -> dict."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise RiskParamError(f"risk override {pair!r} is not NAME=VALUE")
        if name not in DEFAULT_RISK_LIMITS:
            raise RiskParamError(f"unknown risk parameter {name!r}; known: {', '.join(DEFAULT_RISK_LIMITS)}")
        value = value.strip()
        out[name] = None if value.lower() in _OFF and name != "allow_short" else value
    return out


def risk_limits(params: Mapping[str, Any] | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Defaults <- ``params`` (e.g. trade_settings.risk_defaults) <- ``NAME=VALUE`` overrides."""
    limits = dict(DEFAULT_RISK_LIMITS)
    for name, value in (params or {}).items():
        if name not in DEFAULT_RISK_LIMITS:
            raise UnknownStoredLimit(name, value)
        limits[name] = value
    limits.update(parse_risk_overrides(overrides))
    return limits


def rules_from_params(params: Mapping[str, Any] | None = None, overrides: Iterable[str] = ()) -> list[RiskRule]:
    limits = risk_limits(params, overrides)
    rules: list[RiskRule] = [TradingStateRule()]
    max_age = limits["max_price_age_seconds"]
    rules.append(PriceCheck(None if max_age is None else _decimal_param("max_price_age_seconds", max_age)))
    rules.append(DuplicateOrder())
    rules.append(ShortSale(_bool_param("allow_short", limits["allow_short"] if limits["allow_short"] is not None else False)))
    for name, cls, conv in _LIMIT_RULES:
        value = limits[name]
        if value is not None:
            rules.append(cls(conv(name, value)))
    return rules


# ---------------------------------------------------------------------------------------------


def evaluate_risk(orders: Sequence[OrderDraft], ctx: RiskContext, rules: Sequence[RiskRule] | None = None) -> RiskReport:
    """Check a run's orders against every rule; the report's verdict says whether it may go."""
    if rules is None:
        rules = rules_from_params()
    orders = tuple(orders)
    per_order: dict[int, list[RuleResult]] = {}
    run_blocks: list[RuleResult] = []
    for rule in rules:
        for index, result in rule.evaluate(orders, ctx):
            if index is None:
                run_blocks.append(result)
            else:
                per_order.setdefault(index, []).append(result)
    blocks = {i: tuple(per_order[i]) for i in sorted(per_order)}
    return RiskReport(orders, blocks, tuple(run_blocks), tuple(r.name for r in rules), ctx, tuple(rules))
