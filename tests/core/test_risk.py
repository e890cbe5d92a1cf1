from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from services.core.builder import BuildParams, OrderDraft, Target, build_orders, client_order_id
from services.core.risk import (
    DEFAULT_RISK_LIMITS,
    MaxGrossExposure,
    MaxOrderNotional,
    PriceCheck,
    RiskContext,
    RiskParamError,
    Verdict,
    evaluate_risk,
    grows_exposure,
    risk_limits,
    rules_from_params,
    trading_state_allows,
)
from services.core.trading_hours import trading_day_start
from services.domain import OrderType, Side, TradingState

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
OFF = {name: None for name in DEFAULT_RISK_LIMITS if name != "allow_short"}


def draft(symbol, side, qty, price, *, seq=1, order_type=OrderType.MKT, limit=None, current=D(0), coid=None):
    qty, price = D(qty), None if price is None else D(price)
    return OrderDraft(
        seq, symbol, side, qty, order_type, limit, price, None if price is None else qty * price,
        current, current + (qty if side is Side.BUY else -qty), None, coid or client_order_id(1, symbol, side, seq),
    )


def codes(report):
    return [(o.order.symbol, [b.code for b in o.blocks]) for o in report.orders if o.blocks], [(b.code, b.symbol) for b in report.run_blocks]


def only(**limits):
    return rules_from_params({**OFF, **limits})


def test_a_clean_run_is_ready():
    orders = [draft("A", Side.BUY, 10, 50, seq=1), draft("B", Side.BUY, 5, 20, seq=2)]
    report = evaluate_risk(orders, RiskContext(D(10000), now=NOW))
    assert report.verdict is Verdict.READY and not report.blocked
    assert report.to_dict()["results"][0] == {"client_order_id": orders[0].client_order_id, "symbol": "A", "status": "pass", "blocks": []}
    assert set(report.rules) == {"trading_state", "price", "duplicate_order", "short_sale", *[k for k in DEFAULT_RISK_LIMITS if k.startswith("max_") and k != "max_price_age_seconds"], "price_collar"}


def test_max_order_notional_values_market_orders_at_the_reference():
    orders = [draft("A", Side.BUY, 100, 100, seq=1), draft("B", Side.BUY, 50, 100, seq=2)]
    report = evaluate_risk(orders, RiskContext(D(100000), now=NOW), only(max_order_notional=5000))
    assert codes(report) == ([("A", ["max_order_notional"])], [])
    assert report.verdict is Verdict.BLOCKED
    assert report.orders[0].blocks[0].message == "A: order value 10,000.00 above 5,000.00"  # money as the panels show it
    limit_order = draft("C", Side.BUY, 50, 100, seq=3, order_type=OrderType.LMT, limit=D("100.05"))
    assert codes(evaluate_risk([limit_order], RiskContext(D(100000), now=NOW), only(max_order_notional=5000))) == (
        [("C", ["max_order_notional"])], [])  # 50 x 100.05 = 5002.50 at the limit


def test_max_order_notional_takes_a_sell_limit_under_the_market_at_the_market():
    """A sell limit fills at its limit or better: its limit bounds what it gets from below only.
    10,000 shares at a limit of 0.01 on a 100 USD stock measured 100.00 against the order-size
    cap and would sell about 1,000,000 at the market (the price collar, when on, also stops it).
    A sell limit above the market and a buy limit are measured at their limit, as before; the
    buying power keeps a sell's lower bound."""
    from services.core.account_risk import AccountBuyingPower
    from services.core.risk_measures import risk_decisions

    fat_finger = draft("A", Side.SELL, 10000, 100, seq=1, order_type=OrderType.LMT, limit=D("0.01"), current=D(10000))
    above = draft("B", Side.SELL, 40, 100, seq=2, order_type=OrderType.LMT, limit=D(110), current=D(40))
    below_buy = draft("C", Side.BUY, 45, 100, seq=3, order_type=OrderType.LMT, limit=D(90))
    ctx = RiskContext(D(10_000_000), positions={"A": D(10000), "B": D(40)}, now=NOW)
    report = evaluate_risk([fat_finger, above, below_buy], ctx, only(max_order_notional=5000))
    assert codes(report) == ([("A", ["max_order_notional"])], [])
    assert report.orders[0].blocks[0].message == "A: order value 1,000,000.00 above 5,000.00"
    measured = {d.symbol: d.measured for d in risk_decisions(report) if d.rule == "max_order_notional"}
    assert measured == {"A": "1000000", "B": "4400", "C": "4050"}  # the trail says what the rule judged
    # the buying power: the buy's 4,050 at its limit, the sells' proceeds at their limits (100 + 4,400)
    assert AccountBuyingPower(D(0)).evaluate([fat_finger, above, below_buy], ctx) == []


def test_max_position_ratio_uses_the_position_after_the_trade():
    orders = [draft("A", Side.BUY, 10, 100, seq=1), draft("B", Side.BUY, 10, 100, seq=2)]
    ctx = RiskContext(D(10000), positions={"A": D(15)}, now=NOW)
    # A: 25 * 100 / 10000 = 0.25 > 0.2; B: 0.1
    assert codes(evaluate_risk(orders, ctx, only(max_position_ratio=0.2))) == ([("A", ["max_position_ratio"])], [])


def test_max_gross_exposure_counts_positions_not_traded():
    orders = [draft("A", Side.BUY, 50, 100, seq=1)]
    ctx = RiskContext(D(10000), positions={"Z": D(60)}, prices={"Z": D(100)}, now=NOW)
    assert codes(evaluate_risk(orders, ctx, only(max_gross_exposure=1))) == ([], [("max_gross_exposure", None)])
    assert codes(evaluate_risk(orders, ctx, only(max_gross_exposure="1.1"))) == ([], [])


def test_max_orders_per_run_and_daily_count_and_quantity():
    orders = [draft(s, Side.BUY, q, 10, seq=i) for i, (s, q) in enumerate([("A", 1), ("B", 2000), ("C", 3)], start=1)]
    ctx = RiskContext(D(1_000_000), orders_today=8, now=NOW)
    report = evaluate_risk(orders, ctx, only(max_orders_per_run=2, max_daily_orders=10, max_order_quantity=1000))
    assert codes(report) == ([("B", ["max_order_quantity"]), ("C", ["daily_order_count"])], [("max_orders_per_run", None)])


def test_missing_and_stale_prices():
    orders = [draft("A", Side.BUY, 1, None, seq=1), draft("B", Side.BUY, 1, 10, seq=2), draft("C", Side.BUY, 1, 10, seq=3)]
    ctx = RiskContext(
        D(10000), now=NOW, unpriced_symbols=("Q",),
        price_times={"B": NOW - timedelta(seconds=301), "C": NOW - timedelta(seconds=300)},
    )
    report = evaluate_risk(orders, ctx, only(max_price_age_seconds=300))
    assert codes(report) == ([("A", ["missing_price"]), ("B", ["stale_price"])], [("missing_price", "Q")])
    assert report.orders[1].blocks[0].message == "B: price is 301 s old, older than 300 s"


def test_duplicates_within_a_run_and_already_sent_ids():
    a1 = draft("A", Side.BUY, 1, 10, seq=1)
    a2 = draft("A", Side.SELL, 1, 10, seq=2)
    b = draft("B", Side.BUY, 1, 10, seq=3, coid="X1")
    ctx = RiskContext(D(10000), positions={"A": D(5)}, now=NOW, sent_client_order_ids=frozenset({"X1"}))
    assert codes(evaluate_risk([a1, a2, b], ctx, only())) == ([("A", ["duplicate_order"]), ("B", ["duplicate_order"])], [])


def test_short_sale_not_allowed_unless_configured():
    orders = [draft("A", Side.SELL, 10, 10, seq=1), draft("B", Side.SELL, 11, 10, seq=2)]
    ctx = RiskContext(D(10000), positions={"A": D(10), "B": D(10)}, now=NOW)
    assert codes(evaluate_risk(orders, ctx, only())) == ([("B", ["short_sale"])], [])
    assert codes(evaluate_risk(orders, ctx, only(allow_short=True))) == ([], [])


def test_price_collar_for_limit_orders():
    orders = [
        draft("A", Side.BUY, 1, 100, seq=1, order_type=OrderType.LMT, limit=D("103.00")),
        draft("B", Side.BUY, 1, 100, seq=2, order_type=OrderType.LMT, limit=D("103.01")),
        draft("C", Side.SELL, 1, 100, seq=3, order_type=OrderType.LMT, limit=D("96.99"), current=D(1)),
        draft("D", Side.BUY, 1, 100, seq=4),  # market orders have no collar
    ]
    ctx = RiskContext(D(10000), positions={"C": D(1)}, now=NOW)
    assert codes(evaluate_risk(orders, ctx, only(price_collar_pct=3))) == ([("B", ["price_collar"]), ("C", ["price_collar"])], [])


def test_the_price_collars_message_says_its_percents_as_every_risk_message_does():
    """The collar said "is 3.01 % from the reference 100.00, beyond 3 %" beside the position rule's
    "is 4.90% of the portfolio, above 1.00%": one way of writing a percent in every message."""
    order = draft("B", Side.BUY, 1, 100, order_type=OrderType.LMT, limit=D("103.01"))
    [block] = evaluate_risk([order], RiskContext(D(10000), now=NOW), only(price_collar_pct=3)).all_blocks()
    assert block.message == "B: limit 103.01 is 3.01% from the reference 100.00, beyond 3.00%"


def test_halted_blocks_every_order_but_not_cancels():
    orders = [draft("A", Side.BUY, 1, 10, seq=1), draft("B", Side.SELL, 1, 10, seq=2)]
    ctx = RiskContext(D(10000), positions={"B": D(5)}, trading_state=TradingState.HALTED, now=NOW)
    assert codes(evaluate_risk(orders, ctx, only())) == ([("A", ["trading_halted"]), ("B", ["trading_halted"])], [])
    assert trading_state_allows(TradingState.HALTED, is_cancel=True).passed
    assert trading_state_allows(TradingState.HALTED, before=D(5), after=D(4)).code == "trading_halted"


def test_reducing_blocks_only_orders_that_grow_exposure():
    orders = [
        draft("A", Side.SELL, 5, 10, seq=1),  # 10 -> 5: reduces
        draft("B", Side.BUY, 1, 10, seq=2),  # 10 -> 11: grows
        draft("C", Side.SELL, 15, 10, seq=3),  # 10 -> -5: crosses zero
        draft("D", Side.BUY, 3, 10, seq=4),  # -5 -> -2: reduces a short
        draft("E", Side.BUY, 1, 10, seq=5),  # 0 -> 1: new position
    ]
    ctx = RiskContext(D(10000), positions={"A": D(10), "B": D(10), "C": D(10), "D": D(-5)}, trading_state=TradingState.REDUCING, now=NOW)
    assert codes(evaluate_risk(orders, ctx, only(allow_short=True))) == (
        [("B", ["reducing_only"]), ("C", ["reducing_only"]), ("E", ["reducing_only"])], [])
    assert [grows_exposure(D(a), D(b)) for a, b in [(10, 0), (0, 0), (-3, -4), (-3, -2)]] == [False, False, True, False]


def test_several_rules_block_one_order():
    orders = [draft("A", Side.SELL, 20000, 100, seq=1)]
    report = evaluate_risk(orders, RiskContext(D(10000), now=NOW))
    assert codes(report)[0] == [("A", ["short_sale", "max_order_notional", "max_order_quantity", "max_position_ratio"])]
    assert codes(report)[1] == [("max_gross_exposure", None)]


def test_rules_from_params_and_overrides():
    limits = risk_limits({"max_order_notional": "5000"}, ["max_order_quantity=7", "max_daily_orders=off", "allow_short=yes"])
    assert limits["max_order_notional"] == "5000" and limits["max_order_quantity"] == "7" and limits["max_daily_orders"] is None
    rules = {r.name: r for r in rules_from_params({"max_order_notional": "5000"}, ["max_order_quantity=7", "max_daily_orders=off", "allow_short=yes"])}
    assert rules["max_order_notional"].params() == {"limit": D(5000)}
    assert rules["max_order_quantity"].params() == {"limit": D(7)}
    assert rules["short_sale"].params() == {"allow": True}
    assert "max_daily_orders" not in rules
    assert repr(MaxOrderNotional(D(5))) == "MaxOrderNotional(limit=Decimal('5'))"
    for bad in (["nope=1"], ["max_order_notional"], ["max_order_notional=abc"], ["max_orders_per_run=1.5"], ["allow_short=maybe"], ["max_order_notional=-1"]):
        with pytest.raises(RiskParamError):
            rules_from_params(None, bad)
    with pytest.raises(RiskParamError):
        rules_from_params({"unknown": 1})


def test_defaults_are_json_friendly():
    import json

    assert json.loads(json.dumps(DEFAULT_RISK_LIMITS)) == DEFAULT_RISK_LIMITS


def test_builder_output_feeds_the_engine():
    result = build_orders([Target("A", D("0.5"), D(10)), Target("B", D("0.5"))], BuildParams(D(1000)))
    report = evaluate_risk(result.orders, RiskContext(D(1000), unpriced_symbols=result.unpriced_symbols, now=NOW))
    assert codes(report) == ([("A", ["max_position_ratio"])], [("missing_price", "B")])


def test_the_trading_day_of_the_daily_count_is_the_runs_trade_date():
    """One trading day for the daily order count and a run's trade date (services.core.
    trading_hours): it starts at the close of the session before the one ``now`` belongs to, so
    a Monday evening's orders count toward Tuesday, the date of their run. It was New York's
    midnight: they counted toward Monday, and a backtest (which counts by trade date) could
    judge the same orders otherwise."""
    from services.core.trading_hours import trading_date

    monday_evening = datetime(2026, 3, 9, 22, 30, tzinfo=UTC)  # 18:30 in New York
    tuesday_morning = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    assert trading_date(monday_evening) == trading_date(tuesday_morning) == date(2026, 3, 10)
    assert trading_day_start(monday_evening) == trading_day_start(tuesday_morning) == datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
    assert trading_day_start(datetime(2026, 3, 9, 19, 59, tzinfo=UTC)) == datetime(2026, 3, 6, 21, 0, tzinfo=UTC)  # Friday's close
    assert trading_day_start(datetime(2026, 3, 7, 15, 0, tzinfo=UTC)) == datetime(2026, 3, 6, 21, 0, tzinfo=UTC)  # a Saturday
    # the day after Thanksgiving closes early: the next trading day starts at 13:00 New York
    assert trading_day_start(datetime(2026, 11, 27, 20, 0, tzinfo=UTC)) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def test_check_order_for_a_single_manual_order():
    ctx = RiskContext(D(10000), positions={"Z": D(95)}, prices={"Z": D(100)}, unpriced_symbols=("Q",), now=NOW)
    order = draft("A", Side.BUY, 10, 100)
    assert PriceCheck().check_order(order, ctx).passed
    assert PriceCheck().check_order(draft("B", Side.BUY, 1, None), ctx).code == "missing_price"
    assert MaxGrossExposure(D(1)).check_order(order, ctx).code == "max_gross_exposure"  # 9500 + 1000 > 10000
    assert MaxOrderNotional(D(1000)).check_order(order, ctx).passed


def test_foreign_orders_and_positions_are_valued_in_the_base_currency():
    from decimal import Decimal

    from services.core.builder import OrderDraft
    from services.core.risk import (
        MaxGrossExposure,
        MaxOrderNotional,
        MaxPositionRatio,
        RiskContext,
        evaluate_risk,
    )
    from services.domain import OrderType, Side

    draft = OrderDraft(1, "SAP", Side.BUY, Decimal(45), OrderType.LMT, Decimal("201"), Decimal("200"), Decimal("9900"),
                       Decimal(0), Decimal(45), Decimal("0.1"), "C1", "STK", "IBIS", "EUR", "", Decimal("1.10"))
    ctx = RiskContext(portfolio_value=Decimal("100000"), positions={"SAP": Decimal(400)}, prices={"SAP": Decimal("220")},
                      fx_rates={"EUR": Decimal("1.10")})
    # limit value 45 x 201 EUR = 9,045 EUR = 9,949.50 USD: above 9,900, below 9,950
    assert [b.code for b in evaluate_risk([draft], ctx, [MaxOrderNotional(Decimal("9900"))]).all_blocks()] == ["max_order_notional"]
    assert evaluate_risk([draft], ctx, [MaxOrderNotional(Decimal("9950"))]).all_blocks() == []
    # the US SAP held (88,000 USD) is another listing: the EUR position after the trade is 9,900 USD
    assert evaluate_risk([draft], ctx, [MaxPositionRatio(Decimal("0.1"))]).all_blocks() == []
    # gross: 88,000 + 9,900 = 97,900 USD
    assert evaluate_risk([draft], ctx, [MaxGrossExposure(Decimal("0.98"))]).all_blocks() == []
    assert [b.code for b in evaluate_risk([draft], ctx, [MaxGrossExposure(Decimal("0.97"))]).all_blocks()] == ["max_gross_exposure"]
    # a held foreign listing without a rate cannot be valued: blocked, not guessed at 1
    held = RiskContext(portfolio_value=Decimal("100000"), positions={"SHEL@LSE:GBP": Decimal(10)}, prices={"SHEL@LSE:GBP": Decimal("26")})
    assert [b.code for b in evaluate_risk([draft], held, [MaxGrossExposure(Decimal("1"))]).all_blocks()] == ["missing_rate"]


def test_a_ratio_rules_block_says_its_share_and_limit_as_percents_like_the_preview():
    """The risk panel's reason and the Decisions panel's message read a share of the portfolio as
    the preview reads a weight ("9.90%"), not as "0.0990 ... above 0.05"."""
    from services.core.account_risk import AccountGrossExposure
    from services.core.risk import MaxPositionRatio

    ctx = RiskContext(portfolio_value=D("10000"), positions={"A": D(0)}, prices={"A": D(10)})
    order = draft("A", Side.BUY, 99, 10)  # 990 of 10,000
    [position] = evaluate_risk([order], ctx, [MaxPositionRatio(D("0.05"))]).all_blocks()
    assert position.message == "A: position after the trade 99 is 9.90% of the portfolio, above 5.00%"
    [gross] = evaluate_risk([order], ctx, [MaxGrossExposure(D("0.0825"))]).all_blocks()
    assert gross.message == "gross exposure after the run 9.90% of the portfolio, above 8.25%"
    [account] = evaluate_risk([order], ctx, [AccountGrossExposure(D("0.05"))]).all_blocks()
    assert account.message == "gross exposure after the run 9.90% of the account's NetLiquidation (every project together), above 5.00%"


def test_a_risk_message_says_a_stored_positions_shares_as_the_trader_typed_them():
    """A position read back from the database has the quantity column's six places: a replace
    was refused with "position after the trade 49.000000 is 20.36% ..." (seen in the window).
    Every quantity in a risk message reads as plain shares."""
    from services.core.risk_rules import MaxOrderQuantity, MaxPositionRatio, ShortSale, TradingStateRule

    stored = RiskContext(portfolio_value=D("10000"), positions={"A": D("39.000000")}, prices={"A": D(10)},
                         trading_state=TradingState.REDUCING)
    [ratio] = evaluate_risk([draft("A", Side.BUY, 10, 10)], stored, [MaxPositionRatio(D("0.01"))]).all_blocks()
    assert ratio.message == "A: position after the trade 49 is 4.90% of the portfolio, above 1.00%"
    [short] = evaluate_risk([draft("A", Side.SELL, 40, 10)], stored, [ShortSale()]).all_blocks()
    assert short.message == "A: selling 40 of 39 held would go short"
    [grows] = evaluate_risk([draft("A", Side.BUY, 1, 10)], stored, [TradingStateRule()]).all_blocks()
    assert grows.message == "A: trading is REDUCING and 39 -> 40 grows exposure"
    order = draft("A", Side.BUY, 10, 10)
    [size] = evaluate_risk([order], stored, [MaxOrderQuantity(D("5.000000"))]).all_blocks()
    assert size.message == "A: quantity 10 above 5"


def test_a_price_with_no_time_has_no_age_measured_against_the_age_limit():
    """A backtest's bar has no time: the price rule recorded the price itself as its measured value
    beside the age limit, which the Decisions panel read as a 228.5 s old price against 300 s."""
    from services.core.risk_measures import figure_text, risk_decisions

    order = draft("AAPL", Side.BUY, 44, "228.5")
    undated = evaluate_risk([order], RiskContext(D(100000), now=NOW), [PriceCheck(D(300))])
    assert [(d.measured, d.limit) for d in risk_decisions(undated) if d.rule == "price"] == [(None, "300")]
    dated = evaluate_risk([order], RiskContext(D(100000), now=NOW, price_times={order.key: NOW - timedelta(seconds=120)}),
                          [PriceCheck(D(300))])
    assert [(d.measured, d.limit) for d in risk_decisions(dated) if d.rule == "price"] == [("120", "300")]
    unlimited = evaluate_risk([order], RiskContext(D(100000), now=NOW), [PriceCheck(None)])
    assert [(d.measured, d.limit) for d in risk_decisions(unlimited) if d.rule == "price"] == [("228.5", None)]
    # the limit in seconds, and the age measured against it as the limit is worded; the price
    # itself (no age limit), a delayed price's kind against "live" and no age as stored
    assert (figure_text("price", "120", against="300"), figure_text("price", "300", limit=True)) == ("120 s", "300 s")
    # a measured age to a tenth of a second, cut so that a passed age never reads as its limit
    assert [figure_text("price", age, against="300") for age in ("1234.567891", "0.001914", "299.96", "7.5")] == [
        "1,234.5 s", "0.0 s", "299.9 s", "7.5 s"]
    assert (figure_text("price", "228.5"), figure_text("price", "DELAYED", against="live"),
            figure_text("price", None, against="300")) == ("228.5", "DELAYED", None)
    assert (figure_text("short_sale", "1500"), figure_text("short_sale", "0", limit=True)) == ("1,500", "≥ 0")
    assert figure_text("short_sale", "allowed", limit=True) == "allowed"


def test_a_plans_value_is_said_as_the_risk_rules_measured_it():
    """The LIVE confirmation of a run showed the gross notional at the reference prices only: a
    plan of buy limits above the market (the builder's offset) is judged at its limits, more
    than that figure. Its buys and sells are said as the ticket says one order: how the limits
    bound the money, and the market's value beside limits the market is through."""
    from services.core.risk import order_size, order_value, plan_value_rows, value_words

    buys = [draft("A", Side.BUY, 10, 100, seq=1, order_type=OrderType.LMT, limit=D("100.50")),
            draft("B", Side.BUY, 20, 50, seq=2, order_type=OrderType.LMT, limit=D("50.25"))]
    sells = [draft("C", Side.SELL, 5, 200, seq=3, order_type=OrderType.LMT, limit=D(199), current=D(5))]
    assert plan_value_rows(buys + sells, "USD") == (
        ("Buys", "2 orders: at most 2,010.00 USD at their limits (about 2,000.00 at the market)"),
        ("Sells", "1 order: at least 995.00 USD at the limit (about 1,000.00 at the market 200.00)"))
    # the figures are the rules' own: the buying power's (order_value), and the order-size cap's
    # of the sell under the market (order_size), said beside it
    assert sum(order_value(o) for o in buys) == D("2010.00") and order_size(sells[0]) == D(1000)
    # at a price of the moment: about; no currency reported, none said
    market = [draft("A", Side.BUY, 10, 100, seq=1), draft("B", Side.BUY, 4, 50, seq=2)]
    assert plan_value_rows(market, None) == (("Buys", "2 orders: about 1,200.00"),)
    # buy limits under the market bound the money alone; limits and market orders together say both
    passive = draft("A", Side.BUY, 10, 100, seq=1, order_type=OrderType.LMT, limit=D(98))
    assert value_words([passive], "USD") == "at most 980.00 USD at the limit"
    assert value_words([passive, market[1]], "USD") == "at most 980.00 USD at the limit, and about 200.00 at the market"
    assert value_words([draft("A", Side.BUY, 10, None, seq=1)], "USD") == ""  # no price, no value
    with pytest.raises(ValueError, match="one side"):
        value_words(buys + sells, "USD")
