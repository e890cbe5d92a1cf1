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
    with pytest.raises(BadSlippage, match=r"--slippage-bps .* must be >= 0 and < 10000"):
        read_slippage_bps(typed)


def test_a_slippage_that_is_not_a_number_says_so():
    with pytest.raises(BadSlippage, match="--slippage-bps 'x' is not a number"):
        read_slippage_bps("x")


def test_the_engine_refuses_a_slippage_of_a_whole_price_given_without_the_form():
    prices = PriceBook([Bar(date(2024, 2, 1), "AAA", Decimal(10), Decimal(10), Decimal(10), Decimal(10))])

    problems = check_spec(BacktestSpec(Decimal(1000), slippage_bps=Decimal(10_000)), prices, [])

    assert "slippage 10000 bps must be >= 0 and < 10000" in problems


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

    assert "--risk: max_order_notional must be a finite number >= 0, got '-1'" in problems


@pytest.mark.parametrize(("side", "price", "fills"), [
    ("BUY", "100.00", True), ("BUY", "99.99", True), ("BUY", "100.01", False),
    ("SELL", "100.00", True), ("SELL", "100.01", True), ("SELL", "99.99", False),
])
def test_a_limit_order_fills_at_or_better_than_its_limit_only(side, price, fills):
    from services.backtest.costs import within_limit
    from services.domain import Side

    assert within_limit(Side(side), Decimal(price), Decimal("100.00")) is fills
