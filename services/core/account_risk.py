"""Account-level risk: the rules that look at every project on the account together, checked on
top of a project's own rules (docs/project-books.md).

A project's own rules (``services.core.risk_rules``) see its book: its positions and its portfolio
value (its capital). Several projects on one account can each pass them and still together
exceed what the account can carry, so a preview is also checked against the account:

* ``account_gross_exposure``: the account's positions (every project's and the unassigned ones,
  as the broker reports them) after this run's orders, against the account's NetLiquidation,
  with the limit ``max_gross_exposure``;
* ``account_daily_orders``: orders created today by every project, against ``max_daily_orders``
  (a project's own ``max_daily_orders`` counts its own orders);
* ``account_buying_power``: what the run's buys cost net of its sells' proceeds, against the
  account's BuyingPower (not checked when the broker reports none).

A rule switched off (``NAME=off``) is off at both levels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, ClassVar

from services.domain import Side

from .builder import OrderDraft
from .order_values import order_value
from .risk_base import RiskContext, RiskReport, RiskRule, RuleResult
from .risk_limits import decimal_limit, risk_limits, whole_limit
from .risk_rules import DailyOrderCount, MaxGrossExposure

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class AccountView:
    """The account as a whole, beside the project's book."""

    net_liquidation: Decimal | None
    positions: Mapping[str, Decimal] = field(default_factory=dict)  # listing key -> every project's + unassigned
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    orders_today: int = 0  # created today by every project, blocked ones excepted
    buying_power: Decimal | None = None


class AccountGrossExposure(MaxGrossExposure):
    name: ClassVar[str] = "account_gross_exposure"

    def evaluate(self, orders, ctx):
        return [(i, replace(r, message=r.message.replace("of the portfolio", "of the account's NetLiquidation (every project together)")))
                for i, r in super().evaluate(orders, ctx)]


class AccountDailyOrders(DailyOrderCount):
    name: ClassVar[str] = "account_daily_orders"

    def evaluate(self, orders, ctx):
        return [(i, replace(r, code=self.name, message=r.message.replace(" today,", " today on the account,")))
                for i, r in super().evaluate(orders, ctx)]


@dataclass(repr=False)
class AccountBuyingPower(RiskRule):
    buying_power: Decimal
    name: ClassVar[str] = "account_buying_power"

    def params(self):
        return {"buying_power": self.buying_power}

    def evaluate(self, orders, ctx):
        need = ZERO
        for o in orders:
            value = order_value(o) or ZERO
            need += value if o.side is Side.BUY else -value
        if need > self.buying_power:
            return [(None, self.block(f"the run needs {need:.2f} net of its sells, above the account's buying power {self.buying_power:.2f}"))]
        return []


def account_rules(limits: Mapping[str, Any] | None, overrides: Sequence[str], view: AccountView) -> list[RiskRule]:
    merged = risk_limits(limits, overrides)
    rules: list[RiskRule] = []
    if merged["max_gross_exposure"] is not None:
        rules.append(AccountGrossExposure(decimal_limit("max_gross_exposure", merged["max_gross_exposure"])))
    if merged["max_daily_orders"] is not None:
        rules.append(AccountDailyOrders(whole_limit("max_daily_orders", merged["max_daily_orders"])))
    if view.buying_power is not None:
        rules.append(AccountBuyingPower(view.buying_power))
    return rules


def with_account_checks(report: RiskReport, orders: Sequence[OrderDraft], view: AccountView, ctx: RiskContext,
                        limits: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()) -> RiskReport:
    """``report`` (the project's own rules) with the account-level rules added: their blocks
    join the run's and the orders', their names the rules checked."""
    account_ctx = replace(ctx, portfolio_value=view.net_liquidation if view.net_liquidation is not None else ZERO,
                          positions=view.positions, prices={**view.prices, **ctx.prices}, orders_today=view.orders_today)
    rules = account_rules(limits, overrides, view)
    per_order: dict[int, list[RuleResult]] = {i: list(b) for i, b in report.order_blocks.items()}
    run_blocks = list(report.run_blocks)
    if view.net_liquidation is None and any(isinstance(r, AccountGrossExposure) for r in rules):
        rules = [r for r in rules if not isinstance(r, AccountGrossExposure)]
        run_blocks.append(RuleResult(AccountGrossExposure.name, False, AccountGrossExposure.name,
                                     "the account reports no NetLiquidation: its gross exposure cannot be checked"))
    for rule in rules:
        for index, result in rule.evaluate(tuple(orders), account_ctx):
            if index is None:
                run_blocks.append(result)
            else:
                per_order.setdefault(index, []).append(result)
    # the project's context and rules stay with the report: the decision trail measures them
    return RiskReport(report.drafts, {i: tuple(per_order[i]) for i in sorted(per_order)}, tuple(run_blocks),
                      (*report.rules, *(r.name for r in rules)), context=report.context, checked_rules=report.checked_rules)
