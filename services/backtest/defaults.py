"""What a backtest assumes when it is not told otherwise: one table for the window's Backtest
panel, the ``backtest`` command's options and ``BacktestRequest`` (pure: the panel reads it
without loading the database layer). Commissions default to IB's fixed pricing, what an IB
account pays: a backtest is there to show what the same engine would have done, costs included."""

from __future__ import annotations

BACKTEST_DEFAULTS: dict[str, str] = {
    "initial_cash": "100000",
    "fill": "close",
    "slippage_bps": "0",
    "commission": "ib-fixed",
    "rounding": "floor",
    "lot_size": "1",
    "cash_buffer_pct": "0",
}
