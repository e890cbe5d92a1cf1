"""Which rates the window's positions tree converts each account's lines at: the rule the
monitoring controller held (``MonitoringController._show_rates``), now the services'
(``services.console_books.rates_shown``; pure move)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.console_books import rates_shown
from services.execution.ib_contracts import FxRates

STORED_AT = datetime(2026, 12, 5, 21, tzinfo=UTC)
MINE = FxRates("USD", {"EUR": Decimal("1.08")}, as_of=STORED_AT)
THEIRS = FxRates("EUR", {"USD": Decimal("0.92")}, as_of=STORED_AT)
BROKERS = FxRates("USD", {"EUR": Decimal("1.09")})


def test_the_brokers_rates_replace_the_stored_ones_of_the_connected_account_only():
    stored = {"DU1": MINE, "DU2": THEIRS}
    assert rates_shown(stored, None, "DU1") == stored  # the broker's not come yet: the stored ones
    assert rates_shown(stored, BROKERS, "DU1") == {"DU1": BROKERS, "DU2": THEIRS}
    assert rates_shown({}, BROKERS, "DU1") == {"DU1": BROKERS}  # an account never stored
    assert stored == {"DU1": MINE, "DU2": THEIRS}  # the stored ones are not changed


def test_connected_without_an_account_said_the_brokers_rates_are_every_lines():
    assert rates_shown({"DU2": THEIRS}, BROKERS, "") == BROKERS
    assert rates_shown({"DU2": THEIRS}, None, "") == {"DU2": THEIRS}
