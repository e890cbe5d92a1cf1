"""Every rule's verdict with what it measured: the risk half of the decision trail.

``evaluate_risk`` only keeps the blocks (a run's verdict needs nothing more, and the preview
stays cheap). The trail wants every rule's answer for every order, passes included, with the
value the rule measured and the limit it compared it with, so that "why was this order allowed"
has an answer too. :func:`risk_decisions` computes them from the report (which carries the
context and the rule objects it was evaluated with) after the fact; the verdicts are the
report's own (a rule's block is the only thing that makes a row ``block``), the measured values
are for reading.

Rules that look at one order at a time give one row per order (scope ``order``); the run-wide
ones (gross exposure, orders per run) give one account-level row (scope ``account``), as does
any rule that blocked the run as a whole (unpriced symbols, a portfolio value that is not
positive).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from services.core.contracts import MissingRate
from services.domain import OrderType

from .builder import OrderDraft
from .order_values import order_size
from .risk_base import RiskContext, RiskReport, RiskRule, RuleResult
from .risk_rules import (
    DELAYED_KINDS,
    DailyOrderCount,
    MaxGrossExposure,
    MaxOrderNotional,
    MaxOrderQuantity,
    MaxOrdersPerRun,
    MaxPositionRatio,
    PriceCheck,
    PriceCollar,
    ShortSale,
    TradingStateRule,
    short_after,
)
from .wording import grouped, money, percent

ZERO = Decimal(0)
RATIO_PLACES = Decimal("0.00000001")  # a measured ratio is shown to 8 places (the verdict used the exact one)

#: Rules whose measured value and limit are ratios of the portfolio value, shown to a trader as
#: percents like the preview's weights; the price collar's are already percents (3 means 3 %).
RATIO_RULES = frozenset({MaxPositionRatio.name, MaxGrossExposure.name})
PERCENT_RULES = frozenset({PriceCollar.name})
#: Rules that measure an order's value in the base currency (shown as the preview's Notional) and
#: its quantity (as the preview's quantities): for a front end that groups them.
MONEY_RULES = frozenset({MaxOrderNotional.name})
QUANTITY_RULES = frozenset({MaxOrderQuantity.name})

ORDER_SCOPE = "order"
ACCOUNT_SCOPE = "account"
# a rule's verdict, as a RiskDecision holds it and the trail stores it
PASS = "pass"
BLOCK = "block"


@dataclass(slots=True)  # not frozen: see services.core.trail.SignalRecord (most trail records are these)
class RiskDecision:
    """One rule's answer: for one order (``scope`` order, with its sequence) or the account."""

    scope: str
    rule: str
    verdict: str  # PASS | BLOCK
    measured: str | None  # the value the rule compared (exact text), None when it compares nothing
    limit: str | None
    code: str = ""
    message: str = ""
    sequence: int | None = None
    client_order_id: str | None = None
    symbol: str | None = None


_MISSING: Any = object()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"  # exact, without trailing zeros
    return str(value)


def figure_text(rule: str, text: str | None, *, limit: bool = False, against: str | None = None) -> str | None:
    """A rule's measured value (``limit`` False) or limit (True), the trail's exact text, as the
    Decisions panel and the ``trail`` command show it beside the preview: a ratio rule's as a
    percent (``"0.21063412"`` -> ``"21.06%"``, ``wording.percent``, as the preview shows a
    weight), the price collar's with its percent sign (``"3"`` -> ``"3.00%"``), an order's value
    as money (``"10090.08"`` -> ``"10,090.08"``, the preview's Notional), a quantity grouped
    (``"10000"`` -> ``"10,000"``; the short-sale rule's position after the order too, its limit
    ``"0"`` as ``"≥ 0"``: the position may not go below it), the price rule's age limit and
    the age it measured in seconds (``"300"`` -> ``"300 s"``, ``"120"`` -> ``"120 s"``), any other
    as stored. Text that is no number (an older record, a word such as ``live``) is shown as
    stored. ``against``: the record's limit, beside its measured value (the price rule measured
    an age only against an age limit)."""
    shown = (_LIMIT_WORDS if limit else _MEASURED_WORDS).get(rule) or _FIGURE_WORDS.get(rule)
    if text is None or shown is None:
        return text
    if not limit and rule == PriceCheck.name and _number(against) is None:
        return text  # no age limit: the rule recorded the price itself, which no unit fits
    value = _number(text)
    return text if value is None else shown(value)


def _number(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


# each kind of rule's figures in the words the preview and the risk panel use for the same number
_FIGURE_WORDS: dict[str, Callable[[Decimal], str]] = {
    **dict.fromkeys(RATIO_RULES, percent), **dict.fromkeys(PERCENT_RULES, lambda value: percent(value / 100)),
    **dict.fromkeys(MONEY_RULES, money), **dict.fromkeys(QUANTITY_RULES, grouped)}
_TENTH = Decimal("0.1")


def _seconds(value: Decimal) -> str:
    """An age or age limit in seconds: whole seconds as stored (``"300 s"``), a measured age with
    its clock's microseconds to a tenth of a second, cut rather than rounded so that an age that
    passed its limit never reads as the limit (``"0.001914"`` -> ``"0.0 s"``, ``"299.96"`` ->
    ``"299.9 s"``): the panel's reader compares it with the limit, not with a microsecond."""
    if value == value.to_integral_value():
        return f"{grouped(value)} s"
    return f"{grouped(value.quantize(_TENTH, rounding=ROUND_DOWN), 1)} s"


# a rule whose measured value and limit are different kinds of number. The price rule measures a
# price's age in seconds against its age limit, worded alike (without a limit it records the
# price itself: figure_text leaves that as stored). A record written before 2026-12-05 (commit
# 3691942) for a price with no time (a backtest's bar) holds the price beside the age limit:
# ``holds_its_price`` tells it apart, and ``trail_figure`` shows it as stored.
_MEASURED_WORDS: dict[str, Callable[[Decimal], str]] = {ShortSale.name: grouped, PriceCheck.name: _seconds}
_LIMIT_WORDS: dict[str, Callable[[Decimal], str]] = {ShortSale.name: lambda value: f"≥ {grouped(value)}", PriceCheck.name: _seconds}


MEASURED_IS_PRICE = "measured_is_price"  # set on such a record's row by the trail's reader (services.trail_queries)


def holds_its_price(rule: str, measured: str | None, limit: str | None, reference_price: str | None) -> bool:
    """Whether a price rule's record measured its order's ``reference_price`` beside an age limit:
    written before 2026-12-05 (3691942) for a price with no time, which records no age (None)
    since. An age equal to its price to the last digit (seconds with microseconds, from the
    clock) is not what a record of one is."""
    if rule != PriceCheck.name or _number(limit) is None:
        return False
    value = _number(measured)
    return value is not None and value == _number(reference_price)


def trail_figure(row: Mapping[str, Any], name: str) -> str | None:
    """A trail row's ``measured`` or ``limit_value`` as ``figure_text`` words it (the Decisions
    panel's and the ``trail`` command's one reading); an old price rule's record of the price
    itself (``MEASURED_IS_PRICE``) as stored, never as an age."""
    if name == "measured" and row.get(MEASURED_IS_PRICE):
        return row.get(name)
    return figure_text(row.get("rule") or "", row.get(name), limit=name == "limit_value", against=row.get("limit_value"))


def _ratio(value: Decimal, whole: Decimal) -> Decimal | None:
    return (value / whole).quantize(RATIO_PLACES) if whole > 0 else None


def _after(order: OrderDraft, ctx: RiskContext) -> Decimal:
    return ctx.positions.get(order.key, ZERO) + order.signed_quantity


_Measure = Callable[[OrderDraft, RiskContext, int], tuple[Any, Any]]


def _measure(rule: RiskRule) -> _Measure:
    """The function giving (measured, limit) of a per-order rule for one order (its ``index`` in
    the run): chosen once per rule of a report, not once per order (a backtest's previews
    measure tens of thousands of orders)."""
    if isinstance(rule, MaxOrderNotional):
        return lambda order, ctx, index: (order_size(order), rule.limit)
    if isinstance(rule, MaxOrderQuantity):
        return lambda order, ctx, index: (order.quantity, rule.limit)
    if isinstance(rule, MaxPositionRatio):
        def position_ratio(order: OrderDraft, ctx: RiskContext, index: int) -> tuple[Any, Any]:
            if order.reference_price is None:
                return None, rule.limit
            return _ratio(abs(_after(order, ctx)) * order.reference_price * order.fx_rate, ctx.portfolio_value), rule.limit
        return position_ratio
    if isinstance(rule, DailyOrderCount):
        return lambda order, ctx, index: (ctx.orders_today + index + 1, rule.limit)
    if isinstance(rule, PriceCheck):
        def price_check(order: OrderDraft, ctx: RiskContext, index: int) -> tuple[Any, Any]:
            kind = ctx.price_kinds.get(order.key)
            if kind in DELAYED_KINDS and not ctx.allow_delayed:
                return kind, "live"
            seen = ctx.price_times.get(order.key)
            if rule.max_age_seconds is None:
                return order.reference_price, None
            if seen is None:  # no time for the price (a backtest's bars): its age is not measured
                return None, rule.max_age_seconds
            age = Decimal(str(((ctx.now or datetime.now(UTC)) - seen).total_seconds()))
            return age, rule.max_age_seconds
        return price_check
    if isinstance(rule, ShortSale):
        return lambda order, ctx, index: (short_after(order, ctx), "allowed" if rule.allow else ZERO)
    if isinstance(rule, PriceCollar):
        def collar(order: OrderDraft, ctx: RiskContext, index: int) -> tuple[Any, Any]:
            if order.order_type != OrderType.LMT or order.reference_price is None or order.limit_price is None:
                return None, rule.pct
            ref = order.reference_price
            return (abs(order.limit_price - ref) * 100 / ref).quantize(RATIO_PLACES), rule.pct
        return collar
    if isinstance(rule, TradingStateRule):
        return lambda order, ctx, index: (str(ctx.trading_state), None)
    return lambda order, ctx, index: (None, None)  # duplicate_order and any rule without a number: its verdict says it all


RUN_WIDE_RULES = (MaxGrossExposure, MaxOrdersPerRun)


def _account_level(rule: RiskRule, orders: Sequence[OrderDraft], ctx: RiskContext) -> tuple[Any, Any] | None:
    """(measured, limit) of a run-wide rule, None for a rule that looks at orders one by one."""
    if isinstance(rule, MaxGrossExposure):
        return _gross_ratio(orders, ctx), rule.limit
    if isinstance(rule, MaxOrdersPerRun):
        return len(orders), rule.limit
    return None


def _gross_ratio(orders: Sequence[OrderDraft], ctx: RiskContext) -> Decimal | None:
    """The gross exposure after the run as a ratio of the portfolio value (as the rule values it)."""
    after = dict(ctx.positions)
    price_of = dict(ctx.prices)
    rate_of: dict[str, Decimal] = {}
    for o in orders:
        after[o.key] = after.get(o.key, ZERO) + o.signed_quantity
        rate_of[o.key] = o.fx_rate
        if o.reference_price is not None:
            price_of[o.key] = o.reference_price
    gross = ZERO
    for key, quantity in after.items():
        price = price_of.get(key)
        if quantity and price is not None:
            try:
                rate = rate_of[key] if key in rate_of else ctx.rate_of(key)
            except MissingRate:
                return None
            gross += abs(quantity) * price * rate
    return _ratio(gross, ctx.portfolio_value)


def is_block(record: Mapping[str, Any]) -> bool:
    """Whether a stored risk decision (a trail record, ``services.trail_queries``) is a block:
    one test for the Decisions panel's count and its colour of the verdict."""
    return record.get("verdict") == BLOCK


def _first(results: Sequence[RuleResult], rule: str) -> RuleResult | None:
    return next((r for r in results if r.rule == rule), None)


def risk_decisions(report: RiskReport) -> list[RiskDecision]:
    """Every rule's verdict: account-level rows first (rule order), then per order (sequence
    order, rule order). A report built without its context (none today) gives the blocks only."""
    ctx = report.context
    rules = report.checked_rules
    orders = report.drafts
    out: list[RiskDecision] = []
    if ctx is None or not rules:
        return [RiskDecision(ACCOUNT_SCOPE if b.symbol is None else ORDER_SCOPE, b.rule, BLOCK, None, None, b.code, b.message,
                             symbol=b.symbol) for b in report.all_blocks()]
    run_blocks = report.run_blocks
    for rule in rules:
        measured = _account_level(rule, orders, ctx)
        block = _first(run_blocks, rule.name)
        if measured is None and block is None:
            continue
        value, limit = measured if measured is not None else (None, None)
        out.append(RiskDecision(ACCOUNT_SCOPE, rule.name, BLOCK if block else PASS, _text(value), _text(limit),
                                block.code if block else "", block.message if block else "", symbol=block.symbol if block else None))
    # the account-level rules (services.core.account_risk: every project together) by their verdict
    measured_names = {rule.name for rule in rules}
    for block in run_blocks:
        if block.rule not in measured_names:
            out.append(RiskDecision(ACCOUNT_SCOPE, block.rule, BLOCK, None, None, block.code, block.message, symbol=block.symbol))
    # those answered once for the account above left out; each rule's measuring function chosen once
    per_order = [(rule, _measure(rule)) for rule in rules if not isinstance(rule, RUN_WIDE_RULES)]
    limit_texts: dict[tuple[type, Any], str | None] = {}  # a rule's limit is the same for every order: written once
    for index, order in enumerate(orders):
        blocks = report.order_blocks.get(index, ())
        for rule, measure in per_order:
            value, limit = measure(order, ctx, index)
            block = _first(blocks, rule.name) if blocks else None  # most orders pass every rule
            limit_key = (type(limit), limit)  # by type too: True == 1, yet they read differently
            limit_text = limit_texts.get(limit_key, _MISSING)
            if limit_text is _MISSING:
                limit_text = limit_texts[limit_key] = _text(limit)
            out.append(RiskDecision(ORDER_SCOPE, rule.name, BLOCK if block else PASS, _text(value), limit_text,
                                    block.code if block else "", block.message if block else "",
                                    order.sequence, order.client_order_id, order.symbol))
        for block in blocks:  # an account-level rule's block of this order
            if block.rule not in measured_names:
                out.append(RiskDecision(ORDER_SCOPE, block.rule, BLOCK, None, None, block.code, block.message,
                                        order.sequence, order.client_order_id, order.symbol))
    return out
