"""Pre-trade risk: rule objects with parameters, a report per run, and a run verdict.

Every rule answers pass, or block with a reason code (the rule's name, or a more specific code
such as ``stale_price``) and a message. A run with any blocking result is BLOCKED and nothing
of it may be sent. Rules see the whole run at once (``evaluate``), so run-wide rules (gross
exposure, orders per run, daily count, duplicates) and per-order rules share one interface and
the per-order ones run as one tight loop; ``check_order`` checks a single order (a manual order
from the GUI).

Market orders are valued at their reference price (vn.py skips market orders; we do not), limit
orders at their limit price. Values are in the account's base currency: an order's prices are
in its listing's currency and convert at the draft's ``fx_rate``; a held position not traded
converts at ``RiskContext.fx_rates`` (its currency comes from its listing key).

The engine in four modules, each importing only those above it in this list:

* ``order_values``: what an order is worth, as the rules measure it and the ticket says it;
* ``risk_base``: the context, a rule's result, the run's report and verdict, the base rule;
* ``risk_rules``: the rules themselves;
* ``risk_limits``: the limits' defaults and reading, and the rules they make.

This module checks a run (:func:`evaluate_risk`, which defaults to the default limits' rules,
so it stands above them all) and is the engine's face: the names most callers use are
re-exported here (``from services.core.risk import rules_from_params`` reads as before).
The trail's measured value of each rule is ``services.core.risk_measures``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .builder import OrderDraft
from .order_values import order_size, order_value, plan_value_rows, value_words
from .risk_base import OrderRisk, RiskContext, RiskReport, RiskRule, RuleResult, Verdict
from .risk_limits import DEFAULT_RISK_LIMITS, RiskParamError, risk_limits, rules_from_params
from .risk_rules import (
    MaxGrossExposure,
    MaxOrderNotional,
    MaxPositionRatio,
    PriceCheck,
    grows_exposure,
    trading_state_allows,
)

# The engine's face: its values, and the names callers and tests import from here though the
# modules below define them (the rest is imported from its own module).
__all__ = [
    "DEFAULT_RISK_LIMITS",
    "MaxGrossExposure",
    "MaxOrderNotional",
    "MaxPositionRatio",
    "OrderRisk",
    "PriceCheck",
    "RiskContext",
    "RiskParamError",
    "RiskReport",
    "RiskRule",
    "RuleResult",
    "Verdict",
    "evaluate_risk",
    "grows_exposure",
    "order_size",
    "order_value",
    "plan_value_rows",
    "risk_limits",
    "rules_from_params",
    "trading_state_allows",
    "value_words",
]


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
