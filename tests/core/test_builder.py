from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.builder import (
    BuildParams,
    Rounding,
    Target,
    build_orders,
    client_order_id,
    limit_price_for,
)
from services.domain import OrderType, Side


def summary(result):
    return [(o.sequence, o.symbol, str(o.side), o.quantity) for o in result.orders]


def test_plan_case_floor_aaa_36():
    r = build_orders(
        [Target("AAA", D("0.2"), D(50)), Target("BBB", D("0.1"), D(33))],
        BuildParams(D(10000), cash_buffer=D("0.1"), lot_size=D(1), rounding=Rounding.FLOOR),
    )
    assert summary(r) == [(1, "AAA", "BUY", D(36)), (2, "BBB", "BUY", D(27))]  # 1800/50; 900/33 = 27.27
    aaa = r.orders[0]
    assert (aaa.notional, aaa.reference_price, aaa.target_quantity, aaa.current_quantity, aaa.target_weight) == (
        D(1800), D(50), D(36), D(0), D("0.2"))
    assert (aaa.order_type, aaa.limit_price, aaa.sec_type, aaa.exchange, aaa.currency) == (OrderType.MKT, None, "STK", "SMART", "USD")
    assert r.budget == D(9000) and r.target_value == D(2691)


def test_plan_case_nearest_spy_1():
    r = build_orders([Target("SPY", D("0.1"), D(95))], BuildParams(D(1000)))
    assert summary(r) == [(1, "SPY", "BUY", D(1))]  # 100 / 95 = 1.05


def test_nearest_is_the_default_and_rounds_half_up():
    r = build_orders([Target("A", D("0.5"), D(40)), Target("B", D("0.3"), D(40))], BuildParams(D(1000)))
    # A: 500/40 = 12.5 -> 13; B: 300/40 = 7.5 -> 8; 21 * 40 = 840 <= 1000
    assert summary(r) == [(1, "A", "BUY", D(13)), (2, "B", "BUY", D(8))]


def test_nearest_takes_back_the_excess_from_the_biggest_round_ups():
    # budget 1000: A 0.34 -> 340/100 = 3.4 -> 3; B 0.33 -> 330/60 = 5.5 -> 6 (up 30);
    # C 0.33 -> 330/70 = 4.71 -> 5 (up 20). 300 + 360 + 350 = 1010 > 1000: B goes back to 5.
    r = build_orders(
        [Target("A", D("0.34"), D(100)), Target("B", D("0.33"), D(60)), Target("C", D("0.33"), D(70))],
        BuildParams(D(1000)),
    )
    assert r.targets == {"A": D(3), "B": D(5), "C": D(5)}
    assert r.target_value == D(950)


def test_lot_size_global_and_per_symbol():
    targets = [Target("A", D("0.5"), D(10)), Target("B", D("0.5"), D(10))]
    r = build_orders(targets, BuildParams(D(1000), lot_size=D(30), lot_sizes={"B": D(7)}, rounding=Rounding.FLOOR))
    assert r.targets == {"A": D(30), "B": D(49)}  # 50 -> 30 (lots of 30), 50 -> 49 (lots of 7)


def test_rebalance_against_positions_with_sells_first():
    targets = [Target("A", D("0.5"), D(10)), Target("B", D("0.2"), D(10)), Target("C", D(0), D(10))]
    positions = {"A": D(20), "B": D(50), "C": D(5), "Z": D(7)}
    r = build_orders(targets, BuildParams(D(1000)), positions=positions)
    # A 50 (buy 30), B 20 (sell 30), C 0 (sell 5); Z is unlisted and kept by default
    assert summary(r) == [(1, "B", "SELL", D(30)), (2, "C", "SELL", D(5)), (3, "A", "BUY", D(30))]
    assert r.orders[0].current_quantity == D(50) and r.orders[0].target_quantity == D(20)


def test_liquidate_unlisted_sells_and_covers_to_zero():
    positions = {"A": D(10), "Z": D(7), "Y": D(-3), "W": D(4)}
    r = build_orders(
        [Target("A", D("0.1"), D(10))],
        BuildParams(D(1000), liquidate_unlisted=True),
        prices={"Z": D(20), "Y": D(30)},
        positions=positions,
    )
    assert summary(r) == [(1, "Z", "SELL", D(7)), (2, "Y", "BUY", D(3))]
    assert r.orders[0].target_weight is None and r.orders[0].target_quantity == D(0)
    assert [(s.symbol, s.reason) for s in r.skipped] == [("W", "missing_price")]


def test_rerun_after_all_filled_produces_no_orders():
    targets = [Target("A", D("0.3"), D("12.34")), Target("B", D("0.6"), D("98.7"))]
    params = BuildParams(D(50000), cash_buffer=D("0.05"))
    first = build_orders(targets, params)
    filled = {o.symbol: o.target_quantity for o in first.orders}
    assert build_orders(targets, params, positions=filled).orders == ()


def test_min_order_value_and_missing_price_are_skipped():
    r = build_orders(
        [Target("A", D("0.001"), D(10)), Target("B", D("0.5")), Target("C", D("0.5"), D(10))],
        BuildParams(D(10000), min_order_value=D(100)),
    )
    assert summary(r) == [(1, "C", "BUY", D(500))]
    assert [(s.symbol, s.reason) for s in r.skipped] == [("B", "missing_price"), ("A", "below_min_order_value")]
    assert r.unpriced_symbols == ("B",)


def test_prices_argument_wins_over_snapshot_price():
    r = build_orders([Target("A", D("0.5"), D(10))], BuildParams(D(1000)), prices={"A": D(25)})
    assert r.orders[0].quantity == D(20) and r.orders[0].reference_price == D(25)


def test_limit_orders_at_reference_plus_minus_bps_on_the_tick_grid():
    assert limit_price_for(Side.BUY, D("100"), D(25)) == D("100.25")
    assert limit_price_for(Side.SELL, D("100"), D(25)) == D("99.75")
    assert limit_price_for(Side.BUY, D("33.33"), D(10)) == D("33.36")  # 33.36333 rounded down
    assert limit_price_for(Side.SELL, D("33.33"), D(10)) == D("33.30")  # 33.29667 rounded up
    assert limit_price_for(Side.BUY, D("0.5123"), D(0)) == D("0.5123")
    r = build_orders(
        [Target("A", D("0.5"), D(100))],
        BuildParams(D(1000), order_type=OrderType.LMT, limit_offset_bps=D(50)),
        positions={"B": D(1)},
    )
    assert (r.orders[0].order_type, r.orders[0].limit_price) == (OrderType.LMT, D("100.50"))


def test_client_order_id_is_deterministic_short_ascii():
    a = client_order_id(42, "AAPL", Side.BUY, 1)
    assert a == client_order_id(42, "AAPL", Side.BUY, 1)
    assert a.startswith("TC42-1-B-AAPL-") and len(a) == len("TC42-1-B-AAPL-") + 6
    assert a != client_order_id(42, "AAPL", Side.SELL, 1) != client_order_id(43, "AAPL", Side.BUY, 1)
    assert client_order_id(1, "BRK B", Side.BUY, 1) != client_order_id(1, "BRK/B", Side.BUY, 1)
    long_one = client_order_id("a-very-long-run-name-2026", "ABCDEFGHIJKLMNOP", Side.SELL, 123456)
    assert len(long_one) <= 40 and long_one.isascii() and " " not in long_one


def test_short_weights_round_towards_zero_on_floor():
    r = build_orders([Target("A", D("-0.25"), D(30))], BuildParams(D(1000), rounding=Rounding.FLOOR))
    assert summary(r) == [(1, "A", "SELL", D(8))] and r.targets == {"A": D(-8)}


# ---------------------------------------------------------------------------------------------
# Properties

prices_st = st.decimals(min_value=D("0.5"), max_value=D("2000"), places=2)
lots_st = st.sampled_from([D(1), D(1), D(10), D(100)])


@st.composite
def portfolios(draw):
    n = draw(st.integers(min_value=1, max_value=12))
    raw = draw(st.lists(st.integers(min_value=0, max_value=1000), min_size=n, max_size=n))
    total = sum(raw) or 1
    scale = draw(st.sampled_from([D(1), D("0.9"), D("0.5")]))
    signs = draw(st.lists(st.sampled_from([1, 1, -1]), min_size=n, max_size=n))
    targets = [
        Target(f"S{i}", sign * (D(w) / D(total) * scale).quantize(D("0.0001"), rounding="ROUND_DOWN"), draw(prices_st))
        for i, (w, sign) in enumerate(zip(raw, signs, strict=True))
    ]
    pv = draw(st.decimals(min_value=D(100), max_value=D(10_000_000), places=2))
    buffer = draw(st.sampled_from([D(0), D("0.02"), D("0.1")]))
    lot = draw(lots_st)
    return targets, pv, buffer, lot


@settings(max_examples=300, deadline=None)
@given(portfolios(), st.sampled_from([Rounding.FLOOR, Rounding.NEAREST]))
def test_rounding_never_spends_more_than_the_budget(case, rounding):
    targets, pv, buffer, lot = case
    params = BuildParams(pv, cash_buffer=buffer, lot_size=lot, rounding=rounding)
    r = build_orders(targets, params)
    spent = sum((abs(r.targets[t.symbol]) * t.price for t in targets), D(0))
    assert spent == r.target_value
    assert spent <= pv * (1 - buffer)
    for t in targets:
        q = r.targets[t.symbol]
        assert q % lot == 0
        exact = t.weight * params.budget / t.price
        if rounding is Rounding.NEAREST:
            assert abs(q - exact) < lot
        else:  # towards zero
            assert abs(q) <= abs(exact) and abs(exact) - abs(q) < lot


@settings(max_examples=200, deadline=None)
@given(portfolios(), st.dictionaries(st.sampled_from([f"S{i}" for i in range(15)]), st.integers(-500, 500).map(D), max_size=10))
def test_building_against_a_fully_filled_build_yields_no_orders(case, positions):
    targets, pv, buffer, lot = case
    params = BuildParams(pv, cash_buffer=buffer, lot_size=lot, liquidate_unlisted=True)
    prices = {s: D(10) for s in positions}
    first = build_orders(targets, params, prices=prices, positions=positions)
    after = dict(positions)
    for o in first.orders:
        after[o.symbol] = after.get(o.symbol, D(0)) + o.signed_quantity
        assert after[o.symbol] == o.target_quantity
    assert build_orders(targets, params, prices=prices, positions=after).orders == ()


def test_params_are_validated():
    import pytest

    for kwargs in ({"cash_buffer": D(1)}, {"cash_buffer": D("-0.1")}, {"lot_size": D(0)}, {"lot_sizes": {"A": D(-1)}},
                   {"limit_offset_bps": D(-1)}):
        with pytest.raises(ValueError):
            BuildParams(D(1000), **kwargs)
    with pytest.raises(ValueError):
        BuildParams(D(-1))


def test_foreign_listings_are_sized_in_the_base_currency_and_kept_apart_by_listing():
    from decimal import Decimal

    from services.core.builder import BuildParams, Target, build_orders

    params = BuildParams(portfolio_value=Decimal("100000"), fx_rates={"EUR": Decimal("1.10")})
    eur = Target("SAP", Decimal("0.1"), None, "STK", "IBIS", "EUR")
    result = build_orders([eur], params, prices={"SAP@IBIS:EUR": Decimal("200"), "SAP": Decimal("220")},
                          positions={"SAP": Decimal("30")})  # the US SAP held: another listing
    [order] = result.orders
    assert (order.key, order.quantity, order.current_quantity, order.fx_rate, order.notional) == (
        "SAP@IBIS:EUR", Decimal(45), Decimal(0), Decimal("1.10"), Decimal("9900.00"))
    # without a rate nothing is guessed: the listing is skipped and counts as unpriced
    bare = build_orders([eur], BuildParams(portfolio_value=Decimal("100000")), prices={"SAP@IBIS:EUR": Decimal("200")})
    assert bare.orders == () and bare.unpriced_symbols == ("SAP@IBIS:EUR",)
    # liquidating an unlisted foreign holding values it at its own rate and keeps its listing
    out = build_orders([], BuildParams(portfolio_value=Decimal("100000"), fx_rates={"EUR": Decimal("1.10")}, liquidate_unlisted=True),
                       prices={"SAP@IBIS:EUR": Decimal("200")}, positions={"SAP@IBIS:EUR": Decimal("10")})
    [sell] = out.orders
    assert (sell.symbol, sell.exchange, sell.currency, sell.notional) == ("SAP", "IBIS", "EUR", Decimal("2200.00"))


def test_contract_keys_round_trip():
    from services.core.contracts import ContractSpec, contract_problem

    assert ContractSpec.of("aapl").key == "AAPL"
    assert ContractSpec.of("SAP", exchange="SMART", primary_exchange="IBIS", currency="EUR").key == "SAP@IBIS:EUR"
    assert ContractSpec.of("SAP", exchange="IBIS", currency="EUR").key == "SAP@IBIS:EUR"
    assert ContractSpec.from_key("SAP@IBIS:EUR") == ContractSpec("SAP", "STK", "IBIS", "", "EUR")
    assert ContractSpec.from_key("BRK B") == ContractSpec("BRK B")
    assert contract_problem(ContractSpec.of("SPY", "OPT"))[0] == "sec_type"
    assert contract_problem(ContractSpec.of("SAP", exchange="IBIS", currency="USD")) == ("exchange", "IBIS does not trade in USD")
    assert contract_problem(ContractSpec.of("SAP", exchange="SMART", primary_exchange="IBIS", currency="EUR")) is None


def test_an_order_drafts_key_is_its_contract_specs_key():
    """OrderDraft.key writes ContractSpec.key's text itself (no spec built per call)."""
    import itertools

    from services.core.builder import OrderDraft
    from services.core.contracts import ContractSpec

    for symbol, sec_type, exchange, primary, currency in itertools.product(
            ["AAPL", "BRK B", "SAP"], ["STK", "ETF", "FUT", "CASH", "OPT", ""], ["SMART", "IBIS", "IDEALPRO", ""],
            ["", "NASDAQ", "IBIS"], ["USD", "EUR", "GBP", "CHF", "JPY", ""]):
        draft = OrderDraft(1, symbol, Side.BUY, D(1), OrderType.MKT, None, None, None, D(0), D(1),
                           None, "c1", sec_type=sec_type, exchange=exchange, currency=currency, primary_exchange=primary)
        spec = ContractSpec(symbol, sec_type, exchange, primary, currency)
        assert draft.key == spec.key == draft.spec.key
        assert draft.key == ContractSpec.of(symbol, sec_type, exchange, primary, currency).key or not (
            sec_type and exchange and currency)  # .of fills the blanks: only the filled ones compare


def test_a_lot_is_a_whole_number_of_shares():
    """Orders are in whole shares: the builder refuses a fractional lot, whoever asks (the window's
    preview, the command line, a backtest)."""
    import pytest

    with pytest.raises(ValueError, match=r"^lot size: must be a whole number: '2\.5'$"):
        BuildParams(D(1000), lot_size=D("2.5"))
    with pytest.raises(ValueError, match=r"^lot size of B: must be a whole number: '0\.5'$"):
        BuildParams(D(1000), lot_sizes={"B": D("0.5")})
    assert BuildParams(D(1000), lot_size=D("100.000")).lot_size == 100


def test_the_projects_working_orders_count_as_if_they_filled():
    """An earlier run's orders still working are in the delta (docs/project-books.md): the
    same targets again build nothing, a larger one only the difference, a working sell is not
    sold again. Built from the filled book alone, each of these built the whole delta again."""
    targets = [Target("A", D("0.5"), D(10)), Target("B", D("0.2"), D(10)), Target("C", D(0), D(10))]
    params = BuildParams(D(1000))
    positions = {"B": D(5), "C": D(8)}
    first = build_orders(targets, params, positions=positions)
    assert summary(first) == [(1, "C", "SELL", D(8)), (2, "A", "BUY", D(50)), (3, "B", "BUY", D(15))]
    working = {o.key: o.signed_quantity for o in first.orders}  # sent, nothing filled yet
    assert build_orders(targets, params, positions=positions, working=working).orders == ()

    partly = {"A": D(30), "B": D(15), "C": D(-8)}  # A's buy of 50 is a buy of 30 still working (20 filled)
    more = [Target("A", D("0.6"), D(10)), Target("B", D("0.2"), D(10)), Target("C", D(0), D(10))]
    r = build_orders(more, params, positions={**positions, "A": D(20)}, working=partly)
    assert summary(r) == [(1, "A", "BUY", D(10))]  # 60 wanted, 20 held and 30 coming
    assert (r.orders[0].current_quantity, r.orders[0].target_quantity) == (D(50), D(60))
    # a key only working (nothing filled yet) is liquidated as what it will hold
    unlisted = build_orders([Target("A", D("0.5"), D(10))], BuildParams(D(1000), liquidate_unlisted=True),
                            prices={"Z": D(20)}, positions={"A": D(50)}, working={"Z": D(7)})
    assert summary(unlisted) == [(1, "Z", "SELL", D(7))]
    # nothing working: the book alone, as before
    assert build_orders(targets, params, positions=positions, working={}) == first


def test_a_skip_below_the_min_order_value_writes_its_numbers_as_the_preview_does():
    # A held quantity comes back from the database as 10.000000; the message read
    # "JPM: 10.000000 x 221.07 is below 3000" beside "XOM: 20 x 120.34 ...".
    r = build_orders(
        [Target("JPM", D(0), D("221.07000000")), Target("AAPL", D("0.5"), D(100))],
        BuildParams(D(100000), min_order_value=D(3000), liquidate_unlisted=True),
        positions={"JPM": D("10.000000"), "XOM": D("20.000000")},
        prices={"XOM": D("120.34000000")},
    )
    assert [s.message for s in r.skipped] == ["JPM: 10 x 221.07 is below 3,000", "XOM: 20 x 120.34 is below 3,000"]
