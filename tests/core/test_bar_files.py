"""Bar files: every problem with its line, no bars from a file with any problem."""

from __future__ import annotations

import importlib
import os
from datetime import date
from decimal import Decimal as D

import pytest

from services.core.bar_files import BarFileError, parse_bar_columns, parse_bar_csv, read_bar_file
from services.core.bars import Bar

GOOD = b"""date,symbol,open,high,low,close,volume
2025-01-03,msft,420.5,425,418.25,424.10,1200300
2025-01-02,AAPL,243.1,244.2,241.0,243.85,5000
2025-01-03,AAPL,243.85,245,243.5,244.0,
2025-01-03,SAP@IBIS:EUR,250,251,249,250.5,10
"""


def test_a_good_file_gives_its_bars_by_day_and_listing():
    bars = parse_bar_csv(GOOD, source="good.csv")
    assert [(b.day, b.symbol) for b in bars] == [(date(2025, 1, 2), "AAPL"), (date(2025, 1, 3), "AAPL"),
                                                 (date(2025, 1, 3), "MSFT"), (date(2025, 1, 3), "SAP@IBIS:EUR")]
    assert bars[2] == Bar(date(2025, 1, 3), "MSFT", D("420.5"), D("425"), D("418.25"), D("424.10"), D("1200300"))
    assert bars[1].volume == 0  # an empty volume is 0


def test_a_corrupt_file_names_every_problem_with_its_line():
    corrupt = "\n".join([
        "date,symbol,open,high,low,close,volume",
        "2025-01-02,AAPL,243.1,244.2,241.0,243.85,5000",   # 2 fine
        "2025-02-30,AAPL,1,1,1,1,0",                        # 3 no such day
        "02/01/2025,MSFT,1,1,1,1,0",                        # 4 not ISO
        "2025-01-02,ÄPPL,1,1,1,1,0",                        # 5 non-ASCII symbol
        "2025-01-02,IBM,-5,1,1,1,0",                        # 6 negative open (and the low is above it)
        "2025-01-02,IBM2,10,9,8,9.5,0",                     # 7 high below the open
        "2025-01-02,IBM3,10,12,10.5,11,0",                  # 8 low above the open
        "2025-01-02,AAPL,243.1,244.2,241.0,243.85,5000",   # 9 duplicate of line 2
        "2025-01-02,BIG,1e12,1e12,1e12,1e12,0",             # 10 does not fit NUMERIC(20,8)
        "2025-01-02,FINE,1.123456789,2,1,1.5,0",            # 11 nine decimals
        "2025-01-02,TXT,abc,2,1,1.5,NaN",                   # 12 open and volume not numbers
        "2025-01-02,NEG,1,2,1,1.5,-3",                      # 13 negative volume
        "2025-01-02,SAP@NOWHERE:EUR,1,2,1,1.5,0",           # 14 unknown exchange
        "2025-01-02,ZERO,0,2,1,1.5,0",                      # 15 zero price
        "2025-01-02,SHORT,1,2,1",                           # 16 too few values
    ]).encode()
    with pytest.raises(BarFileError) as info:
        parse_bar_csv(corrupt, source="bad.csv")
    found = {(p.line, p.code) for p in info.value.problems}
    assert found == {
        (3, "bad_date"), (4, "bad_date"), (5, "non_ascii_symbol"), (6, "open_not_positive"),
        (7, "high_below_open_close"), (8, "low_above_open_close"), (9, "duplicate_bar"),
        (10, "open_too_large"), (10, "high_too_large"), (10, "low_too_large"), (10, "close_too_large"),
        (11, "open_precision"), (12, "open_not_number"), (12, "volume_not_number"), (13, "negative_volume"),
        (14, "untradable_listing"), (15, "open_not_positive"), (16, "column_count"),
    }
    message = str(info.value)
    assert message.startswith("bad.csv: 18 problems") and "line 9: a second bar for AAPL on 2025-01-02 (first on line 2)" in message
    assert [p.line for p in info.value.problems] == sorted(p.line for p in info.value.problems)


@pytest.mark.parametrize("data,code", [
    (b"", "empty_file"),
    (b"date,symbol,open,high,low\n2025-01-02,AAPL,1,1,1\n", "missing_column"),
    (b"2025-01-02,AAPL,1,1,1,1\n", "missing_header"),
    (b"date,symbol,open,high,low,close\n", "no_rows"),
    (b"date,symbol,open,high,low,close\n\xff\xfe,x\n", "encoding"),
])
def test_a_file_without_usable_rows_is_refused(data, code):
    with pytest.raises(BarFileError) as info:
        parse_bar_csv(data, source="x.csv")
    assert code in {p.code for p in info.value.problems}


def test_a_column_other_than_a_bar_files_is_refused_naming_it_in_csv_and_parquet(tmp_path):
    """adj_close and note were dropped without a word: the bars were stored from the other columns."""
    csv = b"date,symbol,open,high,low,close,adj_close,volume,note,\n2025-01-02,AAPL,1,1,1,1,0.9,5,hi,\n"
    expected = ("columns 'adj_close' (column 7), 'note' (column 9), an unnamed column 10 are not a bar file's: "
                "it has the columns date, symbol, open, high, low, close[, volume] and no others")
    (tmp_path / "bars.csv").write_bytes(csv)
    with pytest.raises(BarFileError) as info:
        read_bar_file(tmp_path / "bars.csv")
    assert [(p.line, p.code, p.message) for p in info.value.problems] == [(1, "unknown_column", expected)]
    assert "bars.csv: 1 problem\n  line 1: columns 'adj_close' (column 7)" in str(info.value)

    with pytest.raises(BarFileError) as info:
        parse_bar_columns({"date": ["2025-01-02"], "symbol": ["AAPL"], "open": [1.0], "high": [1.0], "low": [1.0],
                           "close": [1.0], "Adj Close": [0.9]}, source="bars.parquet")
    assert [(p.line, p.code, p.message) for p in info.value.problems] == [
        (1, "unknown_column", ("column 'Adj Close' (column 7) is not a bar file's: "
                              "it has the columns date, symbol, open, high, low, close[, volume] and no others"))]


def test_a_bar_on_a_day_its_exchange_is_closed_is_refused_naming_the_line(tmp_path):
    """Bars of Saturdays and holidays were stored, and a backtest valued positions on them."""
    csv = (b"date,symbol,open,high,low,close\n2025-01-03,AAPL,1,1,1,1\n2025-01-04,AAPL,1,1,1,1\n"
           b"2024-12-25,MSFT,1,1,1,1\n2025-01-09,SAP@IBIS:EUR,1,1,1,1\n2025-01-09,AAPL,1,1,1,1\n")
    (tmp_path / "bars.csv").write_bytes(csv)
    for read in (lambda: read_bar_file(tmp_path / "bars.csv"), lambda: parse_bar_csv(csv, source="bars.csv")):
        with pytest.raises(BarFileError) as info:
            read()
        assert [(p.line, p.column, p.code, p.message) for p in info.value.problems] == [
            (3, "date", "not_a_session", "date 2025-01-04 is a Saturday, not a session of AAPL's exchange calendar (XNYS)"),
            (4, "date", "not_a_session", "date 2024-12-25 is an exchange holiday, not a session of MSFT's exchange calendar (XNYS)"),
            (6, "date", "not_a_session", "date 2025-01-09 is an exchange holiday, not a session of AAPL's exchange calendar (XNYS)")]
    with pytest.raises(BarFileError) as info:
        parse_bar_columns({"date": [date(2025, 1, 5)], "symbol": ["SAP@IBIS:EUR"], "open": [1.0], "high": [1.0],
                           "low": [1.0], "close": [1.0]}, source="bars.parquet")
    assert [(p.line, p.code) for p in info.value.problems] == [(2, "not_a_session")]


def test_read_bar_file_goes_by_the_suffix(tmp_path):
    (tmp_path / "bars.csv").write_bytes(GOOD)
    assert len(read_bar_file(tmp_path / "bars.csv")) == 4
    (tmp_path / "bars.txt").write_bytes(GOOD)
    with pytest.raises(BarFileError, match="unknown bar file format"):
        read_bar_file(tmp_path / "bars.txt")
    with pytest.raises(BarFileError, match="cannot read"):
        read_bar_file(tmp_path / "missing.csv")


def test_columns_are_numbered_as_csv_lines():
    columns = {"Date": [date(2025, 1, 2), date(2025, 1, 3)], "Symbol": ["AAPL", "AAPL"], "Open": [243.1, 243.85],
               "High": [244.2, 240.0], "Low": [241.0, 243.5], "Close": [243.85, 244.0]}
    with pytest.raises(BarFileError) as info:
        parse_bar_columns(columns, source="x.parquet")
    assert {(p.line, p.code) for p in info.value.problems} == {(3, "high_below_open_close")}
    columns["High"][1] = 245.0
    bars = parse_bar_columns(columns)
    assert bars[0].open == D("243.1") and bars[1].high == D("245.0")


def test_parquet_files_read_like_csv(tmp_path):
    # pyarrow is installed with the console (Parquet bars): under CI a missing one fails
    pa = importlib.import_module("pyarrow") if os.environ.get("CI", "").lower() == "true" else pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"date": [date(2025, 1, 2), date(2025, 1, 2)], "symbol": ["AAPL", "AAPL"], "open": [1.5, 1.5],
                      "high": [2.0, 2.0], "low": [1.0, 1.0], "close": [1.75, 1.75], "volume": [100, 100]})
    pq.write_table(table, tmp_path / "bars.parquet")
    with pytest.raises(BarFileError) as info:
        read_bar_file(tmp_path / "bars.parquet")
    assert [(p.line, p.code) for p in info.value.problems] == [(3, "duplicate_bar")]


@pytest.mark.parametrize("columns,problem", [
    # two columns one name apart in case: refused as in a CSV header (the row reader's dict kept
    # the last one, so MSFT was stored and AAPL dropped without a word)
    ({"Symbol": ["AAPL"], "symbol": ["MSFT"]}, (1, "duplicate_column")),
    # a list, a struct in a column: the columnar reader's dictionary_encode raised
    # ArrowNotImplementedError (exit 1, "details in the log file")
    ({"symbol": [["AAPL"]]}, (2, "malformed_symbol")),
    ({"symbol": [{"a": 1}]}, (2, "malformed_symbol")),
])
def test_a_parquet_file_of_odd_columns_is_refused_with_the_problem_by_both_readers(tmp_path, columns, problem):
    pa = importlib.import_module("pyarrow") if os.environ.get("CI", "").lower() == "true" else pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from services.backtest.prices import PriceFileError, read_price_book

    table = {"date": [date(2025, 1, 2)], **columns, "open": [1.5], "high": [2.0], "low": [1.0], "close": [1.75]}
    pq.write_table(pa.table(table), tmp_path / "bars.parquet")
    with pytest.raises(BarFileError) as info:
        read_bar_file(tmp_path / "bars.parquet")
    assert [(p.line, p.code) for p in info.value.problems] == [problem]
    with pytest.raises(PriceFileError) as book:  # backtest --prices, tca --prices
        read_price_book(tmp_path / "bars.parquet")
    assert book.value.problems == [f"bars.parquet: {p}" for p in info.value.problems]


def test_a_day_before_1900_or_yet_to_come_is_refused_with_its_line(tmp_path):
    """0001-01-01 and 9999-12-31 were stored; a backtest on such a file ran to its last price
    day, 8,000 years of sessions (hours, gigabytes of rows, Ctrl-C unheard)."""
    from datetime import timedelta

    from services.backtest.prices import PriceFileError, read_price_book

    later = date.today() + timedelta(days=2)
    text = ("date,symbol,open,high,low,close\n2025-01-02,AAPL,1,1,1,1\n0001-01-01,AAPL,1,1,1,1\n"
            f"1899-12-31,AAPL,1,1,1,1\n{later},AAPL,1,1,1,1\n9999-12-31,AAPL,1,1,1,1\n")
    with pytest.raises(BarFileError) as info:
        parse_bar_csv(text.encode())
    assert [(p.line, p.code, p.message) for p in info.value.problems] == [
        (3, "date_out_of_range", "date 0001-01-01 is before 1900-01-01"),
        (4, "date_out_of_range", "date 1899-12-31 is before 1900-01-01"),
        (5, "date_out_of_range", f"date {later} has not come yet"),
        (6, "date_out_of_range", "date 9999-12-31 has not come yet")]
    (tmp_path / "bars.csv").write_text(text, encoding="utf-8")
    with pytest.raises(PriceFileError) as book:  # the columnar reader decides alike
        read_price_book(tmp_path / "bars.csv")
    assert book.value.problems == [f"bars.csv: {p}" for p in info.value.problems]
    assert parse_bar_csv(b"date,symbol,open,high,low,close\n1900-01-02,AAPL,1,1,1,1\n")[0].day == date(1900, 1, 2)


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    (tmp_path / "bars.parquet").write_bytes(b"PAR1")
    with pytest.raises(BarFileError, match=r"pip install 'ib-trading-console\[parquet\]'"):
        read_bar_file(tmp_path / "bars.parquet")


def test_listing_keys_are_checked_like_the_symbol_column():
    from services.core.bar_files import listing_key

    assert listing_key(" aapl ") == "AAPL" and listing_key("sap@ibis:eur") == "SAP@IBIS:EUR"
    for bad, why in (("ÄPPL", "non-ASCII"), ("SAP@NOWHERE:EUR", "unknown exchange"), ("", "empty")):
        with pytest.raises(ValueError, match=why):
            listing_key(bad)
