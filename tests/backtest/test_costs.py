"""The simulated fills' inputs: one slippage rule for the backtest's command, its panel, its
engine and the TCA's backtest column."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.backtest.costs import BadSlippage, read_slippage_bps
from services.backtest.prices import PriceBook
from services.backtest.runner import BacktestSpec, check_spec
from services.core.bars import Bar


@pytest.mark.parametrize("typed", ["-1", "10000", "20000"])
def test_a_slippage_below_zero_or_of_a_whole_price_is_refused_where_it_is_typed(typed):
    with pytest.raises(BadSlippage, match=r"^--slippage-bps: must be a number from 0 to below 10000: '"):
        read_slippage_bps(typed)


def test_a_slippage_that_is_not_a_number_says_so():
    with pytest.raises(BadSlippage, match="--slippage-bps: not a number: 'x'"):
        read_slippage_bps("x")


def test_the_engine_refuses_a_slippage_of_a_whole_price_given_without_the_form():
    prices = PriceBook([Bar(date(2024, 2, 1), "AAA", Decimal(10), Decimal(10), Decimal(10), Decimal(10))])

    problems = check_spec(BacktestSpec(Decimal(1000), slippage_bps=Decimal(10_000)), prices, [])

    assert "--slippage-bps: must be a number from 0 to below 10000: '10000'" in problems


@pytest.mark.parametrize("typed", ["per-share=0.01,min=1,min=2", "per-share=0.01,per-share=0.02", "per-share=0.01,max-pct=1,max-pct=2"])
def test_a_commission_rate_given_twice_is_refused_not_one_of_them_kept(typed):
    """`--commission per-share=0.01,min=1,min=2` used to run with the last minimum, the first
    dropped without a word."""
    from services.backtest.costs import parse_commission

    with pytest.raises(ValueError, match=r"is given twice"):
        parse_commission(typed)


def test_the_engine_refuses_a_risk_override_it_cannot_read_given_without_the_command():
    prices = PriceBook([Bar(date(2024, 2, 1), "AAA", Decimal(10), Decimal(10), Decimal(10), Decimal(10))])

    problems = check_spec(BacktestSpec(Decimal(1000), risk_overrides=("max_order_notional=-1",)), prices, [])

    assert "--risk: max_order_notional: must be a number >= 0: '-1'" in problems


@pytest.mark.parametrize(("side", "price", "fills"), [
    ("BUY", "100.00", True), ("BUY", "99.99", True), ("BUY", "100.01", False),
    ("SELL", "100.00", True), ("SELL", "100.01", True), ("SELL", "99.99", False),
])
def test_a_limit_order_fills_at_or_better_than_its_limit_only(side, price, fills):
    from services.backtest.costs import within_limit
    from services.domain import Side

    assert within_limit(Side(side), Decimal(price), Decimal("100.00")) is fills


@pytest.mark.parametrize(("fill", "side", "order_type", "limit", "slippage", "price", "reason"), [
    # a market order: the simulated price, whatever a limit says
    ("close", "BUY", "MKT", None, "0", "101.20", None),
    ("close", "BUY", "MKT", "100.10", "0", "101.20", None),
    # within its limit: filled at the simulated price (slippage included), not at the limit
    ("close", "BUY", "LMT", "101.30", "0", "101.20", None),
    ("close", "BUY", "LMT", "101.30", "5", "101.25060", None),
    ("next-open", "SELL", "LMT", "101.50", "0", "102", None),
    # beyond it: not filled, and why in words
    ("close", "BUY", "LMT", "100.10", "0", None,
     "the backtest would not have filled it: the close 101.20 is above its limit 100.10"),
    ("close", "BUY", "LMT", "101.25", "10", None,
     "the backtest would not have filled it: the close 101.3012 after 10 bps of slippage is above its limit 101.25"),
    ("next-open", "SELL", "STP LMT", "102.50", "0", None,
     "the backtest would not have filled it: the next open 102.00 is below its limit 102.50"),
    # the simulated price rounds to the limit in four places: said to its last digit, not "100.1000 above 100.10"
    ("close", "BUY", "LMT", "101.2101", "1", None,
     "the backtest would not have filled it: the close 101.21012 after 1 bps of slippage is above its limit 101.2101"),
    # a limit order stored without its limit: as the broker, filled at the simulated price
    ("close", "BUY", "LMT", None, "0", "101.20", None),
])
def test_the_backtest_fills_an_order_as_its_type_and_limit_say_one_rule_for_its_broker_and_the_tca(
        fill, side, order_type, limit, slippage, price, reason):
    from services.backtest.costs import FillAt, simulated_order_fill
    from services.domain import Side

    day = date(2024, 3, 1) if fill == "close" else date(2024, 3, 4)
    prices = PriceBook([Bar(day, "AAA", Decimal(102), Decimal(103), Decimal(99), Decimal("101.20"))])

    filled = simulated_order_fill(prices, "AAA", day, FillAt(fill), Side(side), Decimal(slippage), order_type,
                                  None if limit is None else Decimal(limit))

    assert filled.price == (None if price is None else Decimal(price))
    assert filled.not_filled == reason


def test_an_order_without_a_bar_is_not_filled_and_has_no_limit_reason():
    """No bar: what the TCA counts as "without a bar", not as beyond its limit."""
    from services.backtest.costs import FillAt, simulated_order_fill
    from services.domain import Side

    filled = simulated_order_fill(PriceBook([]), "AAA", date(2024, 3, 1), FillAt.CLOSE, Side.BUY, Decimal(0), "LMT",
                                  Decimal(1))

    assert (filled.price, filled.not_filled) == (None, None)
