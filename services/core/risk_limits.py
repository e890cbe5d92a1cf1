"""The risk limits: their defaults, how a stored or typed limit is read, and the rules they make.

Limits are a plain dict, :data:`DEFAULT_RISK_LIMITS`, which the database keeps in
``trade_settings.risk_defaults``; :func:`risk_limits` lays the stored ones and the command
line's ``NAME=VALUE`` overrides (``--risk``) over the defaults, and :func:`rules_from_params`
turns the result into rule objects (``services.core.risk_rules``). ``None`` (``NAME=off``)
switches a limit's rule off; missing prices, duplicates and the trading state are always
checked. :func:`stored_risk_value` reads a limit as the settings store it, with the same
converters the rules are built with, so a value the Settings dialog lets through is one the
rules accept. Every value the user can get wrong is refused with a :class:`RiskParamError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from . import risk_rules
from .risk_base import RiskRule
from .typed_numbers import NotANumber, must_be_said, not_a_number_said, typed_decimal
from .wording import ANOTHER_VERSION, how_to_remove

DEFAULT_RISK_LIMITS: dict[str, Any] = {
    "max_order_notional": 25000,  # base currency per order (order_size: a limit at its limit, a sell limit under the market and a market order at the reference price)
    "max_position_ratio": 0.2,  # |position after the trade| * price / portfolio value
    "max_gross_exposure": 1.0,  # sum |position after the run| * price / portfolio value
    "max_orders_per_run": 100,
    "max_order_quantity": 10000,  # shares per order
    "max_price_age_seconds": 300,  # older reference prices are stale
    "allow_short": False,
    "price_collar_pct": 3,  # a limit more than 3 % away from the reference is blocked
    "max_daily_orders": 500,  # orders sent today (before this run) + this run
}


class RiskParamError(ValueError):
    """A risk parameter the user can fix (unknown name, bad value)."""


class UnknownStoredLimit(RiskParamError):
    """A stored limit (``params``: trade_settings.risk_defaults) this version has no rule for, a
    newer version's or one written by hand. Refused, never skipped: on a live account a limit
    nobody checks lets through what it was set to block. Said with where it comes from and how
    to remove it: "unknown risk parameter" and the known names read as a typo in ``--risk``."""

    def __init__(self, name: str, value: Any) -> None:
        key = f"risk.{name}"
        super().__init__(f"{key} = {value} is {ANOTHER_VERSION}: previews and orders are refused while it is "
                         f"stored; {how_to_remove(key)}")
        self.key = key


def decimal_limit(name: str, value: Any) -> Decimal:
    """A limit's value as a Decimal >= 0, or ``RiskParamError`` naming the limit and saying why:
    the one reading of a numeric limit, for the order rules here and the account-wide ones
    (services.core.account_risk)."""
    if isinstance(value, bool):
        raise RiskParamError(not_a_number_said(value, name=name))
    try:
        result = typed_decimal(value if isinstance(value, Decimal | int | float) else str(value))
    except NotANumber as exc:
        raise RiskParamError(not_a_number_said(value, exc.hint, name=name)) from None
    if not result.is_finite() or result < 0:
        raise RiskParamError(must_be_said(value, "a number >= 0", name=name))
    return result


def whole_limit(name: str, value: Any) -> int:
    """A count limit (orders per run, per day) as an int, read as ``decimal_limit`` reads it."""
    number = decimal_limit(name, value)
    if number != number.to_integral_value():
        raise RiskParamError(must_be_said(value, "a whole number", name=name))
    return int(number)


def _bool_param(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise RiskParamError(f"{name}: {value!r} is not true or false")  # as a true/false trade setting says it


_OFF = ("", "none", "off", "null")


# The limits a rule takes, each read by its own converter: the rules built from them and a
# stored limit (stored_risk_value) read a value alike.
_LIMIT_RULES: tuple[tuple[str, Callable[[Any], RiskRule], Callable[[str, Any], Decimal | int]], ...] = (
    ("max_order_notional", risk_rules.MaxOrderNotional, decimal_limit),
    ("max_order_quantity", risk_rules.MaxOrderQuantity, decimal_limit),
    ("max_position_ratio", risk_rules.MaxPositionRatio, decimal_limit),
    ("max_gross_exposure", risk_rules.MaxGrossExposure, decimal_limit),
    ("max_orders_per_run", risk_rules.MaxOrdersPerRun, whole_limit),
    ("max_daily_orders", risk_rules.DailyOrderCount, whole_limit),
    ("price_collar_pct", risk_rules.PriceCollar, decimal_limit),
)
_CONVERTERS = {name: conv for name, _, conv in _LIMIT_RULES}


# The largest value a stored setting holds: a risk limit here, every other trade setting
# (services.trade_settings_keys.MAX_SETTING) the same.
MAX_STORED_LIMIT = Decimal("1e12")


def stored_risk_value(name: str, value: Any) -> Any:
    """A risk limit as the settings store it, whoever typed it (the Settings dialog, ``trade-settings
    set``): None (off), a bool (``allow_short``), an int for a whole number, else a Decimal; read
    by the risk engine's own rules (``RiskParamError`` naming the limit). "25,000" was stored as
    that text by the command line, and the window's risk panel failed on it."""
    if name not in DEFAULT_RISK_LIMITS:
        raise RiskParamError(f"unknown risk parameter {name!r}; known: {', '.join(DEFAULT_RISK_LIMITS)}")
    if isinstance(DEFAULT_RISK_LIMITS[name], bool):
        return _bool_param(name, value)
    if value is None or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    # a whole-number limit is refused here, in the words typed: the rules refused 2.5 orders per
    # run only once built, naming "Decimal('2.5')", after the Settings dialog had let it through
    number = _CONVERTERS.get(name, decimal_limit)(name, value)
    if number > MAX_STORED_LIMIT:  # 1e400 was stored as the text "1E+400" (nan was refused)
        raise RiskParamError(must_be_said(value, f"a number from 0 to 1e{MAX_STORED_LIMIT.adjusted()}", name=name))
    if isinstance(number, int):
        return number
    # 1e3 is the whole number 1000 (it was stored and shown as the text "1E+3"); 1.0 keeps its text
    return int(number) if number == number.to_integral_value() and int(number.as_tuple().exponent) >= 0 else number


def parse_risk_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["max_order_notional=5000", "allow_short=true", "max_daily_orders=off"]`` -> dict."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise RiskParamError(f"risk override {pair!r} is not NAME=VALUE")
        if name not in DEFAULT_RISK_LIMITS:
            raise RiskParamError(f"unknown risk parameter {name!r}; known: {', '.join(DEFAULT_RISK_LIMITS)}")
        value = value.strip()
        out[name] = None if value.lower() in _OFF and name != "allow_short" else value
    return out


def risk_limits(params: Mapping[str, Any] | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Defaults <- ``params`` (e.g. trade_settings.risk_defaults) <- ``NAME=VALUE`` overrides."""
    limits = dict(DEFAULT_RISK_LIMITS)
    for name, value in (params or {}).items():
        if name not in DEFAULT_RISK_LIMITS:
            raise UnknownStoredLimit(name, value)
        limits[name] = value
    limits.update(parse_risk_overrides(overrides))
    return limits


def rules_from_params(params: Mapping[str, Any] | None = None, overrides: Iterable[str] = ()) -> list[RiskRule]:
    limits = risk_limits(params, overrides)
    rules: list[RiskRule] = [risk_rules.TradingStateRule()]
    max_age = limits["max_price_age_seconds"]
    rules.append(risk_rules.PriceCheck(None if max_age is None else decimal_limit("max_price_age_seconds", max_age)))
    rules.append(risk_rules.DuplicateOrder())
    rules.append(risk_rules.ShortSale(_bool_param("allow_short", limits["allow_short"] if limits["allow_short"] is not None else False)))
    for name, cls, conv in _LIMIT_RULES:
        value = limits[name]
        if value is not None:
            rules.append(cls(conv(name, value)))
    return rules
