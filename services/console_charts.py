"""What the console's charts show, computed from services' values (Qt-free): the chart widgets
receive these and draw them, nothing more."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.core.wording import counted, mode_word
from services.run_progress import ProgressSnapshot


def equity_points(history: Iterable[tuple[datetime, Decimal]]) -> list[tuple[datetime, Decimal, Decimal]]:
    """(time, account value, P&L against the first stored value) for each stored snapshot."""
    history = list(history)
    start = history[0][1] if history else Decimal(0)
    return [(time, value, value - start) for time, value in history]


Point = tuple[datetime, Decimal]


def pnl_sides(points: Iterable[Point]) -> tuple[list[Point], list[Point]]:
    """A P&L line as its gain side and its loss side (each point's P&L, or zero on the other
    side), so a chart can give each its colour: filled in one colour, a loss read as a gain.
    Between two samples of opposite signs both sides meet zero where the line crosses it (by
    linear interpolation in time), so that neither side's edge cuts across the other's."""
    gains: list[Point] = []
    losses: list[Point] = []
    previous: Point | None = None
    zero = Decimal(0)
    for time, pnl in points:
        if previous is not None and previous[1] * pnl < 0:
            before_time, before = previous
            crossing = before_time + (time - before_time) * float(before / (before - pnl))
            gains.append((crossing, zero))
            losses.append((crossing, zero))
        gains.append((time, max(pnl, zero)))
        losses.append((time, min(pnl, zero)))
        previous = (time, pnl)
    return gains, losses


@dataclass(frozen=True, slots=True)
class RunChart:
    points: tuple[tuple[datetime, Decimal], ...]  # cumulative filled notional
    target: Decimal | None  # None: no run followed
    fill_points: Mapping[str, tuple[tuple[datetime, Decimal], ...]]
    references: Mapping[str, Decimal]
    notes: Mapping[str, str]  # per symbol: fills and slippage, in words
    said: str | None = None  # what the progress chart says over its plot (None: its line says it)
    # what the amounts are in (the run's base currency, as the progress line says them); None: not known
    currency: str | None = None


def run_chart(progress: ProgressSnapshot) -> RunChart:
    return RunChart(
        progress.points,
        progress.target_notional if progress.run_id is not None else None,
        progress.fill_points,
        progress.references,
        {symbol: slippage.describe() for symbol, slippage in progress.slippage.items()},
        nothing_filled(progress),
        progress.currency,
    )


def nothing_filled(progress: ProgressSnapshot) -> str | None:
    """What the progress chart of a run with nothing filled says: its filled line is one point at
    zero, which draws nothing, so a run whose limit orders rest, or whose orders all ended unfilled,
    showed a target over an empty plot, not a word of it. None: no run followed (the chart says
    there is none), or something filled (its line shows it). Its amounts as the progress line's
    (ProgressSnapshot.text)."""
    if progress.run_id is None or progress.filled_notional:
        return None
    if progress.working:
        state = f"nothing filled yet, {counted(progress.working, 'order')} working"
    elif progress.orders and progress.ended_unfilled == progress.orders:
        state = f"nothing filled, {counted(progress.orders, 'order')} ended unfilled"
    else:
        state = "nothing filled yet"  # its orders not seen yet, or stored and not sent yet (a halted run)
    return f"Run {progress.run_id}: {state} ({progress.amounts} target)"


def followed_run_caption(project: str, run_id: int) -> str:
    """Whose run the run-progress chart shows, in its tab: a window may follow another project's
    run than the one it shows (the monitor the newest run of any project, the trading window an
    order ticket's run of any project), and both windows say it in these words."""
    return f"{project}, run {run_id}"


def run_name(project: str, run_id: int, mode: str, trade_date: str, profile: str | None) -> str:
    """A run named so a trader with several can tell them apart, where a list offers runs to
    choose (the blotter's run filter): whose, as the run-progress tab says it
    (``followed_run_caption``), then its mode and day as the TCA's title says them
    (services.backtest.tca_text.run_heading): "momentum, run 3 (demo) of 2026-12-07"."""
    return f"{followed_run_caption(project, run_id)} ({mode_word(mode, profile)}) of {trade_date}"


def run_caption(progress: ProgressSnapshot) -> str | None:
    """The caption of the run ``progress`` follows (None: no run followed, or whose is not known:
    the tab says "Run progress" alone)."""
    if progress.run_id is None or progress.project is None:
        return None
    return followed_run_caption(progress.project, progress.run_id)
