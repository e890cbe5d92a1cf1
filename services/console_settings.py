"""The settings dialog's values and what saving it changes (Qt-free).

Connection, database and theme belong to the settings file (``app.settings.Settings``, used at
the next start); risk defaults, auto-recovery and the execution data source to the database,
where the services read them (the data source at the next start).
The settings object is handled through ``dataclasses.replace`` only, so services need not import
the application layer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from services.audit_actions import AuditAction
from services.core.typed_numbers import typed_decimal
from services.core.wording import percent
from services.trade_settings import DATA_SOURCES

if TYPE_CHECKING:
    from services.audit import AuditLog
from services.trade_settings_keys import REFUSED_STORED, stored_problems

THEMES = ("dark", "light")

# What the settings dialog shows for each stored key: a label a trader reads, with the unit.
SETTING_LABELS: dict[str, str] = {
    "max_order_notional": "Max order notional (base currency)",
    "max_position_ratio": "Max position (fraction of portfolio value; 0.2 = 20 %)",
    "max_gross_exposure": "Max gross exposure (fraction of portfolio value; 1.0 = 100 %)",
    "max_orders_per_run": "Max orders per run (count)",
    "max_order_quantity": "Max order quantity (shares)",
    "max_price_age_seconds": "Max price age (seconds)",
    "allow_short": "Allow short positions (true / false)",
    "price_collar_pct": "Price collar around the reference (%)",
    "max_daily_orders": "Max orders per trading day (count)",
    "new_timeout_seconds": "Stuck after (seconds without an acknowledgement)",
    "max_auto_retries": "Automatic re-placements per order (count)",
    "max_price_deviation_pct": "Max price move before re-placing (%)",
    "allow_replace_outside_rth": "Re-place outside regular trading hours (true / false)",
    "plan_max_age_seconds": "A stored plan may be sent until (seconds after its preview)",
    "plan_max_price_move_pct": "Max price move since the preview before a stored plan is refused (%)",
    "allow_delayed_prices_live": "Delayed prices may price a live run or order (true / false)",
}


def setting_label(key: str) -> str:
    """A stored key's label; an unknown key reads as words (never snake_case)."""
    return SETTING_LABELS.get(key) or key.replace("_", " ").capitalize()


# the unit a risk limit's value is read in, beside the risk panel's short label
_LIMIT_UNITS: dict[str, str] = {
    "max_order_quantity": "shares", "max_orders_per_run": "orders", "max_daily_orders": "orders",
    "max_price_age_seconds": "s", "price_collar_pct": "%",
}
_LIMIT_FRACTIONS = frozenset({"max_position_ratio", "max_gross_exposure"})


def risk_limit_rows(limits: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The risk panel's limits in force as (label, value with its unit, tooltip): the label
    without the dialog's explanation (the panel is narrow), the explanation and the stored key
    in the tooltip; a limit switched off reads "off"; one stored beyond today's bounds reads as
    stored, said refused, with why in the tooltip."""
    problems = stored_problems({"risk": limits})
    rows = []
    for key in sorted(limits, key=setting_label):
        label = setting_label(key)
        short = label.split(" (", 1)[0]
        value = limits[key]
        problem = problems.get(f"risk.{key}")
        if problem:  # as stored: "1E+400" written out with its thousands took 537 characters
            unit = _LIMIT_UNITS.get(key)
            rows.append((short, f"{value}{f' {unit}' if unit else ''} ({REFUSED_STORED})",
                         f"{label}\nstored as {key}\n{problem}"))
            continue
        if value is None:
            text = "off"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        elif key in _LIMIT_FRACTIONS:
            text = f"{value} ({percent(typed_decimal(value))})"  # the percent as the preview and Decisions show it
        elif key == "price_collar_pct":
            text = percent(typed_decimal(value) / 100)
        elif key == "max_order_quantity":  # grouped as the preview and Decisions show quantities
            text = f"{typed_decimal(value):,f} shares"
        elif key == "max_order_notional":
            text = f"{typed_decimal(value):,.2f}"  # in the base currency (the label says so)
        else:
            unit = _LIMIT_UNITS.get(key)
            text = f"{value} {unit}" if unit else str(value)
        rows.append((short, text, f"{label}\nstored as {key}"))
    return rows


def session_connection(data_source: str, host: str, port: int, *, demo: bool) -> dict[str, Any]:
    """What the running session is connected to, for the dialog's "This session" line. Demo mode
    always runs the built-in simulator on a port of its own (``app.composition.assemble_stack``),
    whatever the data source, host and port stored: ``demo`` says the dialog's connection
    settings are not this session's."""
    what = "built-in simulator" if data_source == "simulator" else "TWS / IB Gateway"
    return {"text": f"{what}{' (demo)' if demo else ''}, {host}:{port}", "demo": demo}


def dialog_values(settings: Any, trade_values: dict[str, Any], session: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the settings dialog shows; the database URL only with its password hidden.
    ``trade_values`` is ``TradeSettingsService.read()``; ``session`` is ``session_connection``'s
    (None: no session to name, as in the tests of the dialog alone)."""
    ib = settings.ib
    return {
        **({"session": session} if session is not None else {}),
        "ib": {"host": ib.host, "port": ib.port, "client_id": ib.client_id, "account": ib.account,
               "market_data_type": ib.market_data_type, "market_data_lines": ib.market_data_lines},
        "risk_defaults": trade_values["risk"],
        "recovery": trade_values["auto_recovery"],
        # the plans sent after their preview (a plan too old or its prices moved is refused) and
        # delayed prices in a live session: `trade-settings` listed them, the dialog did not
        "execution": dict(trade_values.get("execution") or {}),
        "project_capital": dict(trade_values.get("project_capital") or {}),
        # the stored value as it is (it may predate validation: the dialog shows it as an error)
        "execution_data_source": trade_values["execution_data_source"],
        "data_sources": list(DATA_SOURCES),
        "labels": {key: setting_label(key) for key in (*trade_values["risk"], *trade_values["auto_recovery"],
                                                       *(trade_values.get("execution") or {}))},
        # values stored beyond today's bounds, each with its label, value and why: OK saves the others
        "stored_problems": [f"{setting_label(key.split('.', 1)[1])}: {_stored(trade_values, key)} is {problem}."
                            for key, problem in (trade_values.get("stored_problems") or {}).items()],
        "database_url": settings.redacted_db_url,
        "theme": settings.ui.theme,
    }


def _stored(trade_values: dict[str, Any], key: str) -> Any:
    section, name = key.split(".", 1)
    return trade_values[section][name]


@dataclass(frozen=True, slots=True)
class SettingsChange:
    settings: Any  # the new settings, for the file
    trade_changes: dict[str, Any]  # for TradeSettingsService.update
    audit_payload: dict[str, Any]  # the "settings.update" audit entry (never the database URL)
    theme: str | None  # a theme to apply now


def with_theme(settings: Any, theme: str) -> Any:
    return replace(settings, ui=replace(settings.ui, theme=theme))


def with_watchlist(settings: Any, keys: list[str]) -> Any:
    """The watched listings, in the order shown (saved to the settings file's [ui] section)."""
    return replace(settings, ui=replace(settings.ui, watchlist=tuple(keys)))


def as_saved(settings: Any, written: Any) -> Any:
    """``settings`` once ``written`` went to the settings file: ``written`` is the baseline of the
    next save (``loaded``: a save writes what differs from it). Left at the settings as the session
    loaded them, a value put back to it (Host "100k" saved, then 127.0.0.1 again; the theme light,
    then dark) differed from nothing and was never written: the file kept the other for the next
    start. A value from the environment or the command line stays in the baseline, never written."""
    return replace(settings, loaded=replace(written, loaded=None))


def change_from_dialog(settings: Any, data: dict[str, Any]) -> SettingsChange:
    """What the submitted dialog ``data`` changes; fields it leaves out keep their value."""
    connection = data.get("ib") or {}
    ib = settings.ib
    ib = replace(
        ib,
        host=str(connection.get("host", ib.host)),
        port=int(connection.get("port", ib.port)),
        client_id=int(connection.get("client_id", ib.client_id)),
        account=str(connection.get("account", ib.account) or ""),
        market_data_type=str(connection.get("market_data_type", ib.market_data_type)),
        market_data_lines=int(connection.get("market_data_lines", ib.market_data_lines)),
    )
    changes: dict[str, Any] = {"ib": ib}
    if data.get("database_url"):
        changes["db_url"] = data["database_url"]
    theme = data.get("theme") if data.get("theme") in THEMES else None
    if theme is not None:
        changes["ui"] = replace(settings.ui, theme=theme)
    trade_changes = {"risk": data.get("risk_defaults"), "auto_recovery": data.get("recovery"),
                     "execution": data.get("execution"), "execution_data_source": data.get("execution_data_source")}
    if data.get("remove"):  # settings of another version, removed (`trade-settings unset`)
        trade_changes["unset"] = list(data["remove"])
    if data.get("project_capital"):  # each project's capital (docs/project-books.md)
        trade_changes["project_capital"] = {name: None if value is None else str(value)
                                            for name, value in data["project_capital"].items()}
    return SettingsChange(
        replace(settings, **changes),
        trade_changes,
        {"ib": connection, "database_changed": "database_url" in data},
        theme,
    )


def store_in_database(trade_settings, audit: AuditLog, actor: str, change: SettingsChange) -> dict[str, Any]:
    """The database half of a saved dialog (run off the GUI thread); returns the trade settings
    now in force."""
    values = trade_settings.update(change.trade_changes)
    audit.append(actor, AuditAction.SETTINGS_UPDATE, "settings", None, change.audit_payload)
    return values
