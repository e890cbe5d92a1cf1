"""A backtest whose window opens long before its first rebalance: the rates (CAGR, volatility,
Sharpe) and turnover are the strategy's, measured from the day it first traded, and every front
end says from which day. Seen in the demo: a window opened years before the snapshots showed a CAGR of 0.41 %
where the strategy's own year gave 36 %, with no word of the idle cash years."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.backtest.costs import FillAt
from services.backtest.metrics import METRIC_COLUMNS, metric_texts, rates_note
from services.backtest.prices import PriceBook
from services.backtest.requests import as_json
from services.backtest.runner import Backtester, BacktestOutcome, BacktestSpec, ProjectResult

from .data import generated_bars, monthly_snapshots

pytestmark = pytest.mark.timeout(300)

SYMBOLS = [f"I{i:02d}" for i in range(15)]
FIRST_SNAPSHOT, END = date(2024, 3, 1), date(2024, 6, 28)
EARLY = date(2023, 1, 3)  # fourteen months of cash before the first snapshot


def _grown(first: date, days: int, start: Decimal, rate: Decimal) -> list[tuple[date, Decimal]]:
    return [(first + timedelta(days=i), start * (1 + rate) ** i) for i in range(days)]


def test_the_rates_are_measured_from_the_first_rebalance_not_over_the_idle_cash_before_it():
    idle = [(date(2020, 1, 1) + timedelta(days=i), Decimal(100_000)) for i in range(1000)]
    traded = _grown(date(2022, 10, 1), 300, Decimal(100_000), Decimal("0.001"))
    alone = ProjectResult("p", 1, "A", equity=traded, rebalances=[(traded[0][0], 7, "sent")],
                          traded_value=Decimal(400_000)).summary(Decimal(100_000))
    late = ProjectResult("p", 1, "A", equity=idle + traded, rebalances=[(traded[0][0], 7, "sent")],
                         traded_value=Decimal(400_000)).summary(Decimal(100_000))
    # before: CAGR 8.7 % over the whole window where the strategy's own days gave 44 %
    assert late["cagr"] == pytest.approx(alone["cagr"]) and late["cagr"] > 0.4
    assert (late["volatility"], late["sharpe"]) == pytest.approx((alone["volatility"], alone["sharpe"]))
    # the same trades over the traded days' mean equity: 3.43; it read 3.85, the idle cash's 100,000
    # pulling the mean equity down (the longer the idle start, the closer to 4.00)
    assert late["turnover"] == pytest.approx(alone["turnover"]) and alone["turnover"] == pytest.approx(3.43, abs=0.01)
    # the whole window's: unchanged by the idle days
    assert (late["final_equity"], late["total_return"], late["max_drawdown"]) == \
           (alone["final_equity"], alone["total_return"], alone["max_drawdown"])
    assert late["traded_from"] == alone["traded_from"] == "2022-10-01"
    assert rates_note("p", alone) is None  # traded from its first day: nothing to say
    note = rates_note("p", late)
    assert note is not None and "p traded from 2022-10-01 (its first rebalance), after 1000 sessions of idle cash" in note
    assert "CAGR, volatility, Sharpe and turnover are measured from then" in note
    assert metric_texts("p", late)[METRIC_COLUMNS.index("Traded from")] == "2022-10-01"


def test_a_summary_stored_before_traded_from_was_kept_says_no_day():
    old = {"final_equity": "1", "total_return": 0.0, "cagr": 0.0, "volatility": 0.0, "sharpe": 0.0, "max_drawdown": 0.0,
           "turnover": 0.0, "commissions": "0", "orders": 0, "fills": 0, "risk_blocked": [],
           "equity": [["2024-01-02", "1"]]}
    assert metric_texts("p", old)[-1] == "" and rates_note("p", old) is None


@pytest.mark.slow  # two backtests of eighteen months
@pytest.mark.parametrize("db_backend", ["sqlite"])  # the rule is the metrics': one database shows it
async def test_a_window_opened_before_the_snapshots_reads_as_the_strategy_s_own(database):
    bars = generated_bars(SYMBOLS, date(2022, 12, 20), END, seed=11)
    snapshots = monthly_snapshots(SYMBOLS, FIRST_SNAPSHOT, END, "late", seed=12)
    spec = BacktestSpec(Decimal(100_000), FillAt.CLOSE, Decimal(0), "ib-fixed",
                        {"rounding": "floor", "lot_size": Decimal(1), "liquidate_unlisted": True}, end=END)
    own = await Backtester(database, PriceBook(bars), snapshots, spec).run()
    early = await Backtester(database, PriceBook(bars), snapshots, BacktestSpec(**{
        **{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "start": EARLY})).run()
    mine, theirs = own.projects["late"], early.projects["late"]
    assert theirs["equity"][0][0] == "2023-01-03" and mine["equity"][0][0] == "2024-03-01"
    assert theirs["final_equity"] == mine["final_equity"]  # the equity itself: untouched
    for rate in ("cagr", "volatility", "sharpe", "turnover"):
        assert theirs[rate] == pytest.approx(mine[rate]), rate
    assert theirs["traded_from"] == mine["traded_from"] == "2024-03-01"
    assert early.total["traded_from"] == "2024-03-01" and early.total["cagr"] == pytest.approx(mine["cagr"])
    body = as_json(early)  # the command's --json: the keys it had, and the day
    assert body["projects"]["late"]["traded_from"] == "2024-03-01"
    assert {"final_equity", "total_return", "max_drawdown", "sharpe", "commissions", "orders", "fills",
            "equity"} <= set(body["projects"]["late"])


def test_the_command_s_table_and_the_panel_s_tooltip_say_from_which_day_it_traded(capsys, qtbot):
    from app.commands.backtest import _print_table
    from widgets.views.backtest import BacktestView

    days = [f"2024-01-{d:02d}" for d in range(2, 10)]
    project = {"final_equity": "101000", "total_return": 0.01, "cagr": 0.36, "volatility": 0.1, "sharpe": 2.0,
               "max_drawdown": -0.01, "turnover": 0.5, "commissions": "3", "orders": 4, "fills": 4, "risk_blocked": [],
               "traded_from": "2024-01-08", "equity": [[d, "100000"] for d in days], "drawdown": [[d, 0.0] for d in days],
               "rebalances": [["2024-01-08", 5, "sent"]]}
    _print_table(BacktestOutcome(3, "done", {"late": project}, {**project}, len(days)))
    out = capsys.readouterr().out
    assert "late traded from 2024-01-08 (its first rebalance), after 6 sessions of idle cash:" in out
    assert out.count("traded from") == 1  # one project: its total is itself

    view = BacktestView()
    qtbot.addWidget(view)
    view.show_results({"late": project}, None)
    cagr = view.metrics_table.item(0, METRIC_COLUMNS.index("CAGR"))
    assert "late traded from 2024-01-08" in cagr.toolTip() and "measured from then" in cagr.toolTip()
    assert view.metrics_table.item(0, METRIC_COLUMNS.index("Traded from")).text() == "2024-01-08"
