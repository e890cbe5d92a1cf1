"""Frozen order plans: stored once, read many times, never updated (services.core.plans)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from services.core.builder import OrderDraft
from services.core.plans import Plan, PriceRef, content_hash, plan_content
from services.db.models import OrderPlan
from services.db.repositories.base import insert_one
from services.db.types import utcnow
from services.domain import OrderType, Side, TradeMode


class PlanNotFound(LookupError):
    pass


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def draft_from_dict(d: dict) -> OrderDraft:
    return OrderDraft(
        sequence=int(d["sequence"]), symbol=d["symbol"], side=Side(d["side"]), quantity=Decimal(d["quantity"]),
        order_type=OrderType(d["order_type"]), limit_price=_dec(d.get("limit_price")),
        reference_price=_dec(d.get("reference_price")), notional=_dec(d.get("notional")),
        current_quantity=_dec(d.get("current_quantity")) or Decimal(0),
        target_quantity=_dec(d.get("target_quantity")) or Decimal(0),
        target_weight=_dec(d.get("target_weight")), client_order_id=d["client_order_id"],
        sec_type=d.get("sec_type", "STK"), exchange=d.get("exchange", "SMART"), currency=d.get("currency", "USD"),
        primary_exchange=d.get("primary_exchange") or "", fx_rate=_dec(d.get("fx_rate")) or Decimal(1),
        stop_price=_dec(d.get("stop_price")), tif=d.get("tif", "DAY"), outside_rth=bool(d.get("outside_rth", False)),
    )


# a plan is written once and never changed: a Core INSERT (built once) instead of an ORM object
# and its unit-of-work flush, which was most of storing a backtest's plan; run through the
# driver (base.insert_one), without SQLAlchemy's handling of a statement
_INSERT = insert(cast(Table, OrderPlan.__table__))
_COLUMNS = ("run_id", "project_id", "snapshot_id", "mode", "account", "created_at", "portfolio_value", "verdict",
            "content_hash", "params", "prices", "positions", "orders", "skipped", "risk")


class PlanRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *, run_id: int, project_id: int, snapshot_id: int | None, mode: TradeMode, account: str | None,
            portfolio_value: Decimal, verdict: str, orders: list[OrderDraft], prices: dict[str, PriceRef],
            positions: dict[str, Decimal], params: dict, skipped: list[dict], risk: dict) -> Plan:
        content = plan_content(
            run_id=run_id, project_id=project_id, snapshot_id=snapshot_id, mode=mode, account=account,
            portfolio_value=portfolio_value, verdict=verdict, orders=[o.to_dict() for o in orders], prices=prices,
            positions=positions, params=params, skipped=skipped, risk=risk)
        values = dict(
            run_id=run_id, project_id=project_id, snapshot_id=snapshot_id, mode=TradeMode(mode), account=account,
            created_at=utcnow(), portfolio_value=portfolio_value, verdict=verdict, content_hash=content_hash(content),
            params=content["params"], prices=content["prices"], positions=content["positions"],
            orders=content["orders"], skipped=content["skipped"], risk=content["risk"])
        plan_id = insert_one(self.session, _INSERT, _COLUMNS, [values[name] for name in _COLUMNS])
        return to_plan(SimpleNamespace(id=plan_id, **values))

    def get(self, plan_id: int) -> Plan:
        row = self.session.get(OrderPlan, plan_id)
        if row is None:
            raise PlanNotFound(f"plan {plan_id} does not exist")
        return to_plan(row)

    def verify(self, plan_id: int) -> bool:
        """Does the stored plan still hash to the value it was stored with?"""
        return self.get_checked(plan_id)[1]

    def get_checked(self, plan_id: int) -> tuple[Plan, bool]:
        """The plan as stored now, and whether its rows still hash to the value it was stored
        with (what executing it checks before sending: ``verify`` alone was never asked there)."""
        row = self.session.get(OrderPlan, plan_id)
        if row is None:
            raise PlanNotFound(f"plan {plan_id} does not exist")
        plan = to_plan(row)
        return plan, content_hash(_content_of(row, plan)) == row.content_hash


def _content_of(row: OrderPlan, plan: Plan) -> dict:
    return plan_content(
        run_id=row.run_id, project_id=row.project_id, snapshot_id=row.snapshot_id, mode=row.mode, account=row.account,
        portfolio_value=plan.portfolio_value, verdict=row.verdict, orders=list(row.orders or []), prices=plan.prices,
        positions=plan.positions, params=dict(row.params or {}), skipped=list(row.skipped or []), risk=dict(row.risk or {}))


def to_plan(row: OrderPlan | SimpleNamespace) -> Plan:
    """``row``: a stored plan, or the values of one just inserted (``PlanRepository.add``)."""
    return Plan(
        id=row.id, run_id=row.run_id, project_id=row.project_id, snapshot_id=row.snapshot_id, mode=TradeMode(row.mode),
        account=row.account, created_at=row.created_at, portfolio_value=Decimal(row.portfolio_value),
        verdict=row.verdict, content_hash=row.content_hash,
        orders=tuple(draft_from_dict(d) for d in (row.orders or [])),
        prices={s: PriceRef.from_dict(p) for s, p in (row.prices or {}).items()},
        positions={s: Decimal(q) for s, q in (row.positions or {}).items()},
        params=dict(row.params or {}), skipped=tuple(row.skipped or []), risk=dict(row.risk or {}),
    )
