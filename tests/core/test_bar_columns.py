"""A clean CSV bar file is read by columns (services/core/bar_columns.py) and gives exactly the
bars the row checker gives; any other file falls back to the row checker, so the columnar
rules decide only how fast a file is read, never whether it is accepted or what it says."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.core.bar_columns import read_csv_columns
from services.core.bar_files import (
    STORAGE_LIMITS,
    BarFileError,
    parse_bar_csv,
    read_bar_file,
    read_bar_series,
)

HEADER = "date,symbol,open,high,low,close,volume"


def _both(path):
    """(the outcome read through read_bar_file, the row checker's outcome): bars or problems."""
    def outcome(read):
        try:
            return "bars", read()
        except BarFileError as exc:
            return "problems", exc.problems
    return outcome(lambda: read_bar_file(path)), outcome(lambda: parse_bar_csv(path.read_bytes(), source=path.name))


CLEAN = {
    "plain": f"{HEADER}\n2025-01-03,msft,420.5,425,418.25,424.10,1200300\n2025-01-02,AAPL,243.1,244.2,241.0,243.85,5000\n"
             "2025-01-03,AAPL,243.85,245,243.5,244.0,\n2025-01-03,SAP@IBIS:EUR,250,251,249,250.5,10\n",
    "no volume column, other order": "Close,Symbol,Date,Open,High,Low\n10,X,2025-01-02,10,10,10\n",
    "CRLF and a blank line at the end": f"{HEADER}\r\n2025-01-02,AAPL,1.5,2,1,1.75,7\r\n\r\n",
    "eight decimals": f"{HEADER}\n2025-01-02,AAPL,0.00000001,0.00000002,0.00000001,0.00000002,1.5\n",
    "two spellings of one listing on two days": f"{HEADER}\n2025-01-02,aapl,1,1,1,1,1\n2025-01-03,AAPL,1,1,1,1,1\n",
}

ROW_BY_ROW = {  # accepted or refused by the row checker; never taken by the columnar reader
    "an exponent": f"{HEADER}\n2025-01-02,AAPL,1e2,100,100,100,0\n",
    "a plus sign": f"{HEADER}\n2025-01-02,AAPL,+5,5,5,5,0\n",
    "spaces in cells": f"{HEADER}\n 2025-01-02 , AAPL , 5 , 5 , 5 , 5 , 0 \n",
    "a BOM": "\ufeff" + f"{HEADER}\n2025-01-02,AAPL,5,5,5,5,0\n",
    "a blank first line": f"\n{HEADER}\n2025-01-02,AAPL,5,5,5,5,0\n",
    "a blank row of commas": f"{HEADER}\n,,,,,,\n2025-01-02,AAPL,5,5,5,5,0\n",
    "nine decimals, the ninth zero": f"{HEADER}\n2025-01-02,AAPL,1.100000000,1.1,1.1,1.1,0\n",
    "sixteen digits": f"{HEADER}\n2025-01-02,AAPL,12.34567890123456,13,12,12.5,0\n",
    "a second bar for a day": f"{HEADER}\n2025-01-02,aapl,1,1,1,1,1\n2025-01-02,AAPL,1,1,1,1,1\n",
    "a zero price": f"{HEADER}\n2025-01-02,AAPL,0,1,0,1,0\n",
    "high below the close": f"{HEADER}\n2025-01-02,AAPL,1,1,1,2,0\n",
    "a short row": f"{HEADER}\n2025-01-02,AAPL,1,1,1\n",
    "a bad date": f"{HEADER}\n2025-02-30,AAPL,1,1,1,1,0\n",
    "an untradable listing": f"{HEADER}\n2025-01-02,SAP@IBIS:USD,1,1,1,1,0\n",
    "too large": f"{HEADER}\n2025-01-02,AAPL,12345678901,12345678901,12345678901,12345678901,0\n",
    "a negative volume": f"{HEADER}\n2025-01-02,AAPL,1,1,1,1,-3\n",
    "a quoted cell": f'{HEADER}\n"2025-01-02","AAPL","1,5",2,1,1.5,0\n',
    "no rows": f"{HEADER}\n",
    "a duplicate column": "date,symbol,open,high,low,close,close\n2025-01-02,AAPL,1,1,1,1,1\n",
    "an extra column": "Close,Symbol,Date,Open,High,Low,note\n10,X,2025-01-02,10,10,10,hi\n",
    "a trailing comma": f"{HEADER},\n2025-01-02,AAPL,1,1,1,1,0,\n",
    "a Saturday": f"{HEADER}\n2025-01-03,AAPL,1,1,1,1,0\n2025-01-04,AAPL,1,1,1,1,0\n",
    "an exchange holiday": f"{HEADER}\n2024-12-24,AAPL,1,1,1,1,0\n2024-12-25,AAPL,1,1,1,1,0\n",
    "a day one exchange trades and another does not": f"{HEADER}\n2025-01-09,SAP@IBIS:EUR,1,1,1,1,0\n2025-01-09,AAPL,1,1,1,1,0\n",
    "not UTF-8": None,
}


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_a_clean_file_is_read_by_columns_into_the_row_checkers_bars(tmp_path, name):
    path = tmp_path / "bars.csv"
    path.write_text(CLEAN[name], encoding="utf-8", newline="")
    assert read_csv_columns(path, STORAGE_LIMITS) is not None
    fast, rows = _both(path)
    assert fast == rows and fast[0] == "bars"
    assert [str(b.close) for b in fast[1]] == [str(b.close) for b in rows[1]]  # the same Decimals, digit for digit


@pytest.mark.parametrize("name", sorted(ROW_BY_ROW))
def test_any_other_file_is_read_row_by_row_with_the_same_outcome(tmp_path, name):
    path = tmp_path / "bars.csv"
    if ROW_BY_ROW[name] is None:
        path.write_bytes(f"{HEADER}\n2025-01-02,AAPL,1,1,1,1,0\n2025-01-02,M\xe4,1,1,1,1,0\n".encode("latin-1"))
    else:
        path.write_text(ROW_BY_ROW[name], encoding="utf-8", newline="")
    assert read_csv_columns(path, STORAGE_LIMITS) is None
    fast, rows = _both(path)
    assert fast == rows


CELLS = {
    # a Saturday, New Year's Day, and 9 January 2025 (New York closed, Frankfurt open: SAP@IBIS:EUR trades)
    "date": ["2025-01-02", "2025-01-03", "2025-01-06", "2025-1-6", "", "2025-02-29", "2025-01-04", "2025-01-01", "2025-01-09"],
    "symbol": ["AAPL", "aapl", "MSFT", "SAP@IBIS:EUR", "SAP@IBIS:USD", "", "ÄPPL"],
    "price": ["1", "10.5", "10.50", "100", "0.00000001", "99.99", "0", "-1", "1e1", "abc", "", "1.123456789", "12345678901"],
    "volume": ["", "0", "1000", "1.5", "-1", "x"],
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(CELLS["date"]), st.sampled_from(CELLS["symbol"]),
                          *[st.sampled_from(CELLS["price"])] * 4, st.sampled_from(CELLS["volume"])),
                min_size=1, max_size=12))
def test_whatever_the_cells_the_columnar_reader_never_decides_otherwise(tmp_path, rows):
    path = tmp_path / "fuzz.csv"
    path.write_text(HEADER + "\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8", newline="")
    fast, by_rows = _both(path)
    assert fast == by_rows


def test_the_price_book_from_columns_prices_as_the_one_from_bars(tmp_path):
    from services.backtest.prices import PriceBook, read_price_book, read_prices

    rng = random.Random(3)
    days = [date(2025, 1, d) for d in (2, 3, 6, 7, 8, 10, 13)]  # 9 January 2025: New York closed (a day of mourning)
    lines = [HEADER]
    for symbol in ("AAPL", "MSFT", "SAP@IBIS:EUR", "IBM"):
        for day in days:
            if rng.random() < 0.2:
                continue  # a listing without a bar that day
            close = f"{rng.randint(100, 99999) / 100:.2f}"
            lines.append(f"{day},{symbol},{close},{close},{close},{close},{rng.randint(0, 9)}")
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    by_columns, by_bars = read_price_book(path), PriceBook(read_prices(path))
    assert by_columns.symbols == by_bars.symbols
    assert (by_columns.first_day(), by_columns.last_day()) == (by_bars.first_day(), by_bars.last_day())
    for symbol in by_bars.symbols:
        for day in [*days, date(2025, 1, 9), date(2025, 1, 14)]:
            for ask in ("open_on", "close_on", "last_quote"):
                got, want = getattr(by_columns, ask)(symbol, day), getattr(by_bars, ask)(symbol, day)
                assert got == want and str(got) == str(want), (symbol, day, ask)
    assert read_bar_series(path)["AAPL"][0] == sorted(read_bar_series(path)["AAPL"][0])


def _parquet(path, columns: dict):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


def _parquet_outcomes(path):
    """(read_bar_file's outcome, the row checker's outcome on the same file)."""
    from pathlib import Path

    from services.core.bar_files import _read_by_rows

    def outcome(read):
        try:
            return "bars", read()
        except BarFileError as exc:
            return "problems", exc.problems
    return outcome(lambda: read_bar_file(path)), outcome(lambda: _read_by_rows(Path(path), STORAGE_LIMITS))


def test_a_parquet_file_of_numbers_is_read_by_columns_into_the_row_checkers_bars(tmp_path):
    import datetime as dt
    from decimal import Decimal

    import pyarrow as pa

    from services.core.bar_columns import read_parquet_columns

    days = [dt.date(2025, 1, 2), dt.date(2025, 1, 3), dt.date(2025, 1, 3)]
    variants = {
        "floats, a date column": {"date": pa.array(days, pa.date32()), "symbol": ["AAPL", "AAPL", "msft"],
                                  "open": [243.1, 425.0, 10.25], "high": [244.2, 430.0, 11.0], "low": [241.0, 420.5, 10.0],
                                  "close": [243.85, 428.0, 10.5], "volume": pa.array([5000, None, 7], pa.int64())},
        "texts, decimals, a timestamp": {"Date": pa.array([dt.datetime(2025, 1, 2), dt.datetime(2025, 1, 3), dt.datetime(2025, 1, 6)],
                                                          pa.timestamp("ms")),
                                         "Symbol": pa.array(["SAP@IBIS:EUR"] * 3).dictionary_encode(),
                                         "Open": pa.array([Decimal("1.50"), Decimal("2"), Decimal("3.125")], pa.decimal128(10, 3)),
                                         "High": ["1.5", "2.5", "3.5"], "Low": ["1.5", "2", "3"], "Close": ["1.5", "2.25", "3.25"]},
    }
    for name, columns in variants.items():
        path = _parquet(tmp_path / f"{len(name)}.parquet", columns)
        assert read_parquet_columns(path, STORAGE_LIMITS) is not None, name
        fast, rows = _parquet_outcomes(path)
        assert fast == rows and fast[0] == "bars", name
        assert [(str(b.open), str(b.close), str(b.volume)) for b in fast[1]] == [(str(b.open), str(b.close), str(b.volume)) for b in rows[1]]


def test_a_parquet_file_with_anything_else_is_read_row_by_row_with_the_same_outcome(tmp_path):
    import datetime as dt

    from services.core.bar_columns import read_parquet_columns

    base = {"date": ["2025-01-02", "2025-01-03"], "symbol": ["AAPL", "AAPL"], "open": [1.0, 2.0], "high": [1.0, 2.0],
            "low": [1.0, 2.0], "close": [1.0, 2.0]}
    variants = {
        "a missing date": {**base, "date": ["2025-01-02", None]},
        "a missing price": {**base, "close": [1.0, None]},
        "a tiny float": {**base, "open": [1e-9, 2.0], "low": [1e-9, 2.0]},
        "a timestamp with a time": {**base, "date": [dt.datetime(2025, 1, 2, 15, 30), dt.datetime(2025, 1, 3)]},
        "a second bar": {**base, "date": ["2025-01-02", "2025-01-02"]},
        "high below the open": {**base, "high": [0.5, 2.0]},
        "an extra column": {**base, "adj_close": [1.0, 2.0]},
        "a Sunday": {**base, "date": [dt.date(2025, 1, 3), dt.date(2025, 1, 5)]},
    }
    for name, columns in variants.items():
        path = _parquet(tmp_path / f"{len(name)}.parquet", columns)
        assert read_parquet_columns(path, STORAGE_LIMITS) is None, name
        fast, rows = _parquet_outcomes(path)
        assert fast == rows, name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(CELLS["date"]), st.sampled_from(CELLS["symbol"]),
                          *[st.sampled_from(CELLS["price"])] * 4, st.sampled_from(CELLS["volume"])),
                min_size=1, max_size=12))
def test_a_parquet_table_of_texts_is_decided_alike_by_both_readers(tmp_path, rows):
    names = HEADER.split(",")
    path = _parquet(tmp_path / "fuzz.parquet", {name: [row[i] for row in rows] for i, name in enumerate(names)})
    fast, by_rows = _parquet_outcomes(path)
    assert fast == by_rows
