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
