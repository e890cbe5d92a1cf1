"""The metrics table's row: one set of texts for the window's Backtest panel and the command."""

from decimal import Decimal

from services.backtest.metrics import METRIC_COLUMNS, metric_texts


def test_a_summary_reads_the_same_in_the_panel_and_the_command_and_money_keeps_its_digits(qtbot):
    from widgets.views.backtest import BacktestView

    summary = {"final_equity": "9007199254740993.25", "total_return": 0.125, "cagr": 0.0412, "volatility": 0.2,
               "sharpe": 1.234, "max_drawdown": -0.1, "turnover": 3.5, "commissions": "1234.565",
               "orders": 12, "fills": 13, "risk_blocked": [{}], "equity": [], "drawdown": [], "rebalances": []}
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
