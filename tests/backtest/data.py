"""Generated market data for backtest tests and the benchmark: deterministic random walks on the
exchange calendar's sessions, and monthly target weights."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path

from services.backtest.inputs import DatedSnapshot
from services.core.bars import Bar
from services.core.snapshots import SnapshotItem
from services.core.trading_hours import sessions_between

CENT = Decimal("0.01")


def generated_bars(symbols: list[str], start: date, end: date, seed: int = 7) -> list[Bar]:
    rng = random.Random(seed)
    days = sessions_between(start, end)
    bars: list[Bar] = []
    for symbol in symbols:
        price = rng.uniform(20, 200)
        drift, vol = rng.uniform(-0.0002, 0.0008), rng.uniform(0.008, 0.025)
        for day in days:
            opened = price * (1 + rng.gauss(0, vol / 3))
            price = max(1.0, opened * (1 + rng.gauss(drift, vol)))
            o, c = Decimal(f"{opened:.2f}"), Decimal(f"{price:.2f}")
            bars.append(Bar(day, symbol, o, max(o, c), min(o, c), c, Decimal(1_000_000)))
    return bars


def monthly_snapshots(symbols: list[str], start: date, end: date, project: str = "alpha", *, names: tuple[int, int] = (8, 12),
                      seed: int = 11) -> list[DatedSnapshot]:
    """On the first session of every month, equal weights (two decimals, gross <= 1) on 8-12 names."""
    rng = random.Random(seed)
    out: list[DatedSnapshot] = []
    month = None
    for day in sessions_between(start, end):
        if (day.year, day.month) == month:
            continue
        month = (day.year, day.month)
        picked = sorted(rng.sample(symbols, rng.randint(*names)))
        weight = (Decimal(1) / len(picked)).quantize(CENT, rounding="ROUND_DOWN")
        items = tuple(SnapshotItem(s, weight, n + 2) for n, s in enumerate(picked))
        out.append(DatedSnapshot(day, project, f"{project}-{day.isoformat()}.csv", f"{project}-{day.isoformat()}", items))
    return out


def write_prices_csv(path: Path, bars: list[Bar]) -> Path:
    lines = ["date,symbol,open,high,low,close,volume"]
    lines += [f"{b.day.isoformat()},{b.symbol},{b.open},{b.high},{b.low},{b.close},{b.volume}" for b in bars]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_snapshots_csv(path: Path, snapshots: list[DatedSnapshot]) -> Path:
    lines = ["date,symbol,weight,project"]
    lines += [f"{s.day.isoformat()},{i.symbol},{i.weight},{s.project}" for s in snapshots for i in s.items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# A rebalance refused for a reason other than a risk block: nine billion dollars in one listing
# whose price triples, so that the second rebalance's portfolio value (25.2 billion) is more than
# a plan can keep (``BadInput``). The order-size limits must be off (``REFUSED_RISK_OFF``) for the
# first rebalance to trade rather than be risk-blocked.
REFUSED_CASH = Decimal(9_000_000_000)
REFUSED_RISK_OFF = ("max_order_notional=off", "max_order_quantity=off", "max_position_ratio=off")
REFUSED_CLOSES = {date(2024, 2, 1): 10, date(2024, 2, 2): 10, date(2024, 2, 5): 30, date(2024, 2, 6): 30,
                  date(2024, 2, 7): 30}
REFUSED_WEIGHTS = ((date(2024, 2, 1), "0.9"), (date(2024, 2, 6), "0.5"))  # of listing D, project alpha


def write_refused_rebalance_files(folder: Path) -> tuple[Path, Path]:
    """The bars and the dated snapshots CSV of the market above."""
    prices = folder / "bars.csv"
    prices.write_text("date,symbol,open,high,low,close\n"
                      + "".join(f"{day},D,{c},{c},{c},{c}\n" for day, c in REFUSED_CLOSES.items()), encoding="utf-8")
    weights = folder / "weights.csv"
    weights.write_text("date,symbol,weight,project\n" + "".join(f"{day},D,{w},alpha\n" for day, w in REFUSED_WEIGHTS),
                       encoding="utf-8")
    return prices, weights
