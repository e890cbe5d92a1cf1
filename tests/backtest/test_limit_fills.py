"""A backtest's LMT orders fill only within their limit: the simulated fill (the close or the next
open, after slippage) at or better than the limit fills at that simulated price; beyond it the
order does not fill that session and, a DAY order, is canceled, its cash and positions untouched,
the run closed and its trail saying so. Bars written by hand: whether each limit is reachable is
set here, not drawn."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.backtest.costs import FillAt
from services.backtest.inputs import DatedSnapshot
from services.backtest.prices import PriceBook
from services.backtest.runner import Backtester, BacktestSpec
from services.core.bars import Bar
from services.core.snapshots import SnapshotItem
from services.db.models import Position, TradeFill, TradeOrder, TradeRun
from services.domain import OrderState, OrderType, RunStatus
from services.trail_queries import decision_trail

pytestmark = pytest.mark.timeout(120)

DAY, NEXT, LAST = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)
CASH = Decimal(10_000)
BPS = Decimal(10)  # the limit offset and, at the close, the slippage: the limit is the slipped close floored to the cent


def _bar(day: date, symbol: str, opened: str, close: str) -> Bar:
    o, c = Decimal(opened), Decimal(close)
    return Bar(day, symbol, o, max(o, c), min(o, c), c, Decimal(1_000_000))


def _market(bars: dict[str, tuple[tuple[str, str], ...]]) -> PriceBook:
    """``symbol -> ((open, close) of DAY, NEXT, LAST)``."""
    return PriceBook(_bar(day, symbol, o, c) for symbol, rows in bars.items() for day, (o, c) in zip((DAY, NEXT, LAST), rows, strict=True))


def _snapshot() -> list[DatedSnapshot]:
    items = (SnapshotItem("REACH", Decimal("0.2"), 1), SnapshotItem("AWAY", Decimal("0.2"), 2))
    return [DatedSnapshot(DAY, "alpha", "alpha-2024-01-02.csv", "alpha-2024-01-02", items)]


def _spec(fill: FillAt, slippage: Decimal) -> BacktestSpec:
    builder = {"rounding": "floor", "lot_size": Decimal(1), "order_type": "LMT", "limit_offset_bps": BPS}
    return BacktestSpec(CASH, fill, slippage_bps=slippage, commission="none", builder=builder, start=DAY, end=LAST)


# close: both limits are the slipped close floored to the cent; REACH's close (100.00) slips
# to 100.10 exactly, its limit (filled at it); AWAY's (50.01) slips to 50.06001, above its
# limit 50.06 (not filled). next-open: the limits are the closes + 10 bps (100.10, 50.06);
# REACH opens below its limit, AWAY gaps up above it.
CASES = {
    FillAt.CLOSE: (BPS, {"REACH": (("99", "100.00"), ("101", "101"), ("101", "101")),
                         "AWAY": (("50", "50.01"), ("50", "50"), ("50", "50"))},
                   {"REACH": Decimal("100.10")}),
    FillAt.NEXT_OPEN: (Decimal(5), {"REACH": (("99", "100.00"), ("99.50", "101"), ("101", "101")),
                                    "AWAY": (("50", "50.01"), ("52", "53"), ("53", "53"))},
                       {"REACH": Decimal("99.50") * Decimal("1.0005")}),
}


@pytest.mark.parametrize("fill", [FillAt.CLOSE, FillAt.NEXT_OPEN], ids=str)
async def test_a_limit_order_fills_only_within_its_limit_else_it_is_canceled_untouched(database, fill):
    slippage, bars, filled_at = CASES[fill]
    prices = _market(bars)
    outcome = await Backtester(database, prices, _snapshot(), _spec(fill, slippage)).run()
    assert outcome.status == "done", outcome.message
    project = outcome.projects["alpha"]
    (day, run_id, said), = project["rebalances"]
    assert (day, said) == (DAY.isoformat(), "sent"), project["risk_blocked"]
    assert (project["orders"], project["fills"]) == (2, 1)

    with database.session() as session:
        orders = {o.symbol: o for o in session.scalars(select(TradeOrder).where(TradeOrder.run_id == run_id))}
        assert {o.order_type for o in orders.values()} == {OrderType.LMT}
        assert orders["REACH"].limit_price == Decimal("100.10") and orders["AWAY"].limit_price == Decimal("50.06")
        assert orders["REACH"].status is OrderState.FILLED
        assert orders["AWAY"].status is OrderState.CANCELED and orders["AWAY"].filled_quantity == 0
        fills = list(session.scalars(select(TradeFill).join(TradeOrder, TradeFill.order_id == TradeOrder.id)
                                     .where(TradeOrder.run_id == run_id)))
        assert [(f.symbol, f.price) for f in fills] == [("REACH", filled_at["REACH"])]  # the simulated price, not the limit
        fill_day = DAY if fill is FillAt.CLOSE else NEXT
        assert fills[0].fill_time.date() == fill_day
        booked = {p.symbol: p.quantity for p in session.scalars(select(Position).where(
            Position.account == project["account"], Position.project_id.is_not(None))) if p.quantity}
        assert booked == {"REACH": orders["REACH"].quantity}  # AWAY never held
        run = session.get(TradeRun, run_id)
        assert run.status is RunStatus.PARTIAL, run.status  # closed, not left running on a working order

    # the cash is only REACH's: AWAY's money never left
    spent = orders["REACH"].quantity * filled_at["REACH"]
    final = CASH - spent + orders["REACH"].quantity * prices.close_on("REACH", LAST)
    assert Decimal(project["final_equity"]) == final
    trail = decision_trail(database, run_id=run_id)
    away = [c for c in trail.state_changes if c["order_id"] == orders["AWAY"].id]
    assert away and away[-1]["to_state"] == str(OrderState.CANCELED), away
