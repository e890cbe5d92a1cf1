"""The trade settings' keys, defaults and value rule, pure (no database): what ``trading-console
trade-settings set --help`` lists, read without loading the database layer (the command line's
parser is built for every command, ``--help`` included), and the one reading of a typed value
per setting that the Settings dialog, the command line and the service share (``read_setting``).
The service that reads, checks and changes the settings is ``services.trade_settings``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.core.risk_limits import DEFAULT_RISK_LIMITS, MAX_STORED_LIMIT, RiskParamError, stored_risk_value
from services.core.typed_numbers import NotANumber, must_be_said, not_a_number_said, typed_decimal
from services.core.wording import ANOTHER_VERSION, how_to_remove

AUTO_RECOVERY_DEFAULTS: dict[str, Any] = {
    "new_timeout_seconds": 45,
    "max_auto_retries": 1,
    "max_price_deviation_pct": 1.5,
    "allow_replace_outside_rth": False,
}
# How old a frozen plan may be, and how far a reference price may move, before executing it is
# refused (the trader previews again). Stored in trade_settings.execution.
EXECUTION_DEFAULTS: dict[str, Any] = {
    "plan_max_age_seconds": 120,
    "plan_max_price_move_pct": 1.0,
    # delayed market data may price a live run or order (it always may in paper mode)
    "allow_delayed_prices_live": False,
}
SECTIONS: dict[str, Mapping[str, Any]] = {
    "risk": DEFAULT_RISK_LIMITS,
    "auto_recovery": AUTO_RECOVERY_DEFAULTS,
    "execution": EXECUTION_DEFAULTS,
}
# Where orders and market data come from, chosen at start-up (app.composition): TWS / IB Gateway
# at the configured host and port, or the built-in simulator run in-process. "backtest" joins
# this list when the backtest exists.
DATA_SOURCES = ("ib", "simulator")
CAPITAL_PREFIX = "project_capital."


def known_keys() -> list[str]:
    return ([f"{section}.{key}" for section, defaults in SECTIONS.items() for key in defaults]
            + ["execution_data_source", CAPITAL_PREFIX + "NAME"])


class TradeSettingsError(ValueError):
    """A key or value the user can fix; the message names it. ``reason``: the words after the
    setting's name (``must be a whole number: '1.5'``), for a form that names the setting by its
    own label (the Settings dialog said "Max order notional: max_order_notional: must be ...");
    the whole message when it names no one setting."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def _refused(key: str, reason: str) -> TradeSettingsError:
    return TradeSettingsError(f"{key}: {reason}", reason)


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}
MAX_SETTING = MAX_STORED_LIMIT  # as a risk limit's (services.core.risk_limits)


def checked_value(key: str, default: Any, value: Any) -> Any:
    """An auto-recovery or execution setting's value (as typed, or already a bool or a number)
    checked against the type of its default: true/false for a flag, else a number from 0 to
    1e12, whole where the default is; TradeSettingsError naming ``key`` otherwise. Read through
    ``read_setting``, which knows the setting."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raw = "" if value is None else str(value).strip().lower()
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise _refused(key, f"{value!r} is not true or false")
    if value is None or isinstance(value, bool):  # None: "off" or nothing typed
        raise _refused(key, not_a_number_said("off" if value is None else value))
    text = str(value).strip()
    try:
        number = typed_decimal(text)
    except NotANumber as exc:  # a misplaced comma says why
        raise _refused(key, not_a_number_said(text, exc.hint)) from None
    if not number.is_finite() or number < 0 or number > MAX_SETTING:
        raise _refused(key, must_be_said(text, "a number from 0 to 1e12"))
    if isinstance(default, int):
        if number != number.to_integral_value():
            raise _refused(key, must_be_said(text, "a whole number"))
        return int(number)
    return float(number) if isinstance(default, float) else str(number)


def read_setting(section: str, name: str, value: Any) -> Any:
    """What a risk, auto-recovery or execution setting's value means, read per setting (as typed,
    or already read): the one reading for the Settings dialog's cells, ``trade-settings set`` and
    the service that stores them. The meaning of a word depends on the setting, so it is read
    only once the setting is known: "off" switches a risk limit off (None, as ``--risk NAME=off``
    does) but is False for a true/false setting (the dialog read "off" as None before it knew
    the setting, and refused it, or let the service refuse it after the dialog had closed).
    TradeSettingsError naming the setting otherwise."""
    defaults = SECTIONS.get(section)
    if defaults is None or name not in defaults:
        raise TradeSettingsError(f"unknown setting '{section}.{name}'")
    if section == "risk":
        # the risk engine's own parsing decides what a limit is (and that "off" switches it off)
        # named by the key typed, as every other section's setting ("risk: max_orders_per_run: ..."
        # named the section and then the limit); the risk engine's words name the limit first
        try:
            return stored_risk_value(name, value)
        except RiskParamError as exc:
            raise _refused(f"{section}.{name}", str(exc).removeprefix(f"{name}: ")) from None
    return checked_value(f"{section}.{name}", defaults[name], value)


def changed_section(section: str, values: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a ``risk``, ``auto_recovery`` or ``execution`` change that differ from what
    is ``stored``, each read (``read_setting``), an unknown name refused. A value that says what is
    stored already is no change and is not read again: a value stored before today's bounds (a
    limit above 1e12 written by an older version) refused every later change of the section, as
    the Settings dialog hands back every row, and the whole section was checked on save. Typed
    anew, a different value, it is read, bounds and all."""
    return {name: read_setting(section, name, value) for name, value in values.items()
            if name not in stored or not _says_stored(value, stored[name])}


def _says_stored(value: Any, stored: Any) -> bool:
    """``value`` (as typed, or already read) is ``stored``: the same, the same text (a dialog's
    untouched row, a flag and an off limit in the dialog's words: "true", "false", "off"), or the
    same number ("1e13" for 10000000000000)."""
    if value == stored or str(value).strip() == str(stored) or str(value).strip().lower() == _shown(stored):
        return True
    if isinstance(value, bool) or isinstance(stored, bool):
        return False  # a flag is its word, read by read_setting; 1 is no flag's stored True
    try:
        return typed_decimal(value) == typed_decimal(stored)
    except NotANumber:
        return False


def _shown(stored: Any) -> str | None:
    # how the Settings dialog writes a stored flag or a limit switched off in its cell: one of
    # another version, never read here, must be told from a change by these words too (OK drew
    # "unknown setting" for a read-only row and saved nothing else)
    if isinstance(stored, bool):
        return "true" if stored else "false"
    return "off" if stored is None else None


REFUSED_STORED = "refused since it was stored"  # what a stored value today's rule refuses is said to be


def stored_problems(values: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Each stored ``risk``, ``auto_recovery`` or ``execution`` setting (of
    ``TradeSettingsService.read()``'s ``values``) that today's rule refuses, by dotted key: why
    (the setting, its value, the bound) and what to do, said after the value. Such a value was
    stored before its bound existed, by an older version or in the database itself. It is kept
    as it is (the risk engine reads a limit above the bound as that limit) and stops no other
    change (``changed_section``); the command and the Settings dialog say it, and it can be
    changed (a risk limit also switched off). One this version does not know (another version
    stored it) cannot be changed here, only removed (``TradeSettingsService.update``'s
    ``unset``)."""
    problems = {}
    for section in SECTIONS:
        for name, value in (values.get(section) or {}).items():
            try:
                read_setting(section, name, value)
            except TradeSettingsError as exc:
                why = exc.reason  # without the key, which the line names already
                key = f"{section}.{name}"
                if name not in SECTIONS[section]:  # stored by another (newer) version: removed, never changed here
                    refuses = ", and previews and orders are refused while it is stored" if section == "risk" else ""
                    fix = f"{ANOTHER_VERSION}{refuses}; {how_to_remove(key)}"
                else:
                    fix = "change it or switch it off" if section == "risk" else "change it"
                problems[key] = f"{REFUSED_STORED}: {why}; {fix}"
    return problems
