"""The risk engine's vocabulary: what a rule sees, what it answers, and what a run's check makes of it.

:class:`RiskContext` is what every rule is checked against besides the orders (the portfolio's
value, positions, prices and their age, the trading state, ...); a rule answers pass, or a
:class:`RuleResult` that blocks, placed on an order or on the whole run (a :data:`Block`);
:class:`RiskReport` keeps a run's blocks and says its :class:`Verdict`. :class:`RiskRule` is
the base class every rule derives from: the project's (``services.core.risk_rules``) and the
account's (``services.core.account_risk``).

It stands at the foot of the engine and imports none of it, so the rules, the limits' parsing
(``services.core.risk_limits``), the trail's measured values (``services.core.risk_measures``)
and ``evaluate_risk`` (``services.core.risk``) all build on it without a circle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from services.core.contracts import ContractSpec, rate_to_base
from services.domain import TradingState

from .builder import OrderDraft


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

    @property
    def said(self) -> str:
        """This block as the trader reads it everywhere (``block_said``)."""
        return block_said(self.message, self.code or self.rule, self.symbol)


def block_said(message: str, code: str | None = None, symbol: str | None = None) -> str:
    """``AAPL: order value 10,072.92 above 9,000.00 (max_order_notional)``: a risk block in its
    rule's words with its code after them, its symbol first when the words do not name it: the
    one wording of the risk panel, ``preview``, a backtest's rebalances and ``backtests --show``
    (the panel said "message (code)", a backtest "code: message", ``preview`` "blocked AAPL:
    AAPL: ...")."""
    named = message if not symbol or message.startswith(f"{symbol}:") else f"{symbol}: {message}"
    return f"{named} ({code})" if code else named


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
