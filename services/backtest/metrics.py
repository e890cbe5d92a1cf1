"""A backtest's results from its daily equity: total return, CAGR, annualised volatility, Sharpe
ratio (no risk-free rate, 252 sessions a year), maximum drawdown (a negative fraction), turnover
(traded value over the mean equity). Statistics are floats; money stays Decimal.

The rates (CAGR, volatility, Sharpe) and turnover are the strategy's: measured from the day it
first traded (its first rebalance, ``traded_from``), not over the sessions of idle cash a window
opened long before it adds. A trader comparing a strategy's CAGR reads it per year of the
strategy: a ten-year window whose snapshots begin in its last year showed 0.41 % where that year
gave 36 %. Turnover's mean equity is that of the same traded days: the idle days' cash averaged
into it gave the same trades another turnover, further from the strategy's own the longer the
window opened before them. Total return, final equity and drawdown are the whole window's (idle cash changes neither)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise

from services.core.wording import counted

SESSIONS_PER_YEAR = 252
# The fewest sessions traded whose CAGR is shown: a year's (NYSE years hold 250 to 253), so a
# whole calendar year's backtest is annualised. A shorter one's is not, as the CFA Institute's
# performance standards (GIPS) ask of any return "for periods of less than one year": the demo's
# ten days that made 1.2 % read as a CAGR of 36.89 %.
A_YEAR_OF_SESSIONS = 250
NOT_ANNUALISED = "—"  # the CAGR cell of a backtest that traded under a year (``cagr_note`` says why)
TOTAL = "(total)"  # as the metrics table names every project together


@dataclass(frozen=True, slots=True)
class Metrics:
    initial_equity: Decimal
    final_equity: Decimal
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    max_drawdown: float
    turnover: float
    traded_from: date | None = None  # the first rebalance's day: the rates and turnover are measured from it

    def to_dict(self) -> dict:
        return {"initial_equity": str(self.initial_equity), "final_equity": str(self.final_equity),
                "total_return": self.total_return, "cagr": self.cagr, "volatility": self.volatility,
                "sharpe": self.sharpe, "max_drawdown": self.max_drawdown, "turnover": self.turnover,
                "traded_from": self.traded_from.isoformat() if self.traded_from else None}


def drawdowns(values: Sequence[Decimal]) -> list[float]:
    """Each day's distance below the running peak (0 at a new high, negative below it)."""
    out: list[float] = []
    peak = None
    for value in values:
        v = float(value)
        peak = v if peak is None or v > peak else peak
        out.append(v / peak - 1 if peak > 0 else 0.0)
    return out


def drawdown_series(initial: Decimal, equity: Sequence[tuple[date, Decimal]]) -> list[float]:
    """Each day's drawdown, measured as the max drawdown metric measures it: from the running
    peak with the starting cash as the first peak (a first day below it is a drawdown). The
    chart's series; the metric is its minimum. Measured from the first day's equity instead,
    the chart showed 0 % where the table said -1.00 %."""
    return drawdowns([initial, *(v for _, v in equity)])[1:]


def compute_metrics(initial: Decimal, equity: Sequence[tuple[date, Decimal]], traded_value: Decimal = Decimal(0), *,
                    drawdown: Sequence[float] | None = None, traded_from: date | None = None) -> Metrics:
    """``drawdown``: ``drawdown_series(initial, equity)`` when the caller has it already (a
    summary lists it too): not measured twice. ``traded_from``: the first rebalance's day; the
    rates and turnover's mean equity are measured from it (the day before's equity their start),
    None: over every day."""
    values = [initial, *(v for _, v in equity)]
    final = values[-1]
    total = float(final / initial - 1) if initial else 0.0
    idle = sum(1 for day, _ in equity if day < traded_from) if traded_from else 0
    traded = equity[idle:]
    start = values[idle]  # the equity the strategy began with: the starting cash, kept while idle
    rated = [start, *(v for _, v in traded)]
    returns = [float(b / a - 1) for a, b in pairwise(rated) if a]
    volatility = sharpe = 0.0
    if len(returns) > 1:
        mean = sum(returns) / len(returns)
        std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
        volatility = std * math.sqrt(SESSIONS_PER_YEAR)
        sharpe = mean / std * math.sqrt(SESSIONS_PER_YEAR) if std > 0 else 0.0
    cagr = 0.0
    if len(traded) > 1 and start > 0 and final > 0:
        years = max((traded[-1][0] - traded[0][0]).days, 1) / 365.25
        cagr = float(final / start) ** (1 / years) - 1
    mean_equity = sum(rated, Decimal(0)) / len(rated)  # the traded days', as the rates: not the idle cash
    turnover = float(traded_value / mean_equity) if mean_equity else 0.0
    if drawdown is None:
        drawdown = drawdown_series(initial, equity)
    return Metrics(initial, final, total, cagr, volatility, sharpe, min(drawdown, default=0.0), turnover,
                   traded_from if traded else None)


METRIC_COLUMNS = ("Project", "Final equity", "Return", "CAGR", "Volatility", "Sharpe", "Max drawdown", "Turnover",
                  "Commissions", "Orders", "Fills", "Risk blocked", "Traded from")


def metric_texts(name: str, summary) -> tuple[str, ...]:
    """A project's summary (``ProjectResult.summary``, or the total) as the texts of one row of
    the metrics table, in ``METRIC_COLUMNS`` order: the window's table and the command's agree.
    Money from its exact text (never through a float)."""
    cagr = f"{summary['cagr']:.2%}" if sessions_traded(summary) >= A_YEAR_OF_SESSIONS else NOT_ANNUALISED
    return (name, f"{Decimal(str(summary['final_equity'])):,.2f}", f"{summary['total_return']:.2%}", cagr,
            f"{summary['volatility']:.2%}", f"{summary['sharpe']:.2f}", f"{summary['max_drawdown']:.2%}",
            f"{summary['turnover']:.2f}", f"{Decimal(str(summary['commissions'])):,.2f}", str(summary["orders"]),
            str(summary["fills"]), str(len(summary["risk_blocked"])),
            # a backtest stored before it was said measured its rates over every day: no day to name
            summary.get("traded_from") or "")


def shown_summaries(projects: Mapping[str, Mapping], total: Mapping | None) -> list[tuple[str, Mapping]]:
    """The summaries a results view lists, each with its name: every project's, then their
    ``TOTAL`` when there are several (one project's total is itself). The panel's metrics rows
    and the notes under the ``backtest`` command's table."""
    rows = list(projects.items())
    if total and len(projects) > 1:
        rows.append((TOTAL, total))
    return rows


def rates_note(name: str, summary) -> str | None:
    """What the rates of a summary whose window held cash before its first rebalance measure
    (None: it traded from its first day, or was stored before ``traded_from`` was kept): the
    panel's tooltip and the command's line under its table, so that a CAGR is not read as the
    whole window's."""
    traded_from = summary.get("traded_from")
    if not traded_from:
        return None
    idle = sum(1 for day, _ in summary.get("equity") or () if day < traded_from)
    if not idle:
        return None
    # two short lines: a tooltip is not wrapped
    return (f"{name} traded from {traded_from} (its first rebalance), after {counted(idle, 'session')} of idle cash:\n"
            "  CAGR, volatility, Sharpe and turnover are measured from then; return and drawdown over the whole window")


def sessions_traded(summary) -> int:
    """The sessions a summary's rates are measured over: its equity's days from ``traded_from``
    (every day of one stored before it was kept), as ``compute_metrics`` counts them."""
    traded_from = summary.get("traded_from") or ""
    return sum(1 for day, _ in summary.get("equity") or () if day >= traded_from)


def cagr_note(name: str, summary) -> str | None:
    """Why a summary's CAGR is not shown (None: it is): under a year traded, a rate per year is
    an extrapolation, not a result. The panel's tooltip and the command's line under its table;
    ``--json`` keeps the number (``cagr``) for a reader who wants it anyway."""
    sessions = sessions_traded(summary)
    if sessions >= A_YEAR_OF_SESSIONS:
        return None
    # two short lines: a tooltip is not wrapped
    return (f"{name} traded {counted(sessions, 'session')}, under a year: its CAGR is not annualised,\n"
            f"  a rate per year drawn from so few days says little; it made {summary['total_return']:.2%} (Return)")


def summary_notes(name: str, summary) -> list[str]:
    """What a metrics row's rates need said (``rates_note``, ``cagr_note``), in that order: the
    panel's tooltip and the lines under the command's table, composed once for both."""
    return [said for said in (rates_note(name, summary), cagr_note(name, summary)) if said]
