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
from typing import Any

from services.audit_actions import AuditAction
from services.books import BooksError, BooksService, parse_capital
from services.core.risk_limits import DEFAULT_RISK_LIMITS, RiskParamError, stored_risk_value
from services.core.typed_numbers import plain
from services.core.wording import ANOTHER_VERSION, how_to_remove
from services.db.lock_conflicts import retry_lock_conflicts
from services.db.repositories.settings import SettingsRepository
from services.trade_settings_keys import (
    CAPITAL_PREFIX,
    DATA_SOURCES,
    SECTIONS,
    TradeSettingsError,
    changed_section,
    known_keys,
    read_setting,
    stored_problems,
)


def check_data_source(value: object) -> str:
    """``value`` if it names a known execution data source; TradeSettingsError naming it otherwise
    (a value stored before this check existed may be anything)."""
    text = str(value).strip() if value is not None else ""
    if text not in DATA_SOURCES:
        raise TradeSettingsError(f"execution_data_source: {value!r} is not one of {', '.join(DATA_SOURCES)}")
    return text


def parse_assignments(pairs: Iterable[str], stored: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """``["auto_recovery.new_timeout_seconds=5", "risk.max_order_notional=off"]`` ->
    ``{"auto_recovery": {...}, "risk": {...}}``; raises ``TradeSettingsError`` naming the key,
    one another version ``stored`` with the way to remove it (it cannot be changed here)."""
    changes: dict[str, Any] = {}
    seen: set[str] = set()
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TradeSettingsError(f"{pair!r} is not KEY=VALUE")
        if key in seen:  # a=1 a=2: the first would be dropped without a word
            raise TradeSettingsError(f"{key} is given twice; give each setting once")
        seen.add(key)
        if key == "execution_data_source":
            changes[key] = check_data_source(value)
            continue
        if key.startswith(CAPITAL_PREFIX) and len(key) > len(CAPITAL_PREFIX):
            # project_capital.NAME=AMOUNT|off: the project's capital (docs/project-books.md)
            changes.setdefault("project_capital", {})[key[len(CAPITAL_PREFIX):]] = value.strip()
            continue
        section, _, name = key.partition(".")
        defaults = SECTIONS.get(section)
        if defaults is not None and name not in defaults and name in (stored or {}).get(section, {}):
            raise TradeSettingsError(f"{key} is {ANOTHER_VERSION}; it cannot be changed here, only removed: {how_to_remove(key)}")
        if defaults is None or name not in defaults:
            raise TradeSettingsError(f"unknown setting {key!r}; known: {', '.join(known_keys())}")
        changes.setdefault(section, {})[name] = read_setting(section, name, value)
    return changes


def parse_removals(keys: Iterable[str], stored: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """``["risk.some_future_rule"]`` -> ``{"risk": ["some_future_rule"]}``: the stored keys to
    remove, known or not (one another version stored can only be removed here; a known one then
    reads its default), checked against what is ``stored`` (``_sections``); TradeSettingsError
    naming a key that is neither stored nor known (a typo would otherwise remove nothing and say
    nothing)."""
    removals: dict[str, list[str]] = {}
    for key in keys:
        section, _, name = str(key).strip().partition(".")
        if section not in SECTIONS or not name or (name not in SECTIONS[section] and name not in stored[section]):
            raise TradeSettingsError(f"{key!r} is no stored setting to remove; stored: "
                                     + ", ".join(f"{s}.{n}" for s in SECTIONS for n in stored[s]))
        removals.setdefault(section, []).append(name)
    return removals


def _risk_to_store(stored: Mapping[str, Any], changed: Mapping[str, Any]) -> dict[str, Any]:
    """The risk limits to store: the ``changed`` ones (each read by ``read_setting``, the risk
    engine's own reading) over the ``stored`` ones, each stored one in the form it is read in
    (``stored_risk_value``: numbers as numbers, "25,000" stored as text by an older version
    included) where today's rule takes it, else as it is: reported (``stored_problems``), never a
    reason to refuse another change."""
    kept = {}
    for name, value in stored.items():
        try:
            kept[name] = stored_risk_value(name, value)
        except RiskParamError:
            kept[name] = value
    return {**kept, **changed}


def _sections(repo: SettingsRepository) -> dict[str, dict[str, Any]]:
    """The ``risk``, ``auto_recovery`` and ``execution`` settings as stored, over their defaults."""
    return {"risk": {**DEFAULT_RISK_LIMITS, **repo.risk_defaults()}, "auto_recovery": repo.auto_recovery(),
            "execution": repo.execution()}


def _stored_section(repo: SettingsRepository, section: str) -> dict[str, Any]:
    """A section as the repository reads it: what a removed key held, for the audit entry."""
    return {"risk": repo.risk_defaults, "auto_recovery": repo.auto_recovery, "execution": repo.execution}[section]()


class TradeSettingsService:
    def __init__(self, db, actor: str) -> None:
        self.db = db
        self.actor = actor

    def read(self) -> dict[str, Any]:
        """Every trade setting as stored; ``stored_problems``: those today's rules refuse, by
        dotted key, with why (``services.trade_settings_keys.stored_problems``)."""
        with self.db.session() as session:
            repo = SettingsRepository(session)
            values: dict[str, Any] = {
                **_sections(repo),
                "execution_data_source": repo.execution_data_source(),
                "trading_state": str(repo.trading_state()),
                "project_capital": {name: None if capital is None else plain(capital)
                                    for name, capital in BooksService(self.db, self.actor).capitals().items()},
            }
        return {**values, "stored_problems": stored_problems(values)}

    def set(self, pairs: Iterable[str]) -> dict[str, Any]:
        return self.update(parse_assignments(pairs, self._stored_sections()))

    def unset(self, keys: Iterable[str]) -> dict[str, Any]:
        """``trade-settings unset KEY ...``: removes stored settings (``parse_removals``), audited."""
        return self.update({"unset": list(keys)})

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate everything first, then store and audit in one transaction (all or nothing).
        ``unset``: dotted keys of stored settings to remove (``parse_removals``), as the Settings
        dialog's Remove of a setting of another version, which can be removed, never changed."""
        unknown = set(changes) - {*SECTIONS, "execution_data_source", "project_capital", "unset"}
        if unknown:
            raise TradeSettingsError(f"unknown settings section{'s' if len(unknown) > 1 else ''}: {', '.join(sorted(unknown))}")
        # whoever typed them (the dialog, the command line): checked here, before anything is stored
        # (the dialog hands over the cells' text, read here as the command line's is); what says
        # the stored value is no change (a value stored beyond today's bounds stops no other)
        stored = self._stored_sections()
        removals = parse_removals(changes.get("unset") or (), stored)
        checked = {section: changed_section(section, {k: v for k, v in changes[section].items()
                                                      if k not in removals.get(section, ())}, stored[section])
                   for section in SECTIONS if changes.get(section) is not None}
        source = changes.get("execution_data_source")
        if source is not None:
            source = check_data_source(source)
        capitals = dict(changes.get("project_capital") or {})
        try:  # each named by the key typed: project_capital.NAME
            for project, value in capitals.items():
                parse_capital(value, f"{CAPITAL_PREFIX}{project}")
        except BooksError as exc:
            raise TradeSettingsError(str(exc)) from None
        self._store(checked, source, capitals, changes, removals)
        return self.read()

    @retry_lock_conflicts  # the first read of a new database writes the settings' row: it may wait on a lock
    def _stored_sections(self) -> dict[str, Any]:
        with self.db.session() as session:
            return _sections(SettingsRepository(session))

    @retry_lock_conflicts  # one unit of work of the database alone: runs again from scratch
    def _store(self, checked: dict[str, Any], source: str | None, capitals: dict, changes: Mapping[str, Any],
               removals: Mapping[str, list[str]]) -> None:
        from services.execution.audit import audit

        with self.db.unit_of_work() as session:
            repo = SettingsRepository(session)
            if "risk" in checked:
                repo.set_risk_defaults(_risk_to_store(repo.risk_defaults(), checked["risk"]))
            if "auto_recovery" in checked:
                repo.set_auto_recovery(checked["auto_recovery"])
            if "execution" in checked:
                repo.set_execution(checked["execution"])
            if source is not None:
                repo.set_execution_data_source(source)
            if capitals:
                try:
                    BooksService(self.db, self.actor).set_capitals(capitals, session=session)
                except BooksError as exc:
                    raise TradeSettingsError(f"project_capital: {exc}") from None
            removed = {}
            for section, names in removals.items():  # after the changes: _risk_to_store keeps what is stored
                stored = _stored_section(repo, section)
                removed.update({f"{section}.{name}": stored.get(name) for name in names})
                repo.remove(section, names)
            entry = {k: checked.get(k, v) for k, v in changes.items() if v is not None and k not in ("project_capital", "unset")}
            if removed:
                entry["unset"] = removed  # each removed key with the value it had
            audit(self.db, self.actor, AuditAction.SETTINGS_TRADE, "trade_settings", None,
                  # what is stored, as read (the same entry whether the dialog or the command line typed it)
                  entry, session=session)
