"""The facts the risk engine reads from the database: one query for every front end."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.core.pipeline import RiskFacts
from services.core.risk import trading_day_start
from services.db.models import TradeOrder
from services.db.repositories.settings import SettingsRepository
from services.domain import OrderState


def load_risk_facts(session: Session, client_order_ids: Iterable[str] = (), *, now: datetime | None = None,
                    project_id: int | None = None) -> RiskFacts:
    """Trading state, orders created since the trading day's start (blocked ones do not count:
    they never went out), and which of ``client_order_ids`` exist already (a rerun must not
    resend them). With ``project_id``: the daily count is the project's own, and the account's
    (every project's) comes beside it for the account-level rule."""
    today = (TradeOrder.created_at >= trading_day_start(now), TradeOrder.status != OrderState.BLOCKED)
    account_today = int(session.scalar(select(func.count(TradeOrder.id)).where(*today)) or 0)
    orders_today = account_today
    if project_id is not None:
        orders_today = int(session.scalar(select(func.count(TradeOrder.id)).where(*today, TradeOrder.project_id == project_id)) or 0)
    ids = list(dict.fromkeys(client_order_ids))
    sent: set[str] = set()
    for start in range(0, len(ids), 500):  # keep IN lists short on both databases
        sent.update(session.scalars(select(TradeOrder.client_order_id).where(
            TradeOrder.client_order_id.in_(ids[start:start + 500]))).all())
    return RiskFacts(SettingsRepository(session).trading_state(), orders_today, frozenset(sent),
                     account_orders_today=account_today if project_id is not None else None)
