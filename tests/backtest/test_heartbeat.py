"""A running backtest says it lives (``backtests.heartbeat_at``, services.backtest.heartbeat): from
its start and every few seconds of wall time; and it stops when another look closed its row."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.backtest.closing import close_backtest
from services.backtest.costs import FillAt
from services.backtest.heartbeat import ClosedElsewhere, Heartbeat
from services.backtest.prices import PriceBook
from services.backtest.runner import Backtester, BacktestSpec
from services.db.models import Backtest, TradeOrder, TradeRun
from services.domain import TERMINAL_ORDER_STATES, RunStatus

from .data import generated_bars, monthly_snapshots

SYMBOLS = [f"H{i}" for i in range(12)]


def _backtester(database, end: date, **kwargs) -> Backtester:
    snapshots = monthly_snapshots(SYMBOLS, date(2024, 1, 2), end, names=(6, 8))
    spec = BacktestSpec(Decimal(10_000), FillAt.NEXT_OPEN, commission="none",
                        builder={"rounding": "floor", "lot_size": Decimal(1)}, end=end,
                        # next-open: the old holdings and the new buys side by side overnight
                        risk_overrides=("max_gross_exposure=off",))  # the account's gross exposure rule reads the same limit
    return Backtester(database, PriceBook(generated_bars(SYMBOLS, date(2023, 12, 20), end)), snapshots, spec, **kwargs)


def _heartbeat(database, backtest_id: int):
    with database.session() as session:
        return session.scalar(select(Backtest.heartbeat_at).where(Backtest.id == backtest_id))


async def test_the_backtest_beats_from_its_start_while_its_days_run(database):
    seen = []
    backtester = _backtester(database, date(2024, 1, 31), heartbeat_every=0,
                             progress=lambda _done, _total, _day: seen.append(_heartbeat(database, backtester.backtest_id)))
    outcome = await backtester.run()
    assert outcome.status == "done"
    with database.session() as session:
        created = session.get(Backtest, outcome.backtest_id).created_at
    assert None not in seen and len(seen) == outcome.days
    assert created <= seen[0] and seen == sorted(seen) and len(set(seen)) == len(seen)  # one beat a day here


def test_a_beat_is_written_only_when_due(database):
    with database.unit_of_work() as session:
        row = Backtest(status="running", params={})
        session.add(row)
        session.flush()
        backtest_id = row.id
    now = [100.0]
    heartbeat = Heartbeat(database, backtest_id, every=5, clock=lambda: now[0])
    for step in (1, 1, 1, 1):  # 104 s: not due yet
        now[0] += step
        heartbeat.beat()
    assert heartbeat.beats == 0 and _heartbeat(database, backtest_id) is None
    now[0] += 1
    heartbeat.beat()
    assert heartbeat.beats == 1 and _heartbeat(database, backtest_id) is not None


async def test_a_backtest_closed_by_another_look_stops_and_closes_what_it_opened_since(database):
    """Another look judged its process gone (a heartbeat held up past the bound) and closed it:
    the next beat finds the row closed; the backtest stops, the row keeps that look's verdict,
    and the rebalance it made since (next-open orders waiting) is closed with it."""
    def other_look_closes_it(_done, _total, day: date) -> None:
        if day == date(2024, 1, 31):  # the next day rebalances
            assert close_backtest(database, backtester.backtest_id, "failed", {}, "judged gone")

    backtester = _backtester(database, date(2024, 2, 29), heartbeat_every=0, progress=other_look_closes_it)
    with pytest.raises(ClosedElsewhere, match=r"closed as failed by another look while it ran \(judged gone\)"):
        await backtester.run()
    backtest_id = backtester.backtest_id
    with database.session() as session:
        row = session.get(Backtest, backtest_id)
        assert (row.status, row.message) == ("failed", "judged gone")
        runs = session.execute(select(TradeRun.trade_date, TradeRun.status, TradeRun.message)
                               .order_by(TradeRun.trade_date)).all()
        open_orders = session.scalars(select(TradeOrder.client_order_id).where(
            TradeOrder.account.startswith(f"BACKTEST-{backtest_id}-"),
            TradeOrder.status.not_in(list(TERMINAL_ORDER_STATES)))).all()
    assert open_orders == []
    assert runs[-1] == (date(2024, 2, 1), RunStatus.FAILED, f"backtest {backtest_id} failed: judged gone"), runs
