"""The trade settings' keys and defaults, pure (no database): what ``trading-console
trade-settings set --help`` lists, read without loading the database layer (the command line's
parser is built for every command, ``--help`` included). The service that reads, checks and
changes the settings is ``services.trade_settings``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.core.risk import DEFAULT_RISK_LIMITS

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
