"""A backtest rebalance's outcome as the trader reads it. The results store a token per
rebalance (``ProjectResult.rebalances``: "sent", "nothing to trade", "blocked", "failed:
REASON"), which scripts read in ``--json`` and backtests stored long ago hold, so the token
stays; what the Backtest panel's Rebalances tab says is this module's. "sent", shown as stored,
sat beside the decision trail its double-click opens, headed "never sent to a broker": the
orders went to the backtest's simulated broker. The two say it in the same words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.core.risk_base import block_said

SENT = "sent"  # the stored token of a rebalance whose orders went to the simulated broker
EXECUTED_IN_BACKTEST = "executed in the backtest"
NEVER_SENT = f"{EXECUTED_IN_BACKTEST}, never sent to a broker"  # a backtest run's trail heading
UNDATED_NAME = "no YYYY-MM-DD date in the name, so dated the day it was stored"  # services.core.snapshot_dates.stored_day


def outcome_text(outcome: str) -> str:
    """A stored rebalance outcome in the words a trader reads (the others are words already)."""
    return EXECUTED_IN_BACKTEST if outcome == SENT else outcome


BLOCKED = "blocked"  # the stored token of a rebalance the risk rules blocked (its blocks in ``risk_blocked``)


def rebalance_text(project: Mapping[str, Any], day: str, outcome: str, run_id: int | None = None) -> str:
    """A Rebalances row's outcome: the words above (a blocked one's with each block's rule and
    message, ``blocked_said``: "blocked" alone gave no reason while ``backtests --show`` listed
    them), then the same-day snapshots its snapshot replaced (the project's results'
    ``left_out_snapshots`` traded on ``day``), named as the backtest's message names them."""
    said = outcome_text(outcome)
    if outcome == BLOCKED:
        blocks = [blocked_said(b) for b in project.get("risk_blocked") or ()
                  if b.get("day") == day and (run_id is None or b.get("run_id") == run_id)]
        if blocks:
            said = f"{BLOCKED}: {'; '.join(blocks)}"
    notes = [left_out_said(e) for e in project.get("left_out_snapshots") or () if e.get("traded_on") == day]
    return "; ".join([said, *notes])


def blocked_said(block: Mapping[str, Any]) -> str:
    """``A: order value 30,000.00 above 25,000.00 (max_order_notional)``: a risk block of a
    backtest's rebalance (``ProjectResult.blocked``) as ``backtests --show`` lists it and the
    Rebalances tab says it, in the risk panel's and ``preview``'s words
    (``services.core.risk_base.block_said``)."""
    return block_said(str(block.get("message") or ""), block.get("code") or block.get("rule"), block.get("symbol"))


def left_out_said(entry: Mapping[str, Any]) -> str:
    """``mom_20261120.csv left out, replaced by mom_20261124.json (stored later the same day;
    mom_20261120.csv, mom_20261124.json: no YYYY-MM-DD date in the name, ...)`` of an entry of a
    project's ``left_out_snapshots`` (``inputs.left_out_entry``): the Rebalances row's and the
    message's words."""
    undated = list(entry.get("undated") or ())
    why = f"; {', '.join(undated)}: {UNDATED_NAME}" if undated else ""
    return f"{', '.join(entry['left_out'])} left out, replaced by {entry['replaced_by']} (stored later the same day{why})"


def left_out_line(entries: list[dict]) -> str | None:
    """``alpha 2024-02-01: a.csv left out, replaced by ...; beta ...``: every project's
    (``project`` named in each entry), said with the backtest so that no same-day snapshot
    vanishes without a word (None: none)."""
    if not entries:
        return None
    return "; ".join(f"{e['project']} {e['day']}: {left_out_said(e)}" for e in entries)
