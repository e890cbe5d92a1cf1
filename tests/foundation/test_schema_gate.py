"""Schema changes are the operator's decision on MySQL/MariaDB: a database behind the head
revision (or empty) is left untouched and every command except ``db ...`` stops with one line
saying to run ``trading-console db upgrade`` (exit 5). SQLite upgrades itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.db import migrate
from tests.fixtures.forked_app import run_sync

ROOT = Path(__file__).resolve().parents[2]


def _older_than_head() -> str | None:
    """The revision just before head, whatever head is when the test runs (None: base)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(migrate.head())
    down = script.down_revision
    return down[0] if isinstance(down, tuple) else down


def _schema(url: str) -> tuple[str | None, frozenset[str], tuple]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        inspector = sa.inspect(engine)
        tables = frozenset(inspector.get_table_names())
        columns = tuple(sorted((t, c["name"]) for t in tables for c in inspector.get_columns(t)))
    finally:
        engine.dispose()
    return migrate.current(url), tables, columns


def _console(url: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TC_")}
    env.update(PYTHONPATH=str(ROOT), TC_CONFIG_FILE=str(tmp_path / "settings.toml"),
               TC_DATA_DIR=str(tmp_path / "data"), TC_LOG_DIR=str(tmp_path / "logs"))
    return run_sync([sys.executable, "-m", "app", "--db-url", url, *args], env=env, timeout=120)


COMMANDS = [
    ("snapshot", "list"),
    ("audit", "verify"),
    ("orders",),
    ("preview", "--snapshot", "1", "--portfolio-value", "1000"),
    ("execute", "--snapshot", "1", "--project", "P", "--ib-port", "1", "--connect-timeout", "1"),
    # the commands that read what is stored open it the one way (app.composition.open_existing_database):
    # two of them stand for the rest (trail and audit checked the schema before; tca checked nothing)
    ("positions",),
    ("tca", "--run", "1"),
]
# the same commands, pointed at an SQLite file that is not there
READERS = [("positions",), ("tca", "--run", "1"), ("trail", "--run", "1"), ("bars", "show"), ("audit", "verify")]


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
@pytest.mark.parametrize("db_backend", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)  # SQLite upgrades itself: see the next test
@pytest.mark.parametrize("state", ["older", pytest.param("empty", marks=pytest.mark.slow)])
def test_mysql_behind_head_is_refused_and_left_untouched(state, db_backend, empty_db_url, tmp_path):
    older = _older_than_head()
    if state == "older":
        if older is None:
            pytest.skip("head has no earlier revision")
        migrate.upgrade(empty_db_url, older)
    before = _schema(empty_db_url)
    for command in COMMANDS:
        result = _console(empty_db_url, *command, tmp_path=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 5, (command, result.stderr)
        assert len(lines) == 1 and "run `trading-console db upgrade`" in lines[0], (command, result.stderr)
        assert _schema(empty_db_url) == before, command
    # The operator upgrades; then the commands work.
    upgraded = _console(empty_db_url, "db", "upgrade", tmp_path=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert migrate.current(empty_db_url) == migrate.head()
    listed = _console(empty_db_url, "snapshot", "list", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr


def test_ensure_schema_refuses_behind_mysql_and_upgrades_sqlite(db_backend, empty_db_url):
    if db_backend == "mysql":
        with pytest.raises(migrate.SchemaNotCurrent, match=r"trading-console db upgrade"):
            migrate.ensure_schema(empty_db_url)
        assert migrate.current(empty_db_url) is None
        with sa.create_engine(empty_db_url, poolclass=sa.pool.NullPool).connect() as connection:
            assert sa.inspect(connection).get_table_names() == []
    else:
        assert migrate.ensure_schema(empty_db_url) == migrate.head()


@pytest.mark.parametrize("db_backend", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
def test_a_revision_this_console_does_not_know_is_refused(db_backend, empty_db_url):
    migrate.upgrade(empty_db_url)
    engine = sa.create_engine(empty_db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    finally:
        engine.dispose()
    with pytest.raises(migrate.SchemaNotCurrent, match="does not know"):
        migrate.ensure_schema(empty_db_url)


@pytest.mark.slow  # a `python -m app` subprocess per command
@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c))
def test_a_reader_pointed_at_no_sqlite_file_says_so_and_creates_none(command, tmp_path):
    """Before, ``tca`` created the file and failed with "no such table" (exit 5); ``positions``
    and ``bars show`` said the right thing but left an empty file behind."""
    path = tmp_path / "absent.sqlite3"
    url = f"sqlite:///{path.as_posix()}"
    result = _console(url, *command, tmp_path=tmp_path)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == f"trading-console: the database at {url} has no schema; run `trading-console db upgrade` first\n"
    assert not path.exists()



@pytest.mark.slow  # a `python -m app` subprocess
def test_a_backtest_of_files_on_a_new_machine_makes_its_sqlite_file_as_every_writer_does(tmp_path):
    """A trader's first command can be a backtest of their own files: it stores its rows, its
    trail and its input snapshots, and it made nothing, saying "has no schema; run `db upgrade`"
    where `snapshot import` or `execute` would have made the file."""
    from datetime import date

    from tests.backtest.data import generated_bars, monthly_snapshots, write_prices_csv, write_snapshots_csv

    symbols = [f"N{i:02d}" for i in range(12)]
    prices = write_prices_csv(tmp_path / "bars.csv", generated_bars(symbols, date(2024, 1, 25), date(2024, 3, 28)))
    weights = write_snapshots_csv(tmp_path / "weights.csv",
                                  monthly_snapshots(symbols, date(2024, 2, 1), date(2024, 3, 28), "first"))
    path = tmp_path / "new" / "console.sqlite3"
    path.parent.mkdir()
    url = f"sqlite:///{path.as_posix()}"

    result = _console(url, "backtest", "--prices", str(prices), "--snapshots", str(weights), "--json", tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    assert migrate.current(url) == migrate.head()
    listed = _console(url, "backtests", "--json", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert '"status": "done"' in listed.stdout and '"first"' in listed.stdout, listed.stdout
