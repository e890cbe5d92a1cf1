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
    assert texts[8:] == (f"{Decimal('1234.565'):,.2f}", "12", "13", "1")

    view = BacktestView()
    qtbot.addWidget(view)
    view.show_results({"north": summary}, None)
    assert tuple(view.metrics_table.item(0, c).text() for c in range(len(METRIC_COLUMNS))) == texts
    assert tuple(view.metrics_table.horizontalHeaderItem(c).text() for c in range(len(METRIC_COLUMNS))) == METRIC_COLUMNS
