"""The database's positions equal IB's (the simulator's) to the cent, over a real socket on SQLite
and MariaDB: a buy, partial sells, an execution correction, a late commission and a reversal
through zero. IB's side is read as a client sees it: ib_async's ``ib.portfolio()`` (the
updatePortfolio averageCost and realizedPNL, docs/ib-average-cost.md)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.db.models import TradeFill
from services.db.repositories import PositionRepository, ProjectRepository, SettingsRepository
from services.domain import OrderState, Side
from tests.fixtures.ib import wait_for

from .test_actions import _settle

pytestmark = pytest.mark.timeout(90)
CENT = Decimal("0.01")


def _cents(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _all_commissions_in(db) -> bool:
    with db.session() as session:
        return all(c is not None for c in session.scalars(select(TradeFill.commission).where(TradeFill.superseded.is_(False))))


async def test_database_book_equals_ib_portfolio_to_the_cent(stack, ib_client):
    sim = stack.sim
    sim.faults.add_rule(order_ref="^E2E-2$", exec_correction=True)
    sim.faults.late_commission_delay = 0.05
    sim.faults.add_rule(order_ref="^E2E-3$", late_commission=True)
    observer = await ib_client(client_id=9)
    with stack.db.unit_of_work() as session:  # the last sell goes through zero into a short
        settings = SettingsRepository(session)
        settings.set_risk_defaults({**settings.risk_defaults(), "allow_short": True})
    steps = [  # (price, side, quantity)
        ("20.00", Side.BUY, 300),  # opens long; commission 1.50 joins the cost
        ("20.37", Side.SELL, 100),  # partial sell, then corrected by +0.01 (revision .02)
        ("19.11", Side.BUY, 50),  # adds; its commission report comes late (maybe after the next fill)
        ("20.55", Side.SELL, 120),  # partial sell
        ("20.71", Side.SELL, 230),  # sells through zero: closes 130, opens a short of 100
    ]
    for n, (price, side, quantity) in enumerate(steps, start=1):
        sim.set_price("AAPL", Decimal(price))
        record = await stack.actions.manual_order("AAPL", side, Decimal(quantity), project="alpha", client_order_id=f"E2E-{n}")
        await _settle(stack, record.id, {OrderState.FILLED})

    async def settled() -> bool:
        await stack.writer.flush()
        item = next((p for p in observer.portfolio() if p.contract.symbol == "AAPL"), None)
        return _all_commissions_in(stack.db) and item is not None and item.position == -100

    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while not await settled():
        assert loop.time() < end, "the late commission or the portfolio update never arrived"
        await asyncio.sleep(0.01)
    await wait_for(lambda: len(sim.executions()) == len(steps), 5, "every execution at the simulator")

    [item] = [p for p in observer.portfolio() if p.contract.symbol == "AAPL"]
    with stack.db.session() as session:
        project_id = ProjectRepository(session).get_or_create("alpha").id
        account_row = PositionRepository(session).get(stack.provider.account, "AAPL")
        project_row = PositionRepository(session).get(stack.provider.account, "AAPL", project_id=project_id)
    for row in (account_row, project_row):
        assert row.quantity == Decimal(-100)
        assert _cents(row.average_cost) == _cents(item.averageCost)
        assert _cents(row.realized_pnl) == _cents(item.realizedPNL)
    # independently: the 350 shares bought were all sold; realized = gross - every commission but
    # the part of the last fill's commission that opened the short (100 of its 230 shares)
    with stack.db.session() as session:
        fills = list(session.scalars(select(TradeFill).where(TradeFill.superseded.is_(False)).order_by(TradeFill.id)))
    superseded = [f for f in session_fills(stack.db) if f.superseded]
    assert len(superseded) == 1 and fills[1].price == superseded[0].price + Decimal("0.01")  # the corrected price counts
    price = [f.price for f in fills]
    commission = [f.commission for f in fills]
    gross = price[1] * 100 + price[3] * 120 + price[4] * 130 - (price[0] * 300 + price[2] * 50)
    expected = gross - sum(commission[:4]) - commission[4] * 130 / 230
    assert _cents(account_row.realized_pnl) == _cents(expected)
    assert _cents(account_row.average_cost) == _cents(price[4] - commission[4] * 100 / 230 / 100)


def session_fills(db):
    with db.session() as session:
        return list(session.scalars(select(TradeFill).order_by(TradeFill.id)))
