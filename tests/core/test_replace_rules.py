"""The one replace rule (services.core.replace_rules), which the dialog and the order actions share."""

from dataclasses import replace
from decimal import Decimal as D

import pytest

from services.core.replace_rules import replace_becomes, replace_problem, replaced_order
from services.domain import OrderState, OrderType
from tests.gui.factories import order

WORKING = order(1, status=OrderState.PARTIALLY_FILLED, quantity="100", filled="40", limit="10")


@pytest.mark.parametrize(("changed", "quantity", "limit", "problem"), [
    ({}, D(60), None, None),
    ({}, None, D("10.5"), None),
    ({}, None, None, "a replace needs a new quantity, limit price and/or stop price"),
    ({}, D(40), None, "the new quantity 40 is not above the filled 40"),
    ({}, D(100), D(10), "nothing changed"),
    ({}, D(60), D(0), "limit price: must be a number > 0: '0'"),
    # the order ticket's column bounds (the dialog said nothing; the database refused it later)
    ({}, D("1e13"), None, "quantity 1E+13 is too large: an order's quantity must be below 1e12"),
    ({}, None, D("1e10"), "limit price 1E+10 is too large: an order's limit price must be below 1e10"),
    ({"status": OrderState.CANCELED}, D(60), None, "the order is CANCELED: nothing to replace"),
    ({"status": OrderState.REPLACE_REQUESTED}, D(60), None, "the order has a request pending (REPLACE_REQUESTED)"),
    ({"order_type": OrderType.MKT, "limit_price": None}, None, D(10),
     "a market order has no limit price; cancel it and enter a LMT order"),
    ({"order_type": OrderType.STP, "limit_price": None, "stop_price": D(9)}, D(60), None, None),
    ({"order_type": OrderType.STP, "limit_price": None, "stop_price": D(9)}, None, D(10),
     "a STP order has no limit price; cancel it and enter a STP LMT order in the order ticket"),
])
def test_what_may_be_replaced(changed, quantity, limit, problem):
    assert replace_problem(replace(WORKING, **changed), quantity, limit) == problem


STOP_LIMIT = replace(WORKING, symbol="AAPL", order_type=OrderType.STP_LMT, stop_price=D("9.50"))


@pytest.mark.parametrize(("order_", "stop", "tick", "problem"), [
    (STOP_LIMIT, D("9.75"), D("0.01"), None),
    (replace(STOP_LIMIT, order_type=OrderType.STP, limit_price=None), D("9.75"), None, None),
    (STOP_LIMIT, D("9.50"), None, "nothing changed"),
    (STOP_LIMIT, D(0), None, "stop price: must be a number > 0: '0'"),
    (STOP_LIMIT, D("1e10"), None, "stop price 1E+10 is too large: an order's stop price must be below 1e10"),
    # the ticket's grid rule for a stop (services.execution.manual): IB refuses it off the grid (110)
    (STOP_LIMIT, D("9.755"), D("0.01"), "AAPL: stop price 9.755 is not on the 0.01 tick grid (nearest: 9.75 or 9.76)"),
    (WORKING, D("9.75"), None,
     "a LMT order has no stop price to replace; cancel it and enter a STP or STP LMT order in the order ticket"),
    (replace(WORKING, order_type=OrderType.MKT, limit_price=None), D("9.75"), None,
     "a MKT order has no stop price to replace; cancel it and enter a STP or STP LMT order in the order ticket"),
])
def test_a_stop_orders_stop_may_be_replaced_as_the_ticket_checks_one(order_, stop, tick, problem):
    assert replace_problem(order_, None, None, tick, stop_price=stop) == problem


def test_the_replace_and_the_ticket_share_whole_shares_and_the_tick_grid():
    from services.core.replace_rules import off_grid_problem

    lmt = replace(WORKING, symbol="AAPL")
    assert replace_problem(lmt, D("10.5"), None) == "quantity: must be a whole number: '10.5'"
    assert replace_problem(lmt, None, D("100.125")) is None  # the tick not known yet: the actions ask it
    assert replace_problem(lmt, None, D("100.125"), D("0.01")) == (
        "AAPL: limit price 100.125 is not on the 0.01 tick grid (nearest: 100.12 or 100.13)")
    assert replace_problem(lmt, None, D("100.13"), D("0.01")) is None
    assert off_grid_problem("SAP@IBIS:EUR", "stop", D("201.03"), D("0.05")) == (
        "SAP@IBIS:EUR: stop price 201.03 is not on the 0.05 tick grid (nearest: 201.00 or 201.05)")


@pytest.mark.parametrize(("order_", "quantity", "limit", "stop", "becomes"), [
    (WORKING, D(60), None, None, "60 @ 10.00"),  # the limit not asked for is the order's own
    (WORKING, None, D("10.5"), None, "100 @ 10.50"),
    (STOP_LIMIT, D(60), None, None, "60 stop 9.50 limit 10.00"),  # the window said "60 stop 9.50"
    (STOP_LIMIT, None, None, D(9), "100 stop 9.00 limit 10.00"),
    (replace(WORKING, order_type=OrderType.STP, limit_price=None, stop_price=D(9)), D(60), None, None, "60 stop 9.00"),
])
def test_what_a_replace_makes_of_the_order_is_one_rule_said_alike(order_, quantity, limit, stop, becomes):
    """The window's LIVE confirmation ("Becomes") and the replace's own line (ReplaceResult.headline,
    the window's activity log and the `replace` command) say what the order becomes by one rule
    (replaced_order): the window's slot had its own, for the stop only."""
    from services.execution.action_outcomes import ReplaceResult

    assert replace_becomes(order_, quantity, limit, stop) == becomes
    new = replaced_order(order_, quantity, limit, stop)
    # as the order actions make their result of it (services.execution.replace_order)
    said = ReplaceResult(order_.id, "modify", quantity=new.quantity, limit_price=new.limit_price,
                         stop_price=new.stop_price).headline("M-1")
    assert said == f"Replace M-1 to {becomes}: modified at the broker"


def test_the_suggested_stop_is_one_percent_away_on_the_side_a_stop_guards_on_the_tick_grid():
    """services.core.replace_rules.suggested_stop: a SELL's below the market, a BUY's above,
    rounded away from it onto the grid, at least one tick; none without a price."""
    from services.core.replace_rules import suggested_stop

    assert suggested_stop("SELL", D("229.33"), D("0.01")) == D("227.03")
    assert suggested_stop("BUY", D("229.33"), D("0.01")) == D("231.63")
    assert suggested_stop("SELL", D("229.33"), D("0.05")) == D("227.00")
    assert suggested_stop("BUY", D("0.5"), D("0.0001")) == D("0.5050")
    assert suggested_stop("SELL", D("0.5"), D("0.01")) == D("0.49")  # one tick at least
    assert suggested_stop("SELL", D("0.01"), D("0.01")) is None  # no stop at zero
    assert suggested_stop("BUY", None, D("0.01")) is None


def test_a_stop_limits_suggested_limit_is_beyond_its_stop_on_the_far_side_from_the_market():
    """services.core.replace_rules.suggested_stop_limit: a SELL's limit below its stop, a BUY's
    above (it was the market price, the near side: a SELL's limit above its stop never filled once
    the stop triggered), 0.5 % of the stop, at least one tick, rounded further from the stop."""
    from services.core.replace_rules import suggested_stop, suggested_stop_limit

    assert suggested_stop_limit("SELL", D("227.03"), D("0.01")) == D("225.89")
    assert suggested_stop_limit("BUY", D("231.63"), D("0.01")) == D("232.79")
    assert suggested_stop_limit("SELL", D("227.03"), D("0.05")) == D("225.85")
    assert suggested_stop_limit("SELL", D("0.49"), D("0.01")) == D("0.48")  # one tick at least
    assert suggested_stop_limit("SELL", D("0.01"), D("0.01")) is None  # no limit at zero
    assert suggested_stop_limit("BUY", None, D("0.01")) is None
    market, tick = D("229.33"), D("0.01")
    for side in ("SELL", "BUY"):
        stop = suggested_stop(side, market, tick)
        limit = suggested_stop_limit(side, stop, tick)
        assert (limit < stop < market) if side == "SELL" else (market < stop < limit), (side, stop, limit)
