"""No form of database URL, valid or not, ever shows its password: on stderr, in the log file, in
the window's error text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services import urls
from services.urls import database_name, redact_text, redact_url, remember_url_secrets, url_secrets
from tests.fixtures.forked_app import run_sync

ROOT = Path(__file__).resolve().parents[2]
SECRET = "TopSecret99"

# (URL, what the password looks like in it) -- every form must hide SECRET entirely.
FORMS = [
    pytest.param(f"mysql+pymysql://trader:Top@{SECRET}@127.0.0.1:1/x", id="raw-at-in-password"),
    pytest.param(f"trader:{SECRET}@nowhere", id="no-scheme"),
    pytest.param("mysql+pymysql://trader:Top%40Secret99@127.0.0.1:1/x", id="percent-encoded"),
    pytest.param(f"mysql+pymysql://trader@127.0.0.1:1/x?password={SECRET}", id="query-password"),
    pytest.param(f"mysql+pymysql://trader@127.0.0.1:1/x?charset=utf8mb4&passwd={SECRET}", id="query-passwd"),
    pytest.param(f"mysql+pymysql://trader:{SECRET}@/x?unix_socket=/tmp/tc-none.sock", id="unix-socket"),
    pytest.param(f"mysql+pymysql://trader:{SECRET}@localhost/x?unix_socket=/run/a@b.sock", id="unix-socket-at"),
    pytest.param("mysql+pymysql://trader:Top Secret99@h.invalid:1/x", id="space-in-password"),
    pytest.param(f"mysql+pymysql://trader:{SECRET}@h:port/x", id="bad-port"),
    pytest.param(f"mysql+pymysql://trader:{SECRET}@[::1/x", id="garbage-bracket"),
    pytest.param(f"trader:{SECRET}", id="garbage-no-at"),
    pytest.param(f"::::{SECRET}@@@", id="garbage-colons"),
]


def _hidden(text: str) -> bool:
    return SECRET not in text and "Top@Secret99" not in text and "Top%40Secret99" not in text and "Top Secret99" not in text


@pytest.fixture(autouse=True)
def _nothing_registered(monkeypatch):
    """Each test starts with no registered secret: what one form registered must not hide
    another form's password (the tests passed or failed by which ran first in a worker)."""
    monkeypatch.setattr(urls, "_secrets", set())


@pytest.mark.parametrize("url", FORMS)
def test_redact_url_never_shows_the_password(url):
    assert _hidden(redact_url(url)), redact_url(url)
    # in free text, the forms the pattern cannot tell (no scheme, a space) are hidden once the
    # URL is registered, as Database() registers every URL it is given
    assert url_secrets(url)
    remember_url_secrets(url)
    assert _hidden(redact_text(f"cannot open {url} now")), redact_text(f"cannot open {url} now")


@pytest.mark.parametrize("url", FORMS)
def test_the_status_bars_short_database_name_never_shows_the_password(url):
    assert _hidden(database_name(url)), database_name(url)


def test_the_short_database_name_is_the_file_or_the_database_on_its_host():
    assert database_name("sqlite:////home/trader/.local/share/ib-trading-console/demo.sqlite3") == "demo.sqlite3"
    assert database_name("sqlite:///C:\\Users\\t\\console.sqlite3") == "console.sqlite3"
    assert database_name("sqlite://") == "in-memory SQLite"
    assert database_name(f"mysql+pymysql://trader:{SECRET}@db.example:3306/console") == "console on db.example"


@pytest.mark.parametrize("url", FORMS)
def test_registered_secrets_hide_pieces_a_driver_quotes(url):
    remember_url_secrets(url)
    # pymysql quotes the host it was given; with a raw '@' in the password that host is the
    # password's tail: "Can't connect to MySQL server on 'TopSecret99@127.0.0.1'".
    for piece in sorted(url_secrets(url)):
        quoted = redact_text(f"Can't connect to MySQL server on '{piece}@127.0.0.1' ({url})")
        assert _hidden(quoted) and piece not in quoted, quoted


def test_redact_url_keeps_what_is_not_secret():
    assert redact_url("mysql+pymysql://trader:pw@db.example:3306/console") == "mysql+pymysql://trader:***@db.example:3306/console"
    assert redact_url("mysql+pymysql://trader:a@b@db.example/console") == "mysql+pymysql://trader:***@db.example/console"
    assert redact_url("mysql+pymysql://trader@db/c?password=x1&charset=utf8mb4") == "mysql+pymysql://trader@db/c?password=***&charset=utf8mb4"
    assert redact_url("sqlite:////tmp/x.sqlite3") == "sqlite:////tmp/x.sqlite3"
    assert redact_url("nonsense") == "<unparseable URL, hidden>"


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TC_")}
    env.update(PYTHONPATH=str(ROOT), TC_CONFIG_FILE=str(tmp_path / "settings.toml"),
               TC_DATA_DIR=str(tmp_path / "data"), TC_LOG_DIR=str(tmp_path / "logs"))
    return run_sync([sys.executable, "-m", "app", *args], env=env, timeout=120)


@pytest.mark.parametrize("url", FORMS)
@pytest.mark.slow  # one of the longest (over ~5 s alone): left out of --quick
def test_cli_errors_and_log_file_never_show_the_password(url, tmp_path):
    result = _run("--db-url", url, "--log-level", "DEBUG", "snapshot", "list", tmp_path=tmp_path)
    assert result.returncode in (2, 5), result.stderr
    assert result.stderr.strip(), "an error line is expected"
    assert _hidden(result.stderr + result.stdout), result.stderr
    log_file = tmp_path / "logs" / "console.log"
    if log_file.exists():
        assert _hidden(log_file.read_text(encoding="utf-8"))


def test_password_from_the_environment_is_hidden_too(tmp_path):
    env_url = f"mysql+pymysql://trader:Top@{SECRET}@127.0.0.1:1/x"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TC_")}
    env.update(PYTHONPATH=str(ROOT), TC_CONFIG_FILE=str(tmp_path / "settings.toml"),
               TC_DATA_DIR=str(tmp_path / "data"), TC_LOG_DIR=str(tmp_path / "logs"), TC_DB_URL=env_url)
    result = run_sync([sys.executable, "-m", "app", "db", "current"], env=env, timeout=120)
    assert result.returncode == 5
    assert _hidden(result.stderr), result.stderr


def test_the_window_error_text_hides_registered_pieces(qtbot):
    from widgets.dialogs.errors import error_box

    url = "mysql+pymysql://trader:Win@dowPw-77@127.0.0.1:1/x"
    remember_url_secrets(url)
    box = error_box(None, "Start-up failed", "Can't connect to MySQL server on 'dowPw-77@127.0.0.1'",
                    details=f"url {url}")
    qtbot.addWidget(box)
    assert "dowPw-77" not in box.text() + box.detailedText() and "Win@" not in box.detailedText()
