"""The db and audit commands, run as a user runs them: `python -m app ...` in a subprocess,
from a folder that is not the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from services.audit import AuditLog
from services.db.migrate import head as _migrations_head
from tests.fixtures.forked_app import run_sync

ROOT = Path(__file__).resolve().parents[2]

HEAD = _migrations_head()  # the newest revision

pytestmark = pytest.mark.slow  # every step a `python -m app` subprocess


def console(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return run_sync([sys.executable, "-m", "app", *args], cwd=cwd, env=env, timeout=120)


def _shown(url: str) -> str:
    from services.urls import redact_url

    return redact_url(url)


def test_db_upgrade_downgrade_base_upgrade(empty_db_url, tmp_path):
    from services.db.migrate import head

    shown, newest = _shown(empty_db_url), head()
    steps = [
        (("db", "current"), f"{shown}: no schema (run `trading-console db upgrade`)\n"),
        (("db", "upgrade"), f"{shown}: at revision {newest}\n"),
        (("db", "current"), f"{shown}: {newest} (head)\n"),
        (("db", "downgrade", "base"), f"{shown}: at revision base (no tables)\n"),
        (("db", "current"), f"{shown}: no schema (run `trading-console db upgrade`)\n"),
        (("db", "upgrade"), f"{shown}: at revision {newest}\n"),
    ]
    for args, expected in steps:
        result = console("--db-url", empty_db_url, *args, cwd=tmp_path)
        assert (result.returncode, result.stdout, result.stderr) == (0, expected, ""), args


def test_db_sql_prints_the_mysql_ddl(tmp_path):
    result = console("db", "sql", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE trade_orders (" in result.stdout
    assert ")CHARSET=utf8mb4 ENGINE=InnoDB COLLATE utf8mb4_bin;" in result.stdout
    from services.db.migrate import head

    # the script ends by recording the newest revision (an INSERT for the first one, an UPDATE after)
    last = result.stdout.rstrip().splitlines()[-1]
    assert last.startswith(("INSERT INTO alembic_version", "UPDATE alembic_version")) and f"'{head()}'" in last


def test_unreachable_database_is_one_line_exit_5_and_no_password(tmp_path):
    url = "mysql+pymysql://trader:hunter2@127.0.0.1:1/console"
    for args in (("db", "upgrade"), ("db", "current"), ("audit", "verify")):
        result = console("--db-url", url, *args, cwd=tmp_path)
        assert result.returncode == 5, (args, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("trading-console: database server unreachable at 127.0.0.1:1 (Connection refused)")
        assert "sqlalche.me" not in lines[0]
        assert "hunter2" not in result.stderr
    log_file = Path(os.environ["TC_LOG_DIR"]) / "console.log"
    assert "hunter2" not in log_file.read_text(encoding="utf-8")


def test_unknown_revision_is_bad_input(empty_db_url, tmp_path):
    result = console("--db-url", empty_db_url, "db", "downgrade", "nope", cwd=tmp_path)
    from services.db.migrate import head

    said = ("trading-console: 'nope' is not a revision of this console: `trading-console db history` lists them "
            f"(the newest, {head()}, is also called head)\n")
    assert (result.returncode, result.stderr) == (2, said)


def test_audit_verify_names_the_tampered_row(database, db_url, tmp_path):
    log = AuditLog(database)
    for n in range(5):
        log.append("alice", "order.submit", "order", n, {"qty": "10"})
    intact = console("--db-url", db_url, "audit", "verify", cwd=tmp_path)
    assert (intact.returncode, intact.stdout) == (0, "audit chain intact: 5 entries verified\n")
    log.append("alice", "order.cancel", "order", 5)
    since = console("--db-url", db_url, "audit", "verify", cwd=tmp_path)
    assert (since.returncode, since.stdout) == (
        0, ("audit chain intact: 6 entries verified (1 new since the verified checkpoint at entry 5; "
            "a full verification walks the whole chain)\n"))
    with database.engine.begin() as c:
        c.execute(text("UPDATE audit_logs SET action = 'order.cancel' WHERE id = 4"))
    # the old entry lies before the checkpoint: the whole walk finds it
    broken = console("--db-url", db_url, "audit", "verify", "--full", cwd=tmp_path)
    expected = ("audit chain BROKEN at entry 4: hash does not match the entry's content (the entry was altered) "
                "(3 earlier entries verified)\n")
    assert (broken.returncode, broken.stdout, broken.stderr) == (1, "", expected)
    # and from then on every verification reports it (the checkpoint is gone)
    again = console("--db-url", db_url, "audit", "verify", cwd=tmp_path)
    assert (again.returncode, again.stderr) == (1, expected)


def test_audit_list_filters_and_prints_json(database, db_url, tmp_path):
    log = AuditLog(database)
    log.append("alice", "order.submit", "order", 1, {"qty": "10"})
    log.append("bob", "trading.halt")
    log.append("alice", "order.submit", "order", 2, {"qty": "5"})
    result = console("--db-url", db_url, "audit", "list", "--action", "order.submit", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [(e["id"], e["actor"], e["entity_id"], e["payload"]) for e in entries] == [
        (1, "alice", "1", {"qty": "10"}),
        (3, "alice", "2", {"qty": "5"}),
    ]
    assert entries[1]["prev_hash"] == log.list()[1].hash
    text_result = console("--db-url", db_url, "audit", "list", "--limit", "1", cwd=tmp_path)
    assert text_result.returncode == 0
    assert len(text_result.stdout.splitlines()) == 1 and "bob" not in text_result.stdout
    assert text_result.stdout.split()[0] == "3"
    # an entry about no one row reads as the Audit log panel writes it: its type alone, no
    # ":None" (a trader's walk read "project:None", "trade_settings:None")
    log.append("carol", "project.capital", "project", None, {"capital": {"A": "1"}})
    log.append("dave", "trading.resume")
    texts = console("--db-url", db_url, "audit", "list", cwd=tmp_path).stdout.splitlines()
    entities = [line.split()[5] for line in texts[-2:]]
    from services.core.wording import audit_entity
    from widgets.models.audit import AuditModel

    model = AuditModel()
    model.reset(log.list()[-2:])
    column = [c.title for c in model.columns].index("Entity")
    shown = [text for _id, text in sorted((model.record_at(row).id, model.data(model.index(row, column))) for row in range(2))]
    assert entities == shown == ["project", "-"] == [audit_entity("project", None), audit_entity(None, None)]


def test_audit_list_of_an_action_the_console_never_writes_is_refused_naming_the_close_ones(database, db_url, tmp_path):
    """`audit list --action order.cancle` printed "(no audit entries)", exit 0: a typo read as
    "nothing was ever canceled". A name the console writes with no entries, or one an older
    version wrote that is in the log, is listed as before."""
    log = AuditLog(database)
    log.append("alice", "order.submit", "order", 1, {"qty": "10"})  # an action no AuditAction names, in the log
    typo = console("--db-url", db_url, "audit", "list", "--action", "order.cancle", cwd=tmp_path)
    said = ("no audit entry has the action 'order.cancle', which is not an action the console writes: did you mean "
            "order.cancel? (docs/audit-log.md lists every action)")
    assert (typo.returncode, typo.stdout, typo.stderr) == (2, "", f"trading-console: {said}\n")
    as_json = console("--db-url", db_url, "audit", "list", "--action", "order.cancle", "--json", cwd=tmp_path)
    assert (as_json.returncode, json.loads(as_json.stdout)) == (2, {"error": "bad_input", "message": said})
    known = console("--db-url", db_url, "audit", "list", "--action", "order.cancel", "--json", cwd=tmp_path)
    assert (known.returncode, json.loads(known.stdout)) == (0, [])
    old = console("--db-url", db_url, "audit", "list", "--action", "order.submit", "--json", cwd=tmp_path)
    assert old.returncode == 0 and [e["id"] for e in json.loads(old.stdout)] == [1]
    # nothing close to it: no dangling colon ("writes: (docs/...)")
    far = console("--db-url", db_url, "audit", "list", "--action", "nosuch", cwd=tmp_path)
    said = ("no audit entry has the action 'nosuch', which is not an action the console writes "
            "(docs/audit-log.md lists every action)")
    assert (far.returncode, far.stderr) == (2, f"trading-console: {said}\n")


def test_audit_on_a_database_without_schema_says_what_to_do(tmp_path):
    url = f"sqlite:///{(tmp_path / 'fresh.sqlite3').as_posix()}"
    result = console("--db-url", url, "audit", "verify", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"trading-console: the database at {url} has no schema; run `trading-console db upgrade` first\n"


def _rows_per_table(url: str) -> dict[str, int]:
    """Every table of the database at ``url`` with its row count."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            names = sa.inspect(connection).get_table_names()
            return {name: connection.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
                    for name in names}
    finally:
        engine.dispose()


def _with_trading_records(url: str, tmp_path: Path) -> None:
    """A database at the newest revision holding 3 audit entries, 1 settings row and 1 Cancel All mark."""
    from datetime import UTC, datetime

    from services.db import Database
    from services.db.repositories import SettingsRepository

    assert console("--db-url", url, "db", "upgrade", cwd=tmp_path).returncode == 0
    db = Database(url)
    try:
        log = AuditLog(db)
        for n in range(3):
            log.append("alice", "order.submit", "order", n, {"qty": "10"})
        with db.unit_of_work() as session:
            SettingsRepository(session).mark_cancel_all(datetime(2026, 12, 4, 15, 30, tzinfo=UTC), "DU1")
    finally:
        db.dispose()


def test_db_downgrade_that_drops_rows_is_refused_without_yes_and_changes_nothing(empty_db_url, tmp_path):
    _with_trading_records(empty_db_url, tmp_path)
    before = _rows_per_table(empty_db_url)
    refused = console("--db-url", empty_db_url, "db", "downgrade", "base", cwd=tmp_path)
    assert (refused.returncode, refused.stdout) == (2, "")
    lines = refused.stderr.splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith(f"trading-console: downgrading {_shown(empty_db_url)} from {HEAD} to base removes: "
                               "audit_chain_head (1 row), audit_logs (3 rows), cancel_all_marks (1 row), trade_settings (1 row)")
    assert lines[0].endswith("; back up the database first, then run again with --yes")
    assert _rows_per_table(empty_db_url) == before  # every table and row still there
    assert console("--db-url", empty_db_url, "db", "current", cwd=tmp_path).stdout == f"{_shown(empty_db_url)}: {HEAD} (head)\n"

    confirmed = console("--db-url", empty_db_url, "db", "downgrade", "base", "--yes", cwd=tmp_path)
    assert (confirmed.returncode, confirmed.stdout, confirmed.stderr) == (
        0, f"{_shown(empty_db_url)}: at revision base (no tables)\n", "")
    assert set(_rows_per_table(empty_db_url)) == {"alembic_version"}


def test_db_downgrade_that_drops_a_column_holding_rows_is_refused_without_yes(empty_db_url, tmp_path):
    """Below 0016 trade_settings loses its cancel_all_at column (and cancel_all_marks, from 0023,
    goes): the settings row keeps its other values, but that one is lost."""
    _with_trading_records(empty_db_url, tmp_path)
    before = _rows_per_table(empty_db_url)
    refused = console("--db-url", empty_db_url, "db", "downgrade", "0015_history_requests", cwd=tmp_path)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == (
        f"trading-console: downgrading {_shown(empty_db_url)} from {HEAD} to 0015_history_requests removes: "
        "cancel_all_marks (1 row); the columns added since 0015_history_requests, with their values: "
        "trade_settings.cancel_all_at (1 row); back up the database first, then run again with --yes\n")
    assert _rows_per_table(empty_db_url) == before
    confirmed = console("--db-url", empty_db_url, "db", "downgrade", "0015_history_requests", "--yes", cwd=tmp_path)
    assert (confirmed.returncode, confirmed.stderr) == (0, "")
    assert console("--db-url", empty_db_url, "db", "current", cwd=tmp_path).stdout.startswith(
        f"{_shown(empty_db_url)}: 0015_history_requests (head is ")


def test_db_downgrade_that_loses_no_rows_needs_no_yes(empty_db_url, tmp_path):
    """Audit entries stay: a downgrade to the revision before the newest drops only what is empty."""
    assert console("--db-url", empty_db_url, "db", "upgrade", cwd=tmp_path).returncode == 0
    db_rows = _rows_per_table(empty_db_url)
    assert all(count == 0 for name, count in db_rows.items() if name != "alembic_version")
    result = console("--db-url", empty_db_url, "db", "downgrade", "-1", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{_shown(empty_db_url)}: at revision 0022_run_backtest\n"
