"""A backtest's inputs checked together before anything is stored (``check_spec``: every
problem, one line each; the command and the window's panel say them all, exit 2) and the window
of days it walks (``window``): the spec's numbers, the risk overrides, the dates against the
prices' days, the snapshots against the window, the sessions and the prices."""

from __future__ import annotations

import bisect
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from services.core.builder import params_from
from services.core.risk_limits import RiskParamError, rules_from_params
from services.core.snapshot_dates import dates_in_name
from services.core.trading_hours import NEW_YORK, sessions_between
from services.core.typed_numbers import must_be_said

from .costs import parse_commission, slippage_problem
from .inputs import DatedSnapshot
from .outcomes import UNDATED_NAME
from .prices import PriceBook

if TYPE_CHECKING:
    from .runner import BacktestSpec

ONE_DAY = timedelta(days=1)


def check_spec(spec: BacktestSpec, prices: PriceBook, snapshots: list[DatedSnapshot]) -> list[str]:
    """Every problem with these inputs (empty: the backtest can run)."""
    problems: list[str] = []
    # said as the command's own reading says them (services.backtest.requests), named by its flag
    if not spec.initial_cash.is_finite() or spec.initial_cash <= 0:
        problems.append(must_be_said(spec.initial_cash, "a number > 0", name="--initial-cash"))
    slippage = slippage_problem(spec.slippage_bps)
    if slippage is not None:
        problems.append(slippage)
    try:
        parse_commission(spec.commission)
    except ValueError as exc:
        problems.append(str(exc))
    try:  # here, not in the first rebalance: there a typo only failed each day's run, said in the log
        rules_from_params(None, spec.risk_overrides)
    except RiskParamError as exc:
        problems.append(f"--risk: {exc}")
    try:  # the builder's one reading, as each rebalance's run reads them: refused there, every day alike
        params_from(spec.builder, portfolio_value=Decimal(0))
    except (ValueError, ArithmeticError) as exc:
        problems.append(f"builder: {exc}")
    reversed_dates = bool(spec.start and spec.end and spec.end < spec.start)
    if reversed_dates:
        problems.append(f"--to {spec.end} is before --from {spec.start}")
    first, last = prices.first_day(), prices.last_day()
    if first is None or last is None:
        problems.append("no prices")
        return problems
    outside = _outside_prices(spec, first, last)
    if outside or reversed_dates:  # the window's own problem: "no snapshot between" a range it gets wrong would follow
        return problems + outside
    if not snapshots:
        problems.append("no snapshots")
    start, end = window(spec, prices, snapshots)
    inside = [s for s in snapshots if start <= s.day <= end]
    days = sessions_between(start, end)
    past = _snapshots_past_the_prices(spec, snapshots, days, first, last)
    if snapshots and not inside and start <= end:
        problems.append(f"no snapshot between {start} and {end} (the prices cover {first} to {last})")
    elif snapshots and not inside and not past:  # the window begins at the first snapshot, after its end
        until = f"--to {end}" if spec.end else f"the last day with prices ({end})"
        problems.append(f"no snapshot on or before {until}: the first is dated {start}{_how_dated(snapshots, start)}")
    problems.extend(_sharing_a_session(inside, days))
    problems.extend(past)
    for snap in inside:
        unknown = sorted(i.symbol for i in snap.items if prices.last_quote(i.spec.key, end) is None)
        if unknown:
            problems.append(f"{snap.source_name} ({snap.project}, {snap.day}): no prices for {', '.join(unknown[:20])}"
                            + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""))
    return problems


def _how_dated(snapshots: list[DatedSnapshot], day: date) -> str:
    """Why the snapshots of ``day`` are of it, when their names do not say: a stored snapshot
    whose name holds no YYYY-MM-DD date is dated the New York day it was stored
    (``services.core.snapshot_dates.stored_day``). "the first is dated 2026-12-06" of files stored that day as
    mom_20261120.csv and mom_20261124.json named a date nothing of the trader's held."""
    undated = [s.source_name for s in snapshots if s.day == day and not dates_in_name(s.source_name)]
    if not undated:
        return ""
    return (f" ({', '.join(undated)}: {UNDATED_NAME}; "
            "import it again under a name holding its date, as momentum_2024-01-31.csv)")


def _sharing_a_session(snapshots: list[DatedSnapshot], days: list[date]) -> list[str]:
    """Two snapshots of one project rebalanced on the same session (one dated on a weekend or a
    holiday moves to the next session: ``Backtester._schedule``): the second rebalance cannot
    see the first's orders still waiting for the next open and sent them again, doubling them."""
    by_session: dict[tuple[str, date], list[DatedSnapshot]] = {}
    for snap in snapshots:
        i = bisect.bisect_left(days, snap.day)
        if i < len(days):
            by_session.setdefault((snap.project, days[i]), []).append(snap)
    return [f"{' and '.join(s.source_name for s in same)} ({project}) would both be rebalanced on {day} "
            "(a snapshot dated on a weekend or holiday is traded at the next session): keep one of them"
            for (project, day), same in by_session.items() if len(same) > 1]


def _snapshots_past_the_prices(spec: BacktestSpec, snapshots: list[DatedSnapshot], days: list[date], first: date,
                               last: date) -> list[str]:
    """The snapshots the default window (no --from, no --to) would not trade as dated: one after
    the last day with prices was left out without a word (unless it is dated today or later: no
    bar prices it yet, and a project's stored snapshots often end with today's); the first one
    before the first day with prices began the window there, its rebalance blocked for missing
    prices and the sessions before the prices simulated flat into the metrics."""
    problems: list[str] = []
    if spec.end is None:
        today = datetime.now(NEW_YORK).date()
        problems.extend(f"{s.source_name} ({s.project}, {s.day}) is after the last day with prices ({last}): it would "
                        f"not be traded; give prices up to it, or --to {last} to leave it out"
                        for s in snapshots if last < s.day < today and (spec.start is None or s.day >= spec.start))
    if spec.start is None and days and days[0] < first:  # the window begins at the first snapshot
        problems.extend(f"{s.source_name} ({s.project}, {s.day}) is before the first day with prices ({first}): give "
                        f"prices from it, or --from {first} to leave it out"
                        for s in snapshots if (i := bisect.bisect_left(days, s.day)) < len(days) and days[i] < first)
    return problems


def _outside_prices(spec: BacktestSpec, first: date, last: date) -> list[str]:
    """--from or --to past the prices' days: the sessions between were simulated without a price
    (flat equity, every rebalance blocked for a missing or stale price) and measured by the
    metrics as if they were days of the strategy. A weekend or holiday past them is fine."""
    problems: list[str] = []
    if spec.start and spec.start > last:
        problems.append(f"--from {spec.start} is after the last day with prices ({last})")
    elif spec.start and spec.start < first and sessions_between(spec.start, first - ONE_DAY):
        problems.append(f"--from {spec.start} is before the first day with prices ({first})")
    if spec.end and spec.end < first:
        problems.append(f"--to {spec.end} is before the first day with prices ({first})")
    elif spec.end and spec.end > last and sessions_between(last + ONE_DAY, spec.end):
        problems.append(f"--to {spec.end} is after the last day with prices ({last})")
    return problems


def window(spec: BacktestSpec, prices: PriceBook, snapshots: list[DatedSnapshot]) -> tuple[date, date]:
    first_snapshot = min((s.day for s in snapshots), default=None)
    start = spec.start or first_snapshot or prices.first_day() or date.today()
    end = spec.end or prices.last_day() or start
    return start, end
