"""`trading-console trade-settings [--json]`, `trade-settings set KEY=VALUE ... [--json]` and
`trade-settings unset KEY ... [--json]`.

The trading settings that live with the data (risk defaults, auto-recovery, execution limits,
the execution data source), shown or changed through the same service as the window's Settings
dialog: validated (a bad key or value is exit 2 naming it) and audited.
"""

from __future__ import annotations

import argparse
import json

from app.cli import EXIT_BAD_INPUT, EXIT_OK, say_failure


def register(subparsers) -> None:
    from services.trade_settings_keys import DATA_SOURCES, known_keys  # pure: no database for --help

    parser = subparsers.add_parser("trade-settings", help="show or change the trade settings (risk, auto-recovery, execution)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=_show)
    actions = parser.add_subparsers(dest="trade_settings_action", metavar="ACTION")
    setter = actions.add_parser("set", help="change settings: KEY=VALUE with dotted keys",
                                description="Keys: " + ", ".join(known_keys()) + ". Risk limits take `off`; "
                                "execution_data_source takes " + " or ".join(DATA_SOURCES) + " (read at the next start); "
                                "project_capital.NAME=AMOUNT sets a project's capital (off: none), its previews' default portfolio value.")
    setter.add_argument("assignments", nargs="+", metavar="KEY=VALUE", help="a dotted key and its value, e.g. execution.plan_max_age_seconds=60")
    setter.add_argument("--json", action="store_true", help="print JSON")
    setter.set_defaults(handler=_set)
    unsetter = actions.add_parser("unset", help="remove stored settings: KEY ... (a known one reads its default again)",
                                  description="Removes a stored risk, auto_recovery or execution setting, known or not: "
                                  "one that another version stored (which this one cannot check or change) can only be "
                                  "removed. A known one reads its default again; `set KEY=off` switches a risk limit off.")
    unsetter.add_argument("keys", nargs="+", metavar="KEY", help="a dotted key, e.g. risk.max_order_notional")
    unsetter.add_argument("--json", action="store_true", help="print JSON")
    unsetter.set_defaults(handler=_unset)


def _service(settings):
    from app.commands.execution import _open_db
    from services.execution.audit import os_user
    from services.trade_settings import TradeSettingsService

    db = _open_db(settings)
    return db, TradeSettingsService(db, os_user())


def _print(args: argparse.Namespace, values: dict) -> None:
    from services.trade_settings_keys import DATA_SOURCES

    if args.json:
        print(json.dumps(values, indent=2, default=str))
        return
    problems = values.get("stored_problems") or {}  # stored before today's bounds: said beside the value
    for section in ("risk", "auto_recovery", "execution"):
        for key, value in values[section].items():
            problem = problems.get(f"{section}.{key}")
            print(f"{section}.{key} = {'off' if value is None else value}" + (f"  ({problem})" if problem else ""))
    source = values["execution_data_source"]
    known = source in DATA_SOURCES
    print(f"execution_data_source = {source}" + ("" if known else f"  (unknown: not one of {', '.join(DATA_SOURCES)}; "
                                                                 "every start refuses it)"))
    print(f"trading_state = {values['trading_state']}  (halt / resume to change)")
    for name, capital in values.get("project_capital", {}).items():
        print(f"project_capital.{name} = {'off' if capital is None else capital}")


def _show(args: argparse.Namespace, settings) -> int:
    db, service = _service(settings)
    try:
        _print(args, service.read())
    finally:
        db.dispose()
    return EXIT_OK


def _set(args: argparse.Namespace, settings) -> int:
    return _change(args, settings, lambda service: service.set(args.assignments))


def _unset(args: argparse.Namespace, settings) -> int:
    return _change(args, settings, lambda service: service.unset(args.keys))


def _change(args: argparse.Namespace, settings, change) -> int:
    from services.trade_settings import TradeSettingsError

    db, service = _service(settings)
    try:
        values = change(service)
    except TradeSettingsError as exc:
        return say_failure(args, "bad_setting", str(exc), EXIT_BAD_INPUT)
    finally:
        db.dispose()
    _print(args, values)
    return EXIT_OK
