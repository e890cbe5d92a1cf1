"""Settings precedence (file < environment < command line) and password hygiene."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from app.cli import build_parser
from app.logs import RedactingFilter, configure_logging
from app.settings import Settings, SettingsError, load_settings, save_settings
from services.domain import TradeMode

SECRET_URL = "mysql+pymysql://trader:s3cr3t-pw@db.example:3306/console"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


FILE = """
[database]
url = "sqlite:////from/file.sqlite3"
[trading]
mode = "paper"
[ib]
host = "file-host"
port = 4002
client_id = 11
account = "DUFILE"
[logging]
level = "debug"
"""


def test_defaults_without_file_env_or_options(tmp_path):
    settings = load_settings(None, env={"TC_CONFIG_FILE": str(tmp_path / "none.toml"), "TC_DATA_DIR": str(tmp_path / "data")})
    assert settings.mode is TradeMode.PAPER
    assert (settings.ib.host, settings.ib.port, settings.ib.client_id, settings.ib.account) == ("127.0.0.1", 7497, 1, "")
    assert settings.effective_db_url == f"sqlite:///{(tmp_path / 'data' / 'console.sqlite3').as_posix()}"


def test_file_then_environment_then_command_line(tmp_path):
    config = _write(tmp_path / "settings.toml", FILE)
    base_env = {"TC_CONFIG_FILE": str(config)}
    from_file = load_settings(None, env=base_env)
    assert (from_file.db_url, from_file.ib.host, from_file.ib.port, from_file.ib.client_id, from_file.ib.account) == (
        "sqlite:////from/file.sqlite3", "file-host", 4002, 11, "DUFILE"
    )
    assert from_file.log_level == "DEBUG"

    env = {
        **base_env,
        "TC_DB_URL": "sqlite:////from/env.sqlite3",
        "TC_IB_HOST": "env-host",
        "TC_IB_PORT": "4001",
        "TC_IB_CLIENT_ID": "22",
        "TC_IB_ACCOUNT": " U123 ",
        "TC_MODE": "LIVE",
    }
    from_env = load_settings(None, env=env)
    assert (from_env.db_url, from_env.ib.host, from_env.ib.port, from_env.ib.client_id, from_env.ib.account, from_env.mode) == (
        "sqlite:////from/env.sqlite3", "env-host", 4001, 22, "U123", TradeMode.LIVE
    )

    from_cli = load_settings(_args("--db-url", "sqlite:////from/cli.sqlite3", "--log-level", "warning"), env=env)
    assert from_cli.db_url == "sqlite:////from/cli.sqlite3"
    assert from_cli.log_level == "WARNING"
    assert from_cli.ib.host == "env-host"  # not given on the command line: the environment still wins over the file


def test_config_option_names_another_file(tmp_path):
    other = _write(tmp_path / "other.toml", '[database]\nurl = "sqlite:////other.sqlite3"\n')
    settings = load_settings(_args("--config", str(other)), env={"TC_CONFIG_FILE": str(tmp_path / "ignored.toml")})
    assert settings.db_url == "sqlite:////other.sqlite3"
    assert settings.config_file == other


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TC_IB_PORT": "seventy"}, "TC_IB_PORT: not a number: 'seventy'"),
        ({"TC_IB_CLIENT_ID": "1.5"}, "TC_IB_CLIENT_ID: must be a whole number: '1.5'"),
        ({"TC_IB_PORT": "0"}, "TC_IB_PORT: must be a port from 1 to 65535: '0'"),
        ({"TC_MODE": "yolo"}, "TC_MODE must be 'paper' or 'live', got 'yolo'"),
    ],
)
def test_bad_environment_values_are_clear_errors(tmp_path, env, message):
    with pytest.raises(SettingsError) as error:
        load_settings(None, env={"TC_CONFIG_FILE": str(tmp_path / "none.toml"), **env})
    assert str(error.value) == message


def test_a_port_outside_1_to_65535_in_the_settings_file_is_refused_exit_2(tmp_path, capsys):
    """``port = 99999`` passed the settings and failed only at connect time; the command line's
    ``--ib-port`` refused it (the same rule: services.core.typed_numbers.port_problem)."""
    from app.cli import main

    for port in ("99999", "0", "-1"):
        config = _write(tmp_path / "bad.toml", f"[ib]\nport = {port}\n")
        with pytest.raises(SettingsError) as error:
            load_settings(_args("--config", str(config)), env={})
        assert str(error.value) == f"ib.port: must be a port from 1 to 65535: {port}"
        assert main(["--config", str(config), "trade-settings"]) == 2
        assert f"ib.port: must be a port from 1 to 65535: {port}" in capsys.readouterr().err


def test_the_accounts_market_data_lines_are_a_setting_of_the_file_and_the_environment(tmp_path):
    """The watchlist's streams and the preview's snapshots share the account's lines: 100 unless
    the file or TC_IB_MARKET_DATA_LINES say the account has more (or fewer)."""
    none = {"TC_CONFIG_FILE": str(tmp_path / "none.toml")}
    assert load_settings(None, env=none).ib.market_data_lines == 100
    config = _write(tmp_path / "lines.toml", "[ib]\nmarket_data_lines = 300\n")
    assert load_settings(None, env={"TC_CONFIG_FILE": str(config)}).ib.market_data_lines == 300
    assert load_settings(None, env={"TC_CONFIG_FILE": str(config), "TC_IB_MARKET_DATA_LINES": "150"}).ib.market_data_lines == 150
    for bad, message in (("0", ": must be at least 1 \\(IB gives every account 100 market data lines\\): '0'"), ("many", ": not a number: 'many'")):
        with pytest.raises(SettingsError, match=f"TC_IB_MARKET_DATA_LINES{message}"):
            load_settings(None, env={**none, "TC_IB_MARKET_DATA_LINES": bad})
    _write(config, "[ib]\nmarket_data_lines = -5\n")
    with pytest.raises(SettingsError, match=r"^ib\.market_data_lines: must be at least 1 \(IB gives every account 100 market data lines\): -5$"):
        load_settings(None, env={"TC_CONFIG_FILE": str(config)})


def test_a_client_id_outside_what_ib_takes_is_refused_naming_where_it_came_from(tmp_path):
    """One bound with the Settings dialog's (services.core.typed_numbers.client_id_problem): the
    dialog took 0 to 2147483647 (IB's 32-bit clientId), the file, the environment and --client-id
    any whole number, a negative one or 3000000000 failing only at the connect."""
    none = {"TC_CONFIG_FILE": str(tmp_path / "none.toml")}
    assert load_settings(None, env={**none, "TC_IB_CLIENT_ID": "2147483647"}).ib.client_id == 2147483647
    with pytest.raises(SettingsError, match=r"^TC_IB_CLIENT_ID: must be a client id from 0 to 2147483647: '-1'$"):
        load_settings(None, env={**none, "TC_IB_CLIENT_ID": "-1"})
    config = _write(tmp_path / "id.toml", "[ib]\nclient_id = 3000000000\n")
    with pytest.raises(SettingsError, match=r"^ib\.client_id: must be a client id from 0 to 2147483647: 3000000000$"):
        load_settings(None, env={"TC_CONFIG_FILE": str(config)})
    with pytest.raises(SettingsError, match=r"^--client-id: must be a client id from 0 to 2147483647: -3$"):
        load_settings(_args("execute", "--plan", "1", "--client-id=-3"), env=none)


def test_the_lease_ttl_and_the_write_timeout_are_settings_of_the_file_and_the_environment_checked(tmp_path):
    """30 s each unless the file's [execution] section or TC_LEASE_TTL / TC_WRITE_TIMEOUT say
    otherwise; a value that is no number of seconds in the allowed range is refused naming it."""
    none = {"TC_CONFIG_FILE": str(tmp_path / "none.toml")}
    defaults = load_settings(None, env=none)
    assert (defaults.lease_ttl, defaults.write_timeout) == (30.0, 30.0)
    assert "execution" not in defaults.to_toml_dict()  # a file that never had the section is not given one
    config = _write(tmp_path / "timings.toml", "[execution]\nlease_ttl = 12\nwrite_timeout = 4.5\n")
    from_file = load_settings(None, env={"TC_CONFIG_FILE": str(config)})
    assert (from_file.lease_ttl, from_file.write_timeout) == (12.0, 4.5)
    from_env = load_settings(None, env={"TC_CONFIG_FILE": str(config), "TC_LEASE_TTL": "5", "TC_WRITE_TIMEOUT": "2"})
    assert (from_env.lease_ttl, from_env.write_timeout) == (5.0, 2.0)
    for name, bad, message in (("TC_LEASE_TTL", "0", ": must be a number of seconds from 3 to 3600: '0'"),
                               ("TC_LEASE_TTL", "2.9", ": must be a number of seconds from 3 to 3600: '2.9'"),
                               ("TC_LEASE_TTL", "nan", ": must be a finite number: 'nan'"),
                               ("TC_LEASE_TTL", "1e9", ": must be a number of seconds from 3 to 3600: '1e9'"),
                               ("TC_LEASE_TTL", "30s", ": not a number: '30s'"),
                               ("TC_WRITE_TIMEOUT", "-1", ": must be a number of seconds from 1 to 3600: '-1'"),
                               ("TC_WRITE_TIMEOUT", "inf", ": must be a finite number: 'inf'")):
        with pytest.raises(SettingsError, match=f"^{name}{message}"):
            load_settings(None, env={**none, name: bad})
    _write(config, "[execution]\nlease_ttl = true\n")
    with pytest.raises(SettingsError, match=r"^execution\.lease_ttl: not a number: True$"):
        load_settings(None, env={"TC_CONFIG_FILE": str(config)})
    _write(config, "[execution]\nwrite_timeout = 0.5\n")
    with pytest.raises(SettingsError, match=r"^execution\.write_timeout: must be a number of seconds from 1 to 3600: 0\.5$"):
        load_settings(None, env={"TC_CONFIG_FILE": str(config)})


def test_bad_toml_is_a_clear_error(tmp_path):
    config = _write(tmp_path / "settings.toml", "[database\nurl = 1\n")
    with pytest.raises(SettingsError, match=r"is not valid TOML"):
        load_settings(None, env={"TC_CONFIG_FILE": str(config)})


def test_save_then_load_round_trips(tmp_path):
    from dataclasses import replace

    config = tmp_path / "cfg" / "settings.toml"
    original = load_settings(None, env={"TC_CONFIG_FILE": str(config)})
    changed = replace(original, db_url="sqlite:////x.sqlite3", ib=replace(original.ib, port=4002))
    assert save_settings(changed) == config
    again = load_settings(None, env={"TC_CONFIG_FILE": str(config)})
    assert (again.db_url, again.ib.port, again.mode) == ("sqlite:////x.sqlite3", 4002, TradeMode.PAPER)


def test_saving_a_theme_change_never_writes_the_environment(tmp_path):
    """One theme switch with a password in TC_DB_URL and the live gateway port in TC_IB_PORT
    wrote both into settings.toml: now the file gets the theme and nothing else new."""
    import tomllib
    from dataclasses import replace

    config = tmp_path / "settings.toml"
    config.write_text('[ib]\nhost = "gw.example"\n\n[custom]\nkept = 1\n', encoding="utf-8")
    env = {"TC_CONFIG_FILE": str(config), "TC_DB_URL": "mysql+pymysql://trader:s3cret-pw@db.example/console",
           "TC_IB_PORT": "4001", "TC_IB_ACCOUNT": "U999", "TC_LOG_LEVEL": "DEBUG"}
    session = load_settings(None, env=env)
    assert session.ib.port == 4001
    save_settings(replace(session, ui=replace(session.ui, theme="light")))
    text = config.read_text(encoding="utf-8")
    assert "s3cret" not in text and "4001" not in text and "U999" not in text
    assert tomllib.loads(text) == {"ib": {"host": "gw.example"}, "custom": {"kept": 1}, "ui": {"theme": "light"}}


def test_a_database_password_is_never_written_to_the_file(tmp_path):
    from dataclasses import replace

    config = tmp_path / "settings.toml"
    session = load_settings(None, env={"TC_CONFIG_FILE": str(config)})
    for url in ("mysql+pymysql://trader:pw@db/console", "mysql+pymysql://trader@db/console?password=pw"):
        with pytest.raises(SettingsError, match="never written"):
            save_settings(replace(session, db_url=url, ui=replace(session.ui, theme="light")))
        assert not config.exists()
    save_settings(replace(session, db_url="mysql+pymysql://trader@db/console"))
    assert load_settings(None, env={"TC_CONFIG_FILE": str(config)}).db_url == "mysql+pymysql://trader@db/console"


def test_password_is_hidden_in_redacted_url_and_repr():
    settings = Settings(db_url=SECRET_URL)
    assert settings.redacted_db_url == "mysql+pymysql://trader:***@db.example:3306/console"
    assert "s3cr3t-pw" not in repr(settings)
    assert settings.effective_db_url == SECRET_URL  # the real one is still there for connecting


def test_password_never_reaches_the_log_file_or_stderr(tmp_path, capfd):
    settings = Settings(db_url=SECRET_URL, log_dir=tmp_path / "logs", log_level="INFO")
    configure_logging(settings)
    logger = logging.getLogger("tests.settings")
    try:
        logger.warning("connecting to %s", SECRET_URL)
        logger.info("plain %s", "message")
        try:
            raise RuntimeError(f"cannot open {SECRET_URL}")
        except RuntimeError:
            logger.exception("failed")
        logging.getLogger("sqlalchemy.engine").warning(f"engine url {SECRET_URL}")
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_tc_owned", False):
                handler.flush()
                root.removeHandler(handler)
                handler.close()
    written = (tmp_path / "logs" / "console.log").read_text(encoding="utf-8")
    stderr = capfd.readouterr().err
    for output in (written, stderr):
        assert "s3cr3t-pw" not in output
        assert "connecting to mysql+pymysql://trader:***@db.example:3306/console" in output
        assert "RuntimeError: cannot open mysql+pymysql://trader:***@db.example:3306/console" in output
        assert "engine url mysql+pymysql://trader:***@db.example:3306/console" in output
    assert "plain message" in written


def test_redacting_filter_leaves_other_records_alone():
    record = logging.makeLogRecord({"msg": "order %s filled", "args": ("c-1",)})
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "order c-1 filled" and record.args == ("c-1",)


def test_stderr_handler_follows_the_current_stderr(tmp_path, monkeypatch):
    import io
    import sys

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(Settings(log_dir=tmp_path / "logs", log_level="INFO"))
    try:
        first.close()  # e.g. a test's captured stream, gone after the test
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("tests.settings").warning("still visible")
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_tc_owned", False):
                root.removeHandler(handler)
                handler.close()
    assert second.getvalue().endswith("WARNING tests.settings: still visible\n")


def test_saving_a_live_session_never_makes_live_the_default(tmp_path):
    import argparse
    from dataclasses import replace

    from app.settings import load_settings, save_settings
    from services.domain import TradeMode

    config = tmp_path / "settings.toml"
    env = {"TC_CONFIG_FILE": str(config), "TC_DATA_DIR": str(tmp_path / "d"), "TC_LOG_DIR": str(tmp_path / "l")}
    live = load_settings(argparse.Namespace(profile="live"), env=env)
    assert live.mode is TradeMode.LIVE
    save_settings(replace(live, ui=replace(live.ui, theme="light")))  # e.g. the theme toggled in that session
    again = load_settings(None, env=env)
    assert again.mode is TradeMode.PAPER and again.profile == "demo"
    assert again.ui.theme == "light"


def test_demo_mode_has_its_own_database_file(tmp_path):
    from app.composition import demo_db_url
    from app.settings import load_settings

    env = {"TC_CONFIG_FILE": str(tmp_path / "s.toml"), "TC_DATA_DIR": str(tmp_path / "d"), "TC_LOG_DIR": str(tmp_path / "l")}
    settings = load_settings(None, env=env)
    assert demo_db_url(settings).endswith("/d/demo.sqlite3")
    assert settings.effective_db_url.endswith("/d/console.sqlite3")
    explicit = load_settings(None, env={**env, "TC_DB_URL": "sqlite:////tmp/x.sqlite3"})
    assert demo_db_url(explicit) == "sqlite:////tmp/x.sqlite3"


def test_writer_journal_path_is_configurable_and_defaults_beside_the_database(tmp_path):
    from app.settings import load_settings

    env = {"TC_DATA_DIR": str(tmp_path / "data"), "TC_CONFIG_FILE": str(tmp_path / "none.toml")}
    settings = load_settings(env=env)
    assert settings.writer_journal_for() == tmp_path / "data" / "console.sqlite3.writer-journal.jsonl"
    assert settings.writer_journal_for("mysql+pymysql://u@h/db") == tmp_path / "data" / "writer-journal.jsonl"
    custom = load_settings(env={**env, "TC_WRITER_JOURNAL": str(tmp_path / "j.jsonl")})
    assert custom.writer_journal_for() == tmp_path / "j.jsonl"
    (tmp_path / "s.toml").write_text(f'[database]\nwriter_journal = "{(tmp_path / "f.jsonl").as_posix()}"\n')
    from_file = load_settings(env={**env, "TC_CONFIG_FILE": str(tmp_path / "s.toml")})
    assert from_file.writer_journal_for() == tmp_path / "f.jsonl"


def test_a_log_file_that_cannot_be_opened_is_said_and_the_console_goes_on(tmp_path, monkeypatch):
    """A log folder whose console.log this user cannot open (another user's file, a read-only
    home; here a folder of that name, which stops root too): the warning that file logging is
    off was built without a logger name, and the stderr filter's ``record.name.startswith``
    crashed every command and the window before they started (AttributeError)."""
    import io
    import sys

    (tmp_path / "logs" / "console.log").mkdir(parents=True)
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        configure_logging(Settings(log_dir=tmp_path / "logs", log_level="INFO"))
        logging.getLogger("tests.settings").warning("still said")
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_tc_owned", False):
                root.removeHandler(handler)
                handler.close()
    lines = stderr.getvalue().splitlines()
    assert "file logging disabled: [Errno 21] Is a directory" in lines[0], lines
    assert lines[-1].endswith("WARNING tests.settings: still said"), lines


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TC_IB_PORT": "1e3"}, "TC_IB_PORT: must be a number in digits, without an exponent: '1e3'"),
        ({"TC_IB_CLIENT_ID": "1E2"}, "TC_IB_CLIENT_ID: must be a number in digits, without an exponent: '1E2'"),
        ({"TC_IB_MARKET_DATA_LINES": "3e2"},
         "TC_IB_MARKET_DATA_LINES: must be a number in digits, without an exponent: '3e2'"),
    ],
)
def test_an_exponent_in_the_environment_is_refused_as_the_settings_dialog_refuses_it(tmp_path, env, message):
    """TC_IB_PORT=1e3 connected to port 1000 where the Settings dialog's Port refuses 1e3
    (services.core.typed_numbers.typed_whole): one rule, the variable named."""
    with pytest.raises(SettingsError) as error:
        load_settings(None, env={"TC_CONFIG_FILE": str(tmp_path / "none.toml"), **env})
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("port = 1e3", "ib.port: must be a number in digits, without an exponent: 1e3"),
        ('port = "1e3"', "ib.port: must be a number in digits, without an exponent: '1e3'"),
        ("client_id = 1E1", "ib.client_id: must be a number in digits, without an exponent: 1E1"),
        ("market_data_lines = 3e2", "ib.market_data_lines: must be a number in digits, without an exponent: 3e2"),
    ],
)
def test_an_exponent_in_the_settings_file_is_refused_as_written(tmp_path, line, message):
    """``port = 1e3`` (a TOML float) was read as port 1000; it is refused as the dialog refuses
    it, said as it was written (a bare number bare, as ``port = 99999`` is said)."""
    config = _write(tmp_path / "e.toml", f"[ib]\n{line}\n")
    with pytest.raises(SettingsError) as error:
        load_settings(None, env={"TC_CONFIG_FILE": str(config)})
    assert str(error.value) == message
    # a float in digits stays a whole number read as before, and other floats as floats
    _write(config, "[ib]\nport = 4002.0\nconnect_timeout = 2.5\n")
    settings = load_settings(None, env={"TC_CONFIG_FILE": str(config)})
    assert (settings.ib.port, settings.ib.connect_timeout) == (4002, 2.5)


@pytest.mark.parametrize(("option", "typed"), [("--ib-port", "1e3"), ("--client-id", "1e1")])
def test_an_exponent_on_the_command_line_is_refused_by_the_parser_with_its_option_named(capsys, option, typed):
    """``--ib-port 1e3`` / ``--client-id 1e1`` were read as 1000 / 10 where the dialog refuses them."""
    with pytest.raises(SystemExit) as refused:
        _args("execute", "--plan", "1", option, typed)
    assert refused.value.code == 2
    assert f"argument {option}: must be a number in digits, without an exponent: '{typed}'" in capsys.readouterr().err
