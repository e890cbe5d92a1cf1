"""Trade settings (risk defaults, auto-recovery, execution limits): read, validated, changed and
audited in one place, for the window's Settings dialog and ``trading-console trade-settings``.

Keys are dotted: ``risk.max_order_notional``, ``auto_recovery.new_timeout_seconds``,
``execution.plan_max_age_seconds``, and the top-level ``execution_data_source``;
``project_capital.NAME`` sets a project's capital (``off``: none; docs/project-books.md). A value is
checked against the type of its default; risk limits also by the risk engine itself (``off``
switches a risk rule off).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from services.books import BooksError, BooksService, parse_capital
from services.core.books import plain
from services.core.risk import DEFAULT_RISK_LIMITS, RiskParamError, rules_from_params
from services.db.repositories.settings import SettingsRepository
from services.trade_settings_keys import CAPITAL_PREFIX, DATA_SOURCES, SECTIONS, known_keys

_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


class TradeSettingsError(ValueError):
    """A key or value the user can fix; the message names it."""


def check_data_source(value: object) -> str:
    """``value`` if it names a known execution data source; TradeSettingsError naming it otherwise
    (a value stored before this check existed may be anything)."""
    text = str(value).strip() if value is not None else ""
    if text not in DATA_SOURCES:
        raise TradeSettingsError(f"execution_data_source: {value!r} is not one of {', '.join(DATA_SOURCES)}")
    return text


def _convert(key: str, default: Any, text: str) -> Any:
    raw = text.strip()
    if isinstance(default, bool):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise TradeSettingsError(f"{key}: {text!r} is not true or false")
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise TradeSettingsError(f"{key}: {text!r} is not a number") from None
    if not number.is_finite() or number < 0 or number > Decimal("1e12"):
        raise TradeSettingsError(f"{key}: {text!r} must be a number from 0 to 1e12")
    if isinstance(default, int):
        if number != number.to_integral_value():
            raise TradeSettingsError(f"{key}: {text!r} must be a whole number")
        return int(number)
    return float(number) if isinstance(default, float) else str(number)


def parse_assignments(pairs: Iterable[str]) -> dict[str, Any]:
    """``["auto_recovery.new_timeout_seconds=5", "risk.max_order_notional=off"]`` ->
    ``{"auto_recovery": {...}, "risk": {...}}``; raises ``TradeSettingsError`` naming the key."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TradeSettingsError(f"{pair!r} is not KEY=VALUE")
        if key == "execution_data_source":
            changes[key] = check_data_source(value)
            continue
        if key.startswith(CAPITAL_PREFIX) and len(key) > len(CAPITAL_PREFIX):
            # project_capital.NAME=AMOUNT|off: the project's capital (docs/project-books.md)
            changes.setdefault("project_capital", {})[key[len(CAPITAL_PREFIX):]] = value.strip()
            continue
        section, _, name = key.partition(".")
        defaults = SECTIONS.get(section)
        if defaults is None or name not in defaults:
            raise TradeSettingsError(f"unknown setting {key!r}; known: {', '.join(known_keys())}")
        if section == "risk":
            converted: Any = None if value.strip().lower() in ("off", "none") and name != "allow_short" else value.strip()
        else:
            converted = _convert(key, defaults[name], value)
        changes.setdefault(section, {})[name] = converted
    return changes


def _check_risk(values: Mapping[str, Any]) -> dict[str, Any]:
    """The risk engine's own parsing decides what a valid limit is."""
    try:
        rules_from_params(values)
    except RiskParamError as exc:
        raise TradeSettingsError(f"risk: {exc}") from None
    return dict(values)


class TradeSettingsService:
    def __init__(self, db, actor: str) -> None:
        self.db = db
        self.actor = actor

    def read(self) -> dict[str, Any]:
        with self.db.session() as session:
            repo = SettingsRepository(session)
            return {
                "risk": {**DEFAULT_RISK_LIMITS, **repo.risk_defaults()},
                "auto_recovery": repo.auto_recovery(),
                "execution": repo.execution(),
                "execution_data_source": repo.execution_data_source(),
                "trading_state": str(repo.trading_state()),
                "project_capital": {name: None if capital is None else plain(capital)
                                    for name, capital in BooksService(self.db, self.actor).capitals().items()},
            }

    def set(self, pairs: Iterable[str]) -> dict[str, Any]:
        return self.update(parse_assignments(pairs))

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate everything first, then store and audit in one transaction (all or nothing)."""
        from services.execution.audit import audit

        unknown = set(changes) - {*SECTIONS, "execution_data_source", "project_capital"}
        if unknown:
            raise TradeSettingsError(f"unknown settings section{'s' if len(unknown) > 1 else ''}: {', '.join(sorted(unknown))}")
        for section in ("auto_recovery", "execution"):
            for name in (changes.get(section) or {}):
                if name not in SECTIONS[section]:
                    raise TradeSettingsError(f"unknown setting '{section}.{name}'")
        source = changes.get("execution_data_source")
        if source is not None:
            source = check_data_source(source)
        capitals = dict(changes.get("project_capital") or {})
        try:
            for value in capitals.values():
                parse_capital(value)
        except BooksError as exc:
            raise TradeSettingsError(f"project_capital: {exc}") from None
        with self.db.unit_of_work() as session:
            repo = SettingsRepository(session)
            if changes.get("risk") is not None:
                repo.set_risk_defaults(_check_risk({**repo.risk_defaults(), **changes["risk"]}))
            if changes.get("auto_recovery") is not None:
                repo.set_auto_recovery(dict(changes["auto_recovery"]))
            if changes.get("execution") is not None:
                repo.set_execution(dict(changes["execution"]))
            if source is not None:
                repo.set_execution_data_source(source)
            if capitals:
                try:
                    BooksService(self.db, self.actor).set_capitals(capitals, session=session)
                except BooksError as exc:
                    raise TradeSettingsError(f"project_capital: {exc}") from None
            audit(self.db, self.actor, "settings.trade", "trade_settings", None,
                  {k: v for k, v in changes.items() if v is not None and k != "project_capital"}, session=session)
        return self.read()
