"""Version negotiation and the start-of-day P&L arithmetic, as pure functions."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from services.ibsim.model import SimPosition
from services.ibsim.pnl import DayBook
from services.ibsim.versions import MAX_SERVER_VERSION, MIN_SERVER_VERSION, negotiate


@pytest.mark.parametrize("low,high,chosen", [
    (157, 178, 178), (157, 176, 176), (100, 157, 157), (100, 226, 178), (176, 200, 178), (100, 100, 100), (178, 157, 178),
])
def test_the_server_picks_the_highest_version_it_speaks_in_the_range(low, high, chosen):
    result = negotiate(low, high)
    assert result.accepted and result.server_version == chosen


@pytest.mark.parametrize("low,high,handshake", [(70, 99, 99), (201, 226, 178), (179, 200, 178)])
def test_ranges_outside_are_refused_after_a_handshake_the_client_can_read(low, high, handshake):
    result = negotiate(low, high)
    assert not result.accepted and result.server_version == handshake
    assert f"{MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}" in (result.refusal or "")


def test_daily_pnl_is_the_change_of_value_since_the_start_of_the_day():
    held = SimPosition("AAPL", 1, quantity=D(100), avg_cost=D("90"), realized_pnl=D("5"))
    day = DayBook.starting_from({"AAPL": held})
    closes = {"AAPL": D("100"), "MSFT": D("400")}
    # the day's trades: sell 40 AAPL at 103 (USD 1 commission), buy 10 MSFT at 401 (USD 1)
    day.record_flow("AAPL", D("-40") * D("103") + D("1"))
    day.record_flow("MSFT", D("10") * D("401") + D("1"))
    positions = {
        "AAPL": SimPosition("AAPL", 1, quantity=D(60), avg_cost=D("90"), realized_pnl=D("5") + D("519")),
        "MSFT": SimPosition("MSFT", 2, quantity=D(10), avg_cost=D("401.1")),
    }
    marks = {"AAPL": D("102"), "MSFT": D("402")}
    aapl = day.single("AAPL", positions["AAPL"], marks["AAPL"], closes["AAPL"])
    # 60 x 102 - 100 x 100 + 40 x 103 - 1 = 239
    assert (aapl.position, aapl.daily, aapl.unrealized, aapl.realized, aapl.value) == (D(60), D("239"), D("720"), D("519"), D("6120"))
    msft = day.single("MSFT", positions["MSFT"], marks["MSFT"], closes["MSFT"])
    assert (msft.daily, msft.unrealized, msft.realized) == (D("9"), D("9"), D("0"))
    total = day.account(positions, marks, closes)
    assert (total.daily, total.unrealized, total.realized) == (D("248"), D("729"), D("519"))
