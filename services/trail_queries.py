"""The decision trail of a plan or a run, as the ``trail`` command and the window's Decisions view
read it: the signals the preview saw, why each order exists (or why a symbol got none), every
risk rule's verdict, the orders' state changes (``order_events``) and the projects' portfolio
snapshots during the run (docs/decision-trail.md).

Synchronous, off the GUI thread; returns frozen values of JSON-ready dicts (decimals as exact
text without trailing zeros, times as ISO 8601 UTC), never ORM rows.

A run's trail is the trail of the plan it executed (``trade_runs.params.plan_id``), or of its
newest plan when it executed none. A plan's trail holds the state changes and snapshots of its
run only when the run executed that plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import func, select

from services.backtest.outcomes import NEVER_SENT
from services.console_books import rates_listed, stored_rates_said
from services.core.risk_measures import MEASURED_IS_PRICE, holds_its_price, is_block
from services.core.wording import counted
from services.db.models import (
    OrderEvent,
    OrderPlan,
    TradeOrder,
    TradeRun,
    TrailOrderDecision,
    TrailPortfolioSnapshot,
    TrailRiskDecision,
    TrailSignal,
)
from services.domain import TradeMode

TRAIL_LISTS = ("signals", "order_decisions", "risk_decisions", "state_changes", "portfolio_snapshots")


class TrailNotFound(LookupError):
    """No such run or plan (the command's exit 2)."""


@dataclass(frozen=True, slots=True)
class DecisionTrail:
    run_id: int
    plan_id: int | None  # None: the run has no plan yet
    executed: bool  # the run executed this plan (state changes and snapshots belong to it)
    signals: tuple[dict, ...] = ()
    order_decisions: tuple[dict, ...] = ()
    risk_decisions: tuple[dict, ...] = ()
    state_changes: tuple[dict, ...] = ()
    portfolio_snapshots: tuple[dict, ...] = ()
    # no plan: why, as the run's message says it ("preview refused: unknown contract: ...", a
    # ticket's refusal, a backtest that ended before it); None: none said, or a plan
    no_plan: str | None = None
    # a backtest's rebalance (a run of mode backtest): its orders "executed" against historical
    # bars and never reached a broker; its title says so (the Backtest panel's double-click
    # opens it in the same panel as a paper or live run)
    backtest: bool = False

    @property
    def snapshots_without_money(self) -> tuple[dict, ...]:
        """The portfolio snapshots whose money could not be converted into the account's base
        currency (a rate missing: their market value, cash and equity are None; ``money_in`` says why)."""
        return tuple(s for s in self.portfolio_snapshots if (s.get("rates") or {}).get("missing"))

    @property
    def blocked_verdicts(self) -> int:
        """How many of the risk rules' verdicts are blocks."""
        return sum(1 for record in self.risk_decisions if is_block(record))

    @property
    def summary(self) -> str:
        """The counts the Decisions panel says of the trail: "1 signal · 2 decisions · 14 verdicts
        (1 block) · 2 state changes · 1 snapshot", then the snapshots a missing exchange rate left
        without money figures and why, said rather than hidden in the count."""
        unconverted = self.snapshots_without_money
        why = sorted({s.get("money_in") or "" for s in unconverted})
        return (f"{counted(len(self.signals), 'signal')} · {counted(len(self.order_decisions), 'decision')} · "
                f"{counted(len(self.risk_decisions), 'verdict')} ({self.blocked_verdicts} block) · "
                f"{counted(len(self.state_changes), 'state change')} · {counted(len(self.portfolio_snapshots), 'snapshot')}"
                + (f" ({len(unconverted)} without money figures: {'; '.join(why)})" if unconverted else ""))

    @property
    def plan_words(self) -> str:
        """Its plan, or why the run has none: "plan 7", "no plan yet", "no plan: preview refused: ..."."""
        if self.plan_id is not None:
            return f"plan {self.plan_id}"
        return f"no plan: {self.no_plan}" if self.no_plan else "no plan yet"

    @property
    def title(self) -> str:
        """What the trail is, as the Decisions panel heads it: a plan its run did not execute was
        never sent (a run sends one plan), so it reads as the preview it is."""
        if self.backtest:
            executed = f" ({NEVER_SENT})" if self.executed else ""
            return f"Backtest run {self.run_id}, {self.plan_words}{executed}"
        if self.plan_id is None:
            return f"Run {self.run_id}, {self.plan_words}"
        if self.executed:
            return f"Run {self.run_id}, plan {self.plan_id} (executed)"
        return f"Preview not sent: run {self.run_id}, plan {self.plan_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "plan_id": self.plan_id, "executed": self.executed, "no_plan": self.no_plan,
                **{name: list(getattr(self, name)) for name in TRAIL_LISTS}}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _row(row, skip: tuple[str, ...] = ("row_hash",)) -> dict[str, Any]:
    return {c.name: _plain(getattr(row, c.name)) for c in type(row).__table__.columns if c.name not in skip}


def _snapshot(row: TrailPortfolioSnapshot) -> dict[str, Any]:
    return {**_row(row, ()), "money_in": money_in(row.rates, row.account)}


def money_in(rates: dict | None, account: str) -> str:
    """What a portfolio snapshot's money is in, from its ``rates`` (docs/currencies.md, "Decision
    trail"): the currency and the stored rates it was converted at, or why it has none. Empty for
    a row without ``rates`` (a backtest's, one currency; or written before they were kept)."""
    if not rates:
        return ""
    missing = "/".join(rates.get("missing") or ())
    if missing:
        if rates.get("base") is None:
            return f"not converted: no rates stored for account {account} (amounts in {missing})"
        return f"not converted: no {missing} rate stored for account {account} (base {rates['base']})"
    used = rates.get("rates") or {}
    if not used:
        return rates.get("currency") or ""
    as_of = datetime.fromisoformat(rates["as_of"])
    return (f"{rates['currency']} at {stored_rates_said(as_of)} "
            f"({rates_listed(((c, Decimal(r)) for c, r in sorted(used.items())), rates['currency'])})")


def _risk_rows(rows: tuple[dict, ...], orders: tuple[dict, ...]) -> tuple[dict, ...]:
    """The risk records, an old price rule's record of its order's price beside the age limit
    marked (``MEASURED_IS_PRICE``: read as the price it holds, not as seconds). No migration can
    rewrite it: each record's content is under its row hash, which the audit chain certifies."""
    prices = {o["client_order_id"]: o["price"] for o in orders if o.get("client_order_id")}
    return tuple({**row, MEASURED_IS_PRICE: True}
                 if holds_its_price(row["rule"], row.get("measured"), row.get("limit_value"), prices.get(row.get("client_order_id")))
                 else row for row in rows)


def _by_plan(session, model, plan_id: int) -> tuple[dict, ...]:
    return tuple(_row(r) for r in session.scalars(select(model).where(model.plan_id == plan_id).order_by(model.id)))


def decision_trail(db, *, run_id: int | None = None, plan_id: int | None = None) -> DecisionTrail:
    """The trail of a plan (``plan_id``) or of a run (``run_id``); exactly one of them."""
    if (run_id is None) == (plan_id is None):
        raise ValueError("give a run or a plan")
    with db.session() as session:
        if plan_id is not None:
            plan = session.get(OrderPlan, plan_id)
            if plan is None:
                raise TrailNotFound(f"plan {plan_id} does not exist")
            run = session.get(TradeRun, plan.run_id)
        else:
            run = session.get(TradeRun, run_id)
            if run is None:
                raise TrailNotFound(f"run {run_id} does not exist")
            executed_plan = (run.params or {}).get("plan_id")
            plan_id = int(executed_plan) if executed_plan is not None else session.scalar(
                select(func.max(OrderPlan.id)).where(OrderPlan.run_id == run.id))
        assert run is not None  # a plan's run is a foreign key
        executed = plan_id is not None and str((run.params or {}).get("plan_id")) == str(plan_id)
        decisions: dict[str, tuple[dict, ...]] = {}
        if plan_id is not None:
            orders = _by_plan(session, TrailOrderDecision, plan_id)
            decisions = {"signals": _by_plan(session, TrailSignal, plan_id), "order_decisions": orders,
                         "risk_decisions": _risk_rows(_by_plan(session, TrailRiskDecision, plan_id), orders)}
        history: dict[str, tuple[dict, ...]] = {}
        if executed or plan_id is None:
            changes = session.execute(
                select(OrderEvent, TradeOrder.client_order_id, TradeOrder.symbol)
                .join(TradeOrder, OrderEvent.order_id == TradeOrder.id)
                .where(TradeOrder.run_id == run.id).order_by(OrderEvent.id))
            history["state_changes"] = tuple(
                {"id": e.id, "time": _plain(e.time), "order_id": e.order_id, "client_order_id": ref, "symbol": symbol,
                 "from_state": _plain(e.from_state), "to_state": _plain(e.to_state), "event_type": e.event_type,
                 "source": _plain(e.source), "message": e.message} for e, ref, symbol in changes)
            history["portfolio_snapshots"] = tuple(_snapshot(s) for s in session.scalars(
                select(TrailPortfolioSnapshot).where(TrailPortfolioSnapshot.run_id == run.id).order_by(TrailPortfolioSnapshot.id)))
        return DecisionTrail(run.id, plan_id, executed, **decisions, **history,
                             no_plan=run.message if plan_id is None else None, backtest=run.mode is TradeMode.BACKTEST)
