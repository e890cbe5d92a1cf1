"""A backtest's results from its daily equity: total return, CAGR, annualised volatility, Sharpe
ratio (no risk-free rate, 252 sessions a year), maximum drawdown (a negative fraction), turnover
(traded value over the mean equity). Statistics are floats; money stays Decimal."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise

SESSIONS_PER_YEAR = 252


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

    def to_dict(self) -> dict:
        return {"initial_equity": str(self.initial_equity), "final_equity": str(self.final_equity),
                "total_return": self.total_return, "cagr": self.cagr, "volatility": self.volatility,
                "sharpe": self.sharpe, "max_drawdown": self.max_drawdown, "turnover": self.turnover}


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
                    drawdown: Sequence[float] | None = None) -> Metrics:
    """``drawdown``: ``drawdown_series(initial, equity)`` when the caller has it already (a
    summary lists it too): not measured twice."""
    values = [initial, *(v for _, v in equity)]
    final = values[-1]
    total = float(final / initial - 1) if initial else 0.0
    returns = [float(b / a - 1) for a, b in pairwise(values) if a]
    volatility = sharpe = 0.0
    if len(returns) > 1:
        mean = sum(returns) / len(returns)
        std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
        volatility = std * math.sqrt(SESSIONS_PER_YEAR)
        sharpe = mean / std * math.sqrt(SESSIONS_PER_YEAR) if std > 0 else 0.0
    cagr = 0.0
    if len(equity) > 1 and initial > 0 and final > 0:
        years = max((equity[-1][0] - equity[0][0]).days, 1) / 365.25
        cagr = float(final / initial) ** (1 / years) - 1
    mean_equity = sum(values, Decimal(0)) / len(values)
    turnover = float(traded_value / mean_equity) if mean_equity else 0.0
    if drawdown is None:
        drawdown = drawdown_series(initial, equity)
    return Metrics(initial, final, total, cagr, volatility, sharpe, min(drawdown, default=0.0), turnover)


METRIC_COLUMNS = ("Project", "Final equity", "Return", "CAGR", "Volatility", "Sharpe", "Max drawdown", "Turnover",
                  "Commissions", "Orders", "Fills", "Risk blocked")


def metric_texts(name: str, summary) -> tuple[str, ...]:
    """A project's summary (``ProjectResult.summary``, or the total) as the texts of one row of
    the metrics table, in ``METRIC_COLUMNS`` order: the window's table and the command's agree.
    Money from its exact text (never through a float)."""
    return (name, f"{Decimal(str(summary['final_equity'])):,.2f}", f"{summary['total_return']:.2%}", f"{summary['cagr']:.2%}",
            f"{summary['volatility']:.2%}", f"{summary['sharpe']:.2f}", f"{summary['max_drawdown']:.2%}",
            f"{summary['turnover']:.2f}", f"{Decimal(str(summary['commissions'])):,.2f}", str(summary["orders"]),
            str(summary["fills"]), str(len(summary["risk_blocked"])))
