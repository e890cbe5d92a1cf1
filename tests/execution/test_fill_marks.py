"""A fill is a trade at a real price and time: the writer books it as the mark of each position
it moved (the project's row and the account's row), unless the row holds a newer mark. Before,
only the equity recorder (which only the window runs) marked positions: a run's portfolio
snapshots valued a fresh holding at its average cost, which includes the commission, and the
commissions vanished from the equity (docs/decision-trail.md). SQLite and MariaDB, on the
simulator."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.books import BooksService
from services.db.models import Position, TradeFill, TradeOrder, TrailPortfolioSnapshot
from services.db.repositories import PositionRepository
from services.domain import OrderState, Side, TradeMode
from tests.fixtures.waiting import wait_until

from .conftest import make_snapshot
from .test_actions import _settle

pytestmark = pytest.mark.timeout(90)


def _rows(db, symbol: str) -> dict[int | None, Position]:
    """The positions of ``symbol`` by project id (None: the account's row)."""
    with db.session() as session:
        return {p.project_id: p for p in session.scalars(select(Position).where(Position.symbol == symbol))}


def _fills(db, symbol: str) -> list[TradeFill]:
    with db.session() as session:
        return list(session.scalars(select(TradeFill).where(TradeFill.symbol == symbol).order_by(TradeFill.id)))


async def _commissions_of(stack, symbol: str, count: int) -> list[TradeFill]:
    """The symbol's ``count`` fills once each has its commission (the writer flushed before each look)."""
    async def arrived():
        await stack.writer.flush()
        fills = _fills(stack.db, symbol)
        return len(fills) == count and all(f.commission is not None for f in fills)

    await wait_until(arrived, 10, lambda: f"{count} {symbol} fills with commissions: {_fills(stack.db, symbol)}")
    return _fills(stack.db, symbol)


def _snapshots(db, run_id: int) -> list[TrailPortfolioSnapshot]:
    with db.session() as session:
        return list(session.scalars(select(TrailPortfolioSnapshot).where(TrailPortfolioSnapshot.run_id == run_id)
                                    .order_by(TrailPortfolioSnapshot.id)))


async def test_a_runs_fill_marks_its_positions_and_the_run_end_equity_is_capital_less_the_commission(stack):
    """A paper run of one buy, no equity recorder: both rows carry the fill's price and time as
    their mark, and the run's closing snapshot is worth the capital less the commission paid
    (it said the capital: the holding was valued at its average cost, commission included)."""
    capital = Decimal(100000)
    # 50 shares: the commission per share (in the average cost) is exact at the column's scale,
    # so the book's cash (capital less quantity x average cost) is exact too
    stack.sim.set_price("AAPL", "200")
    project_id, snapshot = make_snapshot(stack.db, "P", {"AAPL": "0.1"})
    BooksService(stack.db, "tester").set_capitals({"P": str(capital)})
    run = await stack.service.prepare_run("P", snapshot, TradeMode.PAPER)
    result = await stack.service.execute(run.id)
    assert len(result.sent) == 1
    [fill] = await _commissions_of(stack, "AAPL", 1)
    assert fill.commission > 0 and fill.quantity == 50
    await wait_until(lambda: any(s.reason == "run_end" for s in _snapshots(stack.db, run.id)), 10,
                     lambda: f"the run's closing snapshot: {[s.reason for s in _snapshots(stack.db, run.id)]}")

    rows = _rows(stack.db, "AAPL")
    assert set(rows) == {project_id, None}
    for row in rows.values():
        assert (row.market_price, row.marked_at) == (fill.price, fill.fill_time), row.project_id
    closing = next(s for s in _snapshots(stack.db, run.id) if s.reason == "run_end")
    assert closing.equity == capital - fill.commission, (closing.equity, closing.cash, closing.market_value)
    assert closing.market_value == fill.quantity * fill.price


async def test_a_newer_mark_outlives_an_older_fill_and_a_newer_fill_replaces_an_older_mark(stack):
    """The equity recorder's mark of a later time is kept when a fill of an earlier time is booked
    after it (a batch that came late); a fill later than the stored mark replaces it."""
    account = stack.provider.account
    first = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), project="alpha", client_order_id="M-1")
    await _settle(stack, first.id, {OrderState.FILLED})
    [fill] = await _commissions_of(stack, "AAPL", 1)
    assert {(r.market_price, r.marked_at) for r in _rows(stack.db, "AAPL").values()} == {(fill.price, fill.fill_time)}

    # a mark stamped after the next fill will be: that fill is older and must not replace it
    later = fill.fill_time + timedelta(days=1)
    with stack.db.unit_of_work() as session:
        assert PositionRepository(session).mark(account, {"AAPL": Decimal("123.45")}, later) == 2
    second = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(5), project="alpha", client_order_id="M-2")
    await _settle(stack, second.id, {OrderState.FILLED})
    fills = await _commissions_of(stack, "AAPL", 2)
    assert fills[1].fill_time < later
    rows = _rows(stack.db, "AAPL")
    assert {r.quantity for r in rows.values()} == {Decimal(15)}  # the fill was booked, its mark was not
    assert {(r.market_price, r.marked_at) for r in rows.values()} == {(Decimal("123.45"), later)}

    # a mark older than the next fill: the fill replaces it
    earlier = fill.fill_time - timedelta(days=1)
    with stack.db.unit_of_work() as session:
        PositionRepository(session).mark(account, {"AAPL": Decimal("99.5")}, earlier)
    third = await stack.actions.manual_order("AAPL", Side.SELL, Decimal(3), project="alpha", client_order_id="M-3")
    await _settle(stack, third.id, {OrderState.FILLED})
    fills = await _commissions_of(stack, "AAPL", 3)
    rows = _rows(stack.db, "AAPL")
    assert {r.quantity for r in rows.values()} == {Decimal(12)}
    assert {(r.market_price, r.marked_at) for r in rows.values()} == {(fills[2].price, fills[2].fill_time)}
    with stack.db.session() as session:  # the project's and the account's row alike
        assert session.get(TradeOrder, third.id).project_id in rows


class _Quotes:
    """A provider of one quote per symbol, seen at a stated time (as IB's ``quote_info`` says)."""

    def __init__(self, prices: dict[str, Decimal], seen_at) -> None:
        self.prices = prices
        self.quote_info = {s: (seen_at, "live") for s in prices}

    async def market_prices(self, symbols):
        return {s: self.prices.get(s) for s in symbols}


async def test_a_quote_seen_before_the_last_fill_does_not_value_the_position_a_later_one_does(stack):
    """The positions panel's valuation (services.position_marks, the window's rule): a position
    filled at P at t1, the last quote Q seen before t1, is valued at P (the panel showed the
    older quote Q, and its P&L, until the next quote came: 15 s, or never while disconnected); a
    quote seen after t1 values it at Q. Alike from the database (the panel's load) and from the
    writer's change set (a fill as it is booked)."""
    from services import console_queries as queries
    from services.position_marks import PositionMarks

    changed = []
    stack.writer.subscribe(lambda changes: changed.extend(changes.positions))
    order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), project="alpha", client_order_id="M-1")
    await _settle(stack, order.id, {OrderState.FILLED})
    [fill] = await _commissions_of(stack, "AAPL", 1)
    quote = fill.price + Decimal(7)
    stored = [p for p in queries.positions(stack.db) if p.symbol == "AAPL"]
    booked = [p for p in changed if p.symbol == "AAPL"]
    assert len(stored) == 2 and booked
    later = fill.fill_time + timedelta(seconds=1)
    for positions in (stored, booked):
        assert {p.market_price for p in positions} == {fill.price}

        older = PositionMarks()
        await older.refresh(_Quotes({"AAPL": quote}, fill.fill_time - timedelta(seconds=1)), stored)
        for p in older.apply(positions):
            assert (p.market_price, p.unrealized_pnl) == (fill.price, p.quantity * (fill.price - p.average_cost)), p
            assert (p.marked_at, p.quoted) == (fill.fill_time, False), p

        newer = PositionMarks()
        await newer.refresh(_Quotes({"AAPL": quote}, later), stored)
        for p in newer.apply(positions):
            assert (p.market_price, p.unrealized_pnl) == (quote, p.quantity * (quote - p.average_cost)), p
            assert (p.marked_at, p.quoted) == (later, True), p



async def test_the_equity_recorders_quote_seen_before_the_last_fill_does_not_replace_its_mark(stack):
    """The equity recorder stores each price at the time it was seen (a streamed price's last
    tick may be up to a minute old) and not over a newer mark: a position filled at P at t1 keeps
    P when the sampled price Q was seen before t1 (it was stored at the sample's time, over the
    fill's, and the tree and `positions` showed Q); a price seen after t1 replaces it."""
    from services.execution.equity import EquityRecorder

    order = await stack.actions.manual_order("AAPL", Side.BUY, Decimal(10), project="alpha", client_order_id="M-1")
    await _settle(stack, order.id, {OrderState.FILLED})
    [fill] = await _commissions_of(stack, "AAPL", 1)
    quote = fill.price + Decimal(7)
    stack.sim.set_price("AAPL", quote)
    recorder, provider = EquityRecorder(stack.db, stack.provider), stack.provider
    real_clock = provider.clock
    provider.clock = lambda: fill.fill_time - timedelta(seconds=5)  # the price as seen before the fill
    try:
        sample = await recorder.sample()
    finally:
        provider.clock = real_clock
    assert sample is not None and sample.marks == {"AAPL": quote}
    rows = _rows(stack.db, "AAPL")
    assert {(r.market_price, r.marked_at) for r in rows.values()} == {(fill.price, fill.fill_time)}
    assert sample.unrealized_pnl == 10 * (fill.price - rows[None].average_cost)

    sample = await recorder.sample()  # seen now, after the fill
    assert sample is not None and sample.marks == {"AAPL": quote}
    rows = _rows(stack.db, "AAPL")
    assert {r.market_price for r in rows.values()} == {quote}
    assert all(r.marked_at >= fill.fill_time for r in rows.values())
    assert sample.unrealized_pnl == 10 * (quote - rows[None].average_cost)
