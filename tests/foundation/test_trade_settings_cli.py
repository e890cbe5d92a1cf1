"""`trading-console trade-settings`: shown, changed with dotted keys, validated and audited.

The commands run through ``app.cli.main`` in this process (as tests/core/test_cli.py does): the
test is about what they print, return and store, not about starting a process, which
tests/foundation/test_cli.py covers; ten interpreter start-ups per database cost ~1 minute.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from app.cli import main
from services.db.repositories.settings import SettingsRepository
from services.trade_settings import TradeSettingsError, TradeSettingsService

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def console(capsys):
    """``console(*args)`` -> the exit code, stdout and stderr of ``trading-console ARGS``."""

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()  # whatever came before is not this command's output
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse refusing the arguments, as the process would exit
            code = exc.code if isinstance(exc.code, int) else 2
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run


def test_show_set_validate_and_audit(db_url, console):
    shown = console("--db-url", db_url, "trade-settings", "--json")
    assert shown.returncode == 0, shown.stderr
    values = json.loads(shown.stdout)
    assert values["auto_recovery"]["new_timeout_seconds"] == 45
    assert values["execution"] == {"plan_max_age_seconds": 120, "plan_max_price_move_pct": 1.0, "allow_delayed_prices_live": False}

    changed = console("--db-url", db_url, "trade-settings", "set", "auto_recovery.new_timeout_seconds=5",
                      "execution.plan_max_price_move_pct=2.5", "risk.max_order_notional=off", "--json")
    assert changed.returncode == 0, changed.stderr
    values = json.loads(changed.stdout)
    assert values["auto_recovery"]["new_timeout_seconds"] == 5
    assert values["execution"]["plan_max_price_move_pct"] == 2.5
    assert values["risk"]["max_order_notional"] is None

    for bad, named in (("auto_recovery.nope=1", "auto_recovery.nope"), ("execution.plan_max_age_seconds=-3", "plan_max_age_seconds"),
                       ("auto_recovery.allow_replace_outside_rth=maybe", "allow_replace_outside_rth"),
                       ("risk.max_order_notional=lots", "max_order_notional"), ("execution_data_source=bloomberg", "execution_data_source"),
                       # finite, beyond what the setting holds (stored as the text "1E+400"; nan was refused)
                       ("risk.max_order_notional=1e400", "max_order_notional: must be a number from 0 to 1e12: '1e400'"),
                       ("risk.max_order_quantity=2e12", "max_order_quantity: must be a number from 0 to 1e12: '2e12'"),
                       ("plain", "KEY=VALUE")):
        result = console("--db-url", db_url, "trade-settings", "set", bad)
        assert result.returncode == 2 and named in result.stderr, (bad, result.stderr)
    # nothing of the refused changes was stored
    after = json.loads(console("--db-url", db_url, "trade-settings", "--json").stdout)
    assert after == values

    audit = console("--db-url", db_url, "audit", "list", "--action", "settings.trade", "--json")
    entries = json.loads(audit.stdout)
    assert len(entries) == 1 and entries[0]["payload"]["auto_recovery"] == {"new_timeout_seconds": 5}


def test_a_project_capital_is_capped_at_what_a_plan_keeps(db_url, database, console):
    """The setting took up to 1e15, but a plan keeps a portfolio value (the capital, when none is
    given) only below 1e10: the preview then refused the project's own capital."""
    from services.db.limits import numeric_limit
    from services.db.models import OrderPlan, Project
    from services.db.repositories import ProjectRepository

    with database.unit_of_work() as session:
        ProjectRepository(session).get_or_create("alpha")
    for too_large in ("1e12", "10000000000"):
        refused = console("--db-url", db_url, "trade-settings", "set", f"project_capital.alpha={too_large}")
        assert refused.returncode == 2, refused.stderr
        assert (f"project_capital.alpha: must be a number below 1e10 (a plan keeps no larger portfolio value): "
                f"'{too_large}'") in refused.stderr, refused.stderr
    kept = console("--db-url", db_url, "trade-settings", "set", "project_capital.alpha=9999999999.5", "--json")
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["project_capital"] == {"alpha": "9999999999.5"}

    from services.core.books import MONEY_LIMIT, MONEY_WHOLE_DIGITS  # the one bound, what both columns keep

    assert numeric_limit(OrderPlan.__table__.c.portfolio_value).whole_digits == MONEY_WHOLE_DIGITS
    assert numeric_limit(Project.__table__.c.capital).whole_digits == MONEY_WHOLE_DIGITS
    # and their places: a finer capital or portfolio value typed is refused, not stored rounded
    assert numeric_limit(OrderPlan.__table__.c.portfolio_value) == numeric_limit(Project.__table__.c.capital) == MONEY_LIMIT


def test_values_from_the_window_are_checked_by_the_service_as_the_command_lines_are(db_url):
    """Whatever a caller hands the service (text as the Settings dialog now does, an int, a
    Decimal, None): the service checks it with the command line's rule and stores all or
    nothing; what it stores is the setting's own type."""
    from decimal import Decimal

    from services.db import Database
    from services.trade_settings import TradeSettingsError, TradeSettingsService

    db = Database(db_url)
    try:
        service = TradeSettingsService(db, "tester")
        before = service.read()
        for bad, said in (({"new_timeout_seconds": -5}, "new_timeout_seconds: must be a number from 0 to 1e12: '-5'"),
                          ({"new_timeout_seconds": None}, "new_timeout_seconds: not a number: 'off'"),
                          ({"max_auto_retries": "abc"}, "max_auto_retries: not a number: 'abc'"),
                          ({"max_auto_retries": Decimal("1.5")}, "max_auto_retries: must be a whole number: '1.5'"),
                          ({"allow_replace_outside_rth": 7}, "is not true or false")):
            with pytest.raises(TradeSettingsError, match=said):
                service.update({"auto_recovery": bad, "risk": {"max_order_notional": 1}})
        assert service.read() == before  # the risk change beside the bad value was not stored either
        after = service.update({"auto_recovery": {"new_timeout_seconds": 30, "max_price_deviation_pct": Decimal("2.5"),
                                                  "allow_replace_outside_rth": "yes"},
                                "execution": {"plan_max_age_seconds": "60"}})
        assert after["auto_recovery"]["new_timeout_seconds"] == 30
        assert after["auto_recovery"]["max_price_deviation_pct"] == 2.5
        assert after["auto_recovery"]["allow_replace_outside_rth"] is True
        assert after["execution"]["plan_max_age_seconds"] == 60
    finally:
        db.dispose()


def test_a_risk_limit_set_on_the_command_line_is_stored_as_the_dialog_stores_it(db_url, console):
    """`trade-settings set risk.max_order_notional=25,000` stored the text "25,000"; the risk
    engine read it, but the window's risk panel failed on it after every Preview. Now the
    service stores what the risk engine reads (services.core.risk_limits.stored_risk_value), whoever
    typed it, and the panel's rows read any stored form."""
    from services.console_settings import risk_limit_rows
    from services.db import Database
    from services.trade_settings import TradeSettingsService

    done = console("--db-url", db_url, "trade-settings", "set", "risk.max_order_notional=25,000",
                   "risk.max_position_ratio=0.25", "risk.max_daily_orders=off", "risk.allow_short=yes")
    assert done.returncode == 0, done.stderr
    db = Database(db_url)
    try:
        risk = TradeSettingsService(db, "tester").read()["risk"]
        # a fraction comes back as its exact text (the settings' JSON keeps decimals as text)
        assert (risk["max_order_notional"], str(risk["max_position_ratio"]), risk["max_daily_orders"], risk["allow_short"]) == (
            25000, "0.25", None, True)
        window = TradeSettingsService(db, "tester").update({"risk": {"max_order_notional": "25,000"}})["risk"]  # the dialog's cell
        assert window["max_order_notional"] == risk["max_order_notional"]
        rows = dict((label, text) for label, text, _ in risk_limit_rows(risk))
        assert rows["Max order notional"] == "25,000.00" and rows["Max position"] == "0.25 (25.00%)"
        assert dict((label, text) for label, text, _ in risk_limit_rows({"max_order_notional": "25,000"})) == {
            "Max order notional": "25,000.00"}  # a value stored as text before
    finally:
        db.dispose()


# A trade setting stored beyond today's bounds (a risk limit above 1e12 written before the bound
# existed, by an older version or straight into the database) is reported, and stops no other
# change: the service and ``trade-settings set`` here, the Settings dialog in
# tests/gui/test_settings_typed_words.py.
TOO_LARGE = 10**13  # above the 1e12 a setting keeps (services.core.risk_limits.MAX_STORED_LIMIT)


def _store_as_an_older_version(database, risk=None, auto_recovery=None) -> None:
    with database.unit_of_work() as session:
        repo = SettingsRepository(session)
        if risk:
            repo.set_risk_defaults(risk)
        if auto_recovery:
            repo.set_auto_recovery(auto_recovery)


def test_a_limit_stored_above_the_bound_stops_no_other_change_and_is_reported(database, db_url, console):
    _store_as_an_older_version(database, risk={"max_order_notional": TOO_LARGE, "max_order_quantity": 700},
                               auto_recovery={"new_timeout_seconds": TOO_LARGE})

    shown = console("--db-url", db_url, "trade-settings")
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.startswith("risk.max_order_notional = "))
    # which setting, its value and the bound, and what to do about it
    assert line.startswith(f"risk.max_order_notional = {TOO_LARGE}  (refused since it was stored: ")
    assert "from 0 to 1e12" in line and "change it or switch it off" in line, line
    assert "auto_recovery.new_timeout_seconds" in shown.stdout and "change it)" in shown.stdout

    # another limit changes (the whole risk dict was checked and the old value refused it: exit 2)
    changed = console("--db-url", db_url, "trade-settings", "set", "risk.max_order_quantity=5", "auto_recovery.max_auto_retries=2", "--json")
    assert changed.returncode == 0, changed.stderr
    values = json.loads(changed.stdout)
    assert values["risk"]["max_order_quantity"] == 5 and values["auto_recovery"]["max_auto_retries"] == 2
    assert values["risk"]["max_order_notional"] == TOO_LARGE  # kept as it is: nobody changed it
    assert sorted(values["stored_problems"]) == ["auto_recovery.new_timeout_seconds", "risk.max_order_notional"]

    service = TradeSettingsService(database, "tester")
    assert service.update({"risk": {"max_price_age_seconds": "60"}})["risk"]["max_price_age_seconds"] == 60

    # a refused change writes nothing, the change beside it included
    before = service.read()
    refused = console("--db-url", db_url, "trade-settings", "set", "risk.max_order_quantity=7", "risk.max_position_ratio=abc")
    assert refused.returncode == 2 and "max_position_ratio: not a number: 'abc'" in refused.stderr, refused.stderr
    with pytest.raises(TradeSettingsError, match="from 0 to 1e12"):  # the old value typed anew is refused too
        service.update({"risk": {"max_order_quantity": "8", "max_order_notional": "2e13"}})
    assert service.read() == before

    # the value itself can be changed or switched off, and is then no longer reported
    fixed = console("--db-url", db_url, "trade-settings", "set", "risk.max_order_notional=off",
                    "auto_recovery.new_timeout_seconds=30", "--json")
    assert fixed.returncode == 0, fixed.stderr
    values = json.loads(fixed.stdout)
    assert values["risk"]["max_order_notional"] is None and values["auto_recovery"]["new_timeout_seconds"] == 30
    assert values["stored_problems"] == {}
    assert values["risk"]["max_order_quantity"] == 5 and values["risk"]["max_price_age_seconds"] == 60


def test_a_whole_number_limit_is_refused_in_the_words_typed(database, db_url, console):
    """`risk.max_orders_per_run=2.5` was refused naming "Decimal('2.5')", a Python spelling the
    trader never typed (the dialog let it through and the service refused it after it closed:
    tests/gui/test_settings_typed_words.py)."""
    refused = console("--db-url", db_url, "trade-settings", "set", "risk.max_orders_per_run=2.5")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "trading-console: risk.max_orders_per_run: must be a whole number: '2.5'"
    stored = console("--db-url", db_url, "trade-settings", "set", "risk.max_daily_orders=1e3", "--json")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["risk"]["max_daily_orders"] == 1000


def test_a_decimal_comma_is_refused_with_the_reason(db_url, console):
    """`risk.max_order_notional=1,5` (and any setting's) was refused as "not a number" without
    the reason the order ticket gives: commas only group thousands (services.core.typed_numbers)."""
    for typed, said in (("risk.max_order_notional=1,5", "max_order_notional: not a number: '1,5'"),
                        ("auto_recovery.max_price_deviation_pct=1,5", "max_price_deviation_pct: not a number: '1,5'")):
        refused = console("--db-url", db_url, "trade-settings", "set", typed)
        assert refused.returncode == 2
        assert refused.stderr.strip().endswith(f"{said} (commas only group thousands, as in 1,000.5)"), refused.stderr


def test_a_stored_setting_this_version_does_not_know_is_said_so(database, db_url, console):
    """A limit a newer version stored (then the console went back a version): reported as
    unknown, without the advice to change it, which no command here can do; other limits change."""
    _store_as_an_older_version(database, risk={"max_sector_weight": 5})
    changed = console("--db-url", db_url, "trade-settings", "set", "risk.max_order_quantity=5")
    assert changed.returncode == 0, changed.stderr
    line = next(x for x in changed.stdout.splitlines() if x.startswith("risk.max_sector_weight = 5"))
    assert "unknown setting 'risk.max_sector_weight'" in line and "switch it off" not in line, line
    assert "a setting of another version, which this one cannot check" in line, line
    assert "`trading-console trade-settings unset risk.max_sector_weight` removes it" in line, line


@pytest.mark.parametrize("typed", ["risk.some_future_rule=", "risk.some_future_rule=off", "risk.some_future_rule=4"])
def test_a_stored_setting_of_another_version_is_removed_by_unset_not_changed_by_set(database, db_url, console, typed):
    """A risk limit this version has no rule for refuses every preview (tests/execution/
    test_unknown_risk_setting.py), and no command removed it: `set` refused the key it did not
    know, with the list of known keys. `set` now says the key can only be removed and how;
    `trade-settings unset` removes it (known keys read their default again), audited, all or
    nothing."""
    _store_as_an_older_version(database, risk={"max_order_notional": "25000", "some_future_rule": "3",
                                               "max_order_quantity": 700})
    refused = console("--db-url", db_url, "trade-settings", "set", typed)
    assert refused.returncode == 2
    assert ("risk.some_future_rule is a setting of another version, which this one cannot check; it cannot be changed "
            "here, only removed: `trading-console trade-settings unset risk.some_future_rule` removes it") in refused.stderr, refused.stderr

    # a key neither stored nor known: nothing removed, with what is stored
    typo = console("--db-url", db_url, "trade-settings", "unset", "risk.some_future_rule", "risk.some_futur_rule")
    assert typo.returncode == 2 and "'risk.some_futur_rule' is no stored setting to remove" in typo.stderr, typo.stderr
    assert "some_future_rule" in TradeSettingsService(database, "tester").read()["risk"]

    removed = console("--db-url", db_url, "trade-settings", "unset", "risk.some_future_rule", "risk.max_order_quantity",
                      "--json")
    assert removed.returncode == 0, removed.stderr
    values = json.loads(removed.stdout)
    assert "some_future_rule" not in values["risk"] and values["stored_problems"] == {}
    assert values["risk"]["max_order_quantity"] == 10000  # its default again, no longer 700
    assert values["risk"]["max_order_notional"] == "25000"  # untouched, as it was stored
    with database.session() as session:
        assert set(SettingsRepository(session).risk_defaults()) == {"max_order_notional"}
    audit = json.loads(console("--db-url", db_url, "audit", "list", "--action", "settings.trade", "--json").stdout)
    assert [e["payload"] for e in audit] == [{"unset": {"risk.some_future_rule": "3", "risk.max_order_quantity": 700}}]


def test_a_setting_given_twice_is_refused_and_nothing_is_stored(db_url, console):
    """`trade-settings set risk.max_order_notional=100 risk.max_order_notional=200` used to store
    200, the 100 dropped without a word (a project's capital the same)."""
    before = console("--db-url", db_url, "trade-settings", "--json")
    assert before.returncode == 0, before.stderr
    for pairs in (("risk.max_order_notional=100", "risk.max_price_age_seconds=60", "risk.max_order_notional=200"),
                  ("project_capital.alpha=1000", "project_capital.alpha=2000")):
        refused = console("--db-url", db_url, "trade-settings", "set", *pairs)
        assert refused.returncode == 2
        assert f"{pairs[0].partition('=')[0]} is given twice" in refused.stderr
    after = console("--db-url", db_url, "trade-settings", "--json")
    assert json.loads(after.stdout) == json.loads(before.stdout)


def test_a_whole_limit_typed_with_an_exponent_is_stored_and_shown_as_the_number(db_url, console):
    """`trade-settings set risk.max_price_age_seconds=1e3` was stored as the text "1E+3": shown
    as `1E+3` and, in --json, a string where every other whole limit is a number."""
    done = console("--db-url", db_url, "trade-settings", "set", "risk.max_price_age_seconds=1e3", "risk.price_collar_pct=5E0")
    assert done.returncode == 0, done.stderr
    assert "risk.max_price_age_seconds = 1000\n" in done.stdout
    shown = json.loads(console("--db-url", db_url, "trade-settings", "--json").stdout)["risk"]
    assert (shown["max_price_age_seconds"], shown["price_collar_pct"]) == (1000, 5)
