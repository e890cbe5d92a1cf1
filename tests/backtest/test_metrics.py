"""The metrics table's row: one set of texts for the window's Backtest panel and the command."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.backtest.metrics import (
    A_YEAR_OF_SESSIONS,
    METRIC_COLUMNS,
    NOT_ANNUALISED,
    cagr_note,
    metric_texts,
)

# a year of sessions' equity, as a summary lists it
A_YEAR = [[(date(2023, 1, 2) + timedelta(days=i)).isoformat(), "100000"] for i in range(A_YEAR_OF_SESSIONS)]


def test_a_summary_reads_the_same_in_the_panel_and_the_command_and_money_keeps_its_digits(qtbot):
    from widgets.views.backtest import BacktestView

    summary = {"final_equity": "9007199254740993.25", "total_return": 0.125, "cagr": 0.0412, "volatility": 0.2,
               "sharpe": 1.234, "max_drawdown": -0.1, "turnover": 3.5, "commissions": "1234.565",
               "orders": 12, "fills": 13, "risk_blocked": [{}], "equity": A_YEAR, "drawdown": [], "rebalances": []}
    texts = metric_texts("north", summary)
    assert len(texts) == len(METRIC_COLUMNS)
    # through a float the equity would read 9,007,199,254,740,992.00
    assert texts[1:4] == ("9,007,199,254,740,993.25", "12.50%", "4.12%")
    assert texts[8:12] == (f"{Decimal('1234.565'):,.2f}", "12", "13", "1")

    view = BacktestView()
    qtbot.addWidget(view)
    view.show_results({"north": summary}, None)
    assert tuple(view.metrics_table.item(0, c).text() for c in range(len(METRIC_COLUMNS))) == texts
    # the header shows short titles on two lines (the panel's narrow columns at 1366x768), its
    # tooltips the command's
    assert tuple(view.metrics_table.horizontalHeaderItem(c).toolTip() for c in range(len(METRIC_COLUMNS))) == METRIC_COLUMNS


def test_the_drawdown_chart_is_measured_as_the_max_drawdown_metric():
    """The starting cash is the first peak for both: a first day below it (the first rebalance's
    commissions) is a drawdown on the chart as in the table. The chart measured from the first
    day's equity: 0 % where the table said -1.00 %."""
    from datetime import date
    from decimal import Decimal

    from services.backtest.runner import ProjectResult

    result = ProjectResult("p", 1, "BACKTEST-1-p", equity=[(date(2025, 3, 3), Decimal(99_000)), (date(2025, 3, 4), Decimal(99_500)),
                                                          (date(2025, 3, 5), Decimal(99_800))])
    summary = result.summary(Decimal(100_000))
    chart = [x for _, x in summary["drawdown"]]
    assert [round(x, 6) for x in chart] == [-0.01, -0.005, -0.002] and len(chart) == len(summary["equity"])
    assert min(chart) == summary["max_drawdown"]


def _short_summary(sessions: int, traded_from: str | None = None) -> dict:
    days = [(date(2024, 1, 2) + timedelta(days=i)).isoformat() for i in range(sessions)]
    return {"final_equity": "101200", "total_return": 0.012, "cagr": 0.3689, "volatility": 0.04, "sharpe": 7.23,
            "max_drawdown": -0.002, "turnover": 0.97, "commissions": "12", "orders": 12, "fills": 36, "risk_blocked": [],
            "traded_from": traded_from or days[0], "equity": [[d, "101200"] for d in days],
            "drawdown": [[d, 0.0] for d in days], "rebalances": [[days[0], 1, "sent"]]}


@pytest.mark.parametrize("sessions", [1, 10, A_YEAR_OF_SESSIONS - 1])
def test_a_backtest_that_traded_under_a_year_shows_no_cagr_and_says_why(sessions):
    """The demo's ten days that made 1.2 % read as a CAGR of 36.89 %: a rate per year drawn from
    days is an extrapolation (GIPS: no return of less than a year annualised)."""
    summary = _short_summary(sessions)
    assert metric_texts("demo", summary)[METRIC_COLUMNS.index("CAGR")] == NOT_ANNUALISED
    note = cagr_note("demo", summary)
    assert note is not None and f"demo traded {sessions} session" in note and "under a year" in note
    # the other rates stay (annualised estimates from daily returns, as every backtester gives them)
    assert metric_texts("demo", summary)[METRIC_COLUMNS.index("Sharpe")] == "7.23"


def test_a_year_traded_shows_its_cagr_however_long_the_idle_cash_before_it():
    # 270 sessions, the first 21 of idle cash: 249 traded
    summary = _short_summary(A_YEAR_OF_SESSIONS + 20, traded_from=(date(2024, 1, 2) + timedelta(days=21)).isoformat())
    assert metric_texts("demo", summary)[METRIC_COLUMNS.index("CAGR")] == NOT_ANNUALISED
    summary = _short_summary(A_YEAR_OF_SESSIONS + 20, traded_from=(date(2024, 1, 2) + timedelta(days=20)).isoformat())
    assert metric_texts("demo", summary)[METRIC_COLUMNS.index("CAGR")] == "36.89%"  # 250 traded
    summary = _short_summary(A_YEAR_OF_SESSIONS + 20)
    assert metric_texts("demo", summary)[METRIC_COLUMNS.index("CAGR")] == "36.89%"
    assert cagr_note("demo", summary) is None


def test_the_panel_and_the_command_say_why_the_cagr_is_not_shown(capsys, qtbot):
    from app.commands.backtest import _print_table
    from services.backtest.runner import BacktestOutcome
    from widgets.views.backtest import BacktestView

    summary = _short_summary(10)
    _print_table(BacktestOutcome(3, "done", {"demo": summary}, dict(summary), 10))
    out = capsys.readouterr().out
    assert out.count("demo traded 10 sessions, under a year: its CAGR is not annualised") == 1  # its total is itself
    view = BacktestView()
    qtbot.addWidget(view)
    view.show_results({"demo": summary}, None)
    cell = view.metrics_table.item(0, METRIC_COLUMNS.index("CAGR"))
    assert cell.text() == NOT_ANNUALISED and "under a year" in cell.toolTip()
