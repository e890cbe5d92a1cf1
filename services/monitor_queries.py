"""What a monitor window reads besides the change feed: the plan of the run it follows (for the
run-progress and slippage charts). Read-only, synchronous (run it off the GUI thread)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from services.db.models import OrderPlan
from services.db.plan_repository import to_plan
from services.run_progress import PlannedOrder


def run_plan(db, run_id: int) -> tuple[dict[str, PlannedOrder], Decimal]:
    """The newest stored plan of ``run_id``: each order's reference by client order id, and the
    gross notional (the progress chart's target). Empty and zero for a run without a plan."""
    with db.session() as session:
        row = session.scalars(select(OrderPlan).where(OrderPlan.run_id == run_id).order_by(OrderPlan.id.desc()).limit(1)).first()
        if row is None:
            return {}, Decimal(0)
        plan = to_plan(row)
    planned = {d.client_order_id: PlannedOrder(d.symbol, d.side, d.reference_price, d.fx_rate) for d in plan.orders}
    return planned, plan.gross_notional
