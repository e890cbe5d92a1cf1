"""What the list of backtests shows of one (services.backtest.listing): its days and final
equities, per project then in total. Kept apart from ``results`` (``backtests.summary``,
written with them when the backtest closes, ``closing.close_backtest``) so that the list never
reads the results: the daily equity and drawdown of every project, megabytes for a long
backtest, only to show a few numbers. One rule for both: a row closed before the summary column
existed is summed up from its results by the same function. And the line that heads a
backtest's outcome (``headline``), as the command, ``backtests --show`` and the window's Backtest
panel say it."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .metrics import TOTAL  # the summaries' lists end with it, as the metrics rows do

if TYPE_CHECKING:
    from .runner import BacktestOutcome

# what Cancel does, said as it is clicked: the days' loop stops after the current day; the
# broker's bars' download before the next listing, and then nothing is backtested
# (``price_cache.DownloadCanceled``, ``requests.prepare_from_broker``)
CANCELING_A_RUN = "canceling after the current day…"
CANCELING_A_DOWNLOAD = "canceling: the broker's bars stop before the next listing, and nothing is backtested…"


def summary_of(results: dict | None) -> dict:
    """``{"days": trading days simulated or None, "projects": [name, ...], "final_equity":
    [[name, "amount"], ...]}``: per project, then ``TOTAL`` when there are several (a list: the
    order is the list's)."""
    results = results or {}
    per_project: dict = results.get("projects") or {}
    finals = [[name, str(p["final_equity"])] for name, p in per_project.items() if "final_equity" in p]
    total = (results.get("total") or {}).get("final_equity")
    if len(finals) > 1 and total is not None:
        finals.append([TOTAL, str(total)])
    return {"days": results.get("days"), "projects": list(per_project), "final_equity": finals}


def final_equity(summary: dict) -> tuple[tuple[str, Decimal], ...]:
    return tuple((name, Decimal(amount)) for name, amount in summary.get("final_equity") or ())


def headline(outcome: BacktestOutcome, *, stored: bool = False) -> str:
    """``backtest 7: done, 58 trading days: MESSAGE``: the message (why it was canceled, which
    rebalances failed) said whenever there is one, so that no front end reads "done" as if every
    rebalance traded; ``stored``: read back rather than just run (the panel marks it)."""
    said = f": {outcome.message}" if outcome.message else ""
    return (f"backtest {outcome.backtest_id}: {outcome.status}, {outcome.days} trading days"
            + (" (stored)" if stored else "") + said)


def settings_line(backtest_id: int, params: Mapping[str, Any] | None) -> str | None:
    """``backtest 7 ran with initial cash 20,000, fill next-open, slippage 10 bps, commission
    ib-fixed, rounding floor, lot size 1, cash buffer 2.5%, holdings absent from a snapshot sold,
    the console's risk limits, from the first snapshot to 2024-03-29``: the settings stored with
    it (``Backtest.params``, ``BacktestSpec.to_dict``), as ``backtests --show`` prints them and the
    window's Backtest panel shows them over its results (two backtests with other costs read alike
    but by their results). A row stored before a value was kept says what it has (None: nothing)."""
    if not params:
        return None
    said: list[str] = []
    if params.get("initial_cash") is not None:
        said.append(f"initial cash {_amount(params['initial_cash'])}")
    if params.get("fill"):
        said.append(f"fill {params['fill']}")
    if params.get("slippage_bps") is not None:
        said.append(f"slippage {params['slippage_bps']} bps")
    if params.get("commission"):
        said.append(f"commission {params['commission']}")
    builder: Mapping[str, Any] = params.get("builder") or {}
    if builder.get("rounding"):
        said.append(f"rounding {builder['rounding']}")
    if builder.get("lot_size") is not None:
        said.append(f"lot size {builder['lot_size']}")
    if builder.get("cash_buffer") is not None:
        said.append(f"cash buffer {_percent(builder['cash_buffer'])}")
    if "liquidate_unlisted" in builder:  # a row stored before it was a flag holds "True" or "False"
        sold = builder["liquidate_unlisted"] in (True, "True", "true")
        said.append(f"holdings absent from a snapshot {'sold' if sold else 'kept'}")
    if "risk_overrides" in params:
        overrides = list(params.get("risk_overrides") or ())
        said.append(f"risk {', '.join(overrides)}" if overrides else "the console's risk limits")
    if "from" in params or "to" in params:
        said.append(f"from {params.get('from') or 'the first snapshot'} to {params.get('to') or 'the last bar'}")
    return f"backtest {backtest_id} ran with {', '.join(said)}" if said else None


def _amount(text: Any) -> str:
    try:
        return f"{Decimal(str(text)):,}"
    except ArithmeticError:
        return str(text)


def _percent(ratio: Any) -> str:
    try:
        return f"{(Decimal(str(ratio)) * 100).normalize():f}%"
    except ArithmeticError:
        return str(ratio)
