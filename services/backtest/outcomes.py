"""A backtest rebalance's outcome as the trader reads it. The results store a token per
rebalance (``ProjectResult.rebalances``: "sent", "nothing to trade", "blocked", "failed:
REASON"), which scripts read in ``--json`` and backtests stored long ago hold, so the token
stays; what the Backtest panel's Rebalances tab says is this module's. "sent", shown as stored,
sat beside the decision trail its double-click opens, headed "never sent to a broker": the
orders went to the backtest's simulated broker. The two say it in the same words."""

from __future__ import annotations

SENT = "sent"  # the stored token of a rebalance whose orders went to the simulated broker
EXECUTED_IN_BACKTEST = "executed in the backtest"
NEVER_SENT = f"{EXECUTED_IN_BACKTEST}, never sent to a broker"  # a backtest run's trail heading


def outcome_text(outcome: str) -> str:
    """A stored rebalance outcome in the words a trader reads (the others are words already)."""
    return EXECUTED_IN_BACKTEST if outcome == SENT else outcome
