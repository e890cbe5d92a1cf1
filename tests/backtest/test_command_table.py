"""The backtest command's table for people (``app.commands.backtest._print_table``): the metrics,
the risk blocks and what to do about them. No database: the outcome is given."""

from __future__ import annotations


def test_the_table_lists_the_blocks_then_says_how_to_test_other_limits(capsys):
    """A backtest checks the limits a live run would (25,000 an order by default): a trader whose
    orders all came back blocked read the blocks and nothing on how to backtest other limits;
    past twenty, the rest went unsaid."""
    from app.commands.backtest import BLOCKS_LISTED, _print_table
    from services.backtest.runner import BacktestOutcome

    block = {"day": "2024-01-02", "run_id": 1, "code": "max_order_notional", "message": "A: order value 30,000.00 above 25,000.00"}
    metrics = {"final_equity": "100000", "total_return": 0.0, "cagr": 0.0, "volatility": 0.0, "sharpe": 0.0,
               "max_drawdown": 0.0, "turnover": 0.0, "commissions": "0", "orders": 0, "fills": 0}
    blocked = {**metrics, "risk_blocked": [block] * (BLOCKS_LISTED + 3)}
    _print_table(BacktestOutcome(1, "done", {"demo": blocked}, {**metrics, "risk_blocked": []}, 58))
    lines = capsys.readouterr().out.splitlines()
    # the risk panel's and preview's words (services.core.risk_base.block_said): it said "code: message"
    assert lines.count(f"blocked demo 2024-01-02 run 1: {block['message']} (max_order_notional)") == BLOCKS_LISTED
    assert "blocked demo: 3 more (--json lists every one)" in lines
    assert lines[-1].startswith("the risk limits are the console's own") and "--risk NAME=VALUE" in lines[-1]

    _print_table(BacktestOutcome(2, "done", {"demo": {**metrics, "risk_blocked": []}}, {**metrics, "risk_blocked": []}, 58))
    assert "--risk" not in capsys.readouterr().out  # nothing blocked, nothing to say
