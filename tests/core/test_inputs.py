from decimal import Decimal as D

from services.core.inputs import parse_symbol_values, read_positions


def test_positions_file(tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text("symbol,quantity\nAAPL,10\nmsft,-5\n\nKO,0\n")
    parsed = read_positions(path)
    assert parsed.ok and parsed.values == {"AAPL": D(10), "MSFT": D(-5), "KO": D(0)} and parsed.source_name == "pos.csv"


def test_every_problem_with_its_line():
    parsed = parse_symbol_values("symbol,price\nAAPL,1\nAAPL,2\nB@D,3\nMSFT,x\nKO,0\n", "price", positive=True)
    assert [(p.line, p.column, p.code) for p in parsed.errors] == [
        (3, "symbol", "duplicate_symbol"), (4, "symbol", "malformed_symbol"), (5, "price", "price_not_number"),
        (6, "price", "price_not_positive")]
    assert parsed.values == {"AAPL": D(1)}


def test_missing_column_and_empty():
    assert [(p.line, p.column) for p in parse_symbol_values("symbol,qty\nA,1\n", "quantity").errors] == [(1, "quantity")]
    assert [p.code for p in parse_symbol_values("", "price").errors] == ["empty_file"]


def test_a_number_the_database_cannot_keep_and_a_file_not_utf8_are_refused_with_the_file(tmp_path):
    """1e400 was read as a price (the symbol left out of the orders without a word) or as a
    position (a SELL of 1E+400 shares, risk "ok"); a UTF-16 file failed as "bad input: 'utf-8'
    codec can't decode byte 0xff in position 0" naming no file."""
    import pytest

    from services.core.inputs import NotText, read_prices

    prices = tmp_path / "prices.csv"
    prices.write_text("symbol,price\nAAPL,1e400\nMSFT,9999999999.99\nKO,10000000000\n")
    assert [(p.line, p.code, p.message) for p in read_prices(prices).errors] == [
        (2, "price_too_large", "price 1e400 is too large: the database keeps values below 1e10"),
        (4, "price_too_large", "price 10000000000 is too large: the database keeps values below 1e10")]
    positions = tmp_path / "positions.csv"
    positions.write_text("symbol,quantity\nAAPL,-1e400\nMSFT,999999999999\n")
    assert [(p.line, p.code) for p in read_positions(positions).errors] == [(2, "quantity_too_large")]
    (tmp_path / "utf16.csv").write_bytes("symbol,price\nAAPL,1\n".encode("utf-16"))
    with pytest.raises(NotText, match=r"^the file is not UTF-8 text \(invalid start byte at byte 0\)$"):
        read_prices(tmp_path / "utf16.csv")


def test_the_readers_limits_are_the_order_columns():
    from services.core.inputs import PRICE_WHOLE_DIGITS, QUANTITY_WHOLE_DIGITS
    from services.db.limits import numeric_limit
    from services.db.models import TradeOrder

    columns = TradeOrder.__table__.c
    kept = (numeric_limit(columns.limit_price).whole_digits, numeric_limit(columns.quantity).whole_digits)
    assert kept == (PRICE_WHOLE_DIGITS, QUANTITY_WHOLE_DIGITS)
