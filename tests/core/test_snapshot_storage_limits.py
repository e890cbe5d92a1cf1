"""Snapshot input that cannot change what is traded: whatever the database could not keep
exactly (or keeps differently on SQLite and MariaDB) is refused at import, with the row's line,
and nothing is stored -- on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.console_queries import import_snapshot, snapshot_items
from services.core.snapshots import parse_snapshot_text
from services.db.limits import snapshot_limits
from services.db.models import DecisionSnapshot, DecisionSnapshotItem, Project
from tests.fixtures.forked_app import run_sync

ROOT = Path(__file__).resolve().parents[2]

CSV_HEAD = "symbol,weight,price,rank\nAAPL,0.1,228.5,1\n"

# (id, file name, content, expected line, words the message must contain)
BAD_INPUTS = [
    ("dotless-i", "s.csv", CSV_HEAD + "ıbm,0.1,,\n", 3, "non-ASCII"),
    ("sharp-s", "s.csv", CSV_HEAD + "maß,0.1,,\n", 3, "non-ASCII"),
    ("ligature", "s.csv", CSV_HEAD + "ﬁt,0.1,,\n", 3, "non-ASCII"),
    ("non-ascii-currency", "s.csv", "symbol,weight,currency\nAAPL,0.1,uſd\n", 2, "non-ASCII"),
    ("weight-overflow", "s.csv", CSV_HEAD + "MSFT,1e999999999999999999,,\n", 3, "too large"),
    ("weight-stored-as-0", "s.csv", CSV_HEAD + "MSFT,0.00000000001,,\n", 3, "stored as 0"),
    ("weight-rounded", "s.csv", CSV_HEAD + "MSFT,0.12345678901,,\n", 3, "stored rounded"),
    ("price-too-large", "s.csv", CSV_HEAD + "MSFT,0.1,1e13,\n", 3, "too large"),
    ("price-rounded", "s.csv", CSV_HEAD + "MSFT,0.1,1.123456789,\n", 3, "stored rounded"),
    ("rank-out-of-range", "s.csv", CSV_HEAD + "MSFT,0.1,,2147483648\n", 3, "out of range"),
    ("rank-huge", "s.csv", CSV_HEAD + "MSFT,0.1,,1e30\n", 3, "out of range"),
    ("json-deep", "s.json", "[" * 100_000 + "]" * 100_000, 1, "nested deeper"),
    ("json-deep-later-line", "s.json", '[\n{"symbol": "AAPL", "weight": 0.1},\n' + "[" * 100 + "]" * 100 + "\n]", 3, "nested deeper"),
    ("json-duplicate-key", "s.json", '[\n{"symbol": "AAPL", "weight": "0.1"},\n{"symbol": "MSFT", "weight": 0.1, "weight": 0.9}\n]', 3, "appears twice"),
    ("json-duplicate-key-case", "s.json", '{"items": [\n{"symbol": "AAPL", "Symbol": "MSFT", "weight": 0.1}\n]}', 2, "appears twice"),
    ("json-weight-overflow", "s.json", '[\n{"symbol": "AAPL", "weight": 1e999999999999999999}\n]', 2, "too large"),
]


def _counts(database) -> tuple[int, int, int]:
    with database.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Project, DecisionSnapshot, DecisionSnapshotItem))


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_bad_input_is_refused_with_its_line_and_nothing_stored(case, database, tmp_path):
    _id, name, content, line, words = case
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    outcome = import_snapshot(database, path, "limits", actor="tester")
    assert not outcome.ok
    messages = [str(p) for p in outcome.parsed.errors]
    assert any(m.startswith(f"line {line}") and words in m for m in messages), messages
    assert _counts(database) == (0, 0, 0)


def test_over_long_project_name_is_refused_on_both_databases(database, tmp_path):
    limit = snapshot_limits().project_name_length
    path = tmp_path / "s.csv"
    path.write_text("symbol,weight\nAAPL,0.1\n", encoding="utf-8")
    outcome = import_snapshot(database, path, "p" * (limit + 1), actor="tester")
    assert not outcome.ok and "project name" in str(outcome.parsed.errors[0])
    assert _counts(database) == (0, 0, 0)
    assert import_snapshot(database, path, "p" * limit, actor="tester").ok  # the longest name that fits is stored


def test_values_at_the_limits_are_stored_exactly_on_both_databases(database, tmp_path):
    path = tmp_path / "edge.csv"
    path.write_text("symbol,weight,price,score,rank\n"
                    "AAPL,0.0000000001,9999999999.99999999,-9999999999.99999999,2147483647\n"
                    "MSFT,0.5,0.00000001,0,-2147483648\n", encoding="utf-8")
    outcome = import_snapshot(database, path, "edges", actor="tester")
    assert outcome.ok, outcome.parsed.errors
    items = {i.symbol: i for i in snapshot_items(database, outcome.snapshot_id)}
    assert items["AAPL"].weight == Decimal("1e-10") and items["AAPL"].price == Decimal("9999999999.99999999")
    assert items["AAPL"].score == Decimal("-9999999999.99999999") and items["AAPL"].rank == 2**31 - 1
    assert items["MSFT"].price == Decimal("1e-8") and items["MSFT"].rank == -(2**31)


def test_symbols_are_ascii_after_validation():
    parsed = parse_snapshot_text("symbol,weight\nbrk b,0.1\naapl,0.2\n", "csv", limits=snapshot_limits())
    assert parsed.ok and [i.symbol for i in parsed.items] == ["BRK B", "AAPL"]
    assert all(i.symbol.isascii() for i in parsed.items)


def test_limits_follow_the_models_column_types():
    from services.db.models import DecisionSnapshotItem as Item

    limits = snapshot_limits()
    weight = Item.__table__.c.weight.type
    assert limits.weight.scale == weight.scale
    assert limits.weight.whole_digits <= weight.precision - weight.scale
    assert limits.symbol_length == Item.__table__.c.symbol.type.length


def _console(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TC_")}
    env.update(PYTHONPATH=str(ROOT), TC_CONFIG_FILE=str(tmp_path / "settings.toml"),
               TC_DATA_DIR=str(tmp_path / "data"), TC_LOG_DIR=str(tmp_path / "logs"))
    return run_sync([sys.executable, "-m", "app", *args], env=env, timeout=120)


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_cli_import_reports_the_line_and_exit_2(db_url, database, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    huge = tmp_path / "huge.csv"
    huge.write_text("symbol,weight\nAAPL,0.1\nMSFT,1e999999999999999999\n", encoding="utf-8")
    for path, line in ((deep, 1), (huge, 3)):
        result = _console("--db-url", db_url, "snapshot", "import", str(path), "--project", "cli", tmp_path=tmp_path)
        assert result.returncode == 2, result.stderr
        assert f"line {line}" in result.stderr and "Traceback" not in result.stderr and "Overflow" not in result.stderr
    assert _counts(database) == (0, 0, 0)


def test_a_note_longer_than_every_database_keeps_is_refused_and_nothing_stored(db_url, database, tmp_path):
    """`snapshot import --note` of 70,000 characters: MariaDB refused the row ("database error:
    Data too long for column 'note'", exit 5) while SQLite kept it; now a problem of the import
    on both, exit 2, nothing stored; the longest note that fits is stored whole."""
    path = tmp_path / "s.csv"
    path.write_text("symbol,weight\nAAPL,0.1\n", encoding="utf-8")
    result = _console("--db-url", db_url, "snapshot", "import", str(path), "--project", "noted", "--note", "é" * 32_768,
                      tmp_path=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "the note has 65,536 bytes of UTF-8; at most 65,535 can be stored" in result.stderr, result.stderr
    assert _counts(database) == (0, 0, 0)
    outcome = import_snapshot(database, path, "noted", note="é" * 32_767 + "a", actor="tester")
    assert outcome.ok
    with database.session() as session:
        assert session.scalar(select(DecisionSnapshot.note)) == "é" * 32_767 + "a"
