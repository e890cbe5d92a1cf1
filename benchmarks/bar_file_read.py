"""A ten-year bar file of ``--symbols`` listings (``backtest_vs_bt``'s generated prices, the
same CSV) read into what the product uses, in the same run:

    python3 dev.py bench bar_file_read [--symbols=500] [--years=10] [--repeat=3]

- **price book, by columns**: ``services.backtest.prices.read_price_book``, what ``backtest
  --prices FILE``, the Backtest panel and ``tca --prices`` read (every check of
  ``services.core.bar_files`` kept; a clean CSV read by ``services.core.bar_columns``);
- **price book, row by row**: the same file through the row checker and a Bar per row, what
  they read before (``PriceBook(parse_bar_csv(...))``);
- **bars, by columns** and **bars, row by row**: ``read_bar_file`` (what ``bars import`` stores)
  against the row checker alone;
- **price book from Parquet**: the same bars written as Parquet by pandas (float prices), read
  by columns against row by row;
- **pandas (pyarrow engine), unchecked**: a peer, ``pd.read_csv`` of the same columns, no check;
- **price book from the price cache** (``--cache``, SQLite): the file imported into a fresh
  price cache, then ``price_cache.load_series`` (what a backtest on the broker's cached bars
  reads: the Backtest panel with no bar file, ``backtest --from-broker``) against
  ``load_bars`` and a Bar per row (what it read before).

Medians of ``--repeat`` runs after a first one (imports and the file in the page cache); the
ratios are against the row checker measured in the same run. Goal: a ten-year 500-listing file
ready for a backtest in a few seconds, not the row checker's quarter of a minute.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench bar_file_read", description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--symbols", type=int, default=500, help="listings in the file (default 500)")
    parser.add_argument("--years", type=int, default=10, help="years of daily bars (default 10)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each reader (default 3)")
    parser.add_argument("--cache", action="store_true",
                        help="also time the price book read from a SQLite price cache holding the file (its import takes a while)")
    return parser


def _timed(read, repeat: int) -> float:
    read()  # imports, the page cache
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        read()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    import pandas as pd

    from benchmarks.backtest_vs_bt import generate
    from services.backtest.prices import PriceBook, read_price_book
    from services.core.bar_files import STORAGE_LIMITS, parse_bar_csv, read_bar_file

    with tempfile.TemporaryDirectory(prefix="bench-bars-") as tmp:
        path = Path(tmp) / "bars.csv"
        generate(path, args.symbols, args.years)
        size = path.stat().st_size / 1e6
        rows = sum(1 for _ in path.open()) - 1
        print(f"{rows:,} bars of {args.symbols} listings, {size:.0f} MB CSV", flush=True)
        book_columns = _timed(lambda: read_price_book(path), args.repeat)
        book_rows = _timed(lambda: PriceBook(parse_bar_csv(path.read_bytes(), source=path.name)), args.repeat)
        bars_columns = _timed(lambda: read_bar_file(path), args.repeat)
        bars_rows = _timed(lambda: parse_bar_csv(path.read_bytes(), source=path.name), args.repeat)
        peer = _timed(lambda: pd.read_csv(path, engine="pyarrow"), args.repeat)
        parquet = path.with_suffix(".parquet")
        pd.read_csv(path, engine="pyarrow").to_parquet(parquet, index=False)  # floats, as pandas writes them
        from services.core.bar_files import _read_by_rows, read_bar_series

        parquet_columns = _timed(lambda: PriceBook.from_columns(read_bar_series(parquet)), args.repeat)
        parquet_rows = _timed(lambda: PriceBook(_read_by_rows(parquet, STORAGE_LIMITS)), args.repeat)
        cached = _cache(path, Path(tmp), args.repeat) if args.cache else None
    print(f"price book, by columns (read_price_book): {book_columns:6.2f} s   row by row: {book_rows:6.2f} s   "
          f"x{book_rows / book_columns:.1f} sooner")
    print(f"bars, by columns (read_bar_file):          {bars_columns:6.2f} s   row by row: {bars_rows:6.2f} s   "
          f"x{bars_rows / bars_columns:.1f} sooner")
    print(f"pandas (pyarrow engine), no checks, no Decimals: {peer:6.2f} s (a peer: the price book by columns "
          f"takes x{book_columns / peer:.1f} its time)")
    print(f"price book from the same bars as Parquet (floats), by columns: {parquet_columns:6.2f} s   row by row: "
          f"{parquet_rows:6.2f} s   x{parquet_rows / parquet_columns:.1f} sooner")
    if cached is not None:
        series, bars = cached
        print(f"price book from the price cache (load_series): {series:6.2f} s   load_bars and a Bar per row: {bars:6.2f} s   "
              f"x{bars / series:.1f} sooner")
    return 0


def _cache(path: Path, tmp: Path, repeat: int) -> tuple[float, float]:
    from services import price_cache
    from services.backtest.prices import PriceBook
    from services.db import Database, migrate

    url = f"sqlite:///{tmp / 'cache.db'}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        t0 = time.perf_counter()
        price_cache.import_bar_file(db, path)
        print(f"imported into a SQLite price cache in {time.perf_counter() - t0:.1f} s", flush=True)
        series = _timed(lambda: PriceBook.from_columns(price_cache.load_series(db)), repeat)
        bars = _timed(lambda: PriceBook(price_cache.load_bars(db)), repeat)
    finally:
        db.dispose()
    return series, bars
