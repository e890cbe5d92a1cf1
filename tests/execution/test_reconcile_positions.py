"""Reconciliation's position correction against fills that arrive while it runs (SQLite and
MariaDB, the simulator over a real socket): IB's answer is a snapshot; a live fill received
after it was asked for must not be overwritten by it (the soak's 'database position stays at
the buy run's quantity while IB has 0')."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.db.repositories import PositionRepository
from services.domain import OrderState, Side

from .test_actions import _settle

pytestmark = pytest.mark.timeout(60)


def _account_position(stack, symbol: str) -> Decimal:
    with stack.db.session() as session:
        row = PositionRepository(session).get(stack.provider.account, symbol)
        return row.quantity if row is not None else Decimal(0)


async def test_a_fill_after_the_positions_answer_is_not_overwritten_by_it(stack, monkeypatch):
    bought = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(10))
    await _settle(stack, bought.id, {OrderState.FILLED})
    assert _account_position(stack, "AAPL") == Decimal(10)
    real_positions = stack.provider.positions
    passes = []

    async def answer_then_sell():
        answer = await real_positions()  # IB holds 10 AAPL in this answer
        if passes:  # the sell's own risk check asks for the positions too
            return answer
        passes.append(answer)
        # the position is sold while the pass still works (its flush, the in-flight checks)
        sold = await stack.actions.manual_order("AAPL", Side.SELL, Decimal(10))
        await _settle(stack, sold.id, {OrderState.FILLED})
        return answer

    monkeypatch.setattr(stack.provider, "positions", answer_then_sell)
    report = await stack.reconciler.reconcile()
    assert stack.sim.positions().get("AAPL", Decimal(0)) == 0
    assert _account_position(stack, "AAPL") == Decimal(0), "the stale answer overwrote the sell fill"
    monkeypatch.undo()
    # the next pass agrees with IB and corrects nothing
    assert "AAPL" not in (await stack.reconciler.reconcile()).positions_corrected
    assert report.positions_corrected == []


async def test_a_real_difference_is_still_corrected(stack):
    bought = await stack.actions.manual_order("MSFT", Side.BUY, Decimal(7))
    await _settle(stack, bought.id, {OrderState.FILLED})
    with stack.db.unit_of_work() as session:  # our row drifted (e.g. a fill lost before this version)
        PositionRepository(session).upsert(stack.provider.account, "MSFT", Decimal(3), Decimal(1))
    report = await stack.reconciler.reconcile()
    assert "MSFT" in report.positions_corrected
    assert _account_position(stack, "MSFT") == Decimal(7)


def test_a_backtest_order_left_open_never_makes_reconciliation_ask_for_completed_orders(database):
    """With no account known yet (the first pass after connecting), the orders the database has
    working are every real account's: a backtest's order left open (a backtest killed before
    ``closing.close_abandoned`` looked) counted as missing from IB's open orders, and the pass
    asked IB for the completed orders it did not need."""
    from types import SimpleNamespace

    from services.db.repositories import OrderRepository
    from services.domain import BACKTEST_ACCOUNT_PREFIX, OrderState
    from services.execution.reconcile import Reconciler

    with database.unit_of_work() as session:
        row, _ = OrderRepository(session).insert_once("BT-OPEN-1", "AAPL", "BUY", 10, account=f"{BACKTEST_ACCOUNT_PREFIX}1-1")
        row.status = OrderState.ACCEPTED
    reconciler = Reconciler(database, SimpleNamespace(account=""), writer=None)
    assert reconciler._working_unlisted(set(), set()) is False
    with database.unit_of_work() as session:
        real, _ = OrderRepository(session).insert_once("REAL-OPEN-1", "AAPL", "BUY", 10, account="DU1")
        real.status = OrderState.ACCEPTED
    assert reconciler._working_unlisted(set(), set()) is True  # a real account's working order still counts
