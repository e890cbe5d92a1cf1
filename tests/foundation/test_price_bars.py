"""The price cache's storage on SQLite and MariaDB: a bar file is stored whole or not at all,
prices come back exact, one bar per listing, data type and day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services import price_cache
from services.core.bar_files import STORAGE_LIMITS, BarFileError
from services.core.bars import Bar
from services.db.limits import bar_limits
from services.db.models import PriceBar
from services.db.repositories import Repositories

GOOD = """date,symbol,open,high,low,close,volume
2025-01-02,AAPL,243.12345678,244.2,241.0,243.85,5000
2025-01-03,AAPL,243.85,245,243.5,244.0,
2025-01-03,MSFT,9999999999.99999999,9999999999.99999999,420,421,123456789012.123456
"""


def _count(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(PriceBar))


def test_the_readers_limits_are_the_columns():
    assert bar_limits() == STORAGE_LIMITS


def test_a_bar_file_is_stored_exactly_and_read_back(database, tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text(GOOD)
    report = price_cache.import_bar_file(database, path)
    assert (report.bars, report.inserted, report.changed, report.unchanged, report.symbols) == (3, 3, 0, 0, 2)
    assert (report.first, report.last) == (date(2025, 1, 2), date(2025, 1, 3))
    bars = price_cache.load_bars(database)
    assert bars[0] == Bar(date(2025, 1, 2), "AAPL", D("243.12345678"), D("244.2"), D("241.0"), D("243.85"), D("5000"))
    assert bars[2].open == D("9999999999.99999999") and bars[2].volume == D("123456789012.123456")
    assert price_cache.load_bars(database, ["MSFT"]) == [bars[2]]
    assert price_cache.load_bars(database, first=date(2025, 1, 3), last=date(2025, 1, 3)) == bars[1:]
    [aapl, msft] = price_cache.coverage(database)
    assert (aapl.symbol, aapl.bars, aapl.first, aapl.last) == ("AAPL", 2, date(2025, 1, 2), date(2025, 1, 3))
    assert msft.what_to_show == "TRADES"
    # the same days again: overwritten, not doubled
    path.write_text(GOOD.replace("244.0,", "244.5,"))
    again = price_cache.import_bar_file(database, path)
    assert (again.inserted, again.changed, again.unchanged) == (0, 1, 2) and _count(database) == 3
    assert price_cache.load_bars(database, ["AAPL"], first=date(2025, 1, 3))[0].close == D("244.5")
    # another data type is another series
    assert price_cache.import_bar_file(database, path, what_to_show="ADJUSTED_LAST").inserted == 3
    assert _count(database) == 6


def test_a_file_imported_again_is_counted_unchanged_and_nothing_is_rewritten(database, tmp_path):
    """A second import of the same file said "0 new, 3 replaced" and wrote every row again."""
    path = tmp_path / "bars.csv"
    path.write_text(GOOD)
    price_cache.import_bar_file(database, path)
    with database.session() as session:
        written = dict(session.execute(select(PriceBar.id, PriceBar.stored_at)).all())

    again = price_cache.import_bar_file(database, path)

    assert (again.bars, again.inserted, again.changed, again.unchanged) == (3, 0, 0, 3)
    with database.session() as session:
        assert dict(session.execute(select(PriceBar.id, PriceBar.stored_at)).all()) == written
    # the same prices written otherwise (243.10 for 243.1) are the same bars; a new day is new
    path.write_text(GOOD.replace("243.85,5000", "243.850,5000.0") + "2025-01-06,AAPL,244,245,243,244.5,10\n")
    mixed = price_cache.import_bar_file(database, path)
    assert (mixed.bars, mixed.inserted, mixed.changed, mixed.unchanged) == (4, 1, 0, 3)


def test_a_corrupt_file_stores_nothing(database, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(GOOD + "2025-01-06,AAPL,10,9,8,9.5,0\n2025-13-01,AAPL,1,1,1,1,0\n")
    with pytest.raises(BarFileError) as info:
        price_cache.import_bar_file(database, path)
    assert [(p.line, p.code) for p in info.value.problems] == [(5, "high_below_open_close"), (6, "bad_date")]
    assert _count(database) == 0


def test_one_bar_per_listing_type_and_day(database):
    bar = Bar(date(2025, 1, 2), "AAPL", D(1), D(2), D("0.5"), D("1.5"), D(0))
    with database.unit_of_work() as session:
        Repositories(session).price_bars.save([bar], source="file")
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        session.add(PriceBar(symbol="AAPL", what_to_show="TRADES", day=date(2025, 1, 2), open=D(1), high=D(1), low=D(1),
                             close=D(1), volume=D(0), source="file"))
        session.flush()
    assert _count(database) == 1


def test_the_cached_series_are_the_cached_bars_by_listing(database, tmp_path):
    """``load_series`` (a backtest's price book from the cache: three columns, each distinct value
    converted once) gives each listing's days, opens and closes exactly as ``load_bars`` does."""
    from services.backtest.prices import PriceBook

    lines = ["date,symbol,open,high,low,close,volume"]
    for day in (2, 3, 6, 7, 8):
        for n, symbol in enumerate(("AAPL", "MSFT", "SAP@IBIS:EUR")):
            price = f"{100 + day * 1.25 + n:.2f}"
            lines.append(f"2025-01-{day:02d},{symbol},{price},{price},{price},{price},{day}")
    lines.append("2025-01-10,MSFT,9999999999.99999999,9999999999.99999999,0.00000001,1,0")
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(lines) + "\n")
    price_cache.import_bar_file(database, path)
    price_cache.import_bar_file(database, path, what_to_show="ADJUSTED_LAST")

    def by_listing(bars):
        out: dict = {}
        for bar in bars:
            days, opens, closes = out.setdefault(bar.symbol, ([], [], []))
            days.append(bar.day)
            opens.append(bar.open)
            closes.append(bar.close)
        return out

    for symbols, first, last in ((None, None, None), (["MSFT", "AAPL"], None, None), (None, date(2025, 1, 3), date(2025, 1, 7)),
                                 (["SAP@IBIS:EUR"], date(2025, 1, 8), None), (["NOPE"], None, None)):
        series = price_cache.load_series(database, symbols, first, last)
        expected = by_listing(price_cache.load_bars(database, symbols, first, last))
        assert series == expected
        assert {k: [str(p) for p in v[2]] for k, v in series.items()} == {k: [str(p) for p in v[2]] for k, v in expected.items()}
    book = PriceBook.from_columns(price_cache.load_series(database))
    assert book.close_on("MSFT", date(2025, 1, 10)) == D("1") and book.open_on("MSFT", date(2025, 1, 10)) == D("9999999999.99999999")
