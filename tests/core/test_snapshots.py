from decimal import Decimal as D

import pytest

from services.core.snapshots import (
    SnapshotFormatError,
    parse_snapshot_bytes,
    parse_snapshot_file,
    parse_snapshot_text,
)


def problems(result):
    return [(p.line, p.column, p.code) for p in result.errors]


def test_valid_csv_with_defaults_and_optional_columns():
    text = "symbol,weight,score,rank,price\nAAPL,0.25,1.5,1,190.10\nbrk b,0.10,,2,\n"
    r = parse_snapshot_text(text, "csv", source_name="s.csv")
    assert r.ok and r.errors == ()
    assert [(i.symbol, i.weight, i.score, i.rank, i.price, i.line) for i in r.items] == [
        ("AAPL", D("0.25"), D("1.5"), 1, D("190.10"), 2),
        ("BRK B", D("0.10"), None, 2, None, 3),
    ]
    assert (r.items[0].sec_type, r.items[0].exchange, r.items[0].currency) == ("STK", "SMART", "USD")
    assert r.gross_weight == D("0.35") and r.source_name == "s.csv" and r.format == "csv"


def test_every_csv_problem_is_reported_with_its_line():
    text = (
        "symbol,weight,price\n"  # 1
        "AAPL,0.5,190\n"  # 2
        "MSFT,abc,300\n"  # 3 weight not a number
        "AAPL,0.1,190\n"  # 4 duplicate
        "\n"  # 5 blank: skipped, line numbers keep counting
        "BAD$,0.1,10\n"  # 6 malformed symbol
        "IBM,-0.1,150\n"  # 7 negative weight (shorting not allowed)
        "XOM,0.2,0\n"  # 8 zero price
        "KO,0.3,-1\n"  # 9 negative price; gross 0.5+0.1+0.1+0.1+0.2+0.3 = 1.3 > 1 first here
        "PG,inf,10\n"  # 10 infinite weight
        "JNJ,NaN,10\n"  # 11 NaN weight
    )
    r = parse_snapshot_text(text, "csv")
    assert not r.ok
    assert problems(r) == [
        (3, "weight", "weight_not_number"),
        (4, "symbol", "duplicate_symbol"),
        (6, "symbol", "malformed_symbol"),
        (7, "weight", "negative_weight"),
        (8, "price", "price_not_positive"),
        (9, "price", "price_not_positive"),
        (9, "weight", "gross_weight_above_max"),
        (10, "weight", "weight_not_number"),
        (11, "weight", "weight_not_number"),
    ]
    assert str(r.errors[1]) == "line 4, column symbol: duplicate symbol AAPL (first on line 2)"
    assert [i.symbol for i in r.items] == ["AAPL"]


def test_a_row_with_fewer_cells_than_the_header_is_reported_as_one_with_more_is():
    """``NVDA,0.20`` under ``symbol,weight,price`` is a cut or shifted line, as ``MSFT,0.1,415,9``
    is: both are refused with their line; a price left empty keeps its comma and is fine."""
    text = (
        "symbol,weight,price\n"  # 1
        "AAPL,0.10,190\n"  # 2
        "NVDA,0.20\n"  # 3 no cell for price
        "MSFT,0.10,415,9\n"  # 4 a cell too many
        "KO,0.05,\n"  # 5 the price left empty: fine
    )
    r = parse_snapshot_text(text, "csv")
    assert problems(r) == [(3, None, "missing_cells"), (4, None, "extra_cells")]
    assert str(r.errors[0]) == ("line 3: 2 cells but the header has 3 columns: no cell for price "
                                "(an empty value still needs its comma)")
    assert str(r.errors[1]) == "line 4: 4 cells but the header has 3 columns"
    assert not r.ok


def test_a_short_row_names_every_column_it_has_no_cell_for_but_not_an_unnamed_one():
    # a header's trailing comma adds an unnamed column no row has to fill
    r = parse_snapshot_text("symbol,weight,score,rank,\nNVDA,0.20\nAAPL,0.1,1.5,2\n", "csv")
    assert problems(r) == [(2, None, "missing_cells")]
    assert "no cell for score, rank " in r.errors[0].message


def test_shorting_allowed_and_gross_limit_configurable():
    text = "symbol,weight\nAAPL,0.6\nMSFT,-0.6\n"
    assert problems(parse_snapshot_text(text, "csv", allow_short=True)) == [(3, "weight", "gross_weight_above_max")]
    r = parse_snapshot_text(text, "csv", allow_short=True, max_gross_weight=D("1.5"))
    assert r.ok and r.net_weight == D(0) and r.gross_weight == D("1.2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, None, "empty_file")]),
        ("  \n\n", [(1, None, "empty_file")]),
        ("AAPL,0.5\nMSFT,0.2\n", [(1, None, "missing_header")]),
        ("symbol,score\nAAPL,1\n", [(1, "weight", "missing_column")]),
        ("ticker,weight\nAAPL,1\n", [(1, "symbol", "missing_column")]),
        ("symbol,weight\n", [(1, None, "no_rows")]),
        ("symbol,weight,weight\nAAPL,1,1\n", [(1, "weight", "duplicate_column")]),
    ],
)
def test_structural_csv_problems(text, expected):
    assert problems(parse_snapshot_text(text, "csv")) == expected


def test_a_file_separated_by_semicolons_is_told_so_not_that_its_header_is_missing():
    """Tried under Xvfb as a trader whose spreadsheet saves CSV with ';' between the columns (a
    locale whose decimal mark is a comma): the import said "missing header: the first row must
    name the columns" of a first row that names them."""
    parsed = parse_snapshot_text("symbol;weight;price\nAAPL;0,30;229,95\n", "csv")
    assert problems(parsed) == [(1, None, "not_comma_separated")]
    assert str(parsed.errors[0]) == ("line 1: the columns are separated by semicolons, not by commas (the header reads "
                                     "'symbol;weight;price'): save the file as CSV with commas between the columns and a "
                                     "point as the decimal mark")
    assert problems(parse_snapshot_text("Symbol\tWeight\nAAPL\t0.3\n", "csv")) == [(1, None, "not_comma_separated")]
    # a first row of data is still a missing header
    assert problems(parse_snapshot_text("AAPL;0.5\nMSFT;0.2\n", "csv")) == [(1, None, "missing_header")]


def test_json_rows_carry_the_line_they_start_on():
    text = '{"as_of": "2026-11-21", "items": [\n  {"symbol": "AAPL", "weight": 0.5, "price": 190.5},\n  {"symbol": "AAPL",\n   "weight": NaN},\n  {"weight": 0.1},\n  {"symbol": "MSFT", "weight": "0.2", "price": true}\n]}'
    r = parse_snapshot_text(text, "json")
    assert problems(r) == [
        (3, "symbol", "duplicate_symbol"),
        (3, "weight", "weight_not_number"),
        (5, "symbol", "missing_column"),
        (6, "price", "price_not_number"),
    ]
    assert r.items[0].price == D("190.5") and r.items[0].line == 2


def test_json_syntax_error_has_a_line():
    assert problems(parse_snapshot_text('[\n {"symbol": "A", "weight": 0.1},\n {"symbol": }\n]', "json")) == [(3, None, "json_syntax")]
    assert problems(parse_snapshot_text('{"rows": []}', "json")) == [(1, None, "missing_column")]
    assert problems(parse_snapshot_text("[]", "json")) == [(1, None, "no_rows")]


def test_content_hash_is_the_same_for_the_same_targets_in_any_format_or_order():
    csv_text = "symbol,weight,price\nMSFT,0.20,300\naapl,.5,190.0\n"
    json_text = '[{"symbol": "AAPL", "weight": 0.5, "price": "190"}, {"symbol": "MSFT", "weight": 0.2, "price": 300.00}]'
    a = parse_snapshot_text(csv_text, "csv")
    b = parse_snapshot_text(json_text, "json")
    assert a.content_hash == b.content_hash
    assert len(a.content_hash) == 64
    c = parse_snapshot_text("symbol,weight,price\nMSFT,0.21,300\nAAPL,0.5,190\n", "csv")
    assert c.content_hash != a.content_hash


def test_not_utf8_and_unknown_format(tmp_path):
    r = parse_snapshot_bytes(b"symbol,weight\n\xff\xfe,1\n", "csv")
    assert problems(r) == [(None, None, "encoding")]
    bad = tmp_path / "x.txt"
    bad.write_text("symbol,weight\n")
    with pytest.raises(SnapshotFormatError):
        parse_snapshot_file(bad)


def test_file_with_bom(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("\ufeffsymbol,weight\nSPY,0.5\n".encode("utf-8"))
    r = parse_snapshot_file(path)
    assert r.ok and r.items[0].symbol == "SPY" and r.source_name == "s.csv"


def test_a_snapshot_file_needs_a_project_and_a_stored_snapshots_id_does_not():
    """``execute`` and ``preview --save`` each wrote their own refusal of a snapshot FILE without
    ``--project`` (services.core.snapshot_project_problem now: pure move, one message)."""
    from services.core.snapshots import snapshot_project_problem

    assert snapshot_project_problem("targets.csv", None) == "--project NAME is needed with a snapshot FILE"
    assert snapshot_project_problem("targets.csv", "") == "--project NAME is needed with a snapshot FILE"
    assert snapshot_project_problem("targets.csv", "alpha") is None
    assert snapshot_project_problem(" 42 ", None) is None  # a stored snapshot's id names its own project
