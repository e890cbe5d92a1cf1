"""The facts the risk engine reads from the database: one query for every front end."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from services.core.pipeline import RiskFacts
from services.core.trading_hours import trading_day_start
from services.db.models import TradeOrder, TradeRun
from services.db.repositories.base import fetch_all
from services.db.repositories.settings import SettingsRepository
from services.db.scope import not_backtest
from services.domain import OrderState, TradingState


def load_risk_facts(session: Session, client_order_ids: Iterable[str] = (), *, now: datetime | None = None,
                    project_id: int | None = None, settings: SettingsRepository | None = None) -> RiskFacts:
    """Trading state, orders created since the trading day's start (blocked ones do not count:
    they never went out), and which of ``client_order_ids`` exist already (a rerun must not
    resend them). With ``project_id``: the daily count is the project's own, and the account's
    (every project's) comes beside it for the account-level rule. A backtest's orders never count
    against the account. ``settings``: the caller's repository of the settings row (a preview
    reads the row once)."""
    today = (TradeOrder.created_at >= trading_day_start(now), TradeOrder.status != OrderState.BLOCKED,
             not_backtest(TradeOrder.account))
    account_today = int(session.scalar(select(func.count(TradeOrder.id)).where(*today)) or 0)
    orders_today = account_today
    if project_id is not None:
        orders_today = int(session.scalar(select(func.count(TradeOrder.id)).where(*today, TradeOrder.project_id == project_id)) or 0)
    return RiskFacts((settings or SettingsRepository(session)).trading_state(), orders_today, _existing(session, client_order_ids),
                     account_orders_today=account_today if project_id is not None else None)


# every backtest preview runs these: built once, on the tables' columns (an ORM-enabled select
# costs more than the statement itself on SQLite). The project narrows nothing (a simulated
# account belongs to one project) but lets the database start from the project's runs in their
# index instead of scanning every order ever stored (a ten-year backtest's preview got slower
# each month).
_ORDERS = cast(Table, TradeOrder.__table__)
_RUNS = cast(Table, TradeRun.__table__)
_BACKTEST_ORDERS_TODAY = select(func.count(_ORDERS.c.id)).join(_RUNS, _ORDERS.c.run_id == _RUNS.c.id).where(
    _RUNS.c.project_id == bindparam("project_id"), _RUNS.c.trade_date == bindparam("trade_date"),
    _ORDERS.c.account == bindparam("account"), _ORDERS.c.status != OrderState.BLOCKED)
_EXISTING = select(_ORDERS.c.client_order_id).where(_ORDERS.c.client_order_id.in_(bindparam("ids", expanding=True)))


def load_backtest_risk_facts(session: Session, project_id: int, trade_date: date, account: str,
                             client_order_ids: Iterable[str] = ()) -> RiskFacts:
    """The facts of a backtest's run (of ``project_id`` on ``trade_date``): its simulated books
    trade whatever the live trading state is (a HALT stops the broker, not a simulation), and its
    day's orders are the orders of the same simulated account on the run's simulated trade date
    (the real clock means nothing here)."""
    orders_today = fetch_all(session, _BACKTEST_ORDERS_TODAY, {"project_id": project_id, "account": account,
                                                              "trade_date": trade_date})[0][0] or 0
    return RiskFacts(TradingState.ACTIVE, int(orders_today), _existing(session, client_order_ids))


def _existing(session: Session, client_order_ids: Iterable[str]) -> frozenset[str]:
    """Which of these client order ids exist already (a rerun must not resend them)."""
    ids = list(dict.fromkeys(client_order_ids))
    sent: set[str] = set()
    for start in range(0, len(ids), 500):  # keep IN lists short on both databases
        sent.update(client_order_id for client_order_id, in fetch_all(session, _EXISTING, {"ids": ids[start:start + 500]}))
    return frozenset(sent)
