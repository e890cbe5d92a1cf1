"""The decision trail's pure records (services.core.trail, services.core.risk_measures): what the
builder decided per symbol with the rounding it applied, and every rule's verdict with its
measured value and limit, blocks included."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from services.core.builder import BuildParams, Rounding, Target
from services.core.pipeline import RiskFacts, build_and_check
from services.core.risk_measures import is_block, risk_decisions
from services.core.trail import order_decisions, signal_records
from services.domain import OrderType, TradingState
from services.trail_queries import DecisionTrail

PRICES = {"AAPL": D("228.5"), "MSFT": D("415.2"), "IBM": D("225")}


NO_FACTS = RiskFacts()


def preview(targets, positions, *, limits=None, facts=NO_FACTS, **params):
    build = BuildParams(portfolio_value=D(100000), run_id=7, **params)
    result, report = build_and_check(targets, build, prices=PRICES, positions=positions, limits=limits or {}, facts=facts,
                                     price_times={s: datetime.now(UTC) - timedelta(seconds=30) for s in PRICES})
    return build, result, report


def test_each_symbol_gets_its_decision_with_the_rounding_applied():
    targets = [Target("AAPL", D("0.01")), Target("MSFT", D("0.004")), Target("NVDA", D("0.01"))]  # NVDA: no price
    positions = {"MSFT": D(1), "IBM": D(3)}  # IBM held, not in the snapshot
    build, result, _ = preview(targets, positions)
    decided = {d.symbol: d for d in order_decisions(targets, build, prices=PRICES, positions=positions, result=result)}
    assert set(decided) == {"AAPL", "MSFT", "NVDA", "IBM"}
    aapl = decided["AAPL"]
    assert (aapl.action, aapl.reason, aapl.sequence) == ("buy", "order", 1)
    # 1,000 / 228.50 = 4.376368..., nearest lot 4: rounding took 0.376368 away
    assert (aapl.raw_quantity, aapl.target_quantity, aapl.delta, aapl.rounding, aapl.rounding_mode) == (
        D("4.376368"), D(4), D(4), D("-0.376368"), "nearest")
    assert aapl.client_order_id == result.orders[0].client_order_id
    msft = decided["MSFT"]  # 400 / 415.20 = 0.963..., rounds to the 1 held: no order
    assert (msft.action, msft.reason, msft.current_quantity, msft.delta) == ("hold", "at_target", D(1), D(0))
    assert (decided["NVDA"].action, decided["NVDA"].reason, decided["NVDA"].target_quantity) == ("skip", "missing_price", None)
    assert (decided["IBM"].action, decided["IBM"].reason, decided["IBM"].target_weight) == ("hold", "not_in_snapshot", None)


def test_liquidation_and_floor_rounding_are_recorded_as_such():
    targets = [Target("AAPL", D("0.01"))]
    positions = {"IBM": D(3)}
    build, result, _ = preview(targets, positions, liquidate_unlisted=True, rounding=Rounding.FLOOR)
    decided = {d.symbol: d for d in order_decisions(targets, build, prices=PRICES, positions=positions, result=result)}
    assert (decided["IBM"].action, decided["IBM"].reason, decided["IBM"].target_quantity, decided["IBM"].delta) == (
        "sell", "liquidate", D(0), D(-3))
    assert decided["IBM"].sequence == 1  # sells first
    assert (decided["AAPL"].rounding_mode, decided["AAPL"].target_quantity) == ("floor", D(4))


def test_a_decisions_words_write_quantities_as_the_tables_do():
    """A trader's walk of the Decisions dock: "SELL 4.000000 to move 50.000000 -> 46", the book's
    quantities as the database gives them back; now as every table writes them."""
    targets = [Target("AAPL", D("0.1"))]
    positions = {"AAPL": D("50.000000"), "IBM": D("3.000000")}
    build, result, _ = preview(targets, positions, liquidate_unlisted=True, rounding=Rounding.FLOOR)
    decided = {d.symbol: d for d in order_decisions(targets, build, prices=PRICES, positions=positions, result=result)}
    assert decided["AAPL"].message == "SELL 7 to move 50 -> 43"
    assert decided["IBM"].message == "SELL 3 to move 3 -> 0"


def test_signal_records_keep_score_rank_and_the_price_used():
    items = [{"symbol": "AAPL", "weight": D("0.01"), "score": D("0.9"), "rank": 1, "price": D(230)},
             {"symbol": "SAP", "weight": D("0.02"), "score": None, "rank": None, "price": None, "exchange": "IBIS",
              "currency": "EUR"}]
    records = signal_records(items, PRICES)
    assert [(r.symbol, r.weight, r.score, r.rank, r.snapshot_price, r.price) for r in records] == [
        ("AAPL", D("0.01"), D("0.9"), 1, D(230), D("228.5")), ("SAP@IBIS:EUR", D("0.02"), None, None, None, None)]


def test_every_rule_answers_for_every_order_with_measured_value_and_limit():
    targets = [Target("AAPL", D("0.2")), Target("MSFT", D("0.01"))]
    _, _, report = preview(targets, {}, limits={"max_order_notional": 10000, "max_gross_exposure": "0.15"},
                                order_type=OrderType.LMT, limit_offset_bps=D(10))
    assert report.blocked
    rows = risk_decisions(report)
    by = {(r.scope, r.symbol, r.rule): r for r in rows}
    # AAPL: 20,000 / 228.50 = 88 shares; a limit order at 228.72 -> 20,127.36 > 10,000
    notional = by[("order", "AAPL", "max_order_notional")]
    assert (notional.verdict, notional.measured, notional.limit, notional.code) == ("block", "20127.36", "10000", "max_order_notional")
    assert by[("order", "MSFT", "max_order_notional")].verdict == "pass"
    collar = by[("order", "AAPL", "price_collar")]
    assert (collar.verdict, collar.measured, collar.limit) == ("pass", "0.09628009", "3")
    age = by[("order", "AAPL", "price")]
    assert (age.verdict, age.limit) == ("pass", "300") and D(age.measured) > 0
    ratio = by[("order", "AAPL", "max_position_ratio")]
    assert (ratio.measured, ratio.limit) == ("0.20108", "0.2") and ratio.verdict == "block"
    gross = by[("account", None, "max_gross_exposure")]
    assert (gross.verdict, gross.measured, gross.limit) == ("block", "0.209384", "0.15")  # (88 x 228.50 + 2 x 415.20) / 100,000
    orders = by[("account", None, "max_orders_per_run")]
    assert (orders.verdict, orders.measured, orders.limit) == ("pass", "2", "100")
    # the verdicts are the report's own: every block appears, nothing else blocks
    assert sorted((r.rule, r.symbol) for r in rows if r.verdict == "block") == sorted(
        (b.rule, None if b in report.run_blocks else b.symbol) for b in report.all_blocks())


def test_a_trail_counts_the_blocks_among_its_verdicts():
    """The Decisions panel counted the "block" verdicts itself; the trail says how many
    (DecisionTrail.blocked_verdicts, a verdict told by risk_measures.is_block) in the summary the
    panel shows as it is."""
    targets = [Target("AAPL", D("0.2")), Target("MSFT", D("0.01"))]
    _, _, report = preview(targets, {}, limits={"max_order_notional": 10000, "max_gross_exposure": "0.15"},
                           order_type=OrderType.LMT, limit_offset_bps=D(10))
    records = tuple(asdict(r) for r in risk_decisions(report))  # as the trail reads its rows back: dicts
    trail = DecisionTrail(7, 1, False, risk_decisions=records)
    assert trail.blocked_verdicts == len(report.all_blocks()) == 3  # AAPL's notional and ratio, the account's gross
    assert trail.summary == f"0 signals · 0 decisions · {len(records)} verdicts (3 block) · 0 state changes · 0 snapshots"
    assert [is_block(r) for r in ({"verdict": "block"}, {"verdict": "pass"}, {})] == [True, False, False]


def test_run_wide_blocks_and_the_trading_state_are_on_record():
    targets = [Target("AAPL", D("0.01")), Target("NVDA", D("0.01"))]  # NVDA unpriced: the run is blocked
    _, _, report = preview(targets, {}, facts=RiskFacts(trading_state=TradingState.HALTED))
    rows = risk_decisions(report)
    unpriced = [r for r in rows if r.scope == "account" and r.rule == "price"]
    assert [(r.verdict, r.code, r.symbol) for r in unpriced] == [("block", "missing_price", "NVDA")]
    state = next(r for r in rows if r.rule == "trading_state" and r.symbol == "AAPL")
    assert (state.verdict, state.measured, state.code) == ("block", "HALTED", "trading_halted")


def test_a_rows_text_written_in_its_models_key_order_is_the_general_text():
    """The row hashes of stored trails must not change: ``_canonical`` writes a row in its model's
    fixed key order, and the text is the general writer's (the standard JSON encoder's, decimals
    rounded to their column's scale) for every model and every kind of value it writes itself
    (text with quotes, escapes, controls and non-ASCII; whole numbers; booleans; nulls); anything
    else (a float) it hands to the general writer."""
    import random
    import string
    from decimal import Decimal

    from services.db.repositories.trail import (
        DECISION_MODELS,
        _canonical,
        _canonical_general,
        _hashed_columns,
    )

    rnd = random.Random(7)

    def text() -> str:
        return "".join(rnd.choice(string.printable + "éü€\u2028\x00\"\\") for _ in range(rnd.randint(0, 12)))

    for model in DECISION_MODELS:
        names, decimals = _hashed_columns(model)
        scaled = dict(decimals)
        for _ in range(2_000):
            row: dict = {}
            for name in names:
                if rnd.random() < 0.1:
                    continue  # a column left out: null
                if name in scaled:
                    row[name] = rnd.choice([None, 0, 7, Decimal("-0.5"), Decimal(rnd.randint(-10**12, 10**12)).scaleb(-rnd.randint(0, 12))])
                else:
                    row[name] = rnd.choice([None, True, False, 0, -3, 10**20, "", "BUY 4 \"x\"\n", "é€\u2028", 1.5, text()])
            assert _canonical(model, row) == _canonical_general(model, row)


def _records(record_type, model, rnd, count: int, kinds: list) -> list:
    """``count`` records with random values: decimals in the model's decimal columns, ``kinds``
    in the others."""
    from dataclasses import fields
    from decimal import Decimal

    from services.db.repositories.trail import _RENAMED, _hashed_columns

    scaled = dict(_hashed_columns(model)[1])
    out = []
    for _ in range(count):
        values = []
        for field in fields(record_type):
            if _RENAMED.get(field.name, field.name) in scaled:
                values.append(rnd.choice([None, 0, 7, Decimal("-0.5"), Decimal(rnd.randint(-10**9, 10**9)).scaleb(-rnd.randint(0, 12))]))
            else:
                values.append(rnd.choice(kinds))
        out.append(record_type(*values))
    return out


def test_a_batch_of_rows_hashes_as_each_row_alone_and_as_before():
    """``_insert_rows`` writes a batch's texts column by column: each row's hash is the one
    ``row_hash`` gives the row alone (mixed kinds in a column, a float sending the batch the
    general way), and a fixed batch hashes as the row-by-row writer did before (the digests of
    stored trails must not change)."""
    import hashlib
    import random

    from services.core.risk_measures import RiskDecision
    from services.core.trail import OrderDecision, SignalRecord
    from services.db.models import TrailOrderDecision, TrailRiskDecision, TrailSignal
    from services.db.repositories.trail import _insert_rows, row_hash

    rnd = random.Random(11)
    link = {"plan_id": 3, "run_id": 9}
    cases = ((SignalRecord, TrailSignal), (OrderDecision, TrailOrderDecision), (RiskDecision, TrailRiskDecision))
    everything = []
    for kinds in (["AAPL", "x\"é\n"], [None, "pass", 4, True, "", 10**20], [None, "max_order_notional", 1.5]):
        for record_type, model in cases:
            columns, rows = _insert_rows(model, _records(record_type, model, rnd, 300, kinds), link)
            assert columns[-1] == "row_hash" and len(rows) == 300
            for row in rows:
                assert row[-1] == row_hash(model, dict(zip(columns[:-1], row[:-1], strict=True)))
            everything.extend(row[-1] for row in rows)
    assert hashlib.sha256("".join(everything).encode()).hexdigest() == (
        "3b7a0bb2fcc9781c085808d84e804dec5343b4cbcb8aa0a3efb7b5d299be6349")
