"""Backtest on the one engine against ``bt`` on the same data and rules, in the same run.

    python3 dev.py bench backtest_vs_bt [--symbols=500] [--years=10] [--double] [--repeat=N] [--floor] [--db=PATH]

Generated daily bars (a random walk per symbol, two-decimal prices) for ``--symbols`` symbols
over ``--years`` years, written to a CSV file; monthly rebalancing of 8-15 names at equal
weights; fills at the close, whole shares rounded down, IB fixed commissions; our decision trail
(runs, frozen plans, orders, order events, fills, positions) stored in a fresh SQLite file.
Timed separately for both: loading the price file into what each backtester needs (ours: the
product's reader, ``read_price_book``, with every check of a bar file import, by pyarrow's
columnar reader; bt's: pandas with pyarrow, unchecked, pivoted), and the backtest itself (ours: from
prices in memory to the results stored). ``--double`` runs again with twice the symbols to show
how the time grows. The numbers are printed, not asserted; the final equities are printed side
by side (they agree within a fraction of a percent: bt reserves commissions when sizing a buy,
our builder does not). ``--repeat N`` runs both backtests N times, alternating, and reports the
medians (this machine's speed drifts by a fifth within minutes: one pair alone can mislead; the
runs after the first of each are warm, about 0.1 s of ours). ``--floor`` also times what SQLite
alone needs to store our trail's rows (``storage_floor``), the least any engine storing it pays.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import statistics
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

INITIAL_CASH = Decimal(1_000_000)
# the engine's default risk limits are a live account's (25,000 per order); a ten-year backtest of
# a growing 1,000,000 account lifts the per-order ones, everything else is checked as live
RISK = ("max_order_notional=100000000", "max_order_quantity=10000000")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench backtest_vs_bt", description=" ".join((__doc__ or "").strip().split("\n\n")[0].split()))
    parser.add_argument("--symbols", type=int, default=500, help="symbols with daily bars (default 500)")
    parser.add_argument("--years", type=int, default=10, help="years of daily bars (default 10)")
    parser.add_argument("--double", action="store_true", help="run again with twice the symbols (the scaling)")
    parser.add_argument("--db", default=None, help="SQLite file for our trail (default a temporary file)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run both backtests this many times, alternating, and report the medians (default 1)")
    parser.add_argument("--floor", action="store_true",
                        help="also time inserting our trail's rows, already as tuples, into a fresh copy of its schema "
                             "(what storing them costs at the least)")
    return parser


def generate(path: Path, symbols: int, years: int, seed: int = 7):
    """The bar file and the monthly snapshots (not timed)."""
    import numpy as np
    import pandas as pd

    from services.backtest.inputs import DatedSnapshot
    from services.core.snapshots import SnapshotItem
    from services.core.trading_hours import sessions_between

    end = date(2024, 12, 31)
    days = sessions_between(date(end.year - years + 1, 1, 1), end)
    rng = np.random.default_rng(seed)
    names = [f"S{i:04d}" for i in range(symbols)]
    start = rng.uniform(20, 200, symbols)
    steps = rng.normal(rng.uniform(-0.0002, 0.0006, symbols), rng.uniform(0.008, 0.02, symbols), (len(days), symbols))
    closes = np.maximum(np.round(start * np.exp(np.cumsum(steps, axis=0)), 2), 1.0)
    opens = np.maximum(np.round(closes * np.exp(rng.normal(0, 0.004, closes.shape)), 2), 1.0)
    frame = pd.DataFrame({
        "date": np.repeat(np.array([d.isoformat() for d in days]), symbols),
        "symbol": np.tile(np.array(names), len(days)),
        "open": opens.ravel(), "high": np.maximum(opens, closes).ravel(), "low": np.minimum(opens, closes).ravel(),
        "close": closes.ravel(), "volume": 1_000_000,
    })
    frame.to_csv(path, index=False, float_format="%.2f")
    picker = np.random.default_rng(seed + 1)
    snapshots, month = [], None
    for day in days:
        if (day.year, day.month) == month:
            continue
        month = (day.year, day.month)
        count = int(picker.integers(8, 16))
        chosen = sorted(picker.choice(names, count, replace=False).tolist())
        weight = (Decimal(1) / count).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        items = tuple(SnapshotItem(s, weight, n + 2) for n, s in enumerate(chosen))
        snapshots.append(DatedSnapshot(day, "bench", f"bench-{day.isoformat()}.csv", f"bench-{day.isoformat()}", items))
    return snapshots, len(days)


def read_columns(path: Path):
    """The price file through a columnar reader: (dates, symbols, opens, closes) as arrays."""
    import pandas as pd

    if importlib.util.find_spec("pyarrow") is not None:
        frame = pd.read_csv(path, usecols=["date", "symbol", "open", "close"], engine="pyarrow")
        return frame, "pyarrow"
    return pd.read_csv(path, usecols=["date", "symbol", "open", "close"], engine="c"), "pandas (C engine)"


def load_ours(path: Path):
    """The product's own reader (``read_price_book``: what ``backtest --prices FILE`` and the
    Backtest panel read), every bar checked as ``bars import`` checks it; a clean CSV is read by
    columns through pyarrow (services/core/bar_columns.py), else row by row."""
    import importlib.util

    from services.backtest.prices import read_price_book

    reader = "pyarrow columns, every bar checked" if importlib.util.find_spec("pyarrow") else "row by row"
    return read_price_book(path), reader


def load_bt(path: Path):
    import pandas as pd

    frame, _ = read_columns(path)
    data = frame.pivot(index="date", columns="symbol", values="close")
    data.index = pd.DatetimeIndex(data.index)
    return data


def ib_fixed(quantity: float, price: float) -> float:
    """services.core.commissions.FixedCommission in floats, for bt."""
    shares = abs(quantity)
    return 0.0 if shares == 0 else min(max(shares * 0.005, 1.0), shares * price * 0.01)


def run_bt(data, snapshots) -> tuple[float, float]:
    import bt
    import pandas as pd

    weights = pd.DataFrame(0.0, index=pd.DatetimeIndex([s.day for s in snapshots]), columns=data.columns)
    for snap in snapshots:
        for item in snap.items:
            weights.loc[pd.Timestamp(snap.day), item.symbol] = float(item.weight)
    t0 = time.perf_counter()
    strategy = bt.Strategy("bench", [bt.algos.WeighTarget(weights), bt.algos.Rebalance()])
    test = bt.Backtest(strategy, data, initial_capital=float(INITIAL_CASH), integer_positions=True, commissions=ib_fixed,
                       progress_bar=False)
    bt.run(test)
    return time.perf_counter() - t0, float(test.strategy.values.iloc[-1])


def run_ours(prices, snapshots, db_path: Path) -> tuple[float, dict]:
    # The calendar library is imported before the clock starts, as bt is before bt's (its import
    # loads some fifty exchanges' modules); building the calendar stays inside the timed run.
    import exchange_calendars  # noqa: F401

    from services.backtest.costs import FillAt
    from services.backtest.runner import Backtester, BacktestSpec
    from services.db import Database, migrate

    url = f"sqlite:///{db_path}"
    migrate.upgrade(url)
    database = Database(url)
    spec = BacktestSpec(INITIAL_CASH, FillAt.CLOSE, Decimal(0), "ib-fixed",
                        {"rounding": "floor", "lot_size": Decimal(1), "liquidate_unlisted": True}, RISK)
    try:
        t0 = time.perf_counter()
        outcome = asyncio.run(Backtester(database, prices, snapshots, spec).run())
        elapsed = time.perf_counter() - t0
    finally:
        database.dispose()
    return elapsed, outcome.projects["bench"]


def storage_floor(db_path: Path, workdir: Path, transactions: int = 120) -> tuple[int, float]:
    """(rows, seconds): every row our run stored, read back as tuples and inserted into an empty
    copy of the same schema (every index; WAL and ``synchronous=NORMAL`` as the product opens SQLite; foreign keys not checked)
    by one ``executemany`` per table in ``transactions`` transactions (a rebalance's share each).
    No conversion, hashing or engine work: what SQLite alone needs to store the trail."""
    import sqlite3

    source = sqlite3.connect(db_path)
    schema = [sql for (sql,) in source.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type DESC")]
    tables = [name for (name,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    rows = {t: source.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
    source.close()
    target_path = workdir / "floor.db"
    target = sqlite3.connect(target_path, isolation_level=None)
    try:
        target.execute("PRAGMA journal_mode=WAL")
        target.execute("PRAGMA synchronous=NORMAL")
        for sql in schema:
            target.execute(sql)
        t0 = time.perf_counter()
        for k in range(transactions):
            target.execute("BEGIN")
            for table, values in rows.items():
                part = values[len(values) * k // transactions:len(values) * (k + 1) // transactions]
                if part:
                    target.executemany(f'INSERT INTO "{table}" VALUES ({",".join("?" * len(part[0]))})', part)
            target.execute("COMMIT")
        return sum(map(len, rows.values())), time.perf_counter() - t0
    finally:
        target.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target_path}{suffix}").unlink(missing_ok=True)


def one_size(symbols: int, years: int, workdir: Path, db: str | None, repeat: int = 1, floor: bool = False) -> dict:
    path = workdir / f"bars-{symbols}.csv"
    t0 = time.perf_counter()
    snapshots, sessions = generate(path, symbols, years)
    print(f"-- {symbols} symbols x {sessions} sessions ({symbols * sessions:,} bars, {path.stat().st_size / 1e6:.0f} MB CSV), "
          f"{len(snapshots)} monthly rebalances of 8-15 names (generated in {time.perf_counter() - t0:.1f} s)", flush=True)
    t0 = time.perf_counter()
    prices, reader = load_ours(path)
    ours_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = load_bt(path)
    bt_load = time.perf_counter() - t0
    db_path = Path(db) if db else workdir / f"trail-{symbols}.db"
    ours_runs, bt_runs = [], []
    for _ in range(max(1, repeat)):  # alternating: the machine's drift falls on both alike
        if db_path.exists():
            db_path.unlink()
        ours_run, project = run_ours(prices, snapshots, db_path)
        bt_run, bt_equity = run_bt(data, snapshots)
        ours_runs.append(ours_run)
        bt_runs.append(bt_run)
    ours_run, bt_run = statistics.median(ours_runs), statistics.median(bt_runs)
    ours_equity = float(project["final_equity"])
    print(f"loading the price file ({reader}): ours {ours_load:6.2f} s   bt {bt_load:6.2f} s")
    if len(ours_runs) > 1:
        print(f"backtest, {len(ours_runs)} runs each, alternating: ours {_listed(ours_runs)}   bt {_listed(bt_runs)}   "
              f"ratios {_listed([o / b for o, b in zip(ours_runs, bt_runs, strict=True)], '')}")
    print(f"backtest (prices in memory -> results){' medians' if len(ours_runs) > 1 else ''}: ours {ours_run:6.2f} s "
          f"(trail in SQLite, {db_path.stat().st_size / 1e6:.1f} MB)   bt {bt_run:6.2f} s   ratio ours/bt {ours_run / bt_run:.2f} (goal <= 1.0)")
    print(f"final equity: ours {ours_equity:,.2f}   bt {bt_equity:,.2f}   difference {100 * (ours_equity / bt_equity - 1):+.3f} %; "
          f"ours: {project['orders']} orders, {project['fills']} fills, commissions {float(project['commissions']):,.2f}, "
          f"{len(project['risk_blocked'])} risk blocks", flush=True)
    if floor:
        rows, seconds = storage_floor(db_path, workdir)
        print(f"storage floor: inserting our trail's {rows:,} rows, already as tuples, into an empty copy of its schema: "
              f"{seconds:.2f} s ({100 * seconds / bt_run:.0f} % of bt's run)", flush=True)
    return {"ours": ours_run, "bt": bt_run}


def _listed(values: list[float], unit: str = " s") -> str:
    return " ".join(f"{v:.2f}" for v in values) + unit


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        first = one_size(args.symbols, args.years, Path(tmp), args.db, args.repeat, args.floor)
        if args.double:
            second = one_size(2 * args.symbols, args.years, Path(tmp), None, args.repeat, args.floor)
            print(f"doubling the symbols: ours x{second['ours'] / first['ours']:.2f} (goal <= 2), bt x{second['bt'] / first['bt']:.2f}")
    print(f"whole command wall time: {time.perf_counter() - wall:.1f} s")
    return 0
