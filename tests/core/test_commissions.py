from decimal import Decimal as D

import pytest

from services.core.commissions import CommissionModel, FixedCommission, TieredCommission
from services.domain import Side


@pytest.mark.parametrize(
    ("quantity", "price", "expected"),
    [
        (D(100), D(25), D("1.00")),  # 0.50 raw, minimum 1.00
        (D(1000), D(25), D("5.000")),  # 0.005 x 1000
        (D(-1000), D(25), D("5.000")),  # sign ignored
        (D(10), D(5), D("0.50")),  # 1 % of 50 is below the minimum: the cap wins
        (D(100000), D("0.40"), D("400.00")),  # 500 raw capped at 1 % of 40,000
        (D(0), D(25), D(0)),
    ],
)
def test_fixed(quantity, price, expected):
    assert FixedCommission().commission(quantity, price) == expected


def test_tiered_rates_at_the_tier_edges():
    t = TieredCommission()
    assert [t.rate(D(v)) for v in (0, 300_000, 300_001, 3_000_000, 3_000_001, 20_000_001, 100_000_000, 100_000_001)] == [
        D("0.0035"), D("0.0035"), D("0.0020"), D("0.0020"), D("0.0015"), D("0.0010"), D("0.0010"), D("0.0005"),
    ]


def test_tiered_buy_minimum_plus_pass_through_fees():
    b = TieredCommission().breakdown(D(100), D(25))
    assert (b.commission, b.clearing, b.exchange, b.regulatory) == (D("0.35"), D("0.0200"), D("0.3000"), D(0))
    assert b.total == D("0.6700")


def test_tiered_sell_adds_regulatory_fees():
    t = TieredCommission()
    b = t.breakdown(D(1000), D(25), monthly_volume=D(500_000), side=Side.SELL)
    assert b.commission == D("2.0000")
    assert b.regulatory == D("0.6950000") + D("0.166000")
    assert t.commission(D(1000), D(25), monthly_volume=D(500_000), side=Side.SELL) == D("6.061")
    assert t.commission(D(1000), D(25), monthly_volume=D(500_000), side=Side.BUY) == D("5.2")


def test_tiered_cap_and_taf_cap():
    t = TieredCommission(exchange_per_share=D(0), clearing_per_share=D(0), sec_fee_rate=D(0))
    # 100,000 shares at 0.10: raw 350, capped at 1 % of 10,000 = 100; TAF 16.60 capped at 8.30
    assert t.commission(D(100_000), D("0.10"), side=Side.SELL) == D("108.30")


def test_models_satisfy_the_protocol():
    assert isinstance(FixedCommission(), CommissionModel)
    assert isinstance(TieredCommission(), CommissionModel)


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

quantities = st.integers(min_value=1, max_value=2_000_000).map(D)
prices = st.decimals(min_value=D("0.0001"), max_value=D(5000), places=4)


@given(quantities, prices, st.integers(0, 200_000_000).map(D))
def test_ib_part_stays_between_the_clamps(quantity, price, volume):
    value = quantity * price
    fixed = FixedCommission().commission(quantity, price)
    assert fixed <= value * D("0.01") and (fixed >= D(1) or fixed == value * D("0.01"))
    tiered = TieredCommission().breakdown(quantity, price, monthly_volume=volume)
    assert tiered.commission <= value * D("0.01") and (tiered.commission >= D("0.35") or tiered.commission == value * D("0.01"))
    assert tiered.clearing == quantity * D("0.0002") and tiered.regulatory == 0
