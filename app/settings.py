"""One typed settings object: TOML file < environment (TC_*) < command line.

The file lives in the user's config folder (platformdirs) unless ``--config`` / ``TC_CONFIG_FILE``
names another; tests point ``TC_CONFIG_FILE``, ``TC_DATA_DIR`` and ``TC_LOG_DIR`` at temporary
folders so they never touch the user's real settings. Nothing is read at import time.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from services.core.typed_numbers import (
    IN_DIGITS,
    NotANumber,
    NotFinite,
    client_id_problem,
    exponent_said,
    lines_problem,
    must_be_said,
    not_a_number_said,
    port_problem,
    typed_decimal,
)
from services.domain import TradeMode
from services.execution.paced import MARKET_DATA_LINES
from services.execution.timings import (
    LEASE_TTL,
    LEASE_TTL_RANGE,
    WRITE_TIMEOUT,
    WRITE_TIMEOUT_RANGE,
    seconds_problem,
)
from services.urls import has_password, redact_url, remember_url_secrets

APP_NAME = "ib-trading-console"
APP_AUTHOR = "ib-trading-console"

PROFILES = ("demo", "paper", "live")


class SettingsError(ValueError):
    """A settings file or value the user can fix."""


def default_config_file() -> Path:
    env = os.environ.get("TC_CONFIG_FILE")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)) / "settings.toml"


def default_data_dir() -> Path:
    env = os.environ.get("TC_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def default_log_dir() -> Path:
    env = os.environ.get("TC_LOG_DIR")
    return Path(env) if env else Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))


@dataclass(frozen=True)
class IbSettings:
    host: str = "127.0.0.1"
    port: int = 7497  # TWS paper; never a live port by default
    client_id: int = 1
    account: str = ""
    connect_timeout: float = 10.0
    market_data_type: str = "delayed"  # live | frozen | delayed | delayed_frozen
    # the account's market data lines (IB: 100 at least, more with commissions or booster packs):
    # the watchlist's streams and the preview's snapshots share them (docs/ib-pacing.md)
    market_data_lines: int = MARKET_DATA_LINES


@dataclass(frozen=True)
class UiSettings:
    theme: str = "dark"  # dark | light
    watchlist: tuple[str, ...] = ()  # listing keys on the watchlist, in the order shown


@dataclass(frozen=True)
class Settings:
    db_url: str = field(default="", repr=False)  # may hold a password: see redacted_db_url
    mode: TradeMode = TradeMode.PAPER  # Paper is the default; live is never implied
    profile: str = "demo"
    log_level: str = "INFO"
    ib: IbSettings = field(default_factory=IbSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    config_file: Path = field(default_factory=default_config_file)
    data_dir: Path = field(default_factory=default_data_dir)
    log_dir: Path = field(default_factory=default_log_dir)
    # The settings as loaded (file < environment < command line): saving writes back only what
    # differs from it, i.e. what the user changed in this session, never what came from the
    # environment or the command line.
    loaded: Settings | None = field(default=None, repr=False, compare=False)
    writer_journal: str = ""  # [database] writer_journal / TC_WRITER_JOURNAL; empty: see writer_journal_for
    # [execution] lease_ttl / TC_LEASE_TTL and write_timeout / TC_WRITE_TIMEOUT: seconds (services.execution.timings)
    lease_ttl: float = LEASE_TTL
    write_timeout: float = WRITE_TIMEOUT
    # The demo profile given on the command line (--demo, --profile demo): the commands then open
    # demo mode's database, the one the demo window writes (demo_db_url). Only given: demo is also
    # the default profile, of the `execute` users of TWS too, whose commands keep console.sqlite3.
    demo_given: bool = False

    def writer_journal_for(self, db_url: str | None = None) -> Path:
        """Where the event writer keeps what the database cannot take (an outage, a stop): the
        configured path, else beside the SQLite file, else in the data folder."""
        if self.writer_journal:
            return Path(self.writer_journal).expanduser()
        from sqlalchemy.engine import make_url

        url = make_url(db_url or self.effective_db_url)
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            return path.with_name(path.name + ".writer-journal.jsonl")
        return self.data_dir / "writer-journal.jsonl"

    @property
    def effective_db_url(self) -> str:
        """The database of this session: the one named, else the demo window's with the demo
        profile given, else console.sqlite3 (paper and live windows, and the commands)."""
        if self.demo_given:
            return self.demo_db_url
        return self.db_url or f"sqlite:///{(self.data_dir / 'console.sqlite3').as_posix()}"

    @property
    def demo_db_url(self) -> str:
        """Demo mode keeps its simulated orders out of the paper / live records: its own SQLite
        file, unless a database URL was given explicitly."""
        return self.db_url or f"sqlite:///{(self.data_dir / 'demo.sqlite3').as_posix()}"

    @property
    def redacted_db_url(self) -> str:
        return redact_url(self.effective_db_url)

    def to_toml_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "database": {"url": self.db_url, **({"writer_journal": self.writer_journal} if self.writer_journal else {})},
            "trading": {"mode": str(self.mode), "profile": self.profile},
            "ib": asdict(self.ib),
            "ui": {**asdict(self.ui), "watchlist": list(self.ui.watchlist)},
            "logging": {"level": self.log_level},
        }
        # only when set: a file that never had the section is not given one
        execution = {key: value for key, value, default in (("lease_ttl", self.lease_ttl, LEASE_TTL),
                                                            ("write_timeout", self.write_timeout, WRITE_TIMEOUT))
                     if value != default}
        if execution:
            out["execution"] = execution
        return out


def _number(name: str, value: Any) -> Decimal:
    """A number of the settings file, the environment or the command line, read as every typed
    number is (``typed_decimal``) and refused as every command's option refuses one
    (``ib.port: not a number: 'x'``): it said "ib.port must be a whole number, got 'x'", a port of
    7497.5 was read as 7497, and TOML's true as 1."""
    if isinstance(value, bool):  # a number to Python, no number of anything here
        raise SettingsError(not_a_number_said(value, name=name))
    try:
        return typed_decimal(value)
    except NotFinite:
        raise SettingsError(must_be_said(value, "a finite number", name=name)) from None
    except NotANumber as exc:
        raise SettingsError(not_a_number_said(value, exc.hint, name=name)) from None


class _FileFloat(float):
    """A float of the settings file that keeps its text as written (``port = 1e3``: "1e3"),
    which the whole numbers' rule reads (``_int``); any other use sees the float."""

    typed: str

    def __new__(cls, text: str) -> _FileFloat:
        number = super().__new__(cls, text)
        number.typed = text
        return number


class _AsWritten(str):
    """A file's number said as it was written, bare: ``ib.port: ...: 1e3``, as ``99999`` is."""

    def __repr__(self) -> str:
        return str(self)


def _int(name: str, value: Any) -> int:
    """A whole number of the file, the environment or the command line, in digits as the
    Settings dialog takes one (``services.core.typed_numbers.typed_whole``): ``TC_IB_PORT=1e3``,
    ``port = 1e3`` and ``--ib-port 1e3`` were read as 1000 where the dialog refuses it
    (``TC_IB_PORT: must be a number in digits, without an exponent: '1e3'``)."""
    if isinstance(value, _FileFloat):
        if exponent_said(value.typed) is not None:
            raise SettingsError(must_be_said(_AsWritten(value.typed), IN_DIGITS, name=name))
    elif (exponent := exponent_said(value, name=name)) is not None:
        raise SettingsError(exponent)
    number = _number(name, value)
    if number != number.to_integral_value():
        raise SettingsError(must_be_said(value, "a whole number", name=name))
    return int(number)


def _bounded(name: str, value: Any, problem_of) -> int:
    """A whole number (``_int``) within the bound ``problem_of`` says (services.core.typed_numbers:
    port_problem, client_id_problem, lines_problem, the Settings dialog's rules too)."""
    number = _int(name, value)
    problem = problem_of(number, typed=value, name=name)
    if problem is not None:
        raise SettingsError(problem)
    return number


def _port(name: str, value: Any) -> int:
    return _bounded(name, value, port_problem)


def _lines(name: str, value: Any) -> int:
    return _bounded(name, value, lines_problem)


def _client_id(name: str, value: Any) -> int:
    return _bounded(name, value, client_id_problem)


def _float(name: str, value: Any) -> float:
    return float(_number(name, value))


def _seconds(name: str, value: Any, allowed: tuple[float, float]) -> float:
    seconds = _float(name, value)
    problem = seconds_problem(seconds, allowed, typed=value, name=name)
    if problem is not None:
        raise SettingsError(problem)
    return seconds


def _timings(values: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """The run lease's time to live and the writer's wait, checked: ``{field: (name, value)}``."""
    allowed = {"lease_ttl": LEASE_TTL_RANGE, "write_timeout": WRITE_TIMEOUT_RANGE}
    return {key: _seconds(name, value, allowed[key]) for key, (name, value) in values.items()}


def _mode(name: str, value: Any) -> TradeMode:
    try:
        mode = TradeMode(str(value).strip().lower())
        if mode.simulated:  # a backtest is a command of its own, never the console's trading mode
            raise ValueError(mode)
        return mode
    except ValueError:
        raise SettingsError(f"{name} must be 'paper' or 'live', got {value!r}") from None


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            # each float with its text: a whole number written 1e3 is refused as typed (``_int``)
            return tomllib.load(fh, parse_float=_FileFloat)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from None


def _apply_file(settings: Settings, data: dict[str, Any]) -> Settings:
    db = data.get("database", {})
    trading = data.get("trading", {})
    ib = data.get("ib", {})
    ui = data.get("ui", {})
    logging_ = data.get("logging", {})
    execution = data.get("execution", {})
    ib_known = {f.name for f in fields(IbSettings)}
    ib_values = {k: v for k, v in ib.items() if k in ib_known}
    if "port" in ib_values:
        ib_values["port"] = _port("ib.port", ib_values["port"])
    if "client_id" in ib_values:
        ib_values["client_id"] = _client_id("ib.client_id", ib_values["client_id"])
    if "market_data_lines" in ib_values:
        ib_values["market_data_lines"] = _lines("ib.market_data_lines", ib_values["market_data_lines"])
    if "connect_timeout" in ib_values:
        ib_values["connect_timeout"] = _float("ib.connect_timeout", ib_values["connect_timeout"])
    changes: dict[str, Any] = {"ib": replace(settings.ib, **ib_values)}
    if "url" in db:
        changes["db_url"] = str(db["url"])
    if db.get("writer_journal"):
        changes["writer_journal"] = str(db["writer_journal"])
    if "mode" in trading:
        changes["mode"] = _mode("trading.mode", trading["mode"])
    if "profile" in trading:
        changes["profile"] = _profile("trading.profile", trading["profile"])
    if "theme" in ui:
        changes["ui"] = replace(settings.ui, theme=str(ui["theme"]))
    if "watchlist" in ui:
        watchlist = ui["watchlist"]
        if not isinstance(watchlist, list) or not all(isinstance(s, str) for s in watchlist):
            raise SettingsError(f"ui.watchlist must be a list of symbols, got {watchlist!r}")
        changes["ui"] = replace(changes.get("ui", settings.ui), watchlist=tuple(s.strip().upper() for s in watchlist if s.strip()))
    if "level" in logging_:
        changes["log_level"] = str(logging_["level"]).upper()
    changes.update(_timings({key: (f"execution.{key}", execution[key])
                                       for key in ("lease_ttl", "write_timeout") if key in execution}))
    return replace(settings, **changes)


def _profile(name: str, value: Any) -> str:
    text = str(value).strip().lower()
    if text not in PROFILES:
        raise SettingsError(f"{name} must be one of {', '.join(PROFILES)}, got {value!r}")
    return text


def _apply_env(settings: Settings, env: dict[str, str]) -> Settings:
    ib = settings.ib
    changes: dict[str, Any] = {}
    if env.get("TC_DB_URL"):
        changes["db_url"] = env["TC_DB_URL"]
    if env.get("TC_WRITER_JOURNAL"):
        changes["writer_journal"] = env["TC_WRITER_JOURNAL"]
    if env.get("TC_IB_HOST"):
        ib = replace(ib, host=env["TC_IB_HOST"])
    if env.get("TC_IB_PORT"):
        ib = replace(ib, port=_port("TC_IB_PORT", env["TC_IB_PORT"]))
    if env.get("TC_IB_CLIENT_ID"):
        ib = replace(ib, client_id=_client_id("TC_IB_CLIENT_ID", env["TC_IB_CLIENT_ID"]))
    if env.get("TC_IB_ACCOUNT"):
        ib = replace(ib, account=env["TC_IB_ACCOUNT"].strip())
    if env.get("TC_IB_MARKET_DATA_LINES"):
        ib = replace(ib, market_data_lines=_lines("TC_IB_MARKET_DATA_LINES", env["TC_IB_MARKET_DATA_LINES"]))
    if env.get("TC_MODE"):
        changes["mode"] = _mode("TC_MODE", env["TC_MODE"])
    if env.get("TC_LOG_LEVEL"):
        changes["log_level"] = env["TC_LOG_LEVEL"].upper()
    changes.update(_timings({key: (name, env[name]) for key, name in (("lease_ttl", "TC_LEASE_TTL"),
                                                                                ("write_timeout", "TC_WRITE_TIMEOUT"))
                                       if env.get(name)}))
    return replace(settings, ib=ib, **changes)


def _apply_args(settings: Settings, args: Any) -> Settings:
    def arg(name: str) -> Any:
        return getattr(args, name, None) if args is not None else None

    ib = settings.ib
    changes: dict[str, Any] = {}
    if arg("db_url"):
        changes["db_url"] = arg("db_url")
    if arg("log_level"):
        changes["log_level"] = str(arg("log_level")).upper()
    if arg("ib_host"):
        ib = replace(ib, host=arg("ib_host"))
    if arg("ib_port") is not None:
        ib = replace(ib, port=_port("--ib-port", arg("ib_port")))
    if arg("client_id") is not None:
        ib = replace(ib, client_id=_client_id("--client-id", arg("client_id")))
    if arg("account"):
        ib = replace(ib, account=str(arg("account")).strip())
    if arg("mode"):
        changes["mode"] = _mode("--mode", arg("mode"))
    if arg("profile"):
        changes["profile"] = _profile("--profile", arg("profile"))
        if changes["profile"] == "live" and not arg("mode"):
            changes["mode"] = TradeMode.LIVE
        elif changes["profile"] == "paper" and not arg("mode"):
            changes["mode"] = TradeMode.PAPER
    if arg("demo"):
        changes["profile"] = "demo"
        changes["mode"] = TradeMode.PAPER
    changes["demo_given"] = changes.get("profile") == "demo"
    return replace(settings, ib=ib, **changes)


def load_settings(args: Any = None, env: dict[str, str] | None = None) -> Settings:
    """File, then environment, then command line; each later source wins."""
    env = dict(os.environ) if env is None else env
    config_file = Path(arg) if (arg := getattr(args, "config_file", None)) else (
        Path(env["TC_CONFIG_FILE"]) if env.get("TC_CONFIG_FILE") else default_config_file()
    )
    settings = Settings(
        config_file=config_file,
        data_dir=Path(env["TC_DATA_DIR"]) if env.get("TC_DATA_DIR") else default_data_dir(),
        log_dir=Path(env["TC_LOG_DIR"]) if env.get("TC_LOG_DIR") else default_log_dir(),
    )
    if getattr(args, "config_file", None) and not config_file.exists():
        # A file named on the command line that is not there is a typo, not "use the defaults".
        raise SettingsError(f"settings file {config_file} does not exist")
    settings = _apply_file(settings, _read_file(config_file))
    settings = _apply_env(settings, env)
    settings = _apply_args(settings, args)
    _check_db_url(settings.db_url)
    # Whatever source gave the URL, its password is hidden in every message from now on, even
    # where a driver quotes a piece of a URL it could not parse.
    remember_url_secrets(settings.db_url)
    return replace(settings, loaded=settings)


def _check_db_url(url: str) -> None:
    """A database URL that does not parse is bad input, reported without any part of it that
    could be a password."""
    if not url:
        return
    remember_url_secrets(url)
    from sqlalchemy.engine import make_url

    try:
        make_url(url).port  # noqa: B018 - a non-numeric port fails here, not at connect time
    except Exception as exc:  # noqa: BLE001 - ArgumentError, ValueError: both are a bad URL
        reason = "the port is not a number" if isinstance(exc, ValueError) else "expected dialect+driver://user:password@host:port/database"
        raise SettingsError(f"invalid database URL {redact_url(url)}: {reason}") from None


def _changed_keys(settings: Settings) -> dict[str, dict[str, Any]]:
    """``{section: {key: value}}`` of what differs from the settings as loaded."""
    baseline = settings.loaded or Settings(config_file=settings.config_file, data_dir=settings.data_dir,
                                           log_dir=settings.log_dir)
    now, before = settings.to_toml_dict(), baseline.to_toml_dict()
    changed: dict[str, dict[str, Any]] = {}
    for section, values in now.items():
        for key, value in values.items():
            if before.get(section, {}).get(key) != value:
                changed.setdefault(section, {})[key] = value
    return changed


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write back what the user changed in this session, into the file's own layer (atomically).

    Only keys whose value differs from the settings as loaded are written; every other key of
    the file stays as the file has it. So a value that came from the environment (``TC_DB_URL``,
    ``TC_IB_PORT`` ...) or the command line never reaches the file. The ``[trading]`` section
    (mode, profile) is never written: a session started with ``--profile live`` must never make
    live the default of the next start. A database password is never written: a changed URL
    that carries one is refused (SettingsError) and nothing is written."""
    target = path or settings.config_file
    changed = {section: values for section, values in _changed_keys(settings).items() if section != "trading"}
    new_url = changed.get("database", {}).get("url")
    if new_url and has_password(new_url):
        raise SettingsError(
            "a database password is never written to the settings file: give the URL with its "
            "password in the environment (TC_DB_URL) or with --db-url instead; nothing was saved"
        )
    try:
        existing = _read_file(target)
    except SettingsError:
        existing = {}
    if not changed and target.exists():
        return target
    data = {section: dict(values) if isinstance(values, dict) else values for section, values in existing.items()}
    for section, values in changed.items():
        data.setdefault(section, {}).update(values)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_bytes(tomli_w.dumps(data).encode("utf-8"))
    os.replace(tmp, target)
    return target
