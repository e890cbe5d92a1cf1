"""Migrations on SQLite and MariaDB: the migrated schema equals the models, and
upgrade -> downgrade base -> upgrade works."""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from services.db import Database, migrate
from services.db.models import Base
from tests.fixtures.db import MIGRATING_BACKENDS

ROOT = Path(__file__).resolve().parents[2]
MODEL_TABLES = {t.name for t in Base.metadata.sorted_tables}


def _diff(url: str) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_migrated_schema_equals_the_models(empty_db_url):
    assert migrate.upgrade(empty_db_url) == migrate.head()
    assert _diff(empty_db_url) == []


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_upgrade_downgrade_base_upgrade(empty_db_url):
    assert migrate.current(empty_db_url) is None
    assert migrate.upgrade(empty_db_url) == migrate.head()
    assert _tables(empty_db_url) == MODEL_TABLES | {"alembic_version"}
    assert migrate.downgrade(empty_db_url, "base") is None
    assert migrate.current(empty_db_url) is None
    assert _tables(empty_db_url) == {"alembic_version"}
    assert migrate.upgrade(empty_db_url) == migrate.head()
    assert migrate.current(empty_db_url) == migrate.head()
    assert _diff(empty_db_url) == []
    # Upgrading a database already at head is a no-op, not an error.
    assert migrate.upgrade(empty_db_url) == migrate.head()


@pytest.mark.parametrize("db_backend", MIGRATING_BACKENDS, indirect=True)  # MariaDB: a downgrade and an upgrade, multi-second
def test_the_loss_of_a_downgrade_names_every_table_it_drops_and_each_column_it_removes(empty_db_url):
    from services.db.downgrade_loss import DowngradeLosesData, TableLoss, downgrade_loss

    assert downgrade_loss(empty_db_url, "base").dropped_tables == ()  # no schema, nothing to lose
    assert migrate.upgrade(empty_db_url) == migrate.head()
    empty = downgrade_loss(empty_db_url, "base")
    assert (empty.from_revision, empty.to_revision, empty.loses_rows) == (migrate.head(), None, False)
    assert empty.dropped_tables == tuple(TableLoss(name, 0) for name in sorted(MODEL_TABLES))
    engine = sa.create_engine(empty_db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO backtests (id, status, created_at) "
                                       "VALUES (1, 'done', '2026-12-04 12:00:00')"))
    finally:
        engine.dispose()
    loss = downgrade_loss(empty_db_url, "0016_cancel_all_marker")
    assert (loss.to_revision, loss.loses_rows) == ("0016_cancel_all_marker", True)
    assert loss.dropped_tables == (TableLoss("account_rates", 0), TableLoss("cancel_all_marks", 0))
    assert loss.changed_tables == (TableLoss("backtests", 1, ("host", "pid", "process_key", "heartbeat_at", "summary")),
                                   TableLoss("run_leases", 0, ("sending_account",)),
                                   TableLoss("trade_runs", 0, ("backtest_id",)),
                                   TableLoss("trail_portfolio_snapshots", 0, ("rates",)))
    with pytest.raises(DowngradeLosesData, match=r"the columns added since 0016_cancel_all_marker, with their values: "
                       r"backtests.host, backtests.pid, backtests.process_key, backtests.heartbeat_at, backtests.summary \(1 row\); back up"):
        migrate.downgrade(empty_db_url, "0016_cancel_all_marker")
    assert migrate.current(empty_db_url) == migrate.head()
    assert _diff(empty_db_url) == []


def test_the_test_fixture_database_is_at_head_and_empty(db_url):
    assert migrate.current(db_url) == migrate.head()
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            counts = {t: connection.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in MODEL_TABLES}
    finally:
        engine.dispose()
    assert counts == dict.fromkeys(MODEL_TABLES, 0)


def test_offline_mysql_ddl_creates_every_table():
    ddl = migrate.offline_sql("mysql")
    for table in MODEL_TABLES:
        assert f"CREATE TABLE {table} (" in ddl
    assert ddl.count("ENGINE=InnoDB") == len(MODEL_TABLES)
    assert "CONSTRAINT uq_trade_orders_client_order_id UNIQUE (client_order_id)" in ddl
    assert "CONSTRAINT uq_trade_fills_exec_id UNIQUE (exec_id)" in ddl
    assert "fill_time DATETIME(6) NOT NULL" in ddl
    assert "quantity NUMERIC(20, 6) NOT NULL" in ddl
    assert "CREATE INDEX ix_audit_logs_time ON audit_logs (time);" in ddl
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001_initial');" in ddl
    assert f"'{migrate.head()}'" in ddl
    with pytest.raises(ValueError, match="unknown dialect"):
        migrate.offline_sql("oracle")


def test_migrations_are_found_from_the_package_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert migrate.migrations_dir() == ROOT / "migrations"
    assert migrate.head() == ScriptDirectory(str(ROOT / "migrations")).get_current_head()
    url = f"sqlite:///{(tmp_path / 'nested' / 'dir' / 'db.sqlite3').as_posix()}"
    with pytest.raises(ValueError, match="does not exist"):  # a missing folder is never created silently
        migrate.ensure_schema(url)
    assert not (tmp_path / "nested").exists()
    (tmp_path / "nested" / "dir").mkdir(parents=True)
    assert migrate.ensure_schema(url) == migrate.head()


def test_connection_settings(database):
    with database.engine.connect() as connection:
        if database.is_sqlite:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        else:
            assert connection.get_isolation_level() == "READ COMMITTED"
            options = connection.exec_driver_sql(
                "SELECT ENGINE, TABLE_COLLATION FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'trade_orders'"
            ).one()
            assert tuple(options) == ("InnoDB", "utf8mb4_bin")


def test_foreign_keys_are_enforced(database):
    from datetime import datetime

    from services.db.repositories import Repositories

    with pytest.raises(sa.exc.IntegrityError), database.unit_of_work() as s:
        Repositories(s).fills.insert_once("x.1.01", 424242, "AAPL", "BUY", 1, 1, datetime.now(UTC))


def test_database_repr_hides_the_password():
    db = Database("mysql+pymysql://trader:s3cret@db.example:3306/console")
    try:
        assert "s3cret" not in repr(db) and "trader:***@db.example" in repr(db)
    finally:
        db.dispose()


@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_a_built_package_finds_its_migrations(tmp_path):
    """Build the distribution's files (setuptools, as pip would) and migrate with them from a
    folder that is not the checkout: the migrations ship with the package."""
    import shutil
    import subprocess
    import sys

    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    for package in ("app", "services", "widgets", "migrations", "benchmarks"):
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    build = tmp_path / "build"
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import setup; sys.argv[1:] = ['-q', 'build_py', '--build-lib', sys.argv[1]]; setup()", str(build)],
        check=False, cwd=source, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (build / "migrations").iterdir() if p.suffix in (".py", ".mako")) == [
        "__init__.py", "env.py", "script.py.mako"
    ]
    url = f"sqlite:///{(tmp_path / 'installed.sqlite3').as_posix()}"
    probe = (
        "import sys\n"
        "from services.db import migrate\n"
        "print(migrate.migrations_dir())\n"
        "print(migrate.ensure_schema(sys.argv[1]))\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The built tree goes first on sys.path, ahead of the checkout's editable install.
    run = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path[:0] = [sys.argv.pop(1)]\n" + probe, str(build), url],
        check=False, cwd=elsewhere, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(build / "migrations"), migrate.head()]


@pytest.mark.parametrize("db_backend", MIGRATING_BACKENDS, indirect=True)  # MariaDB: a downgrade and an upgrade, multi-second
def test_a_snapshot_without_money_figures_is_never_downgraded_into_a_made_up_number(empty_db_url):
    """0021 made a portfolio snapshot's money nullable (a missing exchange rate leaves it NULL,
    docs/currencies.md): going back below it is refused while such a row exists, rather than
    zeroing or deleting it; rows with figures keep them both ways."""
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from services.db.models import Project, TrailPortfolioSnapshot
    from services.db.repositories import RunRepository

    assert migrate.upgrade(empty_db_url) == migrate.head()
    db = Database(empty_db_url)
    try:
        with db.unit_of_work() as session:
            project = Project(name="alpha")
            session.add(project)
            session.flush()
            run_id = RunRepository(session).create(project.id, trade_date=date(2026, 12, 4), params={}).id
            for money in (Decimal("12.5"), None):
                session.add(TrailPortfolioSnapshot(run_id=run_id, project_id=project.id, account="DU1", time=datetime(2026, 12, 4, tzinfo=UTC),
                                                   reason="fills", positions=[], market_value=money, cash=money, equity=money,
                                                   realized_pnl=money, rates={"missing": [] if money else ["EUR"]}))
    finally:
        db.dispose()
    with pytest.raises(RuntimeError, match="1 portfolio snapshots have no money figures"):
        migrate.downgrade(empty_db_url, "0020_backtest_summary", accept_loss=True)
    engine = sa.create_engine(empty_db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM trail_portfolio_snapshots WHERE cash IS NULL"))
    finally:
        engine.dispose()
    assert migrate.downgrade(empty_db_url, "0020_backtest_summary", accept_loss=True) == "0020_backtest_summary"
    assert migrate.upgrade(empty_db_url) == migrate.head()
    db = Database(empty_db_url)
    try:
        with db.session() as session:
            rows = [(s.cash, s.equity, s.rates) for s in session.scalars(sa.select(TrailPortfolioSnapshot))]
    finally:
        db.dispose()
    assert rows == [(Decimal("12.5"), Decimal("12.5"), None)]  # its figures kept; ``rates`` not kept below 0021


@pytest.mark.parametrize("db_backend", MIGRATING_BACKENDS, indirect=True)  # MariaDB: a downgrade and an upgrade, multi-second
def test_a_backtest_runs_tag_becomes_its_backtest_id_and_goes_back_into_its_params(empty_db_url):
    """0022 made the backtest of a rebalance run a column (``trade_runs.backtest_id``, indexed), so
    a dead backtest's closer finds its last rebalance without reading other backtests' runs:
    the runs written before it have theirs from their params' ``backtest`` key; other runs stay
    NULL. Downgraded, a run written since has the key back in its params."""
    import json
    from datetime import date, datetime

    assert migrate.upgrade(empty_db_url, "0021_snapshot_rates") == "0021_snapshot_rates"
    now = datetime(2026, 12, 4, 12, 0)
    runs = [(1, "backtest", {"backtest": 7, "builder": {"lot_size": "1"}}), (2, "backtest", {"backtest": 8}),
            (3, "paper", {"builder": {}}), (4, "backtest", None)]
    engine = sa.create_engine(empty_db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO projects (id, name, created_at, updated_at) VALUES (1, 'alpha', :now, :now)"),
                               {"now": now})
            for run_id, mode, params in runs:
                connection.execute(sa.text(
                    "INSERT INTO trade_runs (id, project_id, mode, status, trade_date, params, created_at, updated_at) "
                    "VALUES (:id, 1, :mode, 'done', :day, :params, :now, :now)"),
                    {"id": run_id, "mode": mode, "day": date(2024, 2, run_id), "now": now,
                     "params": None if params is None else json.dumps(params)})
        assert migrate.upgrade(empty_db_url) == migrate.head()
        with engine.begin() as connection:
            owners = dict(connection.execute(sa.text("SELECT id, backtest_id FROM trade_runs")).all())
            assert owners == {1: 7, 2: 8, 3: None, 4: None}
            # a rebalance written at this revision: the column alone
            connection.execute(sa.text(
                "INSERT INTO trade_runs (id, project_id, mode, status, trade_date, params, created_at, updated_at, backtest_id) "
                "VALUES (5, 1, 'backtest', 'done', :day, :params, :now, :now, 9)"),
                {"day": date(2024, 2, 5), "now": now, "params": json.dumps({"builder": {}})})
        assert migrate.downgrade(empty_db_url, "0021_snapshot_rates", accept_loss=True) == "0021_snapshot_rates"
        with engine.begin() as connection:
            params = {run_id: None if text is None else json.loads(text)
                      for run_id, text in connection.execute(sa.text("SELECT id, params FROM trade_runs")).all()}
        assert params == {1: {"backtest": 7, "builder": {"lot_size": "1"}}, 2: {"backtest": 8}, 3: {"builder": {}}, 4: None,
                          5: {"builder": {}, "backtest": 9}}
    finally:
        engine.dispose()
    assert migrate.upgrade(empty_db_url) == migrate.head()
    assert _diff(empty_db_url) == []


@pytest.mark.parametrize("audited_account, seeded", [("DU1234567", "DU1234567"), (None, "*")])
def test_the_cancel_all_marker_stored_before_0023_becomes_the_mark_of_the_account_it_acted_on(
        empty_db_url, audited_account, seeded):
    """0023 keeps a Cancel All marker per account (``cancel_all_marks``): the one stored before it
    (``trade_settings.cancel_all_at``) becomes the mark of the account the last Cancel All's audit
    entry names, as recovery read it until then; of every account (``*``) when it names none."""
    from datetime import UTC, datetime

    from services.audit_actions import AuditAction
    from services.db.models import CancelAllMark
    from services.db.repositories import SettingsRepository
    from services.execution.audit import audit

    assert migrate.upgrade(empty_db_url) == migrate.head()
    db = Database(empty_db_url)
    try:
        with db.unit_of_work() as session:
            mark = SettingsRepository(session).mark_cancel_all(datetime(2026, 12, 4, 15, 30, 1, 250, tzinfo=UTC), audited_account)
            audit(db, "tester", AuditAction.TRADING_CANCEL_ALL, "trade_settings", 1,
                  {"cancel_all_at": mark.isoformat(), "global": True,
                   **({"account": audited_account} if audited_account else {})}, session=session)
    finally:
        db.dispose()
    assert migrate.downgrade(empty_db_url, "0022_run_backtest", accept_loss=True) == "0022_run_backtest"
    assert migrate.upgrade(empty_db_url) == migrate.head()
    db = Database(empty_db_url)
    try:
        with db.session() as session:
            assert SettingsRepository(session).cancel_all_marks() == {seeded: mark}
            assert session.scalars(sa.select(CancelAllMark.account)).all() == [seeded]
    finally:
        db.dispose()
