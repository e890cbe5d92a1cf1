"""What a caller gives a run besides its snapshot (builder parameters, risk overrides, a portfolio
value), and the one rule for a run that already has orders: it is resumed as it was built, so a
value given that differs from the run's is refused (``BadInput``, nothing stored or sent) rather
than silently dropped. ``execute --snapshot 3 --lot-size 10`` on the day's run built with lots of
1 resumed it and said ``"created": false``: the trader's 10 was never used."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from services.core.builder import BUILDER_KEYS, builder_defaults
from services.core.cash_buffer import cash_buffer_percent
from services.core.risk_limits import RiskParamError, parse_risk_overrides, stored_risk_value
from services.core.typed_numbers import plain
from services.domain import OrderType

from ..errors import BadInput

_NUMBERS = ("cash_buffer", "lot_size", "min_order_value", "limit_offset_bps")


class Wording(NamedTuple):
    """How the caller's trader gave each value (``names``: a builder key, ``portfolio_value`` or
    ``risk``), how to give the run's own instead, and how to start a fresh run: the refusal is
    said in the words of the command line or of the window's form, whichever was used."""

    names: Mapping[str, str]
    keep: str
    fresh_run: str


# the command line's options
OPTIONS = Wording({"cash_buffer": "--cash-buffer", "lot_size": "--lot-size", "rounding": "--rounding",
                   "min_order_value": "--min-order-value", "order_type": "--order-type", "limit_offset_bps": "--limit-bps",
                   "liquidate_unlisted": "--liquidate-unlisted", "portfolio_value": "--portfolio-value", "risk": "--risk"},
                  "leave these options out (or give the run's values) to resume it",
                  "start a fresh run of the snapshot with --new-run")
# the window's Preview form (widgets/views/preview.py labels its fields so); it gives no risk overrides
FORM = Wording({"cash_buffer": "Cash buffer %", "lot_size": "Lot size", "rounding": "Rounding",
                "min_order_value": "Min order value", "order_type": "Order type", "limit_offset_bps": "Limit offset bps",
                "liquidate_unlisted": "Sell holdings not in the snapshot", "portfolio_value": "Portfolio value",
                "risk": "Risk limits"},
               "set these fields back to the run's values to preview it again",
               "use Preview in a new run")


class RunInputs(NamedTuple):
    """``builder``: parameters over the run's (None: none); ``risk_overrides``: ``NAME=VALUE``
    replacing the run's; ``builder_given``: the keys of ``builder`` the trader gave, the others
    being defaults filled in (None: every key); ``portfolio_value``: the value the caller sends
    the run with (None: the run's own), compared with a resumed run's sent plan; ``wording``:
    the caller's words for them (``OPTIONS`` or ``FORM``)."""

    builder: Mapping[str, Any] | None
    risk_overrides: Sequence[str]
    builder_given: Collection[str] | None = None
    portfolio_value: Decimal | None = None
    wording: Wording = OPTIONS

    def differences(self, stored: Mapping[str, Any], sent_portfolio_value: Decimal | None) -> list[str]:
        """Each value given that differs from the run's ``stored`` params (a run that has orders),
        as ``OPTION: stored X, given Y``; empty: it may be resumed."""
        names = self.wording.names
        out = _builder_differences(stored, self.builder or {}, self.builder_given, names)
        if self.risk_overrides:  # none given: the run's stand (a resume changes nothing)
            out.extend(_risk_differences(stored.get("risk_overrides") or [], self.risk_overrides, names["risk"]))
        if self.portfolio_value is not None and sent_portfolio_value is not None \
                and Decimal(self.portfolio_value) != Decimal(sent_portfolio_value):
            out.append(f"{names['portfolio_value']}: stored {plain(Decimal(sent_portfolio_value))}, "
                       f"given {plain(Decimal(self.portfolio_value))}")
        return out


def refuse_differences(run_id: int, differences: list[str], wording: Wording = OPTIONS) -> None:
    """``BadInput`` naming each difference, and how to use the values given instead."""
    if differences:
        given = "given options differ" if wording is OPTIONS else "the form differs"
        raise BadInput(f"run {run_id} of this snapshot already has orders and is resumed as it was built; "
                       f"{given} from the run's: {'; '.join(differences)}. Nothing was stored or sent: "
                       f"{wording.keep}, or {wording.fresh_run}")


def _stored_builder(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The run's builder values as its preview read them (``RunPlanning._build_params``): its
    ``builder`` over legacy top-level keys over the builder's defaults, with no limit offset
    under market orders."""
    values: dict[str, Any] = dict(builder_defaults())
    values.update({k: stored[k] for k in BUILDER_KEYS if k in stored})
    values.update(stored.get("builder") or {})
    normal = {k: _normal(k, v) for k, v in values.items() if k in BUILDER_KEYS}
    if normal.get("order_type") == OrderType.MKT.value:
        normal["limit_offset_bps"] = Decimal(0)
    return normal


def _normal(key: str, value: Any) -> Any:
    """One value of ``key`` whoever wrote it (``"10"``, ``Decimal("10.0")``; ``"lmt"``, ``LMT``)."""
    if value is None:
        return None
    if key in _NUMBERS:
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:
            return str(value)
    if key == "liquidate_unlisted":
        return bool(value)
    text = str(getattr(value, "value", value))
    return text.upper() if key == "order_type" else text.lower()


def _shown(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "cash_buffer" and isinstance(value, Decimal):
        return f"{cash_buffer_percent(value)}%"  # as the trader types it, a percent
    return plain(value) if isinstance(value, Decimal) else str(value)


def _builder_differences(stored: Mapping[str, Any], builder: Mapping[str, Any], given: Collection[str] | None,
                         names: Mapping[str, str]) -> list[str]:
    run = _stored_builder(stored)
    out = []
    for key in BUILDER_KEYS:  # in the options' order
        if key not in builder or builder[key] is None or (given is not None and key not in given):
            continue
        value = _normal(key, builder[key])
        if value != run.get(key):
            out.append(f"{names[key]}: stored {_shown(key, run.get(key))}, given {_shown(key, value)}")
    return out


def _risk_values(pairs: Sequence[str]) -> dict[str, Any]:
    """Overrides by name, each as the settings store a limit (``100.0`` is ``100``)."""
    out = {}
    for name, value in parse_risk_overrides(pairs).items():
        try:
            out[name] = stored_risk_value(name, value)
        except RiskParamError:
            out[name] = value  # compared as typed; the risk engine names the problem if it is ever used
    return out


def _risk_differences(stored: Sequence[str], given: Sequence[str], risk: str) -> list[str]:
    try:
        run, now = _risk_values(stored), _risk_values(given)
    except RiskParamError:  # not NAME=VALUE, or an unknown limit: compared as typed
        if list(stored) == list(given):
            return []
        return [f"{risk}: stored {' '.join(stored) or 'none'}, given {' '.join(given)}"]

    def shown(values: dict, name: str) -> str:
        if name not in values:
            return "not overridden"
        value = values[name]
        if value is None:
            return "off"
        if isinstance(value, bool):
            return "true" if value else "false"  # as typed, allow_short=true
        return plain(value) if isinstance(value, Decimal) else str(value)

    return [f"{risk} {name}: stored {shown(run, name)}, given {shown(now, name)}"
            for name in sorted({*run, *now}) if name not in run or name not in now or run[name] != now[name]]
