"""The line that heads a backtest's outcome (``services.backtest.summary.headline``): the window's
Backtest panel (a run, a stored one chosen again) and the ``backtest`` command worded it apart,
and the command left out the message (why it was canceled, which rebalances failed). No database:
the outcome is given."""

from __future__ import annotations

from services.backtest.runner import BacktestOutcome

METRICS = {"final_equity": "100000", "total_return": 0.0, "cagr": 0.0, "volatility": 0.0, "sharpe": 0.0,
           "max_drawdown": 0.0, "turnover": 0.0, "commissions": "0", "orders": 0, "fills": 0, "risk_blocked": []}
FAILED = "1 rebalance failed: alpha 2024-02-06: too large"


def test_the_headline_says_the_message_when_there_is_one():
    from services.backtest.summary import headline

    assert headline(BacktestOutcome(7, "done", {}, {}, 58)) == "backtest 7: done, 58 trading days"
    assert headline(BacktestOutcome(7, "done", {}, {}, 58, message=FAILED)) == f"backtest 7: done, 58 trading days: {FAILED}"
    assert headline(BacktestOutcome(8, "canceled", {}, {}, 3, message="canceled at 2024-01-04"), stored=True) == (
        "backtest 8: canceled, 3 trading days (stored): canceled at 2024-01-04")


def test_the_command_heads_its_table_with_the_panels_line(capsys):
    from app.commands.backtest import _print_table
    from services.backtest.summary import headline

    outcome = BacktestOutcome(7, "done", {"alpha": METRICS}, METRICS, 58, message=FAILED)
    _print_table(outcome)
    assert capsys.readouterr().out.splitlines()[0] == headline(outcome) == f"backtest 7: done, 58 trading days: {FAILED}"
