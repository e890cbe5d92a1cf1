"""The one preview pipeline: build the orders, then check them against risk.

The trade service (window, ``execute``, ``preview`` with a broker connection) and the offline
``preview`` of a snapshot file both call ``build_and_check``; what differs is only where the
prices, positions and facts come from, so the two can never disagree on a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.domain import TradingState

from .account_risk import AccountView, with_account_checks
from .builder import BuildParams, BuildResult, OrderDraft, Target, build_orders, held_as_if_filled
from .risk import RiskContext, RiskReport, evaluate_risk, rules_from_params


@dataclass(frozen=True, slots=True)
class RiskFacts:
    """What the risk engine needs to know beyond the orders (read from the database when there
    is one; the defaults for a file previewed offline)."""

    trading_state: TradingState = TradingState.ACTIVE
    orders_today: int = 0  # orders created since the trading day's start, blocked ones excepted
    sent_client_order_ids: frozenset[str] = frozenset()
    account_orders_today: int | None = None  # every project's (None: the same as orders_today)


def build_and_check(
    targets: Iterable[Target],
    params: BuildParams,
    *,
    prices: Mapping[str, Decimal],
    positions: Mapping[str, Decimal],
    working: Mapping[str, Decimal] | None = None,
    working_buys: Mapping[str, Decimal] | None = None,
    limits: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    facts: RiskFacts | Callable[[list[str]], RiskFacts] = RiskFacts(),
    price_times: Mapping[str, datetime] | None = None,
    valuation_prices: Mapping[str, Decimal] | None = None,
    price_kinds: Mapping[str, str] | None = None,
    allow_delayed: bool = True,
    now: datetime | None = None,
    account: AccountView | None = None,
) -> tuple[BuildResult, RiskReport]:
    """``facts`` may be a function of the orders' client order ids (which of them exist already
    is known only once they are built). ``price_times`` / ``price_kinds``: when and how each
    price was seen (the stale-price rule; delayed data blocks unless ``allow_delayed``).
    ``valuation_prices``: prices known for valuing positions
    that are not traded (defaults to ``prices``). ``now``: the moment prices' ages are measured
    at (default the current time; a backtest's simulated moment). ``account``: the whole account,
    for the account-level rules on top of the project's own (services.core.account_risk); None
    offline. ``working``: the project's own orders still working (listing key -> signed quantity
    left to fill; none offline, in a backtest or for a file): the builder and the project's rules
    both measure the book as if they filled (docs/project-books.md), so a second run of the same
    targets builds only what the first left undone. ``working_buys``: what its working buys alone
    still buy (gross, listing key -> quantity), which the short-sale rule never counts on."""
    overrides = list(overrides)
    result = build_orders(list(targets), params, prices=prices, positions=positions, working=working)
    report = check_orders(
        result.orders, portfolio_value=params.portfolio_value, positions=positions, working=working, working_buys=working_buys,
        prices=valuation_prices if valuation_prices is not None else prices, limits=limits, overrides=overrides,
        facts=facts, price_times=price_times, price_kinds=price_kinds, allow_delayed=allow_delayed,
        unpriced_symbols=result.unpriced_symbols, base_currency=params.base_currency, fx_rates=params.fx_rates,
        now=now, account=account)
    return result, report


def check_orders(
    orders: Sequence[OrderDraft],
    *,
    portfolio_value: Decimal,
    positions: Mapping[str, Decimal],
    working: Mapping[str, Decimal] | None = None,
    working_buys: Mapping[str, Decimal] | None = None,
    prices: Mapping[str, Decimal],
    limits: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    facts: RiskFacts | Callable[[list[str]], RiskFacts] = RiskFacts(),
    price_times: Mapping[str, datetime] | None = None,
    price_kinds: Mapping[str, str] | None = None,
    allow_delayed: bool = True,
    unpriced_symbols: Sequence[str] = (),
    base_currency: str = "USD",
    fx_rates: Mapping[str, Decimal] | None = None,
    now: datetime | None = None,
    account: AccountView | None = None,
) -> RiskReport:
    """The risk half of the pipeline for orders built elsewhere: a run's (``build_and_check``)
    and a ticket's one order (services.execution.manual) meet the same rules, limits and facts,
    the account-level rules (``account``) included. ``positions``: the project's filled book;
    ``working``: its own orders still working, which its rules count as if they filled;
    ``working_buys``: what the buys among them still buy, gross (the short-sale rule never counts
    on them; not given: the positive part of ``working``, right only when a listing's working
    orders are all one side)."""
    if callable(facts):
        facts = facts([o.client_order_id for o in orders])
    rules = rules_from_params(limits or {}, overrides)
    ctx = RiskContext(
        portfolio_value=portfolio_value,
        positions=held_as_if_filled(positions, working),
        working=working or {},
        working_buys=working_buys if working_buys is not None else {k: q for k, q in (working or {}).items() if q > 0},
        prices=prices,
        price_times=price_times or {},
        price_kinds=price_kinds or {},
        allow_delayed=allow_delayed,
        trading_state=facts.trading_state,
        orders_today=facts.orders_today,
        unpriced_symbols=tuple(unpriced_symbols),
        sent_client_order_ids=facts.sent_client_order_ids,
        base_currency=base_currency,
        fx_rates=fx_rates or {},
        now=now,
    )
    report = evaluate_risk(orders, ctx, rules)
    if account is not None:
        if facts.account_orders_today is not None:
            account = replace(account, orders_today=facts.account_orders_today)
        report = with_account_checks(report, list(orders), account, ctx, limits, list(overrides))
    return report
